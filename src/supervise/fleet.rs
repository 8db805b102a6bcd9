//! The supervisor's decisions, pure: every instance with its gate, the
//! order they start and stop in, rinit's shutdown phase, the control
//! requests waiting on instances, and rinit's exit code. It makes no system
//! call: what it asks of the kernel goes through `Kernel`, and what it wants
//! done comes out as `Effect`s, in order, which the event loop's side
//! (mod.rs) carries out, or the simulation (sim.rs) plays against a fake
//! kernel and clock. Requests are in requests.rs, the shutdown in
//! shutdown.rs.

use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::libc::{c_int, pid_t};

use super::instance::{Action, Context, Event, Instance, State, Timer, Want};
use super::requests::Pending;
use super::schedules::NextRun;
use crate::config::{Plan, Program, ProgramId};
use crate::control::server::ClientId;
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;

/// An instance's place in `Fleet::members`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(pub usize);

/// What the fleet asks of the kernel (the real one, or the simulation's).
pub trait Kernel {
    fn now(&self) -> Instant;
    /// Whether the process group `pgid` still has a member.
    fn group_alive(&self, pgid: pid_t) -> bool;
    /// Whether rinit has any child left (reaped or not).
    fn children_remain(&self) -> bool;
    fn is_pid1(&self) -> bool;
    /// The wall clock: seconds since the epoch.
    fn wall_now(&self) -> i64;
}

/// The fleet's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FleetTimer {
    Instance(InstanceId, Timer),
    /// The time a waiting request may take.
    Request(ClientId),
    /// The end of `drain`: the orderly shutdown begins.
    DrainOver,
    ShutdownDeadline,
    SweepOver,
    KillOver,
}

/// What the fleet wants done, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// An action of an instance's gate: spawn, signal, readiness, health.
    Do(InstanceId, Action),
    /// The whole answer to the request of this client.
    Answer(ClientId, String),
    SetTimer(FleetTimer, Duration),
    CancelTimer(FleetTimer),
    /// As PID 1: this signal to every process (kill(-1)).
    SignalEveryone(c_int),
    Log(Level, String),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Running,
    /// Stopping programs in reverse dependency order.
    Stopping,
    /// Programs are down; what was left got SIGTERM.
    Sweeping,
    /// SIGKILL went to everything; waiting for the reaping.
    Killing,
    Done,
}

/// An instance and where it belongs.
pub struct Member {
    pub program: ProgramId,
    /// Its number among its program's instances, when it has `instances`.
    pub number: Option<u32>,
    pub instance: Instance,
}

pub struct Fleet<K: Kernel> {
    /// Shared with the side that carries out effects (mod.rs); replaced by a reload.
    pub(super) plan: Rc<Plan>,
    pub(super) kernel: K,
    pub(super) members: Vec<Member>,
    /// The instances of each program.
    pub(super) of_program: Vec<Range<usize>>,
    /// The programs that come after each program.
    pub(super) dependents: Vec<Vec<ProgramId>>,
    pub(super) phase: Phase,
    /// The `start`, `stop` and `restart` requests whose clients wait.
    pub(super) pending: Vec<Pending>,
    /// `-e`: main's exit codes reported as 0.
    pub(super) success_codes: Vec<u8>,
    /// `-t`: how long leftover processes get after SIGTERM in the sweep.
    pub(super) grace: Duration,
    /// Set by main's or a critical program's end.
    pub(super) exit_code: Option<c_int>,
    /// Signals passed on to programs, one per program.
    pub(super) forwarded: u64,
    /// Each scheduled instance's next run (None for the others).
    pub(super) next_runs: Vec<Option<NextRun>>,
    /// While rinit drains (a SIGTERM with `drain`): when the drain ends.
    pub(super) drain_ends: Option<Instant>,
    /// For each program: it was removed or replaced by a reload, and only
    /// stops (reload.rs); no request names it, no status shows it.
    pub(super) retired: Vec<bool>,
    /// For each program: the retired programs of its name, which must be
    /// down before it starts (a changed program's old version).
    pub(super) replaces: Vec<Vec<ProgramId>>,
    /// The configuration's generation (1 at start, one more per reload
    /// applied), when it was loaded (seconds since the epoch), and the
    /// reloads by outcome (reload.rs).
    pub(super) generation: u64,
    pub(super) loaded_at: i64,
    pub(super) reloads: [u64; 3],
    /// Effects not yet taken; `taken` of them have been, in order.
    effects: Vec<Option<Effect>>,
    taken: usize,
}

