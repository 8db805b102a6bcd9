//! The control socket in supervisor mode, the I/O side: its descriptors in
//! the event loop (the listener, each connection, each connection's
//! deadline), requests read and handed to the fleet (requests.rs decides),
//! answers written without blocking. A client waiting for a change is
//! watched for its hang-up, which frees its slot at once.

use std::time::Instant;

use nix::poll::PollFlags;

use super::{InstanceId, Key, Supervisor};
use crate::control::server::{self, ClientId, Read, Server};
use crate::control::{Request, VERSION};

/// The control socket's keys in the event loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControlKey {
    /// A connection is waiting.
    Listener,
    /// A connection can be read or written (or, waiting, has hung up).
    Client(ClientId),
    /// A connection's time is out.
    Deadline(ClientId),
}

/// The control socket, when it could be opened.
#[derive(Default)]
pub struct Control {
    server: Option<Server>,
    /// Whether running out of descriptors was said already.
    exhausted_said: bool,
}

impl Supervisor<'_> {
    /// Listens on the configured control socket; when it cannot, says so
    /// once and runs on without it.
    pub(super) fn open_control_socket(&mut self) {
        let Some(path) = &self.fleet.plan.control_socket else {
            return;
        };
        match Server::bind(path) {
            Ok(server) => {
                let key = Key::Control(ControlKey::Listener);
                self.events.watch(server.listener_fd(), PollFlags::POLLIN, key);
                self.control.server = Some(server);
            }
            Err(why) => warn!(
                "control socket {}: {why}; running without it (rinit status and the like cannot reach this rinit)",
                path.display()
            ),
        }
    }

    pub(super) fn on_control(&mut self, key: ControlKey) {
        match key {
            ControlKey::Listener => self.on_control_listener(),
            ControlKey::Client(id) => self.on_control_client(id),
            ControlKey::Deadline(id) => self.on_control_deadline(id),
        }
    }

    /// Connections are waiting (or, after running out of descriptors, the
    /// pause is over and the listener is watched again).
    fn on_control_listener(&mut self) {
        let Some(server) = &mut self.control.server else {
            return;
        };
        let key = Key::Control(ControlKey::Listener);
        self.events.watch(server.listener_fd(), PollFlags::POLLIN, key);
        let (accepted, exhausted) = server.accept();
        if exhausted {
            super::listener_exhausted(
                self.events,
                key,
                &mut self.control.exhausted_said,
                "control socket",
            );
        }
        for id in accepted {
            if let Some(fd) = server.client_fd(id) {
                self.events
                    .watch(fd, PollFlags::POLLIN, Key::Control(ControlKey::Client(id)));
                self.events
                    .set_timer_after(Key::Control(ControlKey::Deadline(id)), server::DEADLINE);
            }
        }
    }

    /// Connection `id` is readable (a request, or the hang-up of a client
    /// that waits) or writable (its answer).
    fn on_control_client(&mut self, id: ClientId) {
        let Some(server) = &mut self.control.server else {
            return;
        };
        let waiting = self.fleet.is_waiting(id);
        let done = if server.answering(id) {
            server.write(id)
        } else if waiting {
            if server.gone(id) {
                self.fleet.client_gone(id);
                self.apply_effects();
                true
            } else {
                false
            }
        } else {
            match server.read(id) {
                Read::Pending => false,
                Read::Closed => {
                    server.close(id);
                    true
                }
                Read::Request(request) => {
                    let answer = match request {
                        Ok(Request::Change { change, names, wait }) => {
                            let answer = self.fleet.change(id, change, &names, wait);
                            self.apply_effects();
                            answer
                        }
                        Ok(Request::Reload { check, wait }) => self.reload(id, check, wait),
                        Ok(request) => Some(self.answer(request)),
                        Err(why) => Some(format!("{VERSION} error {why}\n")),
                    };
                    match answer {
                        Some(answer) => self.send_answer(id, answer),
                        // Answered when the change is done; until then only
                        // a hang-up is looked for (the client's deadline
                        // is the fleet's request timer).
                        None => {
                            self.events.cancel_timer(Key::Control(ControlKey::Deadline(id)));
                            false
                        }
                    }
                }
            }
        };
        if done {
            self.events.unwatch(Key::Control(ControlKey::Client(id)));
            self.events.cancel_timer(Key::Control(ControlKey::Deadline(id)));
        }
    }

    /// The fleet has the answer for a client that waited.
    pub(super) fn answer_waiting(&mut self, id: ClientId, answer: String) {
        if self.send_answer(id, answer) {
            self.events.unwatch(Key::Control(ControlKey::Client(id)));
        } else {
            // A client that does not read its answer gets the usual time.
            self.events
                .set_timer_after(Key::Control(ControlKey::Deadline(id)), server::DEADLINE);
        }
    }

    /// Sends `answer` on connection `id`; true once it is all out.
    fn send_answer(&mut self, id: ClientId, answer: String) -> bool {
        let Some(server) = &mut self.control.server else {
            return true;
        };
        let done = server.answer(id, answer);
        if !done {
            if let Some(fd) = server.client_fd(id) {
                self.events
                    .watch(fd, PollFlags::POLLOUT, Key::Control(ControlKey::Client(id)));
            }
        }
        done
    }

    /// Connection `id` ran out of time: closed.
    fn on_control_deadline(&mut self, id: ClientId) {
        if let Some(server) = &mut self.control.server {
            server.close(id);
        }
        self.fleet.client_gone(id);
        self.apply_effects();
        self.events.unwatch(Key::Control(ControlKey::Client(id)));
    }

    fn answer(&mut self, request: Request) -> String {
        let answer = match request {
            Request::Status(names) => self.fleet.targets(&names).map(|ids| {
                let now = Instant::now();
                let lines: String = ids
                    .into_iter()
                    .map(|i: InstanceId| self.fleet.status_of(i, now).to_line())
                    .collect();
                // Before the instances; a client of one field per line ignores them.
                let (number, loaded_at, _) = self.fleet.generation();
                let generation = crate::control::Generation { number, loaded_at }.line();
                match self.fleet.draining() {
                    Some(left) => format!("{generation}{}{lines}", crate::control::draining_line(left)),
                    None => format!("{generation}{lines}"),
                }
            }),
            Request::Signal(signal, names) => {
                let lines = self.fleet.signal_request(&signal, &names);
                self.apply_effects();
                lines
            }
            Request::Change { .. } | Request::Reload { .. } => {
                Err("internal: a change is not answered here".into())
            }
        };
        match answer {
            Ok(lines) => format!("{VERSION} ok\n{lines}"),
            Err(why) => format!("{VERSION} error {why}\n"),
        }
    }
}

