//! One instance of a program (NAME, or NAME.I) as a state machine, and
//! `Instance::on`: the one gate every transition goes through. The gate is
//! the whole truth about an instance: its state, what it is wanted to be
//! (the last control request wins), the requests waiting on it, its health
//! failures and its restart history are all here, private, and change only
//! through `on`. It is pure, as `single::step` is: given an event and its
//! context, it moves the instance to its next state and returns the actions
//! for the supervisor to carry out. It never touches the system, so every
//! state × event pair is a unit test below, and the simulation (sim.rs)
//! drives it through millions of sequences.

use std::time::Instant;

use nix::libc::{self, c_int, pid_t};

use super::policy::{self, Backoff, Outcome, RestartPlan, Signals};
pub use super::state::{
    Action, After, Event, RequestId, Run, RunOutcome, Runs, State, StopReason, Timer, Verdict, Want,
    KILL_WAIT,
};
use crate::config::{Kind, Program};
use crate::control::Change;
use crate::log::Level;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;
use crate::schedule::When;

#[path = "instance_requests.rs"]
mod requesting;
#[path = "instance_runs.rs"]
mod runs;
#[path = "instance_stop.rs"]
mod stopping;
use stopping::{drain, stop};

/// One instance, with its history.
#[derive(Debug)]
pub struct Instance {
    /// "web", or "worker.1" for an instance.
    name: String,
    state: State,
    want: Want,
    /// The requests waiting for it to be up (or down).
    waiters: Vec<Waiter>,
    last_exit: Option<ExitStatus>,
    /// How the last exit counted.
    last_outcome: Option<Outcome>,
    /// How often it has been ready (or done): programs that come after it
    /// may start once it has, even when it has ended since.
    times_ready: u32,
    restarts: u32,
    backoff: Backoff,
    /// A program with a schedule (not `@reboot`, a plain oneshot): its runs.
    runs: Option<Runs>,
}

/// A request waiting on an instance, and what it waits for.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    id: RequestId,
    up: bool,
}

/// What the gate needs beside the event: the program's configuration, the
/// time, and whether rinit is shutting down.
pub struct Context<'a> {
    pub config: &'a Program,
    pub now: Instant,
    pub shutting_down: bool,
}

/// A transition: the next state and what to do.
type Step = (State, Vec<Action>);

impl Instance {
    pub fn new(name: String, config: &Program) -> Instance {
        // Held down until `rinit start` with `autostart = false`.
        let scheduled = config.schedule.as_ref().is_some_and(|s| s.when != When::Reboot);
        let (state, want) = match (config.autostart, scheduled) {
            (true, false) => (State::Waiting, Want::Up),
            (true, true) => (State::Scheduled, Want::Up),
            (false, _) => (State::Held, Want::Down),
        };
        Instance {
            name,
            state,
            want,
            waiters: Vec::new(),
            last_exit: None,
            last_outcome: None,
            times_ready: 0,
            restarts: 0,
            backoff: Backoff::new(config),
            runs: scheduled.then(Runs::default),
        }
    }

