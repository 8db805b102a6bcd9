//! Control requests as fleet decisions: which instances `start`, `stop`,
//! `restart`, `signal` and `status` name; what comes along (a stop takes
//! the programs after its targets, a start the programs before them); each
//! instance's gate told what is wanted (the last request wins); and, for a
//! client that waits, one answer once every instance has its verdict, its
//! time is out, or rinit shuts down. A client that goes away is forgotten
//! at once.

use std::time::{Duration, Instant};

use super::fleet::{Dependency, Effect, Fleet, FleetTimer, InstanceId, Kernel, Phase};
use super::instance::{Event, State, Verdict, Want};
use super::schedules::NextRun;
use crate::config::ProgramId;
use crate::control::server::ClientId;
use crate::control::{Change, InstanceStatus, VERSION};
use crate::pid1::signals;

/// A `start`, `stop` or `restart` whose client waits for the answer.
pub(super) struct Pending {
    client: ClientId,
    change: Change,
    /// Its instances: the targets, and what came along.
    set: Vec<InstanceId>,
    /// Each instance's verdict, once known.
    verdicts: Vec<Option<Verdict>>,
    /// What the answer says before each instance's state.
    notes: String,
    /// A reload's: its retired instances are to be down, the others up.
    reload: bool,
}

/// The longest a waiting request may take, whatever its timeouts say.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

impl<K: Kernel> Fleet<K> {
    /// `start`, `stop` or `restart` of `names` for `client`: begun now;
    /// answered now (Some) with `--no-wait` or an error, else later, as an
    /// `Effect::Answer`, once done or out of time.
    pub fn change(
        &mut self,
        client: ClientId,
        change: Change,
        names: &[String],
        wait: bool,
    ) -> Option<String> {
        if self.phase != Phase::Running {
            return Some(format!("{VERSION} error rinit is shutting down\n"));
        }
        let targets = match self.targets(names) {
            Ok(targets) => targets,
            Err(why) => return Some(format!("{VERSION} error {why}\n")),
        };
        let (set, notes) = self.with_what_comes_along(change, &targets);
        let mut bound = Duration::ZERO;
        for &i in &set {
            let program = self.program_of(i);
            // A scheduled run is waited for until it ends: its run_timeout
            // and stop_timeout bound it, if set.
            let run_timeout = program.schedule.as_ref().and_then(|s| s.run_timeout);
            let up = run_timeout.map_or(program.ready_timeout, |t| t.saturating_add(program.stop_timeout));
            bound = bound.saturating_add(match change {
                Change::Start => up,
                Change::Stop => program.stop_timeout,
                Change::Restart => program.stop_timeout.saturating_add(up),
            });
        }
        let id = wait.then_some(client);
        if wait {
            self.wait_for(client, change, &set, notes.clone(), bound, false);
        }
        for &i in &set {
            self.deliver(i, Event::Request { id, change });
        }
        if wait {
            return None;
        }
        let mut answer = format!("{VERSION} ok\n{notes}");
        for &i in &set {
            let verb = if change == Change::Stop {
                "stopping"
            } else {
                "starting"
            };
            answer += &format!("{verb} {}\n", self.instance(i).name());
        }
        Some(answer)
    }

    /// `client` waits until each of `set` has its verdict, at most `bound`
    /// (and a second for the answer).
    pub(super) fn wait_for(
        &mut self,
        client: ClientId,
        change: Change,
        set: &[InstanceId],
        notes: String,
        bound: Duration,
        reload: bool,
    ) {
        self.pending.push(Pending {
            client,
            change,
            verdicts: vec![None; set.len()],
            set: set.to_vec(),
            notes,
            reload,
        });
        let bound = bound.min(LONGEST_WAIT).saturating_add(Duration::from_secs(1));
        self.push(Effect::SetTimer(FleetTimer::Request(client), bound));
    }

    /// Whether a reload's client waits.
    pub(super) fn reload_waits(&self) -> bool {
        self.pending.iter().any(|p| p.reload)
    }

