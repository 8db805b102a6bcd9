//! One instance of a program (NAME, or NAME.I) as a state machine, and
//! `Instance::on`: the one gate every transition goes through. The gate is
//! pure, as `single::step` is: given an event, it moves the instance to its
//! next state and returns the actions for the supervisor to carry out
//! (spawn, signal, timers, readiness checks, messages). It never touches
//! the system, so every state × event pair is a unit test below.

use std::time::Instant;

use nix::libc::{self, pid_t};

use super::policy::{self, Backoff, Outcome, RestartPlan, Signals};
use super::state::{signal, stop};
pub use super::state::{Action, Event, Run, State, StopReason, Timer};
use crate::config::{Kind, Program};
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// One instance, with its history.
#[derive(Debug)]
pub struct Instance {
    /// "web", or "worker.1" for an instance.
    pub name: String,
    pub state: State,
    pub last_exit: Option<ExitStatus>,
    /// How the last exit counted.
    pub last_outcome: Option<Outcome>,
    /// How often it has been ready (or done): programs that come after it
    /// may start once it has, even when it has ended since.
    pub times_ready: u32,
    pub restarts: u32,
    backoff: Backoff,
}

/// What the gate needs beside the event: the program's configuration, the
/// time, and whether rinit is shutting down.
pub struct Context<'a> {
    pub config: &'a Program,
    pub now: Instant,
    pub shutting_down: bool,
}

impl Instance {
    pub fn new(name: String, config: &Program) -> Instance {
        Instance {
            name,
            // Not started until `rinit start` with `autostart = false`.
            state: if config.autostart {
                State::Waiting
            } else {
                State::Held
            },
            last_exit: None,
            last_outcome: None,
            times_ready: 0,
            restarts: 0,
            backoff: Backoff::new(config),
        }
    }

    /// Whether its end left everything clean, for rinit's own exit code.
    pub fn ended_cleanly(&self) -> bool {
        !matches!(self.state, State::Failed) && self.last_outcome.is_none_or(Outcome::is_clean)
    }