    /// A scheduled program's runs.
    pub fn runs(&self) -> Option<&Runs> {
        self.runs.as_ref()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn want(&self) -> Want {
        self.want
    }

    pub fn last_exit(&self) -> Option<ExitStatus> {
        self.last_exit
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether it was ready (or done) at least once.
    pub fn was_ready(&self) -> bool {
        self.times_ready > 0
    }

    /// Whether it is where a start brings it: ready, done, or (scheduled)
    /// back to its schedule after a run that succeeded.
    pub fn is_up(&self) -> bool {
        self.state.is_ready()
            || matches!(self.state, State::Scheduled) && self.last_outcome.is_some_and(Outcome::is_clean)
    }

    /// Whether its end left everything clean, for rinit's own exit code.
    /// A scheduled program's failed run is not an end: it is counted, and
    /// the next comes at its time.
    pub fn ended_cleanly(&self) -> bool {
        let runs_counted = self.runs.is_some();
        !matches!(self.state, State::Failed)
            && (runs_counted || self.last_outcome.is_none_or(Outcome::is_clean))
    }

    /// The gate: applies `event` and returns what the supervisor must do.
    /// Pairs that do not apply (a timer that fired late, a signal for an
    /// instance with no process) change nothing and return nothing. Every
    /// waiting request whose outcome is known after the step is answered.
    pub fn on(&mut self, event: Event, cx: &Context) -> Vec<Action> {
        let mut actions = match event {
            Event::Request { id, change } => self.request(id, change, cx),
            Event::Withdraw(id) => {
                self.waiters.retain(|w| w.id != id);
                Vec::new()
            }
            Event::RunDue => self.run_due(cx),
            event => {
                let mut actions = Vec::new();
                if matches!(event, Event::ShutdownBegun) {
                    for waiter in self.waiters.drain(..) {
                        actions.push(Action::Answer(waiter.id, Verdict::ShuttingDown));
                    }
                }
                let state = std::mem::replace(&mut self.state, State::Stopped);
                let (next, more) = self.transition(state, event, cx);
                self.state = next;
                actions.extend(more);
                actions
            }
        };
        self.settle(&mut actions);
        actions
    }

    fn transition(&mut self, state: State, event: Event, cx: &Context) -> Step {
        match state {
            State::Waiting => self.waiting(event, cx),
            State::Spawning => match event {
                Event::Spawned { child, exec_failed } => self.started(child, exec_failed, cx),
                Event::SpawnFailed(why) => self.start_failed(why, cx),
                _ => (State::Spawning, Vec::new()),
            },
            State::Backoff => self.backing_off(event, cx),
            State::Running(run) => self.running(run, event, cx),
            State::Stopping { child, why, killed } => self.stopping(child, why, killed, event, cx),
            State::Draining { pgid, killed, after } => self.draining(pgid, killed, after, event, cx),
            State::Held => match event {
                Event::ShutdownBegun | Event::Kill => (State::Stopped, Vec::new()),
                _ => (State::Held, Vec::new()),
            },
            State::Scheduled => match event {
                Event::ShutdownBegun | Event::Kill => (State::Stopped, Vec::new()),
                _ => (State::Scheduled, Vec::new()),
            },
            // Ended: only a request brings it back.
            ended => (ended, Vec::new()),
        }
    }

    fn waiting(&mut self, event: Event, cx: &Context) -> Step {
        match event {
            Event::MayStart if !cx.shutting_down => (State::Spawning, vec![Action::Spawn]),
            Event::DependencyFailed { name, state } if self.runs.is_some() => {
                let how = format!("it comes after {name}, which is {state}");
                let mut actions = Vec::new();
                let next = self.run_ended(RunOutcome::Failure, &how, cx, &mut actions);
                (next, actions)
            }
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
            Event::ShutdownBegun | Event::Kill => (State::Stopped, Vec::new()),
            _ => (State::Waiting, Vec::new()),
        }
    }

    fn backing_off(&mut self, event: Event, cx: &Context) -> Step {
        match event {
            Event::RestartDue if !cx.shutting_down => (State::Spawning, vec![Action::Spawn]),
            Event::ShutdownBegun | Event::Kill => (State::Stopped, vec![Action::CancelTimer(Timer::Restart)]),
            _ => (State::Backoff, Vec::new()),
        }
    }

    fn started(&mut self, child: Child, exec_failed: bool, cx: &Context) -> Step {
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
                    self.times_ready = self.times_ready.saturating_add(1);
                }
                _ => actions.push(Action::WatchReadiness),
            }
            if cx.config.health.is_some() {
                actions.push(Action::WatchHealth);
            }
            if let Some(timeout) = cx.config.schedule.as_ref().and_then(|s| s.run_timeout) {
                actions.push(Action::SetTimer(Timer::RunTimeout, timeout));
            }
        }
        let running = State::Running(Run {
            child,
            since: cx.now,
            ready,
            forwarded: Signals::default(),
            health_failures: 0,
        });
        (running, actions)
    }

    fn start_failed(&mut self, why: String, cx: &Context) -> Step {
        self.backoff.record_start(cx.config, cx.now);
        let status = ExitStatus::Code(1);
        self.last_exit = Some(status);
        let mut actions = vec![Action::Log(Level::Error, format!("{}: {why}", self.name))];
        let next = self.ended(status, Outcome::UncleanCode, Some(cx.now), cx, &mut actions);
        (next, actions)
    }

    // Over 50 lines: the whole table of a running instance in one match.
    fn running(&mut self, mut run: Run, event: Event, cx: &Context) -> Step {
        match event {
            Event::Exited { status, group_left } => {
                let pgid = run.child.pid();
                drop(run.child); // reaped: never signalled again
                self.last_exit = Some(status);
                let outcome = policy::outcome(status, &cx.config.success_exit_codes, run.forwarded);
                let mut actions = vec![Action::AbandonReadiness, Action::AbandonHealth];
                if group_left {
                    let after = After::Exit {
                        outcome,
                        since: run.since,
                    };
                    let message = format!(
                        "{} ended ({status}); stopping what is left of its process group first",
                        self.name
                    );
                    actions.push(Action::Log(Level::Info, message));
                    return drain(pgid, after, false, cx.config, actions);
                }
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
            Event::RunTimeout if self.runs.is_some() => {
                let timeout = cx
                    .config
                    .schedule
                    .as_ref()
                    .and_then(|s| s.run_timeout)
                    .unwrap_or_default();
                let message = format!("{} ran for {timeout:?} (run_timeout): stopping it", self.name);
                let (next, mut actions) = stop(&self.name, run.child, StopReason::RunTimeout, cx.config);
                actions.insert(0, Action::Log(Level::Warn, message));
                (next, actions)
            }
            Event::MayStop if cx.shutting_down => {
                stop(&self.name, run.child, StopReason::Shutdown, cx.config)
            }
            Event::MayStop if self.want != Want::Up => {
                stop(&self.name, run.child, StopReason::Wanted, cx.config)
            }
            Event::Health(passed) => self.health(run, passed, cx),
            Event::Kill => {
                let kill = Action::SignalGroup(run.child.pid(), libc::SIGKILL);
                let stopping = State::Stopping {
                    child: run.child,
                    why: StopReason::Shutdown,
                    killed: true,
                };
                (
                    stopping,
                    vec![Action::AbandonReadiness, Action::AbandonHealth, kill],
                )
            }
            Event::Forward(signo) => {
                run.forwarded.insert(signo);
                let actions = vec![signal(cx.config.stop_group, run.child.pid(), signo)];
                (State::Running(run), actions)
            }
            // Readiness and health no longer matter: no ready_timeout or
            // failed check stops it out of order.
            Event::ShutdownBegun => (
                State::Running(run),
                vec![Action::AbandonReadiness, Action::AbandonHealth],
            ),
            _ => (State::Running(run), Vec::new()),
        }
    }

    /// A try of its `health` check: failures in a row count once past
    /// `start_period`; `retries` of them stop it as unhealthy.
    fn health(&mut self, mut run: Run, passed: bool, cx: &Context) -> Step {
        let Some(health) = &cx.config.health else {
            return (State::Running(run), Vec::new());
        };
        if passed {
            run.health_failures = 0;
        } else if cx.now.saturating_duration_since(run.since) >= health.start_period {
            run.health_failures = run.health_failures.saturating_add(1);
        }
        if run.health_failures < health.retries {
            return (State::Running(run), Vec::new());
        }
        let times = match run.health_failures {
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

    fn became_ready(&mut self, config: &Program) -> Vec<Action> {
        self.times_ready = self.times_ready.saturating_add(1);
        let mut actions = vec![Action::AbandonReadiness];
        if config.kind == Kind::Notify || config.ready.is_some() {
            actions.push(Action::Log(Level::Info, format!("{} is ready", self.name)));
        }
        actions
    }

    /// It ended (`status`, counted as `outcome`, having run since `since`):
    /// the next state, by what it is wanted to be and the restart policy,
    /// with what to do about it. Over 50 lines: every way an end can go,
    /// each with its message, in one place.
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
        if self.runs.is_some() {
            let run = match outcome {
                Outcome::Clean => RunOutcome::Success,
                Outcome::Timeout => RunOutcome::Timeout,
                _ => RunOutcome::Failure,
            };
            return self.run_ended(run, &status.to_string(), cx, actions);
        }
        if config.kind == Kind::Oneshot && outcome == Outcome::Clean {
            self.times_ready = self.times_ready.saturating_add(1);
            actions.push(Action::Log(Level::Info, format!("{name} completed")));
            return State::Done;
        }
        let how = match outcome {
            Outcome::Forwarded => format!("{status}, which rinit forwarded: counted as a failure"),
            _ => status.to_string(),
        };
        if self.want != Want::Up {
            let message = format!("{name} ended ({how}) while wanted {}", self.want.name());
            actions.push(Action::Log(Level::Info, message));
            return self.by_want(cx);
        }
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

/// `signo` to the main process, or to its whole group with `group`.
fn signal(group: bool, pgid: pid_t, signo: c_int) -> Action {
    if group {
        Action::SignalGroup(pgid, signo)
    } else {
        Action::SignalMain(signo)
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
#[path = "instance_tests.rs"]
mod tests;
