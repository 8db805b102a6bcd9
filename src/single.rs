//! Single-command mode, tini's job: run one command as the only child, pass on
//! every signal rinit receives, and when the command ends, clear out what it
//! left behind (as PID 1: SIGTERM to everyone, SIGKILL after the grace) and
//! exit with its status.

use std::time::Duration;

use nix::libc::{self, c_int};

use crate::cli::Options;
use crate::pid1::event_loop::{Event, EventLoop, SignalInfo};
use crate::pid1::reaper::{self, ExitStatus};
use crate::pid1::spawn::{Child, Command};

/// The timers single-command mode sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The grace for leftover processes is over: SIGKILL.
    GraceOver,
    /// SIGKILL was sent this long ago and processes remain (stuck in the
    /// kernel, or not rinit's to kill): give up waiting.
    KillOver,
}

/// How long rinit waits for SIGKILLed processes to go before it exits anyway.
/// As PID 1 that is safe: the kernel kills the whole namespace when PID 1 exits.
const KILL_WAIT: Duration = Duration::from_secs(2);

enum State {
    /// The command runs; signals go to it.
    Running(Child),
    /// The command has ended with `status`; what it left behind is being
    /// stopped. `killing` once SIGKILL has been sent.
    Sweeping {
        status: ExitStatus,
        killing: bool,
    },
    Done(ExitStatus),
}

/// Runs the command to its end and returns rinit's exit code.
pub fn run(options: &Options, command: &Command, events: &mut EventLoop<Timer>) -> c_int {
    let mut state = match command.spawn() {
        Ok(child) => {
            debug!("started {:?} as pid {}", options.command.first(), child.pid());
            State::Running(child)
        }
        Err(err) => {
            error!("{err}");
            return err.exit_code();
        }
    };
    let mut batch = Vec::new();
    loop {
        if let State::Done(status) = state {
            return exit_code(status, &options.success_codes);
        }
        if let Err(errno) = events.wait(&mut batch) {
            error!("waiting for events failed: {}", errno.desc());
            return 1;
        }
        for event in batch.drain(..) {
            state = step(state, event, options, command, events);
        }
        batch.shrink_to(64); // after a burst of 10,000 exits, give the memory back
        if let State::Sweeping { status, killing } = state {
            if !reaper::children_remain() {
                state = State::Done(status);
            } else if killing {
                // Anything forked between the first SIGKILL and now gets one too.
                reaper::signal_everyone(libc::SIGKILL);
            }
        }
    }
}

/// Single-command mode's transition table. Over 50 lines: every state and
/// event in one match, as tini's main loop has them.
fn step(
    state: State,
    event: Event<Timer>,
    options: &Options,
    command: &Command,
    events: &mut EventLoop<Timer>,
) -> State {
    match (state, event) {
        (State::Running(child), Event::Signal(signal)) => {
            forward(&child, signal, options.group);
            State::Running(child)
        }
        (State::Running(mut child), Event::Exited(pid, status)) if pid == child.pid() => {
            if let Some((failure, errno)) = child.exec_failure() {
                error!("{}", command.exec_error(failure, errno));
            }
            drop(child); // reaped: it can no longer be signalled
            debug!("the command (pid {pid}) ended: {status}");
            after_command(status, options.grace, events)
        }
        (
            State::Sweeping {
                status,
                killing: false,
            },
            Event::Signal(signal),
        ) if matches!(signal.signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) => {
            info!(
                "{} during clean-up: killing the remaining processes now",
                crate::pid1::signals::name(signal.signo)
            );
            kill_everyone(status, events)
        }
        (
            State::Sweeping {
                status,
                killing: false,
            },
            Event::Timer(Timer::GraceOver),
        ) => {
            warn!(
                "processes still running {:?} after SIGTERM: sending SIGKILL",
                options.grace
            );
            kill_everyone(status, events)
        }
        (
            State::Sweeping {
                status,
                killing: true,
            },
            Event::Timer(Timer::KillOver),
        ) => {
            warn!("processes still running {KILL_WAIT:?} after SIGKILL; exiting without them");
            State::Done(status)
        }
        (state, Event::Exited(pid, status)) => {
            reaper::reaped_unknown(pid, status, options.warn_reaped);
            state
        }
        (state, _) => state,
    }
}

fn forward(child: &Child, signal: SignalInfo, group: bool) {
    if signal.is_self_inflicted() || !crate::pid1::signals::is_forwarded(signal.signo) {
        return;
    }
    let result = if group {
        child.signal_group(signal.signo)
    } else {
        child.signal(signal.signo)
    };
    match result {
        Ok(()) => debug!(
            "forwarded {} to {}{}",
            crate::pid1::signals::name(signal.signo),
            if group { "process group " } else { "pid " },
            child.pid()
        ),
        Err(errno) => warn!(
            "could not forward {} to pid {}: {}",
            crate::pid1::signals::name(signal.signo),
            child.pid(),
            errno.desc()
        ),
    }
}

/// The command has ended: as PID 1, stop whatever it left behind; otherwise
/// leave at once (rinit must not kill(-1) outside its own PID namespace).
fn after_command(status: ExitStatus, grace: Duration, events: &mut EventLoop<Timer>) -> State {
    if !reaper::is_pid1() || !reaper::children_remain() {
        return State::Done(status);
    }
    if grace.is_zero() {
        return kill_everyone(status, events);
    }
    debug!("the command has ended; sending SIGTERM to the processes left");
    reaper::signal_everyone(libc::SIGTERM);
    events.set_timer_after(Timer::GraceOver, grace);
    State::Sweeping {
        status,
        killing: false,
    }
}

fn kill_everyone(status: ExitStatus, events: &mut EventLoop<Timer>) -> State {
    events.cancel_timer(Timer::GraceOver);
    events.set_timer_after(Timer::KillOver, KILL_WAIT);
    reaper::signal_everyone(libc::SIGKILL);
    State::Sweeping {
        status,
        killing: true,
    }
}

/// The command's status as a shell would report it, then `-e` remapping.
pub fn exit_code(status: ExitStatus, success_codes: &[u8]) -> c_int {
    let code = status.code();
    if success_codes.iter().any(|c| c_int::from(*c) == code) {
        0
    } else {
        code
    }
}