impl Supervisor<'_> {
    /// `rinit reload [--check]`: the configuration read again, as at start,
    /// and the difference applied by the fleet (reload.rs), or only told.
    /// Answered now (Some), or once the new programs are up.
    fn reload(&mut self, id: ClientId, check: bool, wait: bool) -> Option<String> {
        let plan = match self.load_again() {
            Ok(plan) => plan,
            Err(why) => {
                self.fleet.count_reload(1);
                return Some(format!("{VERSION} error {why}"));
            }
        };
        if check {
            let outline = self.fleet.outline(&plan);
            let (generation, ..) = self.fleet.generation();
            return Some(format!(
                "{VERSION} ok\nwould apply: {} (generation {generation} runs)\n",
                outline.summary()
            ));
        }
        let log_format = plan.log_format;
        let answer = match self.fleet.reload(id, plan, wait) {
            Ok(answer) => answer,
            Err(why) => return Some(format!("{VERSION} error {why}\n")),
        };
        crate::log::set_format(log_format);
        self.make_what_the_plan_needs();
        self.release_retired_output();
        self.apply_effects();
        answer
    }

    /// The configuration loaded again from where it was at start: relative
    /// paths in it and to it are the starting directory's. Err is the
    /// answer's error line and every error of the configuration.
    fn load_again(&mut self) -> Result<crate::config::Plan, String> {
        let Some(source) = &self.settings.config else {
            return Err("rinit was started without a configuration file: nothing to reload\n".into());
        };
        if source.path.as_os_str() == crate::config::input::STDIN {
            return Err(
                "the configuration was read from standard input: there is nothing to read again\n".into(),
            );
        }
        if let Some(dir) = self.settings.start_dir {
            // rinit holds it open for its whole life.
            let _ = crate::sys::change_directory_to(dir);
        }
        let main = source.main_command.as_deref();
        let loaded = crate::config::load(&source.path, source.env.clone(), main);
        if self.settings.start_dir.is_some() {
            let _ = nix::unistd::chdir("/");
        }
        crate::sys::release_free_memory();
        loaded.map_err(|errors| {
            let count = errors.len();
            let mut text = format!(
                "the configuration has {count} error{}: nothing changed\n",
                if count == 1 { "" } else { "s" }
            );
            for line in errors.lines() {
                text += &format!("{line}\n");
            }
            text
        })
    }
}
