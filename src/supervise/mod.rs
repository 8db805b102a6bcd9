//! Supervisor mode, and main command + programs. `run` drives the event
//! loop; `handle` only turns each loop event into an event of the instance
//! it concerns (or of rinit's shutdown), and `apply` carries out what the
//! instance's gate (instance.rs) answers. Around that: starting in
//! dependency order (here), spawning (launch.rs), readiness (ready.rs), the
//! orderly shutdown (shutdown.rs) and prefixed output (output.rs).

mod control;
mod health;
mod http;
mod instance;
mod launch;
mod output;
mod policy;
mod probe;
mod ready;
mod shutdown;
mod state;

use std::collections::HashMap;
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::libc::{self, c_int, pid_t};
use nix::sys::stat::Mode;

use crate::config::{Output as OutputMode, Plan, ProgramId};
use crate::control::server::{ClientId, Server};
use crate::http::ConnectionId;
use crate::log::{self, Level};
use crate::pid1::event_loop::{Event as LoopEvent, EventLoop};
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::{self, Child};
use instance::{Action, Context, Event, Instance, State, Timer};
use output::{Output, StreamId, Watch};
use probe::Probe;
use ready::NotifySocket;

/// An instance's place in `Supervisor::members`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(usize);

/// The event loop's keys: timers and watched descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Instance(InstanceId, Timer),
    ReadyTimeout(InstanceId),
    /// Time for the next `ready` check.
    Check(InstanceId),
    Notify(InstanceId),
    /// A `ready` tcp or http try can take its next step.
    Probe(InstanceId),
    /// Time for a `health` check, or the end of one.
    Health(InstanceId),
    /// A `health` tcp or http check can take its next step.
    HealthProbe(InstanceId),
    Output(Watch),
    /// The control socket has a connection waiting.
    ControlListener,
    /// A control connection can be read or written.
    Control(ClientId),
    ControlDeadline(ClientId),
    /// The HTTP server has a connection waiting.
    HttpListener,
    /// An HTTP connection can be read or written.
    Http(ConnectionId),
    HttpDeadline(ConnectionId),
    ShutdownDeadline,
    SweepOver,
    KillOver,
}

/// What rinit takes from its command line and start-up into this mode.
pub struct Settings {
    /// rinit's starting directory (Docker's WORKDIR), where programs start.
    pub start_dir: Option<std::os::fd::RawFd>,
    /// Whether `main` gets the terminal's foreground.
    pub foreground: bool,
    /// `-t`: how long leftover processes get after SIGTERM.
    pub grace: Duration,
    /// `-e`: main's exit codes reported as 0.
    pub success_codes: Vec<u8>,
    /// The open-files limit rinit started with, when it raised its own.
    pub open_files: Option<libc::rlimit64>,
    /// `-w`: a warning, not a debug line, for each pid reaped that rinit did not start.
    pub warn_reaped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    /// Stopping programs in reverse dependency order.
    Stopping,
    /// Programs are down; what was left got SIGTERM.
    Sweeping,
    /// SIGKILL went to everything; waiting for the reaping.
    Killing,
    Done,
}

/// Who a reaped pid was.
enum Owner {
    Program(InstanceId),
    Check(InstanceId),
    /// A `health` command.
    Health(InstanceId),
}

/// An instance, and what the supervisor holds for it while it runs.
struct Member {
    program: ProgramId,
    /// Its number among its program's instances, when it has `instances`.
    number: Option<u32>,
    instance: Instance,
    /// Its sd_notify socket (`type = "notify"`), made at the first start.
    notify: Option<NotifySocket>,
    /// A `ready` tcp or http try under way.
    probing: Option<Probe>,
    /// Its `health` checks, while it runs.
    health: Option<health::Watch>,
    /// A `ready = { command }` check running.
    checking: Option<Child>,
    /// Its output streams, when `output = "prefix"`.
    streams: Option<[StreamId; 2]>,
}