    /// The instances a change of `targets` acts on, and the notes that say
    /// why the others came along.
    pub(super) fn with_what_comes_along(
        &self,
        change: Change,
        targets: &[InstanceId],
    ) -> (Vec<InstanceId>, String) {
        match change {
            Change::Start => self.with_dependencies(targets),
            Change::Stop | Change::Restart => self.with_dependents(targets),
        }
    }

    /// `targets`, and after them (in plan order) the instances of every
    /// program that comes after theirs, directly or not, and still runs or
    /// may: those stop first.
    fn with_dependents(&self, targets: &[InstanceId]) -> (Vec<InstanceId>, String) {
        let named = self.programs_of(targets);
        // Dependencies come earlier in the plan: one pass forward, each
        // program's mark pushed once those of the programs before it are.
        let mut wanted = Vec::with_capacity(named.len());
        let mut notes = String::new();
        for (program, &is_named) in self.plan.programs.iter().zip(&named) {
            let p = ProgramId(wanted.len());
            let because = program
                .after
                .iter()
                .find(|&&d| marked(&named, d) || marked(&wanted, d));
            let mut want = false;
            if let (false, Some(&dependency), false) = (is_named, because, self.is_retired(p)) {
                want = self.instances_of(p).any(|i| !self.instance(i).state().is_final());
                if want {
                    notes += &format!(
                        "also stopping {}: it comes after {}\n",
                        program.name,
                        self.plan.program(dependency).name
                    );
                }
            }
            wanted.push(want);
        }
        (self.with_programs(targets, &wanted), notes)
    }

    /// The programs of `targets`: a mark for each of the plan's programs.
    fn programs_of(&self, targets: &[InstanceId]) -> Vec<bool> {
        let mut named = vec![false; self.plan.programs.len()];
        for &i in targets {
            mark(&mut named, self.member(i).program);
        }
        named
    }

    /// `targets`, and before them the instances of every program theirs
    /// come after, directly or not, that is not up for them (stopped, held,
    /// failed, or wanted down): those start first.
    fn with_dependencies(&self, targets: &[InstanceId]) -> (Vec<InstanceId>, String) {
        let named = self.programs_of(targets);
        let mut needed = vec![false; named.len()];
        let mut notes = String::new();
        // Dependents come later in the plan: one pass from the end.
        for (p, program) in self.plan.programs.iter().enumerate().rev() {
            let p = ProgramId(p);
            if !(marked(&named, p) || marked(&needed, p)) {
                continue;
            }
            for &d in &program.after {
                if marked(&named, d) || marked(&needed, d) {
                    continue;
                }
                let ready = self.as_dependency(d.0) == Dependency::Ready;
                let on_its_way = self.instances_of(d).all(|i| {
                    let instance = self.instance(i);
                    instance.want() == Want::Up && !instance.state().is_down()
                });
                if !(ready || on_its_way) {
                    mark(&mut needed, d);
                    notes += &format!(
                        "also starting {}: {} comes after it\n",
                        self.plan.program(d).name,
                        program.name
                    );
                }
            }
        }
        (self.with_programs(targets, &needed), notes)
    }

    /// `targets` and the instances of the programs marked in `more`.
    fn with_programs(&self, targets: &[InstanceId], more: &[bool]) -> Vec<InstanceId> {
        let mut set: Vec<InstanceId> = targets.to_vec();
        for (p, &want) in more.iter().enumerate() {
            if want {
                set.extend(self.instances_of(ProgramId(p)));
            }
        }
        set
    }

    /// Instance `i`'s gate has the verdict of request `client`.
    pub(super) fn on_verdict(&mut self, client: ClientId, i: InstanceId, verdict: Verdict) {
        let Some((at, pending)) = self
            .pending
            .iter_mut()
            .enumerate()
            .find(|(_, p)| p.client == client)
        else {
            return;
        };
        for (slot, &member) in pending.verdicts.iter_mut().zip(&pending.set) {
            if member == i && slot.is_none() {
                *slot = Some(verdict);
            }
        }
        if pending.verdicts.iter().all(Option::is_some) {
            let pending = self.pending.remove(at);
            let answer = self.change_answer(&pending, false);
            self.push(Effect::CancelTimer(FleetTimer::Request(client)));
            self.push(Effect::Answer(client, answer));
        }
    }

