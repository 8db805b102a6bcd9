//! The vocabulary of an instance's gate (instance.rs): the states it can be
//! in, what it is wanted to be (`Want`), the events that happen to it, the
//! timers it owns, the actions the supervisor carries out for it, and the
//! answers it gives to the control requests that wait on it.

use std::time::{Duration, Instant};

use nix::libc::{c_int, pid_t};

use super::policy::{Outcome, Signals};
use crate::control::server::ClientId;
use crate::control::Change;
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// After SIGKILL to a group, how long rinit waits for it to empty before it
/// goes on without it (a process in uninterruptible sleep, or one that
/// rinit does not see end).
pub const KILL_WAIT: Duration = Duration::from_secs(1);

/// Where an instance is. What is true of it is said here and nowhere else.
#[derive(Debug)]
pub enum State {
    /// Waiting for the programs it comes `after` (shown as "starting").
    Waiting,
    /// Asked to be spawned (`Action::Spawn`), its outcome not in yet: the
    /// process that comes is always taken, whatever happened meanwhile.
    /// Shown as "starting".
    Spawning,
    /// Its main process runs.
    Running(Run),
    /// Ended; starts again when its restart timer fires.
    Backoff,
    /// rinit asked it to stop (`why`); `killed` once SIGKILL went to its group.
    Stopping {
        child: Child,
        why: StopReason,
        killed: bool,
    },
    /// Its main process has ended (`after` says how), others of its process
    /// group have not yet: they got SIGTERM and get SIGKILL at the timer
    /// (systemd's KillMode=mixed). Nothing starts again before the group
    /// is empty. Shown as "stopping".
    Draining { pgid: pid_t, killed: bool, after: After },
    /// Stopped by rinit, or never started, because rinit is shutting down.
    Stopped,
    /// Down because it is wanted down (`rinit stop`, `autostart = false`),
    /// whatever its restart policy; shown as "stopped". Not an end: rinit
    /// runs on.
    Held,
    /// Ended for good: the restart policy said no.
    Exited,
    /// A oneshot that completed cleanly.
    Done,
    /// Gave up: start limit reached, oneshot failed, or a dependency failed.
    Failed,
    /// A program with a schedule, between runs: its next run comes at its
    /// time (or with `rinit start`).
    Scheduled,
}

/// What ended a draining instance's main process.
#[derive(Clone, Copy, Debug)]
pub enum After {
    /// rinit stopped it.
    Stop(StopReason),
    /// It ended by itself (a crash, an exit), counted as `outcome`, having
    /// run since `since`: the restart policy decides once the group is empty.
    Exit { outcome: Outcome, since: Instant },
}

/// One run of the program: its main process, since when it runs, whether
/// its readiness is confirmed, the signals rinit forwarded to it (a death
/// by one of them is a failure, whatever the signal), and its `health`
/// check's failures in a row.
#[derive(Debug)]
pub struct Run {
    pub child: Child,
    pub since: Instant,
    pub ready: bool,
    pub forwarded: Signals,
    pub health_failures: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Shutdown: never restarted.
    Shutdown,
    /// It is wanted down (`rinit stop`) or again (`rinit restart`).
    Wanted,
    /// It missed `ready_timeout`: the restart policy decides, as for a failure.
    ReadyTimeout,
    /// Its `health` check failed `retries` times in a row: an unclean end.
    Unhealthy,
    /// A scheduled run went past `run_timeout`: counted as a timeout.
    RunTimeout,
    /// A scheduled run still going when the next was due (`overlap =
    /// "replace"`): the next starts once it has stopped.
    Replaced,
}

/// How a scheduled run ended, for the runs counted by outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Success,
    Failure,
    Timeout,
    /// Stopped for the next run (`overlap = "replace"`).
    Replaced,
    /// Not run: the one before was still going (`overlap = "skip"`, or a
    /// run already waiting with `"queue"`).
    Skipped,
}

impl RunOutcome {
    /// In the order of `Runs::by_outcome` and /metrics' `outcome` labels
    /// (http/pages.rs OUTCOMES).
    pub const ALL: [RunOutcome; 5] = [
        RunOutcome::Success,
        RunOutcome::Failure,
        RunOutcome::Timeout,
        RunOutcome::Replaced,
        RunOutcome::Skipped,
    ];
}

/// A scheduled program's record: whether a run waits for the running one
/// (`overlap = "queue"` or `"replace"`), its runs by outcome (in
/// `RunOutcome::ALL`'s order), and when its last successful run ended.
#[derive(Debug, Default, Clone)]
pub struct Runs {
    pub queued: bool,
    pub by_outcome: [u64; 5],
    pub last_success: Option<Instant>,
}

/// What the control requests want of an instance (the last one wins), as
/// s6-svstat's "want up".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// Down, then up again (`rinit restart` of an instance with a process).
    Restart,
}

impl Want {
    pub fn name(self) -> &'static str {
        match self {
            Want::Up => "up",
            Want::Down => "down",
            Want::Restart => "restart",
        }
    }
}

/// Who waits for an instance to reach what a request wants: the control
/// connection the answer goes to.
pub type RequestId = ClientId;