    /// The gate: applies `event` and returns what the supervisor must do.
    /// Pairs that do not apply (a timer that fired late, a signal for an
    /// instance with no process) change nothing and return nothing.
    pub fn on(&mut self, event: Event, cx: &Context) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let (next, actions) = match state {
            State::Waiting => self.waiting(event, cx),
            State::Backoff => self.backing_off(event, cx),
            State::Running(run) => self.running(run, event, cx),
            State::Stopping { child, why, killed } => self.stopping(child, why, killed, event, cx),
            State::StoppingGroup { pgid, killed, why } => self.stopping_group(pgid, killed, why, event, cx),
            State::Held => held(event, cx),
            ended => self.ended_for_good(ended, event, cx),
        };
        self.state = next;
        actions
    }

    fn waiting(&mut self, event: Event, cx: &Context) -> (State, Vec<Action>) {
        match event {
            Event::MayStart if !cx.shutting_down => (State::Waiting, vec![Action::Spawn]),
            Event::DependencyFailed { name, state } => {
                let message = format!(
                    "{} cannot start: it comes after {name}, which is {state}",
                    self.name
                );
                (
                    State::Failed,
                    vec![Action::Log(Level::Error, message), Action::EndedForGood],
                )
            }
            Event::Spawned { child, exec_failed } => self.started(child, exec_failed, cx),
            Event::SpawnFailed(why) => self.start_failed(why, cx),
            Event::ShutdownBegun | Event::Kill => (State::Stopped, Vec::new()),
            Event::Stop(StopReason::Request) => (State::Held, Vec::new()),
            _ => (State::Waiting, Vec::new()),
        }
    }

    fn backing_off(&mut self, event: Event, cx: &Context) -> (State, Vec<Action>) {
        match event {
            Event::RestartDue if !cx.shutting_down => (State::Backoff, vec![Action::Spawn]),
            Event::Spawned { child, exec_failed } => self.started(child, exec_failed, cx),
            Event::SpawnFailed(why) => self.start_failed(why, cx),
            Event::ShutdownBegun | Event::Kill => (State::Stopped, vec![Action::CancelTimer(Timer::Restart)]),
            Event::Stop(StopReason::Request) => (State::Held, vec![Action::CancelTimer(Timer::Restart)]),
            _ => (State::Backoff, Vec::new()),
        }
    }

    fn started(&mut self, child: Child, exec_failed: bool, cx: &Context) -> (State, Vec<Action>) {
        self.backoff.record_start(cx.config, cx.now);
        let mut actions = vec![Action::Log(
            Level::Debug,
            format!("started {} (pid {})", self.name, child.pid()),
        )];
        let mut ready = false;
        if !exec_failed {
            match (cx.config.kind, &cx.config.ready) {
                (Kind::Oneshot, _) => {}
                (Kind::Simple, None) => {
                    ready = true;
                    self.times_ready += 1;
                }
                _ => actions.push(Action::WatchReadiness),
            }
        }
        let running = State::Running(Run {
            child,
            since: cx.now,
            ready,
            forwarded: Signals::default(),
        });
        (running, actions)
    }

    fn start_failed(&mut self, why: String, cx: &Context) -> (State, Vec<Action>) {
        self.backoff.record_start(cx.config, cx.now);
        let status = ExitStatus::Code(1);
        self.last_exit = Some(status);
        let mut actions = vec![Action::Log(Level::Error, format!("{}: {why}", self.name))];
        let next = self.ended(status, Outcome::UncleanCode, Some(cx.now), cx, &mut actions);
        (next, actions)
    }

    // Over 50 lines: the whole table of a running instance in one match.
    fn running(&mut self, mut run: Run, event: Event, cx: &Context) -> (State, Vec<Action>) {
        match event {
            Event::Exited { status, .. } => {
                drop(run.child); // reaped: never signalled again
                self.last_exit = Some(status);
                let outcome = policy::outcome(status, &cx.config.success_exit_codes, run.forwarded);
                let mut actions = vec![Action::AbandonReadiness];
                let next = self.ended(status, outcome, Some(run.since), cx, &mut actions);
                (next, actions)
            }
            Event::Ready if !run.ready => {
                run.ready = true;
                (State::Running(run), self.became_ready(cx.config))
            }
            Event::ReadyTimeout if !run.ready => {
                let message = format!(
                    "{} was not ready within {:?} (ready_timeout): stopping it",
                    self.name, cx.config.ready_timeout
                );
                let (next, mut actions) = stop(&self.name, run.child, StopReason::ReadyTimeout, cx.config);
                actions.insert(0, Action::Log(Level::Warn, message));
                (next, actions)
            }
            Event::Stop(why) => stop(&self.name, run.child, why, cx.config),
            Event::Unhealthy(failures) => {
                let times = match failures {
                    1 => "once".to_string(),
                    n => format!("{n} times in a row"),
                };
                let message = format!(
                    "{} is unhealthy: its health check failed {times}: stopping it",
                    self.name
                );
                let (next, mut actions) = stop(&self.name, run.child, StopReason::Unhealthy, cx.config);
                actions.insert(0, Action::Log(Level::Warn, message));
                (next, actions)
            }
            Event::Kill => {
                let kill = Action::SignalGroup(run.child.pid(), libc::SIGKILL);
                let why = StopReason::Shutdown;
                (
                    State::Stopping {
                        child: run.child,
                        why,
                        killed: true,
                    },
                    vec![Action::AbandonReadiness, kill],
                )
            }
            Event::Forward(signo) => {
                run.forwarded.insert(signo);
                let actions = vec![signal(cx.config.stop_group, run.child.pid(), signo)];
                (State::Running(run), actions)
            }
            // Readiness no longer matters: no ready_timeout stops it out of
            // order, no check starts during the shutdown.
            Event::ShutdownBegun => (State::Running(run), vec![Action::AbandonReadiness]),
            _ => (State::Running(run), Vec::new()),
        }
    }

    fn became_ready(&mut self, config: &Program) -> Vec<Action> {
        self.times_ready += 1;
        let mut actions = vec![Action::AbandonReadiness];
        if config.kind == Kind::Notify || config.ready.is_some() {
            actions.push(Action::Log(Level::Info, format!("{} is ready", self.name)));
        }
        actions
    }

    // Over 50 lines: the whole table of a stopping instance in one match,
    // as for the other states.
    fn stopping(
        &mut self,
        child: Child,
        why: StopReason,
        killed: bool,
        event: Event,
        cx: &Context,
    ) -> (State, Vec<Action>) {
        let pgid = child.pid();
        match event {
            Event::StopTimeout if !killed => {
                let message = format!(
                    "{} did not stop within {:?}: sending SIGKILL",
                    self.name, cx.config.stop_timeout
                );
                let actions = vec![
                    Action::Log(Level::Warn, message),
                    Action::SignalGroup(pgid, libc::SIGKILL),
                ];
                (
                    State::Stopping {
                        child,
                        why,
                        killed: true,
                    },
                    actions,
                )
            }
            Event::Exited { status, group_left } => {
                drop(child); // reaped: never signalled again
                self.last_exit = Some(status);
                match why {
                    StopReason::Shutdown | StopReason::Request => {
                        self.stopped(pgid, status, group_left, killed, why, cx)
                    }
                    // A failed start, or a failed check: what it leaves in
                    // its group goes with it before the restart policy decides.
                    StopReason::ReadyTimeout | StopReason::Unhealthy => {
                        let mut actions = vec![Action::CancelTimer(Timer::StopTimeout)];
                        if group_left {
                            actions.push(Action::SignalGroup(pgid, libc::SIGKILL));
                        }
                        let outcome = match why {
                            StopReason::Unhealthy => Outcome::Unhealthy,
                            _ => Outcome::Timeout,
                        };
                        let next = self.ended(status, outcome, None, cx, &mut actions);
                        (next, actions)
                    }
                }
            }
            Event::Kill => {
                let actions = vec![Action::SignalGroup(pgid, libc::SIGKILL)];
                (
                    State::Stopping {
                        child,
                        why,
                        killed: true,
                    },
                    actions,
                )
            }
            Event::Forward(signo) => {
                let actions = vec![signal(cx.config.stop_group, pgid, signo)];
                (State::Stopping { child, why, killed }, actions)
            }
            _ => (State::Stopping { child, why, killed }, Vec::new()),
        }
    }

    /// Its main process has ended in a shutdown. What it leaves in its
    /// process group is stopped with it (KillMode=mixed): SIGTERM now,
    /// SIGKILL at the same stop_timeout, whose timer goes on.
    fn stopped(
        &mut self,
        pgid: pid_t,
        status: ExitStatus,
        group_left: bool,
        killed: bool,
        why: StopReason,
        cx: &Context,
    ) -> (State, Vec<Action>) {
        self.last_outcome = Some(match status {
            ExitStatus::Signal(signo) if signo == cx.config.stop_signal => Outcome::Stopped,
            _ => policy::outcome(status, &cx.config.success_exit_codes, Signals::default()),
        });
        let mut actions = vec![Action::Log(
            Level::Debug,
            format!("{} stopped ({status})", self.name),
        )];
        if !group_left {
            actions.push(Action::CancelTimer(Timer::StopTimeout));
            return (stopped_by(why, cx), actions);
        }
        if !killed {
            actions.push(Action::SignalGroup(pgid, libc::SIGTERM));
            actions.push(Action::SignalGroup(pgid, libc::SIGCONT));
        }
        (State::StoppingGroup { pgid, killed, why }, actions)
    }

    fn stopping_group(
        &mut self,
        pgid: pid_t,
        killed: bool,
        why: StopReason,
        event: Event,
        cx: &Context,
    ) -> (State, Vec<Action>) {
        let same = |killed| State::StoppingGroup { pgid, killed, why };
        match event {
            Event::StopTimeout if !killed => {
                // Its end was not clean after all.
                self.last_exit = Some(ExitStatus::Signal(libc::SIGKILL));
                self.last_outcome = Some(Outcome::UncleanSignal);
                let message = format!(
                    "{} did not stop within {:?}: sending SIGKILL",
                    self.name, cx.config.stop_timeout
                );
                let actions = vec![
                    Action::Log(Level::Warn, message),
                    Action::SignalGroup(pgid, libc::SIGKILL),
                ];
                (same(true), actions)
            }
            Event::GroupEmpty => (stopped_by(why, cx), vec![Action::CancelTimer(Timer::StopTimeout)]),
            Event::Kill => (same(true), vec![Action::SignalGroup(pgid, libc::SIGKILL)]),
            // The main process is gone; only `stop_group` reaches the rest.
            Event::Forward(signo) if cx.config.stop_group => {
                (same(killed), vec![Action::SignalGroup(pgid, signo)])
            }
            _ => (same(killed), Vec::new()),
        }
    }

    /// An instance that has ended (stopped, exited, done, failed): only
    /// `rinit start` brings it back, outside a shutdown, with a fresh backoff.
    fn ended_for_good(&mut self, state: State, event: Event, cx: &Context) -> (State, Vec<Action>) {
        match event {
            Event::Start if !cx.shutting_down => {
                self.backoff = Backoff::new(cx.config);
                (State::Waiting, Vec::new())
            }
            _ => (state, Vec::new()),
        }
    }

    /// It ended (`status`, counted as `outcome`, having run since `since`):
    /// the next state, by the restart policy, with what to do about it.
    /// Over 50 lines: every way an end can go, each with its message, in
    /// one place.
    fn ended(
        &mut self,
        status: ExitStatus,
        outcome: Outcome,
        since: Option<Instant>,
        cx: &Context,
        actions: &mut Vec<Action>,
    ) -> State {
        self.last_outcome = Some(outcome);
        let name = &self.name;
        let config = cx.config;
        if cx.shutting_down {
            actions.push(Action::Log(
                Level::Debug,
                format!("{name} ended during shutdown ({status})"),
            ));
            return State::Stopped;
        }
        if config.kind == Kind::Oneshot && outcome == Outcome::Clean {
            self.times_ready += 1;
            actions.push(Action::Log(Level::Info, format!("{name} completed")));
            return State::Done;
        }
        let how = match outcome {
            Outcome::Forwarded => format!("{status}, which rinit forwarded: counted as a failure"),
            _ => status.to_string(),
        };
        let (next, level, message) = match self.backoff.plan(config, outcome, since, cx.now) {
            RestartPlan::After(delay) => {
                self.restarts = self.restarts.saturating_add(1);
                actions.push(Action::Log(Level::Warn, format!("{name} ended ({how}); restarting in {delay:?}")));
                actions.push(Action::SetTimer(Timer::Restart, delay));
                return State::Backoff;
            }
            RestartPlan::No if outcome == Outcome::Clean => (ended_state(config), Level::Info, format!("{name} ended ({how})")),
            RestartPlan::No => (
                ended_state(config),
                Level::Warn,
                format!("{name} ended ({how}); not restarted (restart = {})", config.restart.name()),
            ),
            RestartPlan::GiveUp => (
                State::Failed,
                Level::Error,
                format!(
                    "{name} ended ({how}) and was started {} times within {:?} (start_limit_burst): giving up",
                    config.start_limit_burst, config.start_limit_interval
                ),
            ),
        };
        actions.push(Action::Log(level, message));
        actions.push(Action::EndedForGood);
        next
    }
}