    /// Request `client` ran out of time: answered with how far it got.
    pub(super) fn request_timed_out(&mut self, client: ClientId) {
        let Some(at) = self.pending.iter().position(|p| p.client == client) else {
            return;
        };
        let pending = self.pending.remove(at);
        let answer = self.change_answer(&pending, true);
        self.push(Effect::Answer(client, answer));
        for &i in &pending.set {
            self.deliver(i, Event::Withdraw(client));
        }
    }

    /// The client of a waiting request has gone: nobody waits any more.
    pub fn client_gone(&mut self, client: ClientId) {
        let Some(at) = self.pending.iter().position(|p| p.client == client) else {
            return;
        };
        let pending = self.pending.remove(at);
        self.push(Effect::CancelTimer(FleetTimer::Request(client)));
        for &i in &pending.set {
            self.deliver(i, Event::Withdraw(client));
        }
    }

    /// Whether `client` waits for the answer to a change.
    pub fn is_waiting(&self, client: ClientId) -> bool {
        self.pending.iter().any(|p| p.client == client)
    }

    /// The answer to a change: what became of it, and how each instance is
    /// now. Over 50 lines: each instance's verdict and line, then the one
    /// first line that sums them up.
    fn change_answer(&self, pending: &Pending, timed_out: bool) -> String {
        let mut lines = pending.notes.clone();
        let mut failed = Vec::new();
        let mut superseded = None;
        let mut shutting_down = false;
        for (&i, verdict) in pending.set.iter().zip(&pending.verdicts) {
            let instance = self.instance(i);
            let state = instance.state().name();
            // Reached once, and still so now: the answer says how it is.
            let retired = self.is_retired(self.member(i).program);
            let down = pending.change == Change::Stop || (pending.reload && retired);
            let still = if down {
                instance.state().is_down()
            } else {
                instance.is_up()
            };
            match verdict {
                Some(Verdict::Reached) if still => {}
                Some(Verdict::Superseded(change)) => superseded = Some(*change),
                Some(Verdict::ShuttingDown) => shutting_down = true,
                Some(Verdict::Reached | Verdict::NotReached) | None => match instance.last_exit() {
                    // A scheduled program back on its schedule: its run failed.
                    Some(status) if matches!(instance.state(), State::Scheduled) => {
                        failed.push(format!("{}'s run ended ({status})", instance.name()))
                    }
                    _ => failed.push(format!("{} is {state}", instance.name())),
                },
            }
            let name = instance.name();
            let name = if down && pending.reload {
                format!("{name} (previous)")
            } else {
                name.to_string()
            };
            match instance.state().child() {
                Some(child) => lines += &format!("{name}: {state} (pid {})\n", child.pid()),
                None => lines += &format!("{name}: {state}\n"),
            }
        }
        let word = if pending.reload {
            "reload"
        } else {
            pending.change.word()
        };
        if shutting_down {
            return format!("{VERSION} error {word}: rinit is shutting down\n{lines}");
        }
        if let Some(by) = superseded {
            return format!("{VERSION} error {word} superseded by {}\n{lines}", by.word());
        }
        match (failed.is_empty(), timed_out) {
            (true, _) => format!("{VERSION} ok\n{lines}"),
            (false, false) => format!("{VERSION} error {word} failed: {}\n{lines}", failed.join(", ")),
            (false, true) => format!("{VERSION} error {word} timed out: {}\n{lines}", failed.join(", ")),
        }
    }

    /// `signal SIG NAME...`: the signal to each target's gate, as a signal
    /// sent to rinit would be.
    pub fn signal_request(&mut self, signal: &str, names: &[String]) -> Result<String, String> {
        let signo = signals::parse(signal)?;
        let ids = self.targets(names)?;
        let name = signals::name(signo);
        let mut lines = String::new();
        for i in ids {
            let instance = self.instance(i);
            match instance.state().child() {
                Some(child) => {
                    lines += &format!("sent {name} to {} (pid {})\n", instance.name(), child.pid())
                }
                None => {
                    lines += &format!(
                        "{} has no process ({})\n",
                        instance.name(),
                        instance.state().name()
                    )
                }
            }
            self.deliver(i, Event::Forward(signo));
        }
        Ok(lines)
    }