/// How a request ended for one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is up (start, restart) or down (stop).
    Reached,
    /// It ended for good instead of coming up.
    NotReached,
    /// A later request wanted otherwise, and wins.
    Superseded(Change),
    /// rinit's shutdown began.
    ShuttingDown,
}

/// What happens to an instance.
#[derive(Debug)]
pub enum Event {
    /// What it comes after is ready (or done): it may start.
    MayStart,
    /// What it comes after, `name`, ended for good (`state`) without being ready.
    DependencyFailed { name: String, state: &'static str },
    /// Nothing that comes after it has a process any more: it may stop.
    MayStop,
    /// The supervisor started it. With `exec_failed`, its exit (127 or 126)
    /// is on the way; the message is already out.
    Spawned { child: Child, exec_failed: bool },
    /// It could not be started at all: why.
    SpawnFailed(String),
    /// Its main process was reaped; `group_left`: others of its process
    /// group still run.
    Exited { status: ExitStatus, group_left: bool },
    /// The rest of its process group has gone.
    GroupEmpty,
    /// Its readiness was confirmed (notify, tcp, file or command).
    Ready,
    /// Its ready_timeout ran out.
    ReadyTimeout,
    /// Its restart delay ran out.
    RestartDue,
    /// Its stop_timeout (or the wait after SIGKILL) ran out.
    StopTimeout,
    /// A try of its `health` check passed (true) or failed.
    Health(bool),
    /// `rinit start|stop|restart`; `id` waits for the outcome (None: `--no-wait`).
    Request { id: Option<RequestId>, change: Change },
    /// The client of request `id` has gone (hung up, or out of time).
    Withdraw(RequestId),
    /// SIGKILL to everything (a second stop request, or shutdown_timeout).
    Kill,
    /// A signal rinit received, to pass on.
    Forward(c_int),
    /// Its schedule's time has come.
    RunDue,
    /// Its run has lasted `run_timeout`.
    RunTimeout,
    /// rinit's shutdown has begun: nothing new starts.
    ShutdownBegun,
}

/// The timers an instance owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    Restart,
    StopTimeout,
    /// Its `ready_timeout`, set and cancelled with its readiness watch.
    ReadyTimeout,
    /// `@every`: its next run (the fleet's; other schedules follow the
    /// wall clock).
    RunDue,
    /// Its run's `run_timeout`.
    RunTimeout,
}

/// What the supervisor does for the gate, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the program (answer with `Spawned` or `SpawnFailed`).
    Spawn,
    /// Signal the main process (through its pidfd).
    SignalMain(c_int),
    /// Signal a process group: the program's, led by its main process.
    SignalGroup(pid_t, c_int),
    /// Watch for readiness: the ready_timeout, and its `ready` check.
    WatchReadiness,
    /// Readiness no longer matters: cancel its timers, end a running check.
    AbandonReadiness,
    /// Run its `health` check every `interval`.
    WatchHealth,
    /// No more `health` checks for this run.
    AbandonHealth,
    SetTimer(Timer, Duration),
    CancelTimer(Timer),
    Log(Level, String),
    /// It ended for good without completing (a critical one ends rinit).
    EndedForGood,
    /// Request `id` has its outcome for this instance.
    Answer(RequestId, Verdict),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Waiting | State::Spawning => "starting",
            State::Running(Run { ready: false, .. }) => "running",
            State::Running(Run { ready: true, .. }) => "ready",
            State::Backoff => "backoff",
            State::Stopping {
                why: StopReason::Unhealthy,
                ..
            }
            | State::Draining {
                after: After::Stop(StopReason::Unhealthy),
                ..
            } => "unhealthy",
            State::Stopping { .. } | State::Draining { .. } => "stopping",
            State::Stopped | State::Held => "stopped",
            State::Exited => "exited",
            State::Done => "done",
            State::Failed => "failed",
            State::Scheduled => "scheduled",
        }
    }

    /// What the programs that come `after` it may go by.
    pub fn is_ready(&self) -> bool {
        matches!(self, State::Running(Run { ready: true, .. }) | State::Done)
    }

    /// Ended and will not run again by itself.
    pub fn is_final(&self) -> bool {
        matches!(self, State::Stopped | State::Exited | State::Done | State::Failed)
    }

    /// Down: no process, and nothing will start one by itself.
    pub fn is_down(&self) -> bool {
        matches!(
            self,
            State::Held | State::Stopped | State::Exited | State::Done | State::Failed
        )
    }

    /// The process group of what still runs: the program's own, led by it.
    pub fn group(&self) -> Option<pid_t> {
        match self {
            State::Running(Run { child, .. }) | State::Stopping { child, .. } => Some(child.pid()),
            State::Draining { pgid, .. } => Some(*pgid),
            _ => None,
        }
    }

    /// Whether it has a process, or one is being spawned for it: what a
    /// stop in dependency order, and the end of a shutdown, wait for.
    pub fn is_active(&self) -> bool {
        self.group().is_some() || matches!(self, State::Spawning)
    }

    /// The main process, while rinit has not reaped it.
    pub fn child(&self) -> Option<&Child> {
        match self {
            State::Running(Run { child, .. }) | State::Stopping { child, .. } => Some(child),
            _ => None,
        }
    }
}
