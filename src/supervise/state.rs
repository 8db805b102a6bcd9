//! The vocabulary of an instance's gate (instance.rs): the states it can be
//! in, the events that happen to it, the timers it owns, and the actions the
//! supervisor carries out for it, with the one sequence of actions several
//! transitions share: a stop.

use std::time::{Duration, Instant};

use nix::libc::{self, c_int, pid_t};

use super::policy::Signals;
use crate::config::Program;
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// Where an instance is. What is true of it is said here and nowhere else.
#[derive(Debug)]
pub enum State {
    /// Waiting for the programs it comes `after` (shown as "starting").
    Waiting,
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
    /// Stopping in a shutdown: its main process has ended, others of its
    /// process group have not (yet). Shown as "stopping".
    StoppingGroup {
        pgid: pid_t,
        killed: bool,
        why: StopReason,
    },
    /// Stopped by rinit, or never started because rinit is shutting down.
    Stopped,
    /// Stopped by `rinit stop`: down until `rinit start`, whatever its
    /// restart policy; shown as "stopped". Not an end: rinit runs on.
    Held,
    /// Ended for good: the restart policy said no.
    Exited,
    /// A oneshot that completed cleanly.
    Done,
    /// Gave up: start limit reached, oneshot failed, or a dependency failed.
    Failed,
}

/// One run of the program: its main process, since when it runs, whether
/// its readiness is confirmed, and the signals rinit forwarded to it (a
/// death by one of them is a failure, whatever the signal).
#[derive(Debug)]
pub struct Run {
    pub child: Child,
    pub since: Instant,
    pub ready: bool,
    pub forwarded: Signals,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Shutdown: never restarted.
    Shutdown,
    /// It missed `ready_timeout`: the restart policy decides, as for a failure.
    ReadyTimeout,
    /// `rinit stop`: held down until `rinit start`.
    Request,
    /// Its `health` check failed `retries` times in a row: an unclean end.
    Unhealthy,
}

/// What happens to an instance.
#[derive(Debug)]
pub enum Event {
    /// What it comes after is ready (or done): it may start.
    MayStart,
    /// What it comes after, `name`, ended for good (`state`) without being ready.
    DependencyFailed { name: String, state: &'static str },
    /// The supervisor started it. With `exec_failed`, its exit (127 or 126)
    /// is on the way; the message is already out.
    Spawned { child: Child, exec_failed: bool },
    /// It could not be started at all: why.
    SpawnFailed(String),
    /// Its main process was reaped; `group_left`: others of its process
    /// group still run.
    Exited { status: ExitStatus, group_left: bool },
    /// Its readiness was confirmed (notify, tcp, file or command).
    Ready,
    /// Its ready_timeout ran out.
    ReadyTimeout,
    /// Its restart delay ran out.
    RestartDue,
    /// Its stop_timeout ran out.
    StopTimeout,
    /// The rest of its process group has gone.
    GroupEmpty,
    /// rinit stops it.
    Stop(StopReason),
    /// SIGKILL to everything (a second stop request, or shutdown_timeout).
    Kill,
    /// A signal rinit received, to pass on.
    Forward(c_int),
    /// rinit's shutdown has begun: nothing new starts.
    ShutdownBegun,
    /// `rinit start`: it may run again, once what it comes after is ready.
    Start,
    /// Its `health` check failed this many times in a row.
    Unhealthy(u32),
}

/// The timers an instance owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    Restart,
    StopTimeout,
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
    SetTimer(Timer, Duration),
    CancelTimer(Timer),
    Log(Level, String),
    /// It ended for good without completing (a critical one ends rinit).
    EndedForGood,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Waiting => "starting",
            State::Running(Run { ready: false, .. }) => "running",
            State::Running(Run { ready: true, .. }) => "ready",
            State::Backoff => "backoff",
            State::Stopping {
                why: StopReason::Unhealthy,
                ..
            } => "unhealthy",
            State::Stopping { .. } | State::StoppingGroup { .. } => "stopping",
            State::Stopped | State::Held => "stopped",
            State::Exited => "exited",
            State::Done => "done",
            State::Failed => "failed",
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

    /// The process group of what still runs: the program's own, led by it.
    pub fn group(&self) -> Option<pid_t> {
        match self {
            State::Running(Run { child, .. }) | State::Stopping { child, .. } => Some(child.pid()),
            State::StoppingGroup { pgid, .. } => Some(*pgid),
            _ => None,
        }
    }

    /// The main process, while rinit has not reaped it.
    pub fn child(&self) -> Option<&Child> {
        match self {
            State::Running(Run { child, .. }) | State::Stopping { child, .. } => Some(child),
            _ => None,
        }
    }
}

/// `signo` to the main process, or to its whole group with `group`.
pub(super) fn signal(group: bool, pgid: pid_t, signo: c_int) -> Action {
    if group {
        Action::SignalGroup(pgid, signo)
    } else {
        Action::SignalMain(signo)
    }
}

/// Asks a running instance to stop: its stop signal to its main process
/// (which stops the rest its own way: a celery worker finishes its pool's
/// tasks), or to its group with `stop_group`; SIGCONT after it, as a
/// stopped (SIGSTOP) process acts on nothing else; SIGKILL to the group when
/// stop_timeout runs out, or at once with stop_timeout = 0.
pub(super) fn stop(name: &str, child: Child, why: StopReason, config: &Program) -> (State, Vec<Action>) {
    let pgid = child.pid();
    let mut actions = vec![Action::AbandonReadiness];
    if config.stop_timeout.is_zero() {
        actions.push(Action::SignalGroup(pgid, libc::SIGKILL));
        return (
            State::Stopping {
                child,
                why,
                killed: true,
            },
            actions,
        );
    }
    actions.push(Action::Log(
        Level::Debug,
        format!(
            "stopping {name} with {}",
            crate::pid1::signals::name(config.stop_signal)
        ),
    ));
    actions.push(signal(config.stop_group, pgid, config.stop_signal));
    actions.push(signal(config.stop_group, pgid, libc::SIGCONT));
    actions.push(Action::SetTimer(Timer::StopTimeout, config.stop_timeout));
    (
        State::Stopping {
            child,
            why,
            killed: false,
        },
        actions,
    )
}
