//! The control socket in supervisor mode: its descriptors in the event loop
//! (the listener, each connection, each connection's deadline), and the
//! answers to requests from the instances' state. A signal request reaches
//! each target's gate as `Event::Forward`, as a signal sent to rinit would.

use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::instance::{Event, State, StopReason};
use super::{InstanceId, Key, Supervisor};
use crate::control::server::{self, ClientId, Read, Server};
use crate::control::{Change, InstanceStatus, Request, VERSION};
use crate::pid1::signals;

/// A `start`, `stop` or `restart` under way.
pub(super) struct Pending {
    /// Who waits for the answer (`ClientId::NONE`: nobody, `--no-wait`).
    client: ClientId,
    change: Change,
    /// Its instances: the targets, and (stop, restart) what comes after them.
    set: Vec<InstanceId>,
    /// What the answer says beside each instance's state.
    notes: String,
    /// Past the stop (restart), or a start from the beginning.
    starting: bool,
}

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
                        Ok(Request::Change { change, names, wait }) => self.change(id, change, &names, wait),
                        Ok(request) => Some(self.answer(request)),
                        Err(why) => Some(format!("{VERSION} error {why}\n")),
                    };
                    match answer {
                        Some(answer) => self.send_answer(id, answer),
                        None => {
                            // Answered when the change is done: until then
                            // the connection is not watched.
                            self.events.unwatch(Key::Control(id));
                            false
                        }
                    }
                }
            }
        };
        if done {
            self.events.unwatch(Key::Control(id));
            self.events.cancel_timer(Key::ControlDeadline(id));
        }
    }

    /// Sends `answer` on connection `id`; true once it is all out.
    fn send_answer(&mut self, id: ClientId, answer: String) -> bool {
        let Some(server) = &mut self.control else {
            return true;
        };
        let done = server.answer(id, answer);
        if !done {
            if let Some(fd) = server.client_fd(id) {
                self.events.watch(fd, PollFlags::POLLOUT, Key::Control(id));
            }
        }
        done
    }

    /// Connection `id` ran out of time: a change it waits for is answered
    /// as timed out (as far as the client takes it now); then it is closed.
    pub(super) fn on_control_deadline(&mut self, id: ClientId) {
        if let Some(at) = self.pending.iter().position(|p| p.client == id) {
            let pending = self.pending.remove(at);
            let answer = self.change_answer(&pending, false);
            if !self.send_answer(id, answer) {
                // No more time for a client that does not read.
                if let Some(server) = &mut self.control {
                    server.close(id);
                }
            }
        } else if let Some(server) = &mut self.control {
            server.close(id);
        }
        self.events.unwatch(Key::Control(id));
    }

    /// `start`, `stop` or `restart` of `names`: begun now; answered now with
    /// `--no-wait`, else (None) once done or out of time. Over 50 lines: the
    /// targets, their time bound and the first step, for all three.
    fn change(&mut self, id: ClientId, change: Change, names: &[String], wait: bool) -> Option<String> {
        if self.phase != super::Phase::Running {
            return Some(format!("{VERSION} error rinit is shutting down\n"));
        }
        let targets = match self.targets(names) {
            Ok(targets) => targets,
            Err(why) => return Some(format!("{VERSION} error {why}\n")),
        };
        let (set, notes) = match change {
            Change::Start => (targets.clone(), String::new()),
            Change::Stop | Change::Restart => self.with_dependents(&targets),
        };
        let starting = change == Change::Start;
        let mut bound = Duration::ZERO;
        for &i in &set {
            let program = &self.plan.programs[self.members[i.0].program.0];
            bound += match change {
                Change::Start => program.ready_timeout,
                Change::Stop => program.stop_timeout,
                Change::Restart => program.stop_timeout + program.ready_timeout,
            };
            if starting {
                self.deliver(i, Event::Start);
            } else {
                self.stop_wanted[i.0] = true;
            }
        }
        let pending = Pending {
            client: id,
            change,
            set,
            notes,
            starting,
        };
        if !wait {
            let mut answer = format!("{VERSION} ok\n{}", pending.notes);
            for &i in &pending.set {
                answer += &format!(
                    "{}ing {}\n",
                    if starting { "start" } else { "stopp" },
                    self.members[i.0].instance.name
                );
            }
            if change == Change::Restart {
                self.pending.push(Pending {
                    client: ClientId::NONE,
                    ..pending
                });
            }
            return Some(answer);
        }
        // The longest any of them may take, and a second for the answer.
        let bound = bound.min(Duration::from_secs(3600)) + Duration::from_secs(1);
        self.events.set_timer_after(Key::ControlDeadline(id), bound);
        self.pending.push(pending);
        None
    }

    /// `targets`, and before them (in plan order) the instances of every
    /// program that comes after theirs, directly or not: those stop first.
    fn with_dependents(&self, targets: &[InstanceId]) -> (Vec<InstanceId>, String) {
        let mut wanted = vec![false; self.plan.programs.len()];
        let mut named = vec![false; self.plan.programs.len()];
        for &i in targets {
            named[self.members[i.0].program.0] = true;
        }
        let mut notes = String::new();
        for p in 0..self.plan.programs.len() {
            // Dependencies come earlier in the plan: one pass forward.
            let because = self.plan.programs[p]
                .after
                .iter()
                .find(|d| named[d.0] || wanted[d.0]);
            if let (false, Some(dependency)) = (named[p], because) {
                wanted[p] = self.of_program[p]
                    .clone()
                    .any(|i| !self.members[i].instance.state.is_final());
                if wanted[p] {
                    notes += &format!(
                        "also stopping {}: it comes after {}\n",
                        self.plan.programs[p].name, self.plan.programs[dependency.0].name
                    );
                }
            }
        }
        let mut set: Vec<InstanceId> = targets.to_vec();
        for (p, &want) in wanted.iter().enumerate() {
            if want {
                set.extend(self.of_program[p].clone().map(InstanceId));
            }
        }
        (set, notes)
    }

    /// In `advance`: stops the instances a `stop` or `restart` wants down,
    /// each once nothing that comes after it still runs; then moves the
    /// pending changes along, and answers those that are done.
    pub(super) fn move_changes_along(&mut self) {
        for i in 0..self.members.len() {
            if !self.stop_wanted[i] {
                continue;
            }
            let program = self.members[i].program;
            let dependents_alive = self.dependents[program.0].iter().any(|d| {
                self.of_program[d.0]
                    .clone()
                    .any(|j| self.members[j].instance.state.group().is_some())
            });
            if !dependents_alive {
                self.stop_wanted[i] = false;
                self.deliver(InstanceId(i), Event::Stop(StopReason::Request));
            }
        }
        let mut at = 0;
        while at < self.pending.len() {
            let pending = &self.pending[at];
            if !pending.starting && pending.set.iter().all(|&i| self.is_down(i)) {
                if pending.change == Change::Restart {
                    let set = pending.set.clone();
                    self.pending[at].starting = true;
                    for i in set {
                        self.deliver(i, Event::Start);
                    }
                    continue;
                }
            } else if !(pending.starting && pending.set.iter().all(|&i| self.is_settled(i))) {
                at += 1;
                continue;
            }
            let pending = self.pending.remove(at);
            if pending.client != ClientId::NONE {
                let answer = self.change_answer(&pending, true);
                self.events.cancel_timer(Key::ControlDeadline(pending.client));
                if self.send_answer(pending.client, answer) {
                    self.events.unwatch(Key::Control(pending.client));
                }
            }
        }
    }

    /// Down: no process, and nothing will start one by itself.
    fn is_down(&self, i: InstanceId) -> bool {
        let state = &self.members[i.0].instance.state;
        state.group().is_none() && !matches!(state, State::Waiting | State::Backoff)
    }

    /// Up, or as far as it will get: ready (or done), or ended for good.
    fn is_settled(&self, i: InstanceId) -> bool {
        let state = &self.members[i.0].instance.state;
        state.is_ready() || state.is_final() || matches!(state, State::Held)
    }

    /// The answer to a change: how each target is now.
    fn change_answer(&self, pending: &Pending, in_time: bool) -> String {
        let mut lines = pending.notes.clone();
        let mut failed = Vec::new();
        for &i in &pending.set {
            let instance = &self.members[i.0].instance;
            let state = instance.state.name();
            let good = if pending.starting {
                instance.state.is_ready()
            } else {
                self.is_down(i)
            };
            if !good {
                failed.push(format!("{} is {state}", instance.name));
            }
            match instance.state.child() {
                Some(child) => lines += &format!("{}: {state} (pid {})\n", instance.name, child.pid()),
                None => lines += &format!("{}: {state}\n", instance.name),
            }
        }
        match (failed.is_empty(), in_time) {
            (true, _) => format!("{VERSION} ok\n{lines}"),
            (false, true) => format!(
                "{VERSION} error {} failed: {}\n{lines}",
                pending.change.word(),
                failed.join(", ")
            ),
            (false, false) => format!(
                "{VERSION} error {} timed out: {}\n{lines}",
                pending.change.word(),
                failed.join(", ")
            ),
        }
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
            Request::Change { .. } => Err("internal: a change is not answered here".into()),
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
    /// name; a group's programs' for its name; a program's for its name;
    /// either with NAME:*; one for NAME.I.
    fn targets(&self, names: &[String]) -> Result<Vec<InstanceId>, String> {
        if names.is_empty() {
            return Ok((0..self.members.len()).map(InstanceId).collect());
        }
        let mut chosen = vec![false; self.members.len()];
        for name in names {
            let program = name.strip_suffix(":*").unwrap_or(name);
            let by_group = self.plan.groups.iter().find(|g| g.name == program);
            let by_program = self.plan.programs.iter().position(|p| p.name == program);
            let by_instance = self.members.iter().position(|m| m.instance.name == *name);
            match (by_group, by_program, by_instance) {
                (Some(group), _, _) => {
                    for p in &group.programs {
                        self.of_program[p.0].clone().for_each(|i| chosen[i] = true);
                    }
                }
                (None, Some(p), _) => self.of_program[p].clone().for_each(|i| chosen[i] = true),
                (None, None, Some(i)) => chosen[i] = true,
                (None, None, None) => return Err(format!("no program, instance or group named {name:?}")),
            }
        }
        Ok((0..chosen.len()).filter(|&i| chosen[i]).map(InstanceId).collect())
    }

    pub(super) fn status_of(&self, i: InstanceId, now: Instant) -> InstanceStatus {
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
