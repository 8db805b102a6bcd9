//! The gate's schedule half: a scheduled program's due run (started, or
//! skipped, queued or made to replace the running one, as `overlap` says)
//! and the end of a run, counted by outcome. A child module of
//! instance.rs, so it reaches the instance's private fields as the gate does.

use super::{stop, Action, Context, Instance, RunOutcome, State, StopReason, Timer, Want};
use crate::config::Overlap;
use crate::log::Level;

impl Instance {
    /// Its schedule's time has come (or `rinit start` while a run goes
    /// on): the run starts once what it comes after lets it; or, with a
    /// run still going, `overlap` decides: skip this one, queue it (one at
    /// most), or stop the running one and start it then.
    pub(super) fn run_due(&mut self, cx: &Context) -> Vec<Action> {
        let Some(overlap) = cx.config.schedule.as_ref().map(|s| s.overlap) else {
            return Vec::new();
        };
        if cx.shutting_down || self.want != Want::Up || self.runs.is_none() {
            return Vec::new();
        }
        let name = &self.name;
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let queued = self.runs.as_ref().is_some_and(|runs| runs.queued);
        let (next, actions) = match (state, overlap) {
            (State::Scheduled, _) => (State::Waiting, Vec::new()),
            (State::Running(run), Overlap::Replace) => {
                let message = format!(
                    "{name}: its next run is due and the last still runs: stopping it (overlap = replace)"
                );
                let (next, mut actions) = stop(name, run.child, StopReason::Replaced, cx.config);
                actions.insert(0, Action::Log(Level::Info, message));
                self.queue_run();
                (next, actions)
            }
            (state, Overlap::Queue | Overlap::Replace) if !queued => {
                let message = format!(
                    "{name}: its next run is due and the last still runs: it waits for it (overlap = {})",
                    overlap.name()
                );
                self.queue_run();
                (state, vec![Action::Log(Level::Info, message)])
            }
            (state, _) => {
                let message = format!(
                    "{name}: the run due now is skipped: the last still runs{} (overlap = {})",
                    if queued { " and the next waits" } else { "" },
                    overlap.name()
                );
                self.count_run(RunOutcome::Skipped, cx);
                (state, vec![Action::Log(Level::Info, message)])
            }
        };
        self.state = next;
        actions
    }

    pub(super) fn queue_run(&mut self) {
        if let Some(runs) = &mut self.runs {
            runs.queued = true;
        }
    }

    pub(super) fn count_run(&mut self, outcome: RunOutcome, cx: &Context) {
        if let Some(runs) = &mut self.runs {
            let slot = RunOutcome::ALL.iter().position(|o| *o == outcome);
            if let Some(count) = slot.and_then(|slot| runs.by_outcome.get_mut(slot)) {
                *count = count.saturating_add(1);
            }
            if outcome == RunOutcome::Success {
                runs.last_success = Some(cx.now);
            }
        }
    }

    /// A scheduled run has ended (`outcome`; `how`: its exit): the next
    /// waits for its time, or starts now if one was queued.
    pub(super) fn run_ended(
        &mut self,
        outcome: RunOutcome,
        how: &str,
        cx: &Context,
        actions: &mut Vec<Action>,
    ) -> State {
        self.count_run(outcome, cx);
        actions.push(Action::CancelTimer(Timer::RunTimeout));
        let name = &self.name;
        let (level, message) = match outcome {
            RunOutcome::Success => (Level::Info, format!("{name} run completed")),
            RunOutcome::Replaced => (Level::Info, format!("{name} run stopped for the next ({how})")),
            RunOutcome::Timeout => (
                Level::Warn,
                format!("{name} run stopped at its run_timeout ({how}); the next runs at its time"),
            ),
            RunOutcome::Failure | RunOutcome::Skipped => (
                Level::Warn,
                format!("{name} run failed ({how}); the next runs at its time"),
            ),
        };
        actions.push(Action::Log(level, message));
        if outcome == RunOutcome::Success {
            self.times_ready = self.times_ready.saturating_add(1);
        }
        let queued = self
            .runs
            .as_mut()
            .is_some_and(|runs| std::mem::take(&mut runs.queued));
        match self.want {
            Want::Up if queued => State::Waiting,
            Want::Up => State::Scheduled,
            _ => self.by_want(cx),
        }
    }
}