impl<K: Kernel> Fleet<K> {
    pub fn new(plan: Rc<Plan>, kernel: K, success_codes: Vec<u8>, grace: Duration) -> Fleet<K> {
        let count = plan.programs.len();
        let wall_now = kernel.wall_now();
        let mut fleet = Fleet {
            plan,
            kernel,
            members: Vec::new(),
            of_program: Vec::new(),
            dependents: Vec::new(),
            phase: Phase::Running,
            pending: Vec::new(),
            success_codes,
            grace,
            exit_code: None,
            forwarded: 0,
            next_runs: Vec::new(),
            drain_ends: None,
            retired: vec![false; count],
            replaces: vec![Vec::new(); count],
            generation: 1,
            loaded_at: wall_now,
            reloads: [0; 3],
            effects: Vec::new(),
            taken: 0,
        };
        fleet.add_members(0);
        fleet
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Member `i`. With `member_mut`, the only places a member is reached by
    /// its id.
    #[expect(
        clippy::indexing_slicing,
        reason = "an InstanceId is made only from 0..members.len() (or of_program's ranges within it), and members never shrinks"
    )]
    pub fn member(&self, i: InstanceId) -> &Member {
        &self.members[i.0]
    }

    /// Member `i`, to change (see `member`).
    #[expect(
        clippy::indexing_slicing,
        reason = "an InstanceId is made only from 0..members.len() (or of_program's ranges within it), and members never shrinks"
    )]
    fn member_mut(&mut self, i: InstanceId) -> &mut Member {
        &mut self.members[i.0]
    }

    pub fn instance(&self, i: InstanceId) -> &Instance {
        &self.member(i).instance
    }

    /// Instance `i`'s program.
    pub(super) fn program_of(&self, i: InstanceId) -> &Program {
        self.plan.program(self.member(i).program)
    }

    /// The instances of program `p`.
    pub(super) fn instances_of(&self, p: ProgramId) -> impl Iterator<Item = InstanceId> {
        // `of_program` has a place for each of the plan's programs.
        self.of_program
            .get(p.0)
            .cloned()
            .unwrap_or_default()
            .map(InstanceId)
    }

    /// The programs that come right after program `p`.
    pub(super) fn dependents_of(&self, p: ProgramId) -> &[ProgramId] {
        // `dependents` has a place for each of the plan's programs.
        self.dependents.get(p.0).map_or(&[], Vec::as_slice)
    }

    #[cfg(test)]
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    pub fn forwarded(&self) -> u64 {
        self.forwarded
    }

    /// The next thing to do, oldest first.
    pub fn next_effect(&mut self) -> Option<Effect> {
        let effect = self.effects.get_mut(self.taken).and_then(Option::take);
        self.taken = self.taken.saturating_add(1);
        if effect.is_none() {
            self.effects.clear();
            self.taken = 0;
        }
        effect
    }

    pub(super) fn push(&mut self, effect: Effect) {
        self.effects.push(Some(effect));
    }

    /// Passes `event` to instance `i`'s gate and takes its answer. A
    /// draining instance whose group has emptied learns that first, so no
    /// event makes it signal an empty group.
    pub fn deliver(&mut self, i: InstanceId, event: Event) {
        if !matches!(event, Event::GroupEmpty) {
            self.notice_empty_group(i);
        }
        let plan = Rc::clone(&self.plan);
        let context = Context {
            config: plan.program(self.member(i).program),
            now: self.kernel.now(),
            shutting_down: self.phase != Phase::Running,
        };
        let actions = self.member_mut(i).instance.on(event, &context);
        for action in actions {
            match action {
                Action::SetTimer(timer, delay) => {
                    self.push(Effect::SetTimer(FleetTimer::Instance(i, timer), delay))
                }
                Action::CancelTimer(timer) => self.push(Effect::CancelTimer(FleetTimer::Instance(i, timer))),
                Action::Log(level, message) => self.push(Effect::Log(level, message)),
                Action::EndedForGood => {
                    if self.program_of(i).critical {
                        self.critical_ended(i);
                    }
                }
                Action::Answer(id, verdict) => self.on_verdict(id, i, verdict),
                Action::WatchReadiness => {
                    let delay = self.program_of(i).ready_timeout;
                    self.push(Effect::SetTimer(
                        FleetTimer::Instance(i, Timer::ReadyTimeout),
                        delay,
                    ));
                    self.push(Effect::Do(i, Action::WatchReadiness));
                }
                Action::AbandonReadiness => {
                    self.push(Effect::CancelTimer(FleetTimer::Instance(i, Timer::ReadyTimeout)));
                    self.push(Effect::Do(i, Action::AbandonReadiness));
                }
                action => self.push(Effect::Do(i, action)),
            }
        }
    }

    /// `GroupEmpty` to instance `i` if it is draining a group that has emptied.
    fn notice_empty_group(&mut self, i: InstanceId) {
        if let State::Draining { pgid, .. } = self.instance(i).state() {
            if !self.kernel.group_alive(*pgid) {
                self.deliver(i, Event::GroupEmpty);
            }
        }
    }

    /// Instance `i`'s main process was reaped with `status`.
    pub fn exited(&mut self, i: InstanceId, status: ExitStatus) {
        if self.program_of(i).is_main {
            // Unless a critical program has ended everything already.
            self.exit_code
                .get_or_insert(crate::single::exit_code(status, &self.success_codes));
        }
        let Some(pid) = self.instance(i).state().child().map(|child| child.pid()) else {
            return;
        };
        let group_left = self.kernel.group_alive(pid);
        self.deliver(i, Event::Exited { status, group_left });
    }

    /// A timer of the fleet's has fired.
    pub fn on_timer(&mut self, timer: FleetTimer) {
        match timer {
            FleetTimer::Instance(i, Timer::Restart) => self.deliver(i, Event::RestartDue),
            FleetTimer::Instance(i, Timer::StopTimeout) => self.deliver(i, Event::StopTimeout),
            FleetTimer::Instance(i, Timer::ReadyTimeout) => self.deliver(i, Event::ReadyTimeout),
            FleetTimer::Instance(i, Timer::RunTimeout) => self.deliver(i, Event::RunTimeout),
            FleetTimer::Instance(i, Timer::RunDue) => self.every_due(i),
            FleetTimer::Request(client) => self.request_timed_out(client),
            FleetTimer::DrainOver => self.on_drain_over(),
            FleetTimer::ShutdownDeadline => self.on_shutdown_deadline(),
            FleetTimer::SweepOver => self.on_sweep_over(),
            FleetTimer::KillOver => {
                let message =
                    format!("processes still running {KILL_OVER:?} after SIGKILL; exiting without them");
                self.push(Effect::Log(Level::Warn, message));
                self.phase = Phase::Done;
            }
        }
    }

    /// Moves every program along, after each batch of events: notices
    /// emptied groups; starts what can start and stops what may stop (in
    /// dependency order); notices the end of everything.
    pub fn advance(&mut self) {
        for i in (0..self.members.len()).map(InstanceId) {
            self.notice_empty_group(i);
        }
        if self.phase == Phase::Running {
            self.stop_what_may_stop();
            self.start_what_can_start();
            let ended = |m: &Member| m.instance.state().is_final() || self.is_retired(m.program);
            if self.phase == Phase::Running && self.members.iter().all(ended) {
                self.push(Effect::Log(Level::Info, "every program has ended".into()));
                self.begin_shutdown();
            }
        }
        if self.phase == Phase::Stopping {
            self.stop_what_may_stop();
            if !self.members.iter().any(|m| m.instance.state().is_active()) {
                self.sweep();
            }
        }
        if matches!(self.phase, Phase::Sweeping | Phase::Killing) && !self.kernel.children_remain() {
            self.phase = Phase::Done;
        }
    }

    /// "Stop in dependency order", the one place it is written: every
    /// running instance that is to stop (wanted down or again, or rinit is
    /// shutting down) gets `MayStop` once no program after it, directly or
    /// through others (redis -> migrate, done -> web), still has a process.
    fn stop_what_may_stop(&mut self) {
        let shutting_down = self.phase != Phase::Running;
        let to_stop = |m: &Member| {
            matches!(m.instance.state(), State::Running(_))
                && (shutting_down || m.instance.want() != Want::Up)
        };
        if !self.members.iter().any(to_stop) {
            return;
        }
        let alive_from = self.active_from();
        for i in (0..self.members.len()).map(InstanceId) {
            let member = self.member(i);
            let dependents_alive = self
                .dependents_of(member.program)
                .iter()
                .any(|d| alive_from.get(d.0) == Some(&true));
            if to_stop(member) && !dependents_alive {
                self.deliver(i, Event::MayStop);
            }
        }
    }

    /// For each program: whether it, or a program after it (directly or
    /// through others), has a process or is spawning one. Dependents come
    /// later in the plan: one pass from the end.
    pub(super) fn active_from(&self) -> Vec<bool> {
        let mut active = vec![false; self.plan.programs.len()];
        for p in (0..active.len()).rev().map(ProgramId) {
            let is_active = self.instances_of(p).any(|i| self.instance(i).state().is_active())
                || self
                    .dependents_of(p)
                    .iter()
                    .any(|d| active.get(d.0) == Some(&true));
            if let Some(slot) = active.get_mut(p.0) {
                *slot = is_active;
            }
        }
        active
    }

    /// Starts (in plan order, so a simple program's dependents follow it in
    /// the same pass) every waiting instance whose dependencies are ready;
    /// fails those whose dependencies ended for good without being ready.
    fn start_what_can_start(&mut self) {
        // What each program already passed means to the programs after it;
        // one look at every instance per pass, however many wait.
        let plan = Rc::clone(&self.plan);
        let mut verdicts: Vec<Dependency> = Vec::with_capacity(plan.programs.len());
        for (p, program) in plan.programs.iter().enumerate() {
            let mut verdict = Dependency::Ready;
            for dependency in &program.after {
                // Dependencies come earlier in the plan: each has its verdict.
                let known = verdicts.get(dependency.0).copied();
                verdict = verdict.and(known.unwrap_or(Dependency::Pending));
            }
            // A changed program's new version waits for the old one to be down.
            if self.replaced_active(ProgramId(p)) {
                verdict = verdict.and(Dependency::Pending);
            }
            for i in self.instances_of(ProgramId(p)) {
                if !matches!(self.instance(i).state(), State::Waiting) {
                    continue;
                }
                match verdict {
                    Dependency::Pending => {}
                    Dependency::Ready => self.deliver(i, Event::MayStart),
                    Dependency::Dead(d) => {
                        let dead = self.instance(d);
                        let event = Event::DependencyFailed {
                            name: dead.name().to_string(),
                            state: dead.state().name(),
                        };
                        self.deliver(i, event);
                    }
                }
                if self.phase != Phase::Running {
                    return;
                }
            }
            verdicts.push(self.as_dependency(p));
        }
    }

    /// Whether the programs after program `p` may start: all its instances
    /// are ready, or were and have ended since (`after` orders, nothing
    /// more); or one has ended for good without (Dead). An instance wanted
    /// down or again is not ready for them, whatever it is now.
    pub(super) fn as_dependency(&self, p: usize) -> Dependency {
        let mut verdict = Dependency::Ready;
        for d in self.instances_of(ProgramId(p)) {
            let instance = self.instance(d);
            let state = instance.state();
            if instance.want() != Want::Up {
                verdict = Dependency::Pending;
                continue;
            }
            let ended_after_ready =
                instance.was_ready() && matches!(state, State::Exited | State::Stopped | State::Done);
            if state.is_ready() || ended_after_ready {
                continue;
            }
            if state.is_final() {
                return Dependency::Dead(d);
            }
            verdict = Dependency::Pending;
        }
        verdict
    }
}

/// After SIGKILL to everything, how long rinit waits for the reaping before
/// it exits anyway (as PID 1 the kernel then kills whatever is left).
pub const KILL_OVER: Duration = Duration::from_secs(1);

/// What a program means to the programs that come after it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dependency {
    Ready,
    Pending,
    /// Ended for good without being ready: this instance.
    Dead(InstanceId),
}

impl Dependency {
    /// The verdict over two dependencies: a dead one wins, then a pending one.
    fn and(self, other: Dependency) -> Dependency {
        match (self, other) {
            (Dependency::Dead(d), _) | (_, Dependency::Dead(d)) => Dependency::Dead(d),
            (Dependency::Pending, _) | (_, Dependency::Pending) => Dependency::Pending,
            _ => Dependency::Ready,
        }
    }
}
