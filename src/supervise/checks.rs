//! One runner for the `ready` and `health` checks. A try is a tcp connect,
//! an http GET (both non-blocking, probe.rs), a command (in its own process
//! group, as the program: user, directory, environment), or (`ready` only)
//! a file that exists. Each try is bounded by a timer; a command's group is
//! emptied (SIGKILL) when it ends or runs out of time, so a check never
//! leaves a process behind. What a try finds goes to the instance's gate:
//! `Ready` when a `ready` try passes (else another try after
//! `CHECK_INTERVAL`), `Health(passed)` after each `health` try (the gate
//! counts the failures; the next try comes after `interval`). A new check
//! kind is one more arm in `Supervisor::try_check`.

use std::time::Duration;

use nix::libc::{self, pid_t};

use super::instance::{Event, Run, State};
use super::probe::{Probe, Step};
use super::{InstanceId, Key, Owner, Supervisor};
use crate::config::{Check, Ready};
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::{self, Child};

/// How often a `ready` check is tried until it passes or `ready_timeout` ends.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long one tcp or http try of a `ready` check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Which of an instance's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    Ready,
    Health,
}

/// The checks being watched, each with its try under way (if any): per
/// instance, its `ready` and its `health` check.
#[derive(Default)]
pub struct Checks {
    watched: Vec<[Option<Try>; 2]>,
}

impl Checks {
    /// Puts `value` in instance `i`'s slot for `purpose`, made if need be.
    fn set(&mut self, i: InstanceId, purpose: Purpose, value: Option<Try>) {
        if self.watched.len() <= i.0 {
            self.watched.resize_with(i.0.saturating_add(1), Default::default);
        }
        let slot = self
            .watched
            .get_mut(i.0)
            .and_then(|slots| slots.get_mut(purpose as usize));
        if let Some(slot) = slot {
            *slot = value;
        }
    }

    fn get(&self, i: InstanceId, purpose: Purpose) -> Option<&Try> {
        self.watched
            .get(i.0)
            .and_then(|slots| slots.get(purpose as usize))
            .and_then(Option::as_ref)
    }

    fn get_mut(&mut self, i: InstanceId, purpose: Purpose) -> Option<&mut Try> {
        self.watched
            .get_mut(i.0)
            .and_then(|slots| slots.get_mut(purpose as usize))
            .and_then(Option::as_mut)
    }
}

/// A try under way.
#[derive(Default)]
struct Try {
    probe: Option<Probe>,
    command: Option<Child>,
}

impl Try {
    fn under_way(&self) -> bool {
        self.probe.is_some() || self.command.is_some()
    }
}

/// The result of starting a try.
enum Started {
    Passed,
    Failed,
    /// Under way, for this long at most.
    Pending(Duration),
}

