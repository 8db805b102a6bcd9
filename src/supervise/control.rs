//! The control socket in supervisor mode: its descriptors in the event loop
//! (the listener, each connection, each connection's deadline), and the
//! answers to requests from the instances' state. A signal request reaches
//! each target's gate as `Event::Forward`, as a signal sent to rinit would.

use std::time::Instant;

use nix::poll::PollFlags;

use super::instance::{Event, State};
use super::{InstanceId, Key, Supervisor};
use crate::control::server::{self, ClientId, Read, Server};
use crate::control::{InstanceStatus, Request, VERSION};
use crate::pid1::signals;

impl Supervisor<'_> {
    /// Listens on the configured control socket; when it cannot, says so
    /// once and runs on without it.
    pub(super) fn open_control_socket(&mut self) {
        let Some(path) = &self.plan.control_socket else {
            return;
        };
        match Server::bind(path) {
            Ok(server) => {
                self.events
                    .watch(server.listener_fd(), PollFlags::POLLIN, Key::ControlListener);
                self.control = Some(server);
            }
            Err(why) => warn!(
                "control socket {}: {why}; running without it (rinit status and the like cannot reach this rinit)",
                path.display()
            ),
        }
    }

    pub(super) fn on_control_listener(&mut self) {
        let Some(server) = &mut self.control else { return };
        for id in server.accept() {
            if let Some(fd) = server.client_fd(id) {
                self.events.watch(fd, PollFlags::POLLIN, Key::Control(id));
                self.events
                    .set_timer_after(Key::ControlDeadline(id), server::DEADLINE);
            }
        }
    }

    /// Connection `id` is readable (a request) or writable (its answer).
    pub(super) fn on_control_client(&mut self, id: ClientId) {
        let Some(server) = &mut self.control else { return };
        let done = if server.answering(id) {
            server.write(id)
        } else {
            match server.read(id) {
                Read::Pending => false,
                Read::Closed => {
                    server.close(id);
                    true
                }
                Read::Request(request) => {
                    let answer = match request {
                        Ok(request) => self.answer(request),
                        Err(why) => format!("{VERSION} error {why}\n"),
                    };
                    let Some(server) = &mut self.control else { return };
                    let done = server.answer(id, answer);
                    if !done {
                        if let Some(fd) = server.client_fd(id) {
                            self.events.watch(fd, PollFlags::POLLOUT, Key::Control(id));
                        }
                    }
                    done
                }
            }
        };
        if done {
            self.events.unwatch(Key::Control(id));
            self.events.cancel_timer(Key::ControlDeadline(id));
        }
    }

    /// Connection `id` ran out of time: it is closed, answered or not.
    pub(super) fn on_control_deadline(&mut self, id: ClientId) {
        if let Some(server) = &mut self.control {
            server.close(id);
        }
        self.events.unwatch(Key::Control(id));
    }

    fn answer(&mut self, request: Request) -> String {
        let answer = match request {
            Request::Status(names) => self.targets(&names).map(|ids| {
                let now = Instant::now();
                ids.into_iter()
                    .map(|i| self.status_of(i, now).to_line())
                    .collect::<String>()
            }),
            Request::Signal(signal, names) => self.signal_request(&signal, &names),
        };
        match answer {
            Ok(lines) => format!("{VERSION} ok\n{lines}"),
            Err(why) => format!("{VERSION} error {why}\n"),
        }
    }

    fn signal_request(&mut self, signal: &str, names: &[String]) -> Result<String, String> {
        let signo = signals::parse(signal)?;
        let ids = self.targets(names)?;
        let name = signals::name(signo);
        let mut lines = String::new();
        for i in ids {
            let instance = &self.members[i.0].instance;
            match instance.state.child() {
                Some(child) => lines += &format!("sent {name} to {} (pid {})\n", instance.name, child.pid()),
                None => lines += &format!("{} has no process ({})\n", instance.name, instance.state.name()),
            }
            self.deliver(i, Event::Forward(signo));
        }
        Ok(lines)
    }

    /// The instances `names` stand for, in plan order: all of them for no
    /// name; a program's for its name (or NAME:*); one for NAME.I.
    fn targets(&self, names: &[String]) -> Result<Vec<InstanceId>, String> {
        if names.is_empty() {
            return Ok((0..self.members.len()).map(InstanceId).collect());
        }
        let mut chosen = vec![false; self.members.len()];
        for name in names {
            let program = name.strip_suffix(":*").unwrap_or(name);
            let by_program = self.plan.programs.iter().position(|p| p.name == program);
            let by_instance = self.members.iter().position(|m| m.instance.name == *name);
            match (by_program, by_instance) {
                (Some(p), _) => self.of_program[p].clone().for_each(|i| chosen[i] = true),
                (None, Some(i)) => chosen[i] = true,
                (None, None) => return Err(format!("no program or instance named {name:?}")),
            }
        }
        Ok((0..chosen.len()).filter(|&i| chosen[i]).map(InstanceId).collect())
    }

    fn status_of(&self, i: InstanceId, now: Instant) -> InstanceStatus {
        let member = &self.members[i.0];
        let instance = &member.instance;
        let program = &self.plan.programs[member.program.0];
        let uptime_ms = match &instance.state {
            State::Running(run) => Some(now.saturating_duration_since(run.since).as_millis() as u64),
            _ => None,
        };
        InstanceStatus {
            name: instance.name.clone(),
            state: instance.state.name().into(),
            pid: instance.state.child().map(|child| child.pid()),
            uptime_ms,
            restarts: instance.restarts,
            last_exit: instance.last_exit.map(|status| status.to_string()),
            critical: program.critical,
            ready: instance.state.is_ready(),
        }
    }
}
