//! The gate's stopping half: a stopping instance (`Stopping`), one whose
//! main process has ended with its group left (`Draining`), and where a
//! stop ends (`finish`, `by_want`). A child module of instance.rs, so it
//! reaches the instance's private fields as the gate does.

use nix::libc::{self, pid_t};

use super::{
    signal, Action, After, Context, Event, Instance, RunOutcome, State, Step, StopReason, Timer, Want,
    KILL_WAIT,
};
use crate::config::Program;
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;
use crate::supervise::policy::{self, Backoff, Outcome, Signals};

impl Instance {
    pub(super) fn stopping(
        &mut self,
        child: Child,
        why: StopReason,
        killed: bool,
        event: Event,
        cx: &Context,
    ) -> Step {
        let pgid = child.pid();
        match event {
            Event::StopTimeout if !killed => {
                let message = did_not_stop(&self.name, "", cx.config);
                let actions = vec![
                    Action::Log(Level::Warn, message),
                    Action::SignalGroup(pgid, libc::SIGKILL),
                ];
                let killed = true;
                (State::Stopping { child, why, killed }, actions)
            }
            Event::Exited { status, group_left } => {
                drop(child); // reaped: never signalled again
                self.last_exit = Some(status);
                self.last_outcome = Some(match why {
                    StopReason::Unhealthy => Outcome::Unhealthy,
                    StopReason::ReadyTimeout | StopReason::RunTimeout => Outcome::Timeout,
                    _ if status == ExitStatus::Signal(cx.config.stop_signal) => Outcome::Stopped,
                    _ => policy::outcome(status, &cx.config.success_exit_codes, Signals::default()),
                });
                let mut actions = vec![Action::Log(
                    Level::Debug,
                    format!("{} stopped ({status})", self.name),
                )];
                if group_left {
                    return drain(pgid, After::Stop(why), killed, cx.config, actions);
                }
                actions.push(Action::CancelTimer(Timer::StopTimeout));
                let next = self.finish(After::Stop(why), cx, &mut actions);
                (next, actions)
            }
            Event::Kill if !killed => {
                let actions = vec![Action::SignalGroup(pgid, libc::SIGKILL)];
                let killed = true;
                (State::Stopping { child, why, killed }, actions)
            }
            Event::Forward(signo) => {
                let actions = vec![signal(cx.config.stop_group, pgid, signo)];
                (State::Stopping { child, why, killed }, actions)
            }
            _ => (State::Stopping { child, why, killed }, Vec::new()),
        }
    }

    pub(super) fn draining(
        &mut self,
        pgid: pid_t,
        killed: bool,
        after: After,
        event: Event,
        cx: &Context,
    ) -> Step {
        let same = |killed| State::Draining { pgid, killed, after };
        match event {
            Event::StopTimeout | Event::Kill if !killed => {
                if let (Event::StopTimeout, After::Stop(_)) = (&event, after) {
                    // Its end was not clean after all.
                    self.last_exit = Some(ExitStatus::Signal(libc::SIGKILL));
                    self.last_outcome = Some(Outcome::UncleanSignal);
                }
                let what = match after {
                    After::Stop(_) => "",
                    After::Exit { .. } => ": what is left of its process group",
                };
                let message = did_not_stop(&self.name, what, cx.config);
                let mut actions = vec![Action::SignalGroup(pgid, libc::SIGKILL)];
                if matches!(event, Event::StopTimeout) {
                    actions.insert(0, Action::Log(Level::Warn, message));
                }
                actions.push(Action::SetTimer(Timer::StopTimeout, KILL_WAIT));
                (same(true), actions)
            }
            Event::StopTimeout => {
                let message = format!(
                    "{}: its process group is still there {KILL_WAIT:?} after SIGKILL: going on without it",
                    self.name
                );
                let mut actions = vec![Action::Log(Level::Warn, message)];
                let next = self.finish(after, cx, &mut actions);
                (next, actions)
            }
            Event::GroupEmpty => {
                let mut actions = vec![Action::CancelTimer(Timer::StopTimeout)];
                let next = self.finish(after, cx, &mut actions);
                (next, actions)
            }
            // The main process is gone; only `stop_group` reaches the rest.
            Event::Forward(signo) if cx.config.stop_group => {
                (same(killed), vec![Action::SignalGroup(pgid, signo)])
            }
            _ => (same(killed), Vec::new()),
        }
    }

