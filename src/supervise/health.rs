//! Liveness checks (`health`), Docker HEALTHCHECK's meanings: while an
//! instance runs, its check (tcp, http or command) is tried every
//! `interval`, each try bounded by `timeout`; failures within
//! `start_period` of its start do not count; `retries` failures in a row
//! make it unhealthy, and its gate stops it as an unclean end
//! (`Event::Unhealthy`), which its restart policy then decides on. Timers
//! only: a program without `health` costs nothing.

use std::time::Instant;

use nix::libc::{self, pid_t};

use super::instance::{Event, Run, State};
use super::probe::{Probe, Step};
use super::{InstanceId, Key, Owner, Supervisor};
use crate::config::Ready;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// The checks of one run of an instance.
pub(super) struct Watch {
    /// The run watched (a restart starts a new watch).
    since: Instant,
    failures: u32,
    probe: Option<Probe>,
    command: Option<Child>,
}

impl Supervisor<'_> {
    /// Instance `i` has started: its checks begin, the first after `interval`.
    pub(super) fn watch_health(&mut self, i: InstanceId) {
        let member = &mut self.members[i.0];
        let (Some(health), State::Running(run)) = (
            &self.plan.programs[member.program.0].health,
            &member.instance.state,
        ) else {
            return;
        };
        member.health = Some(Watch {
            since: run.since,
            failures: 0,
            probe: None,
            command: None,
        });
        self.events.set_timer_after(Key::Health(i), health.interval);
    }

    /// Instance `i`'s check is due, or (a try under way) out of time.
    pub(super) fn on_health_timer(&mut self, i: InstanceId) {
        if !self.health_watched(i) {
            return self.abandon_health(i);
        }
        let member = &self.members[i.0];
        let trying = member
            .health
            .as_ref()
            .is_some_and(|w| w.probe.is_some() || w.command.is_some());
        if trying {
            return self.health_result(i, false);
        }
        let Some(health) = &self.plan.programs[member.program.0].health else {
            return;
        };
        self.events.set_timer_after(Key::Health(i), health.timeout);
        match &health.check {
            Ready::Command(words) => match self.spawn_check(i, words) {
                Ok(child) => {
                    self.owners.insert(child.pid(), Owner::Health(i));
                    if let Some(watch) = &mut self.members[i.0].health {
                        watch.command = Some(child);
                    }
                }
                Err(err) => {
                    debug!("{}: health check: {err}", self.members[i.0].instance.name);
                    self.health_result(i, false);
                }
            },
            check => match Probe::start(check) {
                Some(Step::Wait(probe, flags)) => {
                    self.events.watch(probe.raw_fd(), flags, Key::HealthProbe(i));
                    if let Some(watch) = &mut self.members[i.0].health {
                        watch.probe = Some(probe);
                    }
                }
                Some(Step::Passed) => self.health_result(i, true),
                Some(Step::Failed) | None => self.health_result(i, false),
            },
        }
    }

    /// Instance `i`'s tcp or http check can take its next step.
    pub(super) fn on_health_probe(&mut self, i: InstanceId) {
        self.events.unwatch(Key::HealthProbe(i));
        let Some(probe) = self.members[i.0].health.as_mut().and_then(|w| w.probe.take()) else {
            return;
        };
        match probe.step() {
            Step::Wait(probe, flags) => {
                self.events.watch(probe.raw_fd(), flags, Key::HealthProbe(i));
                if let Some(watch) = &mut self.members[i.0].health {
                    watch.probe = Some(probe);
                }
            }
            Step::Passed => self.health_result(i, true),
            Step::Failed => self.health_result(i, false),
        }
    }

    /// A health command ended: exit 0 passes.
    pub(super) fn on_health_exit(&mut self, i: InstanceId, pid: pid_t, status: ExitStatus) {
        let Some(watch) = &mut self.members[i.0].health else {
            return;
        };
        if watch.command.as_ref().map(Child::pid) != Some(pid) {
            return; // one that was ended on time, or of an earlier run
        }
        watch.command = None;
        self.health_result(i, status == ExitStatus::Code(0));
    }

    /// A try ended: the count of failures in a row, and the next try or
    /// (past `retries`) the end of the run.
    fn health_result(&mut self, i: InstanceId, passed: bool) {
        self.end_try(i);
        if !self.health_watched(i) {
            return self.abandon_health(i);
        }
        let member = &mut self.members[i.0];
        let (Some(health), Some(watch)) = (&self.plan.programs[member.program.0].health, &mut member.health)
        else {
            return;
        };
        if passed {
            watch.failures = 0;
        } else if watch.since.elapsed() >= health.start_period {
            watch.failures += 1;
            debug!(
                "{}: health check failed ({} in a row)",
                member.instance.name, watch.failures
            );
        }
        if watch.failures >= health.retries {
            let failures = watch.failures;
            self.abandon_health(i);
            self.deliver(i, Event::Unhealthy(failures));
        } else {
            self.events.set_timer_after(Key::Health(i), health.interval);
        }
    }

    /// Whether instance `i` runs the run its checks watch.
    fn health_watched(&self, i: InstanceId) -> bool {
        let member = &self.members[i.0];
        match (&member.instance.state, &member.health) {
            (State::Running(Run { since, .. }), Some(watch)) => *since == watch.since,
            _ => false,
        }
    }

    /// Ends a try under way (a command's group gets SIGKILL).
    fn end_try(&mut self, i: InstanceId) {
        self.events.unwatch(Key::HealthProbe(i));
        if let Some(watch) = &mut self.members[i.0].health {
            watch.probe = None;
            if let Some(command) = watch.command.take() {
                let _ = command.signal_group(libc::SIGKILL);
            }
        }
    }

    /// Instance `i` no longer runs (or was found unhealthy): no more checks.
    pub(super) fn abandon_health(&mut self, i: InstanceId) {
        self.end_try(i);
        self.events.cancel_timer(Key::Health(i));
        self.members[i.0].health = None;
    }
}