impl Supervisor<'_> {
    /// Instance `i` has started: its `ready` check is tried at once, its
    /// `health` check after `interval`.
    pub(super) fn watch_check(&mut self, i: InstanceId, purpose: Purpose) {
        self.checks.set(i, purpose, Some(Try::default()));
        match purpose {
            Purpose::Ready => self.try_check(i, purpose),
            Purpose::Health => {
                if let Some(health) = &self.plan().program(self.fleet.member(i).program).health {
                    self.events
                        .set_timer_after(Key::Check(i, purpose), health.interval);
                }
            }
        }
    }

    /// The check no longer matters: its timer cancelled, its try ended.
    pub(super) fn abandon_check(&mut self, i: InstanceId, purpose: Purpose) {
        self.end_try(i, purpose);
        self.checks.set(i, purpose, None);
        self.events.cancel_timer(Key::Check(i, purpose));
    }

    /// The check's timer: a try under way is out of time (it fails), or the
    /// next try is due.
    pub(super) fn on_check_timer(&mut self, i: InstanceId, purpose: Purpose) {
        match self.checks.get(i, purpose) {
            Some(t) if t.under_way() => self.check_result(i, purpose, false),
            Some(_) => self.try_check(i, purpose),
            None => {}
        }
    }

    /// One try, by the kind of check.
    fn try_check(&mut self, i: InstanceId, purpose: Purpose) {
        let plan = self.plan();
        let program = plan.program(self.fleet.member(i).program);
        let check = match (purpose, &program.ready, &program.health) {
            (Purpose::Ready, Some(Ready::File(path)), _) => {
                let passed = path.exists();
                return self.check_result(i, purpose, passed);
            }
            (Purpose::Ready, Some(Ready::Check(check)), _) => check,
            (Purpose::Health, _, Some(health)) => &health.check,
            _ => return,
        };
        let started = match check {
            Check::Command(words) => match self.spawn_check(i, words) {
                Ok(child) => {
                    self.owners.insert(child.pid(), Owner::Check(i, purpose));
                    if let Some(t) = self.checks.get_mut(i, purpose) {
                        t.command = Some(child);
                    }
                    Started::Pending(self.try_timeout(i, purpose, program.ready_timeout))
                }
                Err(err) => {
                    debug!(
                        "{}: {} check: {err}",
                        self.fleet.instance(i).name(),
                        word(purpose)
                    );
                    Started::Failed
                }
            },
            probe => match Probe::start(probe) {
                Some(Step::Wait(probe, flags)) => {
                    self.events.watch(probe.raw_fd(), flags, Key::CheckIo(i, purpose));
                    if let Some(t) = self.checks.get_mut(i, purpose) {
                        t.probe = Some(probe);
                    }
                    Started::Pending(self.try_timeout(i, purpose, PROBE_TIMEOUT))
                }
                Some(Step::Passed) => Started::Passed,
                Some(Step::Failed) | None => Started::Failed,
            },
        };
        match started {
            Started::Passed => self.check_result(i, purpose, true),
            Started::Failed => self.check_result(i, purpose, false),
            Started::Pending(bound) => self.events.set_timer_after(Key::Check(i, purpose), bound),
        }
    }

    /// How long one try may take: `ready`'s own bound, or `health`'s timeout.
    fn try_timeout(&self, i: InstanceId, purpose: Purpose, ready_bound: Duration) -> Duration {
        match (purpose, &self.plan().program(self.fleet.member(i).program).health) {
            (Purpose::Health, Some(health)) => health.timeout,
            _ => ready_bound,
        }
    }

    /// A tcp or http try can take its next step.
    pub(super) fn on_check_io(&mut self, i: InstanceId, purpose: Purpose) {
        self.events.unwatch(Key::CheckIo(i, purpose));
        let Some(probe) = self.checks.get_mut(i, purpose).and_then(|t| t.probe.take()) else {
            return;
        };
        match probe.step() {
            Step::Wait(probe, flags) => {
                self.events.watch(probe.raw_fd(), flags, Key::CheckIo(i, purpose));
                if let Some(t) = self.checks.get_mut(i, purpose) {
                    t.probe = Some(probe);
                }
            }
            Step::Passed => self.check_result(i, purpose, true),
            Step::Failed => self.check_result(i, purpose, false),
        }
    }

    /// A check command was reaped: what it left in its group is killed;
    /// exit 0 passes, if it is still the try under way.
    pub(super) fn on_check_exit(&mut self, i: InstanceId, purpose: Purpose, pid: pid_t, status: ExitStatus) {
        if spawn::group_alive(pid) {
            // Its group outlives it (`sleep 1000 &`): emptied now. The group
            // id cannot be reused while a member is left.
            let _ = spawn::signal_group(pid, libc::SIGKILL);
        }
        let current = self.checks.get_mut(i, purpose);
        let Some(t) = current.filter(|t| t.command.as_ref().map(Child::pid) == Some(pid)) else {
            return; // ended on time already, or of an earlier run
        };
        t.command = None;
        if status != ExitStatus::Code(0) {
            debug!(
                "{}: {} check ended with {status}",
                self.fleet.instance(i).name(),
                word(purpose)
            );
        }
        self.check_result(i, purpose, status == ExitStatus::Code(0));
    }

    /// A try ended: the gate learns it, and the next try is set.
    fn check_result(&mut self, i: InstanceId, purpose: Purpose, passed: bool) {
        self.end_try(i, purpose);
        let running = matches!(self.fleet.instance(i).state(), State::Running(Run { .. }));
        if !running || self.checks.get(i, purpose).is_none() {
            return;
        }
        let next = match purpose {
            Purpose::Ready if passed => {
                self.abandon_check(i, purpose);
                self.deliver(i, Event::Ready);
                return;
            }
            Purpose::Ready => Some(CHECK_INTERVAL),
            Purpose::Health => self
                .plan()
                .program(self.fleet.member(i).program)
                .health
                .as_ref()
                .map(|h| h.interval),
        };
        if let Some(next) = next {
            self.events.set_timer_after(Key::Check(i, purpose), next);
        }
        if purpose == Purpose::Health {
            // The gate may stop it (and abandon the check) on this result.
            self.deliver(i, Event::Health(passed));
        }
    }

    /// Ends a try under way: a command's group gets SIGKILL (it is not
    /// reaped yet, so its group id is its own).
    fn end_try(&mut self, i: InstanceId, purpose: Purpose) {
        self.events.unwatch(Key::CheckIo(i, purpose));
        if let Some(t) = self.checks.get_mut(i, purpose) {
            t.probe = None;
            if let Some(command) = t.command.take() {
                let _ = command.signal_group(libc::SIGKILL);
            }
        }
    }
}

fn word(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Ready => "ready",
        Purpose::Health => "health",
    }
}