struct Supervisor<'a> {
    plan: &'a Plan,
    settings: &'a Settings,
    events: &'a mut EventLoop<Key>,
    members: Vec<Member>,
    /// The instances of each program.
    of_program: Vec<Range<usize>>,
    /// The programs that come after each program.
    dependents: Vec<Vec<ProgramId>>,
    owners: HashMap<pid_t, Owner>,
    output: Option<Output>,
    /// The control socket, when it could be opened.
    control: Option<Server>,
    /// The `start`, `stop` and `restart` requests under way.
    pending: Vec<control::Pending>,
    /// The read-only HTTP server, when `http` is set and it could listen.
    http: Option<crate::http::Server>,
    counts: Counts,
    /// Instances a `stop` or `restart` wants down, once their dependents are.
    stop_wanted: Vec<bool>,
    null: OwnedFd,
    own_uid: u32,
    phase: Phase,
    /// Set by main's or a critical program's end.
    exit_code: Option<c_int>,
}

/// What `/metrics` counts.
struct Counts {
    started: Instant,
    /// Processes reaped.
    reaped: u64,
    /// Signals rinit received and passed on, one per program that got it.
    forwarded: u64,
}

/// Runs the plan until everything has ended or been stopped; returns rinit's
/// exit code.
pub fn run(plan: &Plan, settings: &Settings, events: &mut EventLoop<Key>) -> c_int {
    let null = match nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(errno) => {
            error!("cannot open /dev/null: {}", errno.desc());
            return 1;
        }
    };
    let mut supervisor = Supervisor::new(plan, settings, events, null);
    supervisor.open_control_socket();
    supervisor.open_http();
    supervisor.advance();
    let mut batch = Vec::new();
    while supervisor.phase != Phase::Done {
        if let Err(errno) = supervisor.events.wait(&mut batch) {
            error!("waiting for events failed: {}", errno.desc());
            supervisor.exit_code.get_or_insert(1);
            break;
        }
        // A check reaped in this batch is let go of before anything else in
        // the batch could signal its group (its program's exit, say,
        // abandons its readiness): a reaped pid is never signalled.
        let owners = &supervisor.owners;
        batch.sort_by_key(|event| match event {
            LoopEvent::Exited(pid, _) => !matches!(owners.get(pid), Some(Owner::Check(_) | Owner::Health(_))),
            _ => true,
        });
        let reaped = batch
            .iter()
            .filter(|e| matches!(e, LoopEvent::Exited(..)))
            .count();
        supervisor.counts.reaped += reaped as u64;
        for event in batch.drain(..) {
            supervisor.handle(event);
        }
        batch.shrink_to(64);
        supervisor.advance();
    }
    if let Some(output) = &mut supervisor.output {
        output.finish(Duration::from_secs(1));
    }
    supervisor.final_code()
}

