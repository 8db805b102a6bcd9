//! When scheduled programs run, as fleet decisions: each one's next run, on
//! the wall clock (cron times, in its zone) or on rinit's own clock
//! (`@every`), and what a clock that was set means. The gate (instance.rs)
//! decides what a due run does (start, or the overlap policy); this file
//! only says when one is due.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::fleet::{Effect, Fleet, FleetTimer, InstanceId, Kernel, Phase};
use super::instance::{Event, Timer};
use crate::schedule::When;

/// When a scheduled instance runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextRun {
    /// A cron time: seconds since the epoch, on the wall clock.
    Wall(i64),
    /// `@every`: on rinit's own clock, with its fleet timer set.
    After(Instant),
}

/// A clock set back by less than this does not repeat the fixed times
/// already run; set back further, the schedule starts again from the new
/// time (cronie's bound).
const SMALL_STEP: i64 = 3 * 3600;

impl<K: Kernel> Fleet<K> {
    /// The first run of each scheduled instance from `from` on (and the
    /// timers of `@every`), after those of the instances before it.
    pub(super) fn first_runs(&mut self, from: usize) {
        let (wall, now) = (self.kernel.wall_now(), self.kernel.now());
        let plan = Rc::clone(&self.plan);
        self.next_runs.truncate(from);
        for i in (from..self.members.len()).map(InstanceId) {
            let schedule = plan.program(self.member(i).program).schedule.as_ref();
            let run = match schedule.map(|s| (&s.when, &s.zone)) {
                Some((When::Cron(cron), zone)) => cron.next_after(wall, zone).map(NextRun::Wall),
                Some((When::Every(every), _)) => {
                    self.push(Effect::SetTimer(FleetTimer::Instance(i, Timer::RunDue), *every));
                    Some(NextRun::After(now.checked_add(*every).unwrap_or(now)))
                }
                Some((When::Reboot, _)) | None => None,
            };
            self.next_runs.push(run);
        }
    }

    /// Instance `i`'s next run, if it has a schedule.
    pub fn next_run(&self, i: InstanceId) -> Option<NextRun> {
        self.next_runs.get(i.0).copied().flatten()
    }

    /// The earliest cron time of all: what the wall timer is set to.
    pub fn next_wall_run(&self) -> Option<i64> {
        let walls = self.next_runs.iter().filter_map(|run| match run {
            Some(NextRun::Wall(at)) => Some(*at),
            _ => None,
        });
        walls.min()
    }

    /// `@every`'s timer of instance `i` has fired: the run is due, and the
    /// next is one period after this one's time (a late wake-up does not
    /// shift the ones after it; periods missed altogether are skipped).
    pub(super) fn every_due(&mut self, i: InstanceId) {
        let Some(When::Every(every)) = self.program_of(i).schedule.as_ref().map(|s| &s.when) else {
            return;
        };
        let every = *every;
        let now = self.kernel.now();
        let Some(NextRun::After(planned)) = self.next_run(i) else {
            return;
        };
        if self.phase == Phase::Running {
            self.deliver(i, Event::RunDue);
        }
        let mut next = planned.checked_add(every).unwrap_or(now);
        if next <= now {
            next = now.checked_add(every).unwrap_or(now);
        }
        self.set_next_run(i, NextRun::After(next));
        let delay = next.saturating_duration_since(now).max(Duration::from_millis(1));
        self.push(Effect::SetTimer(FleetTimer::Instance(i, Timer::RunDue), delay));
    }

    /// The wall timer has fired, or the clock was set (`stepped`): every
    /// cron time now past is due, once, and the next is found. A clock set
    /// back keeps each fixed next time (what already ran does not run
    /// again), unless it went back by more than three hours; a job with a
    /// `*` in its minute or hour field follows the new time at once.
    pub fn on_wall_clock(&mut self, stepped: bool) {
        let wall = self.kernel.wall_now();
        for i in (0..self.members.len()).map(InstanceId) {
            let Some(NextRun::Wall(at)) = self.next_run(i) else {
                continue;
            };
            let Some(schedule) = self.program_of(i).schedule.as_ref() else {
                continue;
            };
            let When::Cron(cron) = &schedule.when else {
                continue;
            };
            let next = cron.next_after(wall, &schedule.zone);
            if at <= wall {
                if self.phase == Phase::Running {
                    self.deliver(i, Event::RunDue);
                }
            } else if !stepped {
                continue;
            } else if let Some(candidate) = next {
                let far = at.saturating_sub(candidate) > SMALL_STEP;
                if !(candidate < at && (far || cron.is_wild())) {
                    continue;
                }
            }
            match next {
                Some(next) => self.set_next_run(i, NextRun::Wall(next)),
                None => self.clear_next_run(i),
            }
        }
    }

    fn set_next_run(&mut self, i: InstanceId, run: NextRun) {
        if let Some(slot) = self.next_runs.get_mut(i.0) {
            *slot = Some(run);
        }
    }

    fn clear_next_run(&mut self, i: InstanceId) {
        if let Some(slot) = self.next_runs.get_mut(i.0) {
            *slot = None;
        }
    }
}
