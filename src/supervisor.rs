//! Supervisor mode, and main command + programs: drives every instance's
//! state machine from the event loop — starts in dependency order once what
//! a program comes `after` is ready, readiness (notify socket, tcp, file,
//! command checks on timers), exits and restarts with backoff, and the
//! orderly shutdown: reverse dependency order, stop signals, SIGKILL after
//! `stop_timeout`, the sweep of leftover processes as PID 1, all bounded by
//! `shutdown_timeout`.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::libc::{self, c_int, pid_t};
use nix::poll::PollFlags;
use nix::sys::stat::Mode;

use crate::config::{set_env, Kind, Output as OutputMode, Plan, Ready};
use crate::event_loop::{Event, EventLoop, SignalInfo};
use crate::output::{Output, Watch};
use crate::program::{self, Instance, Outcome, State, StopReason};
use crate::readiness::{self, Attempt, Connect, NotifySocket};
use crate::reaper::{self, ExitStatus};
use crate::signals;
use crate::spawn::{self, Command, Credentials, WorkDir};

/// After SIGKILL to everything, how long rinit waits for the reaping before
/// it exits anyway (as PID 1 the kernel then kills whatever is left).
const KILL_WAIT: Duration = Duration::from_secs(1);

/// The event loop's keys: timers and watched descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Restart(usize),
    StopTimeout(usize),
    ReadyTimeout(usize),
    /// Time for the next `ready` check.
    Check(usize),
    Notify(usize),
    Connect(usize),
    Output(Watch),
    ShutdownDeadline,
    SweepOver,
    KillOver,
}

/// What rinit takes from its command line and start-up into this mode.
pub struct Settings {
    /// rinit's starting directory (Docker's WORKDIR), where programs start.
    pub start_dir: Option<RawFd>,
    /// Whether `main` gets the terminal's foreground.
    pub foreground: bool,
    /// `-t`: how long leftover processes get after SIGTERM.
    pub grace: Duration,
    /// `-e`: main's exit codes reported as 0.
    pub success_codes: Vec<u8>,
    /// The open-files limit rinit started with, when it raised its own.
    pub open_files: Option<libc::rlimit64>,
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

/// What a program means to the programs that come after it.
#[derive(Clone, Copy)]
enum Dependency {
    Ready,
    Pending,
    /// Ended for good without being ready: this instance.
    Dead(usize),
}

/// Who a reaped pid was.
enum Owner {
    Program(usize),
    Check(usize),
}

struct Supervisor<'a> {
    plan: &'a Plan,
    settings: &'a Settings,
    events: &'a mut EventLoop<Key>,
    instances: Vec<Instance>,
    /// The instances of each program.
    of_program: Vec<Range<usize>>,
    /// The programs that come after each program.
    dependents: Vec<Vec<usize>>,
    owners: HashMap<pid_t, Owner>,
    output: Option<Output>,
    null: OwnedFd,
    own_uid: u32,
    phase: Phase,
    /// Set by main's or a critical program's end.
    exit_code: Option<c_int>,
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
    let mut instances = Vec::new();
    let mut of_program = Vec::new();
    let mut dependents = vec![Vec::new(); plan.programs.len()];
    for (index, program) in plan.programs.iter().enumerate() {
        let first = instances.len();
        for (number, name) in program.instance_names().into_iter().enumerate() {
            let number = program.instances.map(|_| number as u32);
            instances.push(Instance::new(index, name, number, program));
        }
        of_program.push(first..instances.len());
        for &dependency in &program.after {
            dependents[dependency].push(index);
        }
    }
    let output = plan
        .programs
        .iter()
        .any(|p| p.output == OutputMode::Prefix)
        .then(Output::new);
    let mut supervisor = Supervisor {
        plan,
        settings,
        events,
        instances,
        of_program,
        dependents,
        owners: HashMap::new(),
        output,
        null,
        own_uid: nix::unistd::geteuid().as_raw(),
        phase: Phase::Running,
        exit_code: None,
    };
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
            Event::Exited(pid, _) => !matches!(owners.get(pid), Some(Owner::Check(_))),
            _ => true,
        });
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