    /// Its main process and its group are gone: where that leaves it.
    pub(super) fn finish(&mut self, after: After, cx: &Context, actions: &mut Vec<Action>) -> State {
        let status = self.last_exit.unwrap_or(ExitStatus::Code(0));
        match after {
            After::Exit { outcome, since } => self.ended(status, outcome, Some(since), cx, actions),
            After::Stop(StopReason::Replaced) if !cx.shutting_down => {
                self.run_ended(RunOutcome::Replaced, &status.to_string(), cx, actions)
            }
            After::Stop(StopReason::ReadyTimeout | StopReason::Unhealthy | StopReason::RunTimeout)
                if !cx.shutting_down =>
            {
                let outcome = self.last_outcome.unwrap_or(Outcome::UncleanSignal);
                self.ended(status, outcome, None, cx, actions)
            }
            After::Stop(StopReason::Shutdown) => State::Stopped,
            After::Stop(_) => self.by_want(cx),
        }
    }

    /// Where an instance that is down goes by what it is wanted to be:
    /// stopped in a shutdown, held down, or waiting to start again.
    pub(super) fn by_want(&mut self, cx: &Context) -> State {
        if cx.shutting_down {
            return State::Stopped;
        }
        match self.want {
            Want::Down => State::Held,
            Want::Up | Want::Restart => {
                self.want = Want::Up;
                self.backoff = Backoff::new(cx.config);
                State::Waiting
            }
        }
    }
}

/// Asks a running instance to stop: its stop signal to its main process
/// (which stops the rest its own way: a celery worker finishes its pool's
/// tasks), or to its group with `stop_group`; SIGCONT after it, as a
/// stopped (SIGSTOP) process acts on nothing else; SIGKILL to the group when
/// stop_timeout runs out, or at once with stop_timeout = 0.
pub(super) fn stop(name: &str, child: Child, why: StopReason, config: &Program) -> Step {
    let pgid = child.pid();
    let mut actions = vec![Action::AbandonReadiness, Action::AbandonHealth];
    if config.stop_timeout.is_zero() {
        actions.push(Action::SignalGroup(pgid, libc::SIGKILL));
        let killed = true;
        return (State::Stopping { child, why, killed }, actions);
    }
    let signal_name = crate::pid1::signals::name(config.stop_signal);
    actions.push(Action::Log(
        Level::Debug,
        format!("stopping {name} with {signal_name}"),
    ));
    actions.push(signal(config.stop_group, pgid, config.stop_signal));
    actions.push(signal(config.stop_group, pgid, libc::SIGCONT));
    actions.push(Action::SetTimer(Timer::StopTimeout, config.stop_timeout));
    let killed = false;
    (State::Stopping { child, why, killed }, actions)
}

/// Its main process has ended and others of its process group have not:
/// they get SIGTERM (and SIGCONT) now, SIGKILL when the stop timer runs out
/// — the timer a stop already set, a new stop_timeout after an exit of its
/// own, or the short wait after SIGKILL when the group was killed already.
pub(super) fn drain(
    pgid: pid_t,
    after: After,
    killed: bool,
    config: &Program,
    mut actions: Vec<Action>,
) -> Step {
    let killed = killed || config.stop_timeout.is_zero();
    if killed {
        actions.push(Action::SignalGroup(pgid, libc::SIGKILL));
        actions.push(Action::SetTimer(Timer::StopTimeout, KILL_WAIT));
    } else {
        actions.push(Action::SignalGroup(pgid, libc::SIGTERM));
        actions.push(Action::SignalGroup(pgid, libc::SIGCONT));
        if matches!(after, After::Exit { .. }) {
            actions.push(Action::SetTimer(Timer::StopTimeout, config.stop_timeout));
        }
    }
    (State::Draining { pgid, killed, after }, actions)
}

/// "web did not stop within 7s: sending SIGKILL" (`what`: of what is left).
fn did_not_stop(name: &str, what: &str, config: &Program) -> String {
    format!(
        "{name}{what} did not stop within {:?}: sending SIGKILL",
        config.stop_timeout
    )
}