impl<'a> Supervisor<'a> {
    /// Over 50 lines: one member per instance, each program's range and
    /// dependents, and every field in one literal.
    fn new(
        plan: &'a Plan,
        settings: &'a Settings,
        events: &'a mut EventLoop<Key>,
        null: OwnedFd,
    ) -> Supervisor<'a> {
        let mut members = Vec::new();
        let mut of_program = Vec::new();
        let mut dependents = vec![Vec::new(); plan.programs.len()];
        for (index, program) in plan.programs.iter().enumerate() {
            let first = members.len();
            for (number, name) in program.instance_names().into_iter().enumerate() {
                members.push(Member {
                    program: ProgramId(index),
                    number: program.instances.map(|_| number as u32),
                    instance: Instance::new(name, program),
                    notify: None,
                    probing: None,
                    health: None,
                    checking: None,
                    streams: None,
                });
            }
            of_program.push(first..members.len());
            for dependency in &program.after {
                dependents[dependency.0].push(ProgramId(index));
            }
        }
        let stop_wanted = vec![false; members.len()];
        let output = plan
            .programs
            .iter()
            .any(|p| p.output == OutputMode::Prefix)
            .then(Output::new);
        Supervisor {
            plan,
            settings,
            events,
            members,
            of_program,
            dependents,
            owners: HashMap::new(),
            output,
            control: None,
            pending: Vec::new(),
            http: None,
            counts: Counts {
                started: Instant::now(),
                reaped: 0,
                forwarded: 0,
            },
            stop_wanted,
            null,
            own_uid: nix::unistd::geteuid().as_raw(),
            phase: Phase::Running,
            exit_code: None,
        }
    }

    /// Turns one event of the loop into an event of whom it concerns.
    fn handle(&mut self, event: LoopEvent<Key>) {
        match event {
            LoopEvent::Signal(signal) => self.on_signal(signal),
            LoopEvent::Exited(pid, status) => match self.owners.remove(&pid) {
                Some(Owner::Program(i)) => self.on_exit(i, status),
                Some(Owner::Check(i)) => self.on_check_exit(i, pid, status),
                Some(Owner::Health(i)) => self.on_health_exit(i, pid, status),
                None => crate::pid1::reaper::reaped_unknown(pid, status, self.settings.warn_reaped),
            },
            LoopEvent::Timer(Key::Instance(i, Timer::Restart)) => self.deliver(i, Event::RestartDue),
            LoopEvent::Timer(Key::Instance(i, Timer::StopTimeout)) => self.deliver(i, Event::StopTimeout),
            LoopEvent::Timer(Key::ReadyTimeout(i)) => self.deliver(i, Event::ReadyTimeout),
            LoopEvent::Timer(Key::Check(i)) => self.on_check_timer(i),
            LoopEvent::Ready(Key::Notify(i)) => self.on_notify(i),
            LoopEvent::Ready(Key::Probe(i)) => self.on_probe(i),
            LoopEvent::Timer(Key::Health(i)) => self.on_health_timer(i),
            LoopEvent::Ready(Key::HealthProbe(i)) => self.on_health_probe(i),
            LoopEvent::Ready(Key::Output(watch)) => {
                if let Some(output) = &mut self.output {
                    output.on_ready(watch);
                    // What to watch next is settled once per batch, in `advance`.
                }
            }
            LoopEvent::Ready(Key::ControlListener) => self.on_control_listener(),
            LoopEvent::Ready(Key::Control(id)) => self.on_control_client(id),
            LoopEvent::Timer(Key::ControlDeadline(id)) => self.on_control_deadline(id),
            LoopEvent::Ready(Key::HttpListener) => self.on_http_listener(),
            LoopEvent::Ready(Key::Http(id)) => self.on_http_connection(id),
            LoopEvent::Timer(Key::HttpDeadline(id)) => self.on_http_deadline(id),
            LoopEvent::Timer(Key::ShutdownDeadline) => self.on_shutdown_deadline(),
            LoopEvent::Timer(Key::SweepOver) => self.on_sweep_over(),
            LoopEvent::Timer(Key::KillOver) => {
                warn!(
                    "processes still running {:?} after SIGKILL; exiting without them",
                    shutdown::KILL_WAIT
                );
                self.phase = Phase::Done;
            }
            LoopEvent::Timer(_) | LoopEvent::Ready(_) => {}
        }
    }

    /// Instance `i`'s main process was reaped.
    fn on_exit(&mut self, i: InstanceId, status: ExitStatus) {
        if let (Some(ids), Some(output)) = (self.members[i.0].streams.take(), self.output.as_mut()) {
            for id in ids {
                output.drain(id);
            }
        }
        self.abandon_health(i);
        let member = &self.members[i.0];
        let config = &self.plan.programs[member.program.0];
        if config.is_main {
            // Unless a critical program has ended everything already.
            self.exit_code
                .get_or_insert(crate::single::exit_code(status, &self.settings.success_codes));
        }
        // Only a stop looks after the rest of the group (KillMode=mixed).
        let group_left = match &member.instance.state {
            State::Stopping { child, .. } => spawn::group_alive(child.pid()),
            _ => false,
        };
        self.deliver(i, Event::Exited { status, group_left });
    }

    /// Passes `event` to instance `i`'s gate and carries out its answer.
    fn deliver(&mut self, i: InstanceId, event: Event) {
        let member = &mut self.members[i.0];
        let context = Context {
            config: &self.plan.programs[member.program.0],
            now: Instant::now(),
            shutting_down: self.phase != Phase::Running,
        };
        let actions = member.instance.on(event, &context);
        for action in actions {
            self.apply(i, action);
        }
    }

    fn apply(&mut self, i: InstanceId, action: Action) {
        let name = &self.members[i.0].instance.name;
        match action {
            Action::Spawn => self.spawn(i),
            Action::SignalMain(signo) => {
                if let Some(Err(errno)) = self.members[i.0].instance.state.child().map(|c| c.signal(signo)) {
                    warn!(
                        "could not send {} to {name}: {}",
                        crate::pid1::signals::name(signo),
                        errno.desc()
                    );
                }
            }
            Action::SignalGroup(pgid, signo) => {
                // SIGCONT and the like may find the group gone: no message.
                if let Err(errno) = spawn::signal_group(pgid, signo) {
                    debug!(
                        "could not send {} to {name}'s group: {}",
                        crate::pid1::signals::name(signo),
                        errno.desc()
                    );
                }
            }
            Action::WatchReadiness => self.watch_readiness(i),
            Action::AbandonReadiness => self.abandon_readiness(i),
            Action::SetTimer(timer, delay) => self.events.set_timer_after(Key::Instance(i, timer), delay),
            Action::CancelTimer(timer) => self.events.cancel_timer(Key::Instance(i, timer)),
            Action::Log(level, message) => log_at(level, &message),
            Action::EndedForGood => {
                if self.plan.programs[self.members[i.0].program.0].critical {
                    self.critical_ended(i);
                }
            }
        }
    }

    /// Moves every program along: starts what can start; in shutdown, stops
    /// what nothing running depends on any more; notices the end.
    fn advance(&mut self) {
        if self.phase == Phase::Running {
            self.move_changes_along();
            self.start_what_can_start();
            // What started just now may be what a change waits for.
            self.move_changes_along();
            if self.phase == Phase::Running && self.members.iter().all(|m| m.instance.state.is_final()) {
                info!("every program has ended");
                self.begin_shutdown();
            }
        }
        if self.phase == Phase::Stopping {
            self.stop_in_order();
        }
        if matches!(self.phase, Phase::Sweeping | Phase::Killing) && !crate::pid1::reaper::children_remain() {
            self.phase = Phase::Done;
        }
        if let Some(output) = &mut self.output {
            output.sync_watches(self.events, Key::Output);
        }
    }

    /// Starts (in plan order, so a simple program's dependents follow it in
    /// the same pass) every waiting instance whose dependencies are ready;
    /// fails those whose dependencies ended for good without being ready.
    fn start_what_can_start(&mut self) {
        // What each program already passed means to the programs after it;
        // one look at every instance per pass, however many wait.
        let mut verdicts: Vec<Dependency> = Vec::with_capacity(self.plan.programs.len());
        for (p, program) in self.plan.programs.iter().enumerate() {
            let mut verdict = Dependency::Ready;
            for dependency in &program.after {
                verdict = verdict.and(verdicts[dependency.0]);
            }
            for i in self.of_program[p].clone().map(InstanceId) {
                if !matches!(self.members[i.0].instance.state, State::Waiting) {
                    continue;
                }
                match verdict {
                    Dependency::Pending => {}
                    Dependency::Ready => self.deliver(i, Event::MayStart),
                    Dependency::Dead(d) => {
                        let dead = &self.members[d.0].instance;
                        let event = Event::DependencyFailed {
                            name: dead.name.clone(),
                            state: dead.state.name(),
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
    /// more); or one has ended for good without (Dead).
    fn as_dependency(&self, p: usize) -> Dependency {
        let mut verdict = Dependency::Ready;
        for d in self.of_program[p].clone() {
            let instance = &self.members[d].instance;
            let state = &instance.state;
            let ended_after_ready =
                instance.times_ready > 0 && matches!(state, State::Exited | State::Stopped | State::Done);
            if state.is_ready() || ended_after_ready {
                continue;
            }
            if state.is_final() {
                return Dependency::Dead(InstanceId(d));
            }
            verdict = Dependency::Pending;
        }
        verdict
    }
}

/// What a program means to the programs that come after it.
#[derive(Clone, Copy)]
enum Dependency {
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

fn log_at(level: Level, message: &str) {
    if log::enabled(level) {
        log::line(format_args!("{message}"));
    }
}