/// A held instance (`rinit stop`): `rinit start` brings it back (it then
/// waits for what it comes after); a shutdown makes it stopped for good.
fn held(event: Event, cx: &Context) -> (State, Vec<Action>) {
    match event {
        Event::Start if !cx.shutting_down => (State::Waiting, Vec::new()),
        Event::ShutdownBegun | Event::Kill => (State::Stopped, Vec::new()),
        _ => (State::Held, Vec::new()),
    }
}

/// Where a stop ends: held down after `rinit stop` (unless rinit is
/// shutting down), stopped otherwise.
fn stopped_by(why: StopReason, cx: &Context) -> State {
    match why {
        StopReason::Request if !cx.shutting_down => State::Held,
        _ => State::Stopped,
    }
}

/// Where a program the policy does not restart ends: a oneshot that did not
/// complete has failed.
fn ended_state(config: &Program) -> State {
    if config.kind == Kind::Oneshot {
        State::Failed
    } else {
        State::Exited
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Ready, Restart};

    const PID: pid_t = 4242;

    /// A simple program with a ready check, the defaults otherwise.
    fn config() -> Program {
        let mut config = Program::with_defaults("web");
        config.ready = Some(Ready::File("/nonexistent/ready".into()));
        config
    }

    /// Every state the gate knows, by the name the table uses.
    fn states() -> Vec<(&'static str, State)> {
        let child = || Child::for_tests(PID);
        let running = |ready| {
            State::Running(Run {
                child: child(),
                since: Instant::now(),
                ready,
                forwarded: Signals::default(),
            })
        };
        let stopping = |why, killed| State::Stopping {
            child: child(),
            why,
            killed,
        };
        let group = |killed, why| State::StoppingGroup {
            pgid: PID,
            killed,
            why,
        };
        vec![
            ("waiting", State::Waiting),
            ("running", running(false)),
            ("ready", running(true)),
            ("backoff", State::Backoff),
            ("stopping", stopping(StopReason::Shutdown, false)),
            ("stopping-late", stopping(StopReason::ReadyTimeout, false)),
            ("stopping-killed", stopping(StopReason::Shutdown, true)),
            ("stopping-held", stopping(StopReason::Request, false)),
            ("stopping-unhealthy", stopping(StopReason::Unhealthy, false)),
            ("group", group(false, StopReason::Shutdown)),
            ("group-killed", group(true, StopReason::Shutdown)),
            ("group-held", group(false, StopReason::Request)),
            ("held", State::Held),
            ("stopped", State::Stopped),
            ("exited", State::Exited),
            ("done", State::Done),
            ("failed", State::Failed),
        ]
    }

    /// Makes one event (a `Child` cannot be copied).
    type MakeEvent = Box<dyn Fn() -> Event>;

    /// Every event, by the name the table uses.
    fn events() -> Vec<(&'static str, MakeEvent)> {
        vec![
            ("may-start", Box::new(|| Event::MayStart)),
            (
                "dep-failed",
                Box::new(|| Event::DependencyFailed {
                    name: "db".into(),
                    state: "failed",
                }),
            ),
            (
                "spawned",
                Box::new(|| Event::Spawned {
                    child: Child::for_tests(7),
                    exec_failed: false,
                }),
            ),
            (
                "exec-failed",
                Box::new(|| Event::Spawned {
                    child: Child::for_tests(7),
                    exec_failed: true,
                }),
            ),
            (
                "spawn-failed",
                Box::new(|| Event::SpawnFailed("no such file".into())),
            ),
            (
                "exited",
                Box::new(|| Event::Exited {
                    status: ExitStatus::Code(1),
                    group_left: false,
                }),
            ),
            (
                "exited-group",
                Box::new(|| Event::Exited {
                    status: ExitStatus::Signal(libc::SIGTERM),
                    group_left: true,
                }),
            ),
            ("ready", Box::new(|| Event::Ready)),
            ("ready-timeout", Box::new(|| Event::ReadyTimeout)),
            ("restart-due", Box::new(|| Event::RestartDue)),
            ("stop-timeout", Box::new(|| Event::StopTimeout)),
            ("group-empty", Box::new(|| Event::GroupEmpty)),
            ("stop", Box::new(|| Event::Stop(StopReason::Shutdown))),
            ("stop-late", Box::new(|| Event::Stop(StopReason::ReadyTimeout))),
            ("stop-held", Box::new(|| Event::Stop(StopReason::Request))),
            ("start", Box::new(|| Event::Start)),
            ("unhealthy", Box::new(|| Event::Unhealthy(3))),
            ("kill", Box::new(|| Event::Kill)),
            ("forward-hup", Box::new(|| Event::Forward(libc::SIGHUP))),
            ("shutdown", Box::new(|| Event::ShutdownBegun)),
        ]
    }

    /// "next-state: action, action" for `event` in `state`, messages cut to their start.
    fn outcome_of(state: State, event: Event, config: &Program) -> String {
        let mut instance = Instance::new("web".into(), config);
        instance.state = state;
        let context = Context {
            config,
            now: Instant::now(),
            shutting_down: false,
        };
        let actions = instance.on(event, &context);
        let actions: Vec<String> = actions
            .iter()
            .map(|action| match action {
                Action::Log(level, message) => {
                    let words: Vec<&str> = message.split_whitespace().take(4).collect();
                    format!("{level:?}({})", words.join(" "))
                }
                Action::SetTimer(timer, delay) => format!("SetTimer({timer:?}, {delay:?})"),
                other => format!("{other:?}"),
            })
            .collect();
        let name = match &instance.state {
            State::Stopping { why, killed, .. } => format!("stopping({why:?}, killed {killed})"),
            State::StoppingGroup { killed, why, .. } => format!("group({why:?}, killed {killed})"),
            State::Held => "held".to_string(),
            other => other.name().to_string(),
        };
        format!("{name}: {}", actions.join(", "))
    }

    fn running() -> State {
        State::Running(Run {
            child: Child::for_tests(PID),
            since: Instant::now(),
            ready: false,
            forwarded: Signals::default(),
        })
    }

    fn on(instance: &mut Instance, event: Event, config: &Program, shutting_down: bool) -> Vec<Action> {
        let context = Context {
            config,
            now: Instant::now(),
            shutting_down,
        };
        instance.on(event, &context)
    }

    #[test]
    fn a_death_by_a_forwarded_signal_restarts_and_says_so() {
        let config = Program::with_defaults("web");
        let mut instance = Instance::new("web".into(), &config);
        instance.state = running();
        assert_eq!(
            on(&mut instance, Event::Forward(libc::SIGHUP), &config, false),
            [Action::SignalMain(libc::SIGHUP)]
        );
        let actions = on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Signal(libc::SIGHUP),
                group_left: false,
            },
            &config,
            false,
        );
        assert!(matches!(instance.state, State::Backoff));
        assert_eq!(instance.last_outcome, Some(Outcome::Forwarded));
        assert!(actions.contains(&Action::Log(
            Level::Warn,
            "web ended (SIGHUP, which rinit forwarded: counted as a failure); restarting in 100ms".into()
        )));
        assert_eq!(instance.restarts, 1);
    }

    #[test]
    fn stop_group_sends_the_stop_signal_and_forwarded_ones_to_the_group() {
        let mut config = Program::with_defaults("web");
        config.stop_group = true;
        let mut instance = Instance::new("web".into(), &config);
        instance.state = running();
        assert_eq!(
            on(&mut instance, Event::Forward(libc::SIGUSR1), &config, false),
            [Action::SignalGroup(PID, libc::SIGUSR1)]
        );
        let actions = on(&mut instance, Event::Stop(StopReason::Shutdown), &config, false);
        assert!(
            actions.contains(&Action::SignalGroup(PID, libc::SIGTERM)),
            "{actions:?}"
        );
        assert!(
            actions.contains(&Action::SignalGroup(PID, libc::SIGCONT)),
            "{actions:?}"
        );
        // The main process has gone: the rest of the group still gets forwarded signals.
        on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Signal(libc::SIGTERM),
                group_left: true,
            },
            &config,
            false,
        );
        assert_eq!(
            on(&mut instance, Event::Forward(libc::SIGUSR1), &config, false),
            [Action::SignalGroup(PID, libc::SIGUSR1)]
        );
        assert_eq!(instance.last_outcome, Some(Outcome::Stopped));
        assert!(instance.ended_cleanly());
    }

    #[test]
    fn stop_timeout_zero_kills_the_group_at_once_without_a_timer() {
        let mut config = Program::with_defaults("web");
        config.stop_timeout = Duration::ZERO;
        let mut instance = Instance::new("web".into(), &config);
        instance.state = running();
        let actions = on(&mut instance, Event::Stop(StopReason::Shutdown), &config, false);
        assert_eq!(
            actions,
            [Action::AbandonReadiness, Action::SignalGroup(PID, libc::SIGKILL)]
        );
        assert!(matches!(instance.state, State::Stopping { killed: true, .. }));
    }

    #[test]
    fn a_oneshot_that_exits_cleanly_is_done_and_counts_as_ready() {
        let mut config = Program::with_defaults("migrate");
        config.kind = Kind::Oneshot;
        config.restart = Restart::No;
        let mut instance = Instance::new("migrate".into(), &config);
        let actions = on(
            &mut instance,
            Event::Spawned {
                child: Child::for_tests(PID),
                exec_failed: false,
            },
            &config,
            false,
        );
        assert!(!actions.contains(&Action::WatchReadiness));
        assert!(matches!(instance.state, State::Running(Run { ready: false, .. })));
        let actions = on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Code(0),
                group_left: false,
            },
            &config,
            false,
        );
        assert!(matches!(instance.state, State::Done));
        assert_eq!(instance.times_ready, 1);
        assert!(
            !actions.contains(&Action::EndedForGood),
            "a completed oneshot has not failed"
        );
        // A failed one is failed, and ends rinit if critical.
        let mut instance = Instance::new("migrate".into(), &config);
        instance.state = running();
        let actions = on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Code(2),
                group_left: false,
            },
            &config,
            false,
        );
        assert!(matches!(instance.state, State::Failed));
        assert!(actions.contains(&Action::EndedForGood));
    }

    #[test]
    fn a_simple_program_without_a_check_is_ready_once_started() {
        let config = Program::with_defaults("web");
        let mut instance = Instance::new("web".into(), &config);
        let actions = on(
            &mut instance,
            Event::Spawned {
                child: Child::for_tests(PID),
                exec_failed: false,
            },
            &config,
            false,
        );
        assert!(matches!(instance.state, State::Running(Run { ready: true, .. })));
        assert!(!actions.contains(&Action::WatchReadiness));
        assert_eq!(instance.times_ready, 1);
    }

    #[test]
    fn during_a_shutdown_nothing_starts_and_an_exit_is_final() {
        let config = Program::with_defaults("web");
        let mut instance = Instance::new("web".into(), &config);
        assert!(on(&mut instance, Event::MayStart, &config, true).is_empty());
        instance.state = State::Backoff;
        assert!(on(&mut instance, Event::RestartDue, &config, true).is_empty());
        instance.state = running();
        on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Code(1),
                group_left: false,
            },
            &config,
            true,
        );
        assert!(matches!(instance.state, State::Stopped));
        assert!(!instance.ended_cleanly(), "its exit code 1 still counts");
    }

    #[test]
    fn past_the_start_limit_it_gives_up() {
        let mut config = Program::with_defaults("web");
        config.start_limit_burst = 2;
        config.restart_delay = Duration::ZERO;
        let mut instance = Instance::new("web".into(), &config);
        for _ in 0..2 {
            on(
                &mut instance,
                Event::Spawned {
                    child: Child::for_tests(PID),
                    exec_failed: false,
                },
                &config,
                false,
            );
            on(
                &mut instance,
                Event::Exited {
                    status: ExitStatus::Code(1),
                    group_left: false,
                },
                &config,
                false,
            );
        }
        assert!(matches!(instance.state, State::Failed));
        assert_eq!(instance.restarts, 1);
    }

    /// The gate, state by state and event by event: every pair, the ignored
    /// ones ("same: " with no action) included.
    const TABLE: &str = include_str!("instance_table.txt");

    #[test]
    fn every_state_and_event_pair_does_what_the_table_says() {
        let config = config();
        let mut got = String::new();
        for (state_name, _) in states() {
            for (event_name, event) in events() {
                let state = states().into_iter().find(|(n, _)| *n == state_name).unwrap().1;
                got += &format!(
                    "{state_name} + {event_name} -> {}\n",
                    outcome_of(state, event(), &config)
                );
            }
        }
        if got != TABLE {
            let path = std::env::temp_dir().join("instance_table.txt");
            std::fs::write(&path, &got).unwrap();
            let diff: Vec<String> = got
                .lines()
                .zip(TABLE.lines().chain(std::iter::repeat("")))
                .filter(|(g, e)| g != e)
                .map(|(g, e)| format!("expected {e}\n     got {g}"))
                .collect();
            panic!(
                "the gate differs from its table (all of it in {}):\n{}",
                path.display(),
                diff.join("\n")
            );
        }
    }
}