    /// The instances `names` stand for, in plan order: all of them for no
    /// name; a group's programs' for its name; a program's for its name;
    /// either with NAME:*; one for NAME.I. Retired programs (reload.rs)
    /// are never among them.
    pub fn targets(&self, names: &[String]) -> Result<Vec<InstanceId>, String> {
        if names.is_empty() {
            return Ok(self.live_members().map(|(i, _)| i).collect());
        }
        let mut chosen = vec![false; self.members.len()];
        // Places in `chosen`, which has one for each member.
        let mut choose = |i: InstanceId| {
            if let Some(slot) = chosen.get_mut(i.0) {
                *slot = true;
            }
        };
        for name in names {
            let program = name.strip_suffix(":*").unwrap_or(name);
            let by_group = self.plan.groups.iter().find(|g| g.name == program);
            let by_program = (0..self.plan.programs.len())
                .find(|&p| self.plan.program(ProgramId(p)).name == program && !self.is_retired(ProgramId(p)));
            let by_instance = self
                .live_members()
                .find(|(_, m)| m.instance.name() == name)
                .map(|(i, _)| i.0);
            match (by_group, by_program, by_instance) {
                (Some(group), _, _) => {
                    for &p in &group.programs {
                        self.instances_of(p).for_each(&mut choose);
                    }
                }
                (None, Some(p), _) => self.instances_of(ProgramId(p)).for_each(&mut choose),
                (None, None, Some(i)) => choose(InstanceId(i)),
                (None, None, None) => return Err(format!("no program, instance or group named {name:?}")),
            }
        }
        let chosen = chosen.iter().enumerate().filter(|(_, &is)| is);
        Ok(chosen.map(|(i, _)| InstanceId(i)).collect())
    }

    /// Instance `i` as `status` shows it.
    pub fn status_of(&self, i: InstanceId, now: Instant) -> InstanceStatus {
        let instance = self.instance(i);
        let program = self.program_of(i);
        let uptime_ms = match instance.state() {
            State::Running(run) => Some(now.saturating_duration_since(run.since).as_millis() as u64),
            _ => None,
        };
        InstanceStatus {
            name: instance.name().to_string(),
            state: instance.state().name().into(),
            want: instance.want().name().into(),
            pid: instance.state().child().map(|child| child.pid()),
            uptime_ms,
            restarts: instance.restarts(),
            last_exit: instance.last_exit().map(|status| status.to_string()),
            critical: program.critical,
            ready: instance.state().is_ready(),
            next_run: self.next_run_shown(i, now),
        }
    }
}

impl<K: Kernel> Fleet<K> {
    /// Instance `i`'s next run as RFC 3339 in its zone, while it is wanted up.
    fn next_run_shown(&self, i: InstanceId, now: Instant) -> Option<String> {
        let zone = &self.program_of(i).schedule.as_ref()?.zone;
        Some(crate::schedule::rfc3339(self.next_run_wall(i, now)?, zone))
    }

    /// Instance `i`'s next run on the wall clock (seconds since the
    /// epoch), while it is wanted up.
    pub fn next_run_wall(&self, i: InstanceId, now: Instant) -> Option<i64> {
        if self.instance(i).want() != Want::Up {
            return None;
        }
        Some(match self.next_run(i)? {
            NextRun::Wall(at) => at,
            NextRun::After(instant) => {
                let ahead = instant.saturating_duration_since(now).as_secs_f64().round();
                self.kernel.wall_now().saturating_add(ahead as i64)
            }
        })
    }
}

/// Whether program `p` is marked in `marks` (one mark for each program).
fn marked(marks: &[bool], p: ProgramId) -> bool {
    marks.get(p.0) == Some(&true)
}

/// Marks program `p` in `marks` (one mark for each program).
fn mark(marks: &mut [bool], p: ProgramId) {
    if let Some(slot) = marks.get_mut(p.0) {
        *slot = true;
    }
}
