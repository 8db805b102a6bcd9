//! The gate's request half: `rinit start|stop|restart` as the wanted
//! state (the last request wins), and the answers to the requests that
//! wait on the instance. A child module of instance.rs, so it reaches the
//! instance's private fields as the gate does.

use super::{Action, Backoff, Change, Context, Instance, RequestId, State, Timer, Verdict, Waiter, Want};

impl Instance {
    /// `rinit start|stop|restart`: the last request wins. Earlier waiting
    /// requests that want otherwise are answered "superseded"; an instance
    /// without a process moves at once, one with a process when its
    /// dependents let it (`MayStop`) or when its stop ends. Over 50 lines:
    /// every state a request can find, in one match.
    pub(super) fn request(&mut self, id: Option<RequestId>, change: Change, cx: &Context) -> Vec<Action> {
        let mut actions = Vec::new();
        if cx.shutting_down {
            actions.extend(id.map(|id| Action::Answer(id, Verdict::ShuttingDown)));
            return actions;
        }
        let up = change != Change::Stop;
        self.waiters.retain(|waiter| {
            let keep = waiter.up == up;
            if !keep {
                actions.push(Action::Answer(waiter.id, Verdict::Superseded(change)));
            }
            keep
        });
        let has_process = self.state.is_active();
        let wanted_up = self.want == Want::Up;
        self.want = match change {
            Change::Start => Want::Up,
            Change::Stop => Want::Down,
            Change::Restart if has_process => Want::Restart,
            Change::Restart => Want::Up,
        };
        let state = std::mem::replace(&mut self.state, State::Stopped);
        self.state = match (state, self.want) {
            (State::Waiting, Want::Down) => State::Held,
            (State::Backoff, Want::Down) => {
                actions.push(Action::CancelTimer(Timer::Restart));
                State::Held
            }
            (State::Backoff, _) => {
                actions.push(Action::CancelTimer(Timer::Restart));
                self.backoff = Backoff::new(cx.config);
                State::Waiting
            }
            (state @ (State::Held | State::Exited | State::Done | State::Failed), Want::Up) => {
                if !matches!(state, State::Held) {
                    self.backoff = Backoff::new(cx.config);
                }
                State::Waiting
            }
            // `rinit start` of a scheduled program runs it now; `stop` holds
            // its schedule.
            (State::Scheduled, Want::Up) => State::Waiting,
            (State::Scheduled, _) => State::Held,
            (state, _) => state,
        };
        // A start while a run goes on: as if its time had come (overlap).
        if change == Change::Start && wanted_up && has_process && self.runs.is_some() {
            actions.extend(self.run_due(cx));
        }
        if let Some(id) = id {
            self.waiters.push(Waiter { id, up });
        }
        actions
    }

    /// Answers the requests whose outcome is known: up (ready or done) for
    /// start and restart, down for stop; or ended for good instead of up.
    pub(super) fn settle(&mut self, actions: &mut Vec<Action>) {
        let up = self.is_up();
        let (state, want) = (&self.state, self.want);
        self.waiters.retain(|waiter| {
            let verdict = match (waiter.up, want) {
                (true, Want::Up) if up => Verdict::Reached,
                // A scheduled program's run has ended, and failed.
                (true, Want::Up) if matches!(state, State::Scheduled) => Verdict::NotReached,
                (true, Want::Up) if state.is_final() => Verdict::NotReached,
                (false, Want::Down) if state.is_down() => Verdict::Reached,
                _ => return true,
            };
            actions.push(Action::Answer(waiter.id, verdict));
            false
        });
    }
}