impl Supervisor<'_> {
    fn handle(&mut self, event: Event<Key>) {
        let plan = self.plan;
        match event {
            Event::Signal(signal) => self.on_signal(signal),
            Event::Exited(pid, status) => match self.owners.remove(&pid) {
                Some(Owner::Program(i)) => self.on_exit(i, status),
                Some(Owner::Check(i)) => self.on_check_exit(i, pid, status),
                None => debug!("reaped pid {pid} ({status})"),
            },
            Event::Timer(Key::Restart(i)) => {
                if self.phase == Phase::Running && matches!(self.instances[i].state, State::Backoff) {
                    self.spawn(i);
                }
            }
            Event::Timer(Key::StopTimeout(i)) => {
                let instance = &mut self.instances[i];
                let pgid = match &mut instance.state {
                    State::Stopping {
                        child,
                        killed: killed @ false,
                        ..
                    } => {
                        *killed = true;
                        child.pid()
                    }
                    State::StoppingGroup {
                        pgid,
                        killed: killed @ false,
                    } => {
                        *killed = true;
                        // Its end was not clean after all.
                        instance.last_exit = Some(ExitStatus::Signal(libc::SIGKILL));
                        instance.last_outcome = Some(Outcome::UncleanSignal);
                        *pgid
                    }
                    _ => return,
                };
                warn!(
                    "{} did not stop within {:?}: sending SIGKILL",
                    instance.name, plan.programs[instance.program].stop_timeout
                );
                let _ = spawn::signal_group(pgid, libc::SIGKILL);
            }
            Event::Timer(Key::ReadyTimeout(i)) => {
                if matches!(self.instances[i].state, State::Running { ready: false, .. }) {
                    let program = &plan.programs[self.instances[i].program];
                    warn!(
                        "{} was not ready within {:?} (ready_timeout): stopping it",
                        self.instances[i].name, program.ready_timeout
                    );
                    self.stop(i, StopReason::ReadyTimeout);
                }
            }
            Event::Timer(Key::Check(i)) => self.check(i),
            Event::Ready(Key::Notify(i)) => {
                let instance = &self.instances[i];
                let main_pid = match &instance.state {
                    State::Running {
                        child, ready: false, ..
                    } => Some(child.pid()),
                    _ => None,
                };
                let ready = instance
                    .notify
                    .as_ref()
                    .is_some_and(|socket| socket.ready_received(main_pid, &instance.name));
                if ready {
                    self.mark_ready(i);
                }
            }
            Event::Ready(Key::Connect(i)) => {
                self.events.unwatch(Key::Connect(i));
                if let Some(connect) = self.instances[i].connecting.take() {
                    if connect.succeeded() {
                        self.mark_ready(i);
                    } else {
                        self.events
                            .set_timer_after(Key::Check(i), readiness::CHECK_INTERVAL);
                    }
                }
            }
            Event::Ready(Key::Output(watch)) => {
                if let Some(output) = &mut self.output {
                    match watch {
                        Watch::Stream(id) => output.on_stream_ready(id),
                        Watch::Sink(kind) => output.on_sink_ready(kind),
                    }
                    // What to watch next is settled once per batch, in `advance`.
                }
            }
            Event::Timer(Key::ShutdownDeadline) => {
                if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
                    warn!(
                        "shutdown_timeout ({:?}) is over: killing everything",
                        self.plan.shutdown_timeout
                    );
                    self.kill_everything();
                }
            }
            Event::Timer(Key::SweepOver) => {
                if self.phase == Phase::Sweeping {
                    warn!(
                        "processes still running {:?} after SIGTERM: sending SIGKILL",
                        self.settings.grace
                    );
                    self.kill_everything();
                }
            }
            Event::Timer(Key::KillOver) => {
                warn!("processes still running {KILL_WAIT:?} after SIGKILL; exiting without them");
                self.phase = Phase::Done;
            }
            Event::Timer(_) | Event::Ready(_) => {}
        }
    }

    fn on_signal(&mut self, signal: SignalInfo) {
        if signal.is_self_inflicted() || !signals::is_forwarded(signal.signo) {
            return;
        }
        let name = signals::name(signal.signo);
        if matches!(signal.signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
            if self.phase == Phase::Running {
                info!("{name}: stopping the programs");
                self.begin_shutdown();
            } else if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
                info!("{name} during shutdown: killing everything now");
                self.kill_everything();
            }
            return;
        }
        let plan = self.plan;
        for instance in &mut self.instances {
            let group = plan.programs[instance.program].stop_group;
            let sent = match &mut instance.state {
                State::Running { child, forwarded, .. } => {
                    forwarded.insert(signal.signo);
                    child.signal_to(group, signal.signo)
                }
                State::Stopping { child, .. } => child.signal_to(group, signal.signo),
                // The main process is gone; only `stop_group` reaches the rest.
                State::StoppingGroup { pgid, .. } if group => spawn::signal_group(*pgid, signal.signo),
                _ => continue,
            };
            if let Err(errno) = sent {
                warn!("could not forward {name} to {}: {}", instance.name, errno.desc());
            }
        }
    }

    /// Moves every program along: starts what can start; in shutdown, stops
    /// what nothing running depends on any more; notices the end.
    fn advance(&mut self) {
        if self.phase == Phase::Running {
            self.start_what_can_start();
            if self.phase == Phase::Running && self.instances.iter().all(|i| i.state.is_final()) {
                info!("every program has ended");
                self.begin_shutdown();
            }
        }
        if self.phase == Phase::Stopping {
            self.notice_empty_groups();
            // A program stops once nothing after it, directly or through
            // others (redis -> migrate, done -> web), still has a process.
            // Dependents come later in the plan: one pass from the end.
            let mut alive_from = vec![false; self.plan.programs.len()];
            for p in (0..alive_from.len()).rev() {
                alive_from[p] = self.of_program[p]
                    .clone()
                    .any(|d| self.instances[d].state.group().is_some())
                    || self.dependents[p].iter().any(|&d| alive_from[d]);
            }
            for i in 0..self.instances.len() {
                let program = self.instances[i].program;
                let dependents_alive = self.dependents[program].iter().any(|&d| alive_from[d]);
                if matches!(self.instances[i].state, State::Running { .. }) && !dependents_alive {
                    self.stop(i, StopReason::Shutdown);
                }
            }
            if !self.instances.iter().any(|i| i.state.group().is_some()) {
                self.sweep();
            }
        }
        if matches!(self.phase, Phase::Sweeping | Phase::Killing) && !reaper::children_remain() {
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
        let plan = self.plan;
        // What each program already passed means to the programs after it;
        // one look at every instance per pass, however many wait.
        let mut verdicts: Vec<Dependency> = Vec::with_capacity(plan.programs.len());
        for (p, program) in plan.programs.iter().enumerate() {
            let mut pending = false;
            let mut dead = None;
            for &dependency in &program.after {
                match verdicts[dependency] {
                    Dependency::Ready => {}
                    Dependency::Pending => pending = true,
                    Dependency::Dead(d) => dead = Some(d),
                }
            }
            for i in self.of_program[p].clone() {
                if !matches!(self.instances[i].state, State::Starting) {
                    continue;
                }
                if let Some(d) = dead {
                    error!(
                        "{} cannot start: it comes after {}, which is {}",
                        self.instances[i].name,
                        self.instances[d].name,
                        self.instances[d].state.name()
                    );
                    self.instances[i].state = State::Failed;
                    if program.critical {
                        self.critical_ended(i);
                        return;
                    }
                } else if !pending {
                    self.spawn(i);
                    if self.phase != Phase::Running {
                        return;
                    }
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
            let instance = &self.instances[d];
            let state = &instance.state;
            let ended_after_ready =
                instance.ever_ready && matches!(state, State::Exited | State::Stopped | State::Done);
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

    fn spawn(&mut self, i: usize) {
        let plan = self.plan;
        let instance = &self.instances[i];
        let program = &plan.programs[instance.program];
        let mut env = self.environment(i);
        if program.kind == Kind::Notify {
            if self.instances[i].notify.is_none() {
                match NotifySocket::new() {
                    Ok(socket) => {
                        self.events
                            .watch(socket.raw_fd(), PollFlags::POLLIN, Key::Notify(i));
                        self.instances[i].notify = Some(socket);
                    }
                    Err(errno) => warn!(
                        "{}: cannot create its notify socket: {}",
                        self.instances[i].name,
                        errno.desc()
                    ),
                }
            }
            if let Some(socket) = &self.instances[i].notify {
                socket.ready_received(None, ""); // whatever an earlier run left
                set_env(&mut env, "NOTIFY_SOCKET", &socket.address);
            }
        }
        let args = program.command.clone();
        let mut pipes: Option<([usize; 2], OwnedFd, OwnedFd)> = None;
        let (out, err) = match program.output {
            OutputMode::Inherit => (None, None),
            OutputMode::Null => (Some(self.null.as_raw_fd()), Some(self.null.as_raw_fd())),
            OutputMode::Prefix => match self.output.as_mut().map(|o| o.open(&self.instances[i].name)) {
                Some(Ok((ids, [out, err]))) => {
                    let fds = (Some(out.as_raw_fd()), Some(err.as_raw_fd()));
                    pipes = Some((ids, out, err));
                    fds
                }
                Some(Err(errno)) => {
                    warn!(
                        "{}: cannot create its output pipes: {}",
                        self.instances[i].name,
                        errno.desc()
                    );
                    (None, None)
                }
                None => (None, None),
            },
        };
        let stdin = (!program.is_main).then(|| self.null.as_raw_fd());
        let started = self.command(i, &args, env).map(|command| {
            command
                .stdio([stdin, out, err])
                .foreground(program.is_main && self.settings.foreground)
        });
        let now = Instant::now();
        self.instances[i].record_start(program, now);
        let spawned = started.and_then(|command| {
            let mut child = command.spawn()?;
            let failure = child
                .exec_failure()
                .map(|(failure, errno)| command.exec_error(failure, errno));
            Ok((child, failure))
        });
        // The child has its copies of the pipes' write ends; rinit keeps only the read ends.
        self.instances[i].streams = pipes.map(|(ids, _, _)| ids);
        let (child, exec_ok) = match spawned {
            Ok((child, None)) => (child, true),
            Ok((child, Some(failure))) => {
                error!("{}: {failure}", self.instances[i].name);
                (child, false)
            }
            Err(err) => {
                // Nothing was started: count it as a failed start, and let
                // go of its pipes (their write ends are closed already).
                error!("{}: {err}", self.instances[i].name);
                if let (Some(ids), Some(output)) = (self.instances[i].streams.take(), self.output.as_mut()) {
                    for id in ids {
                        output.drain(id);
                    }
                }
                self.instances[i].last_exit = Some(ExitStatus::Code(1));
                self.after_end(i, ExitStatus::Code(1), Outcome::UncleanCode, Some(now));
                return;
            }
        };
        debug!("started {} (pid {})", self.instances[i].name, child.pid());
        self.owners.insert(child.pid(), Owner::Program(i));
        self.instances[i].state = State::Running {
            child,
            since: now,
            ready: false,
            forwarded: Default::default(),
        };
        if !exec_ok {
            return; // its exit (127/126) is on the way
        }
        match (program.kind, &program.ready) {
            (Kind::Oneshot, _) => {}
            (Kind::Simple, None) => self.mark_ready(i),
            (_, ready) => {
                self.events
                    .set_timer_after(Key::ReadyTimeout(i), program.ready_timeout);
                if ready.is_some() {
                    self.check(i);
                }
            }
        }
    }

    /// The prepared command for instance `i`'s program (or its check):
    /// directory and user applied.
    fn command(
        &self,
        i: usize,
        args: &[OsString],
        env: Vec<(OsString, OsString)>,
    ) -> Result<Command, crate::spawn::SpawnError> {
        let program = &self.plan.programs[self.instances[i].program];
        let mut command = Command::new(args, env)?.open_files_limit(self.settings.open_files);
        command = match &program.directory {
            Some(dir) => match CString::new(dir.as_os_str().as_bytes()) {
                Ok(path) => command.work_dir(WorkDir::Path(path)),
                Err(_) => command,
            },
            None => match self.settings.start_dir {
                Some(fd) => command.work_dir(WorkDir::Fd(fd)),
                None => command,
            },
        };
        if let Some(account) = &program.user {
            if self.own_uid == 0 {
                command = command.credentials(Credentials {
                    uid: account.user.uid,
                    gid: account.groups.first().copied().unwrap_or(account.user.gid),
                    groups: account.groups.clone(),
                });
            }
        }
        Ok(command)
    }

    /// Instance `i`'s environment: its program's, then RINIT_PROGRAM and
    /// RINIT_INSTANCE, which always win.
    fn environment(&self, i: usize) -> Vec<(OsString, OsString)> {
        let instance = &self.instances[i];
        let program = &self.plan.programs[instance.program];
        let number = instance.number.map(|n| n.to_string());
        match &number {
            Some(number) => program
                .env
                .resolve(&[("RINIT_PROGRAM", &program.name), ("RINIT_INSTANCE", number)]),
            None => program.env.resolve(&[("RINIT_PROGRAM", &program.name)]),
        }
    }

    fn mark_ready(&mut self, i: usize) {
        let plan = self.plan;
        if let State::Running { ready, .. } = &mut self.instances[i].state {
            *ready = true;
        }
        self.instances[i].ever_ready = true;
        self.events.cancel_timer(Key::ReadyTimeout(i));
        self.events.cancel_timer(Key::Check(i));
        let program = &plan.programs[self.instances[i].program];
        if program.kind == Kind::Notify || program.ready.is_some() {
            info!("{} is ready", self.instances[i].name);
        }
    }

    /// One try of instance `i`'s `ready` check.
    fn check(&mut self, i: usize) {
        let plan = self.plan;
        if !matches!(self.instances[i].state, State::Running { ready: false, .. }) {
            return;
        }
        let program = &plan.programs[self.instances[i].program];
        match &program.ready {
            Some(Ready::File(path)) => {
                if path.exists() {
                    self.mark_ready(i);
                } else {
                    self.events
                        .set_timer_after(Key::Check(i), readiness::CHECK_INTERVAL);
                }
            }
            Some(Ready::Tcp(address)) => match Connect::start(address) {
                Attempt::Connected => self.mark_ready(i),
                Attempt::Pending(connect) => {
                    self.events
                        .watch(connect.raw_fd(), PollFlags::POLLOUT, Key::Connect(i));
                    self.instances[i].connecting = Some(connect);
                }
                Attempt::Refused => self
                    .events
                    .set_timer_after(Key::Check(i), readiness::CHECK_INTERVAL),
            },
            Some(Ready::Command(words)) => {
                let args: Vec<OsString> = words.iter().map(OsString::from).collect();
                let env = self.environment(i);
                let null = self.null.as_raw_fd();
                let spawned = self
                    .command(i, &args, env)
                    .and_then(|command| command.stdio([Some(null), Some(null), Some(null)]).spawn());
                match spawned {
                    Ok(child) => {
                        self.owners.insert(child.pid(), Owner::Check(i));
                        self.instances[i].checking = Some(child);
                    }
                    Err(err) => {
                        debug!("{}: ready check: {err}", self.instances[i].name);
                        self.events
                            .set_timer_after(Key::Check(i), readiness::CHECK_INTERVAL);
                    }
                }
            }
            None => {}
        }
    }

    fn on_check_exit(&mut self, i: usize, pid: pid_t, status: ExitStatus) {
        // A check killed when its program stopped may end after the next
        // one started: only the current one counts.
        if self.instances[i].checking.as_ref().map(|c| c.pid()) != Some(pid) {
            return;
        }
        self.instances[i].checking = None;
        if !matches!(self.instances[i].state, State::Running { ready: false, .. }) {
            return;
        }
        if status == ExitStatus::Code(0) {
            self.mark_ready(i);
        } else {
            debug!("{}: ready check ended with {status}", self.instances[i].name);
            self.events
                .set_timer_after(Key::Check(i), readiness::CHECK_INTERVAL);
        }
    }

    fn on_exit(&mut self, i: usize, status: ExitStatus) {
        let plan = self.plan;
        if let (Some(ids), Some(output)) = (self.instances[i].streams.take(), self.output.as_mut()) {
            for id in ids {
                output.drain(id);
            }
        }
        let stop_deadline = self.events.deadline(Key::StopTimeout(i));
        self.events.cancel_timer(Key::StopTimeout(i));
        self.abandon_readiness(i);
        let program = &plan.programs[self.instances[i].program];
        if program.is_main {
            // Unless a critical program has ended everything already.
            self.exit_code
                .get_or_insert(crate::single::exit_code(status, &self.settings.success_codes));
        }
        let instance = &mut self.instances[i];
        instance.last_exit = Some(status);
        match std::mem::replace(&mut instance.state, State::Stopped) {
            State::Running {
                child,
                since,
                forwarded,
                ..
            } => {
                drop(child); // reaped: never signalled again
                let outcome = program::outcome(status, &program.success_exit_codes, forwarded);
                self.after_end(i, status, outcome, Some(since));
            }
            State::Stopping { child, why, killed } => {
                let pid = child.pid();
                drop(child);
                match why {
                    StopReason::Shutdown => {
                        instance.last_outcome = Some(match status {
                            ExitStatus::Signal(signo) if signo == program.stop_signal => Outcome::Stopped,
                            _ => program::outcome(status, &program.success_exit_codes, Default::default()),
                        });
                        debug!("{} stopped ({status})", instance.name);
                        // What it leaves in its process group is stopped
                        // with it (KillMode=mixed): SIGTERM now, SIGKILL at
                        // the same stop_timeout.
                        if spawn::group_alive(pid) {
                            if !killed {
                                let _ = spawn::signal_group(pid, libc::SIGTERM);
                                let _ = spawn::signal_group(pid, libc::SIGCONT);
                            }
                            instance.state = State::StoppingGroup { pgid: pid, killed };
                            if let Some(deadline) = stop_deadline {
                                self.events.set_timer(Key::StopTimeout(i), deadline);
                            }
                        }
                    }
                    StopReason::ReadyTimeout => {
                        // A failed start: what it leaves in its group goes
                        // with it before the restart policy decides.
                        if spawn::group_alive(pid) {
                            let _ = spawn::signal_group(pid, libc::SIGKILL);
                        }
                        self.after_end(i, status, Outcome::Timeout, None)
                    }
                }
            }
            other => instance.state = other,
        }
    }

    /// Instance `i` ended (`status`, counted as `outcome`): restart it, or
    /// leave it ended for good.
    fn after_end(&mut self, i: usize, status: ExitStatus, outcome: Outcome, since: Option<Instant>) {
        let plan = self.plan;
        let program = &plan.programs[self.instances[i].program];
        let instance = &mut self.instances[i];
        instance.last_outcome = Some(outcome);
        if self.phase != Phase::Running {
            instance.state = State::Stopped;
            debug!("{} ended during shutdown ({status})", instance.name);
            return;
        }
        if program.kind == Kind::Oneshot && outcome == Outcome::Clean {
            instance.state = State::Done;
            instance.ever_ready = true;
            info!("{} completed", instance.name);
        } else {
            match instance.plan_restart(program, outcome, since, Instant::now()) {
                Ok(Some(delay)) => {
                    instance.state = State::Backoff;
                    warn!(
                        "{} ended ({}); restarting in {delay:?}",
                        instance.name,
                        how(status, outcome)
                    );
                    self.events.set_timer_after(Key::Restart(i), delay);
                    return;
                }
                Ok(None) => {
                    let clean = outcome == Outcome::Clean;
                    instance.state = if program.kind == Kind::Oneshot {
                        State::Failed
                    } else {
                        State::Exited
                    };
                    if clean {
                        info!("{} ended ({status})", instance.name);
                    } else {
                        warn!(
                            "{} ended ({}); not restarted (restart = {})",
                            instance.name,
                            how(status, outcome),
                            program.restart.name()
                        );
                    }
                }
                Err(()) => {
                    instance.state = State::Failed;
                    error!(
                        "{} ended ({}) and was started {} times within {:?} \
                         (start_limit_burst): giving up",
                        instance.name,
                        how(status, outcome),
                        program.start_limit_burst,
                        program.start_limit_interval
                    );
                }
            }
        }
        // A critical oneshot that completed has done its job; only its failure ends rinit.
        if program.critical && !matches!(self.instances[i].state, State::Done) {
            self.critical_ended(i);
        }
    }

    /// A critical program has ended for good: everything stops, and rinit
    /// exits with its status.
    fn critical_ended(&mut self, i: usize) {
        let plan = self.plan;
        if self.phase != Phase::Running {
            return;
        }
        let instance = &self.instances[i];
        let code = instance.last_exit.map_or(1, ExitStatus::code);
        if self.exit_code.is_none() {
            self.exit_code = Some(code);
        }
        if !plan.programs[instance.program].is_main {
            info!("{} is critical and has ended: stopping everything", instance.name);
        }
        self.begin_shutdown();
    }

    fn begin_shutdown(&mut self) {
        self.phase = Phase::Stopping;
        self.events
            .set_timer_after(Key::ShutdownDeadline, self.plan.shutdown_timeout);
        for i in 0..self.instances.len() {
            // Readiness no longer matters: no ready_timeout stops a program
            // out of order, no check starts during the shutdown.
            self.abandon_readiness(i);
            if matches!(self.instances[i].state, State::Starting | State::Backoff) {
                self.events.cancel_timer(Key::Restart(i));
                self.instances[i].state = State::Stopped;
            }
        }
    }

    fn stop(&mut self, i: usize, why: StopReason) {
        let plan = self.plan;
        self.abandon_readiness(i);
        let program = &plan.programs[self.instances[i].program];
        let instance = &mut self.instances[i];
        let State::Running { child, .. } = std::mem::replace(&mut instance.state, State::Stopped) else {
            return;
        };
        let signo = if program.stop_timeout.is_zero() {
            libc::SIGKILL
        } else {
            program.stop_signal
        };
        // The stop signal goes to the main process, which stops the rest
        // its own way (a celery worker finishes its pool's tasks), or to the
        // whole group with `stop_group`; SIGKILL always goes to the group.
        let group = program.stop_group || signo == libc::SIGKILL;
        debug!("stopping {} with {}", instance.name, signals::name(signo));
        if let Err(errno) = child.signal_to(group, signo) {
            warn!("could not signal {}: {}", instance.name, errno.desc());
        }
        // A stopped (SIGSTOP) process only acts on its stop signal once continued.
        let _ = child.signal_to(group, libc::SIGCONT);
        if signo != libc::SIGKILL {
            self.events
                .set_timer_after(Key::StopTimeout(i), program.stop_timeout);
        }
        instance.state = State::Stopping {
            child,
            why,
            killed: signo == libc::SIGKILL,
        };
    }

    /// Instance `i` is stopping or has ended: its readiness no longer
    /// matters. Cancels the timers, drops a tcp attempt, kills a check.
    /// Instances stopping only as a process group (their leader is gone)
    /// are stopped once the group is empty.
    fn notice_empty_groups(&mut self) {
        for i in 0..self.instances.len() {
            if let State::StoppingGroup { pgid, .. } = self.instances[i].state {
                if !spawn::group_alive(pgid) {
                    self.events.cancel_timer(Key::StopTimeout(i));
                    self.instances[i].state = State::Stopped;
                }
            }
        }
    }

    fn abandon_readiness(&mut self, i: usize) {
        self.events.cancel_timer(Key::ReadyTimeout(i));
        self.events.cancel_timer(Key::Check(i));
        self.events.unwatch(Key::Connect(i));
        self.instances[i].connecting = None;
        if let Some(check) = self.instances[i].checking.take() {
            let _ = check.signal_group(libc::SIGKILL);
        }
    }

    /// Every program is down: as PID 1, SIGTERM to whatever is left, SIGKILL
    /// after the grace; otherwise done.
    fn sweep(&mut self) {
        if reaper::is_pid1() && reaper::children_remain() {
            debug!("sending SIGTERM to the processes left");
            reaper::signal_everyone(libc::SIGTERM);
            self.events.set_timer_after(Key::SweepOver, self.settings.grace);
            self.phase = Phase::Sweeping;
        } else {
            self.phase = Phase::Done;
        }
    }

    /// The second stop request, or the shutdown deadline: SIGKILL to every
    /// program's group and (as PID 1) every process.
    fn kill_everything(&mut self) {
        for i in 0..self.instances.len() {
            self.abandon_readiness(i);
            let state = std::mem::replace(&mut self.instances[i].state, State::Stopped);
            self.instances[i].state = match state {
                State::Running { child, .. } | State::Stopping { child, .. } => {
                    let _ = child.signal_group(libc::SIGKILL);
                    State::Stopping {
                        child,
                        why: StopReason::Shutdown,
                        killed: true,
                    }
                }
                State::StoppingGroup { pgid, .. } => {
                    let _ = spawn::signal_group(pgid, libc::SIGKILL);
                    State::StoppingGroup { pgid, killed: true }
                }
                State::Starting | State::Backoff => State::Stopped,
                other => other,
            };
        }
        reaper::signal_everyone(libc::SIGKILL);
        self.events.cancel_timer(Key::SweepOver);
        self.events.cancel_timer(Key::ShutdownDeadline);
        self.events.set_timer_after(Key::KillOver, KILL_WAIT);
        self.phase = Phase::Killing;
    }

    fn final_code(&self) -> c_int {
        if let Some(code) = self.exit_code {
            return code;
        }
        let clean = self.instances.iter().all(Instance::ended_cleanly);
        if clean {
            0
        } else {
            1
        }
    }
}

/// An exit as the log shows it: its status, and why it counts as a failure
/// when that is not plain from the status.
fn how(status: ExitStatus, outcome: Outcome) -> String {
    match outcome {
        Outcome::Forwarded => format!("{status}, which rinit forwarded: counted as a failure"),
        _ => status.to_string(),
    }
}
