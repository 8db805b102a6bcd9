//! The restart policy, pure: how an exit counts (systemd's clean and
//! unclean exits, and deaths by a signal rinit forwarded), systemd's
//! restart table, and the backoff with its start limit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::libc::{self, c_int};

use crate::config::{Program, Restart};
use crate::pid1::reaper::ExitStatus;

/// How an exit counts for the restart table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An exit code in success_exit_codes, or death by SIGHUP, SIGINT, SIGTERM or SIGPIPE.
    Clean,
    UncleanCode,
    UncleanSignal,
    /// Death by a signal rinit forwarded to it (`docker kill -s HUP`): a
    /// failure whatever the signal, so a container-level signal never
    /// silently leaves a program down.
    Forwarded,
    /// Missed `ready_timeout` (systemd's "timeout").
    Timeout,
    /// Stopped for failing its `health` check (systemd's "watchdog").
    Unhealthy,
    /// Stopped by rinit (shutdown) and died of its stop signal: clean, and
    /// never restarted.
    Stopped,
}

impl Outcome {
    /// Whether rinit's own exit code may still be 0 after this.
    pub fn is_clean(self) -> bool {
        matches!(self, Outcome::Clean | Outcome::Stopped)
    }
}

/// A set of signal numbers (1 to 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals(u64);

impl Signals {
    pub fn insert(&mut self, signo: c_int) {
        if let Some(bit) = Signals::bit(signo) {
            self.0 |= bit;
        }
    }

    pub fn contains(self, signo: c_int) -> bool {
        Signals::bit(signo).is_some_and(|bit| self.0 & bit != 0)
    }

    /// The bit of signal `signo`, for 1 to 64.
    fn bit(signo: c_int) -> Option<u64> {
        let shift = u32::try_from(signo).ok()?.checked_sub(1)?;
        1_u64.checked_shl(shift)
    }
}

/// How `status` counts, for a run to which rinit forwarded `forwarded`.
pub fn outcome(status: ExitStatus, success_codes: &[u8], forwarded: Signals) -> Outcome {
    match status {
        ExitStatus::Signal(signo) if forwarded.contains(signo) => Outcome::Forwarded,
        ExitStatus::Code(code) if success_codes.iter().any(|&c| c_int::from(c) == code) => Outcome::Clean,
        ExitStatus::Code(_) => Outcome::UncleanCode,
        ExitStatus::Signal(libc::SIGHUP | libc::SIGINT | libc::SIGTERM | libc::SIGPIPE) => Outcome::Clean,
        ExitStatus::Signal(_) => Outcome::UncleanSignal,
    }
}

/// systemd's restart table (docs/configuration.md, "Restart").
pub fn restarts(policy: Restart, outcome: Outcome) -> bool {
    use Outcome::*;
    match policy {
        _ if outcome == Stopped => false,
        Restart::No => false,
        Restart::OnSuccess => outcome == Clean,
        Restart::OnFailure => outcome != Clean,
        Restart::OnAbnormal => matches!(outcome, UncleanSignal | Forwarded | Timeout | Unhealthy),
        Restart::OnAbort => matches!(outcome, UncleanSignal | Forwarded),
        Restart::Always => true,
    }
}

/// What follows an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPlan {
    /// Start again after this delay.
    After(Duration),
    /// The policy says no.
    No,
    /// Another start would pass the start limit: the program is failed.
    GiveUp,
}

/// An instance's restart history: the next delay, and its recent starts
/// within the start-limit window.
#[derive(Debug)]
pub struct Backoff {
    delay: Duration,
    starts: VecDeque<Instant>,
}

impl Backoff {
    pub fn new(config: &Program) -> Backoff {
        Backoff {
            delay: config.restart_delay,
            starts: VecDeque::new(),
        }
    }

    /// Counts a start against the start limit (when there is one).
    pub fn record_start(&mut self, config: &Program, now: Instant) {
        if config.start_limit_burst > 0 {
            self.forget_starts_before(config, now);
            self.starts.push_back(now);
        }
    }

    /// Drops the starts that are out of the window ending at `at`.
    fn forget_starts_before(&mut self, config: &Program, at: Instant) {
        while self
            .starts
            .front()
            .is_some_and(|&start| at.saturating_duration_since(start) >= config.start_limit_interval)
        {
            self.starts.pop_front();
        }
    }

    /// After an exit with `outcome` (having run since `since`), at `now`.
    pub fn plan(
        &mut self,
        config: &Program,
        outcome: Outcome,
        since: Option<Instant>,
        now: Instant,
    ) -> RestartPlan {
        if !restarts(config.restart, outcome) {
            return RestartPlan::No;
        }
        // A program that stayed up longer than the longest delay starts over
        // from the first one.
        if since.is_some_and(|since| now.saturating_duration_since(since) > config.restart_max_delay) {
            self.delay = config.restart_delay;
        }
        let delay = self.delay;
        // The limit counts the starts within the window that ends at the
        // restart itself.
        if config.start_limit_burst > 0 {
            if let Some(restart_at) = now.checked_add(delay) {
                self.forget_starts_before(config, restart_at);
            }
            if self.starts.len() >= config.start_limit_burst as usize {
                return RestartPlan::GiveUp;
            }
        }
        self.delay = self
            .delay
            .saturating_mul(2)
            .min(config.restart_max_delay)
            .max(config.restart_delay);
        RestartPlan::After(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    #[test]
    fn the_restart_table_is_systemds() {
        let rows = [
            (Restart::No, [false, false, false, false]),
            (Restart::OnSuccess, [true, false, false, false]),
            (Restart::OnFailure, [false, true, true, true]),
            (Restart::OnAbnormal, [false, false, true, true]),
            (Restart::OnAbort, [false, false, true, false]),
            (Restart::Always, [true, true, true, true]),
        ];
        for (policy, expected) in rows {
            let got = [Clean, UncleanCode, UncleanSignal, Timeout].map(|o| restarts(policy, o));
            assert_eq!(got, expected, "{policy:?}");
            // A forwarded signal's death restarts where an unclean signal does;
            // a stop by rinit never restarts.
            assert_eq!(restarts(policy, Forwarded), expected[2], "{policy:?}");
            assert!(!restarts(policy, Stopped), "{policy:?}");
        }
        let none = Signals::default();
        assert_eq!(outcome(ExitStatus::Code(0), &[0], none), Clean);
        assert_eq!(outcome(ExitStatus::Code(3), &[0, 3], none), Clean);
        assert_eq!(outcome(ExitStatus::Code(1), &[0], none), UncleanCode);
        for signo in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE] {
            assert_eq!(outcome(ExitStatus::Signal(signo), &[0], none), Clean);
        }
        assert_eq!(
            outcome(ExitStatus::Signal(libc::SIGKILL), &[0], none),
            UncleanSignal
        );
        let mut hup = Signals::default();
        hup.insert(libc::SIGHUP);
        assert_eq!(outcome(ExitStatus::Signal(libc::SIGHUP), &[0], hup), Forwarded);
        assert_eq!(outcome(ExitStatus::Signal(libc::SIGPIPE), &[0], hup), Clean);
        assert_eq!(outcome(ExitStatus::Code(0), &[0], hup), Clean);
    }

    pub(crate) fn program(delay_ms: u64, max_ms: u64, burst: u32, interval_ms: u64) -> Program {
        let mut config = Program::with_defaults("p");
        config.restart = Restart::Always;
        config.restart_delay = Duration::from_millis(delay_ms);
        config.restart_max_delay = Duration::from_millis(max_ms);
        config.start_limit_burst = burst;
        config.start_limit_interval = Duration::from_millis(interval_ms);
        config
    }

    #[test]
    fn the_start_limit_counts_the_window_ending_at_the_restart() {
        // Starts at 0 s and 3 s; each run fails at once; the next restart
        // would be at 6 s, and (1 s, 6 s] holds one start: allowed.
        let config = program(3000, 3000, 2, 5000);
        let mut backoff = Backoff::new(&config);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        backoff.record_start(&config, at(0));
        let three_s = RestartPlan::After(Duration::from_secs(3));
        assert_eq!(backoff.plan(&config, UncleanCode, Some(at(0)), at(0)), three_s);
        backoff.record_start(&config, at(3000));
        assert_eq!(
            backoff.plan(&config, UncleanCode, Some(at(3000)), at(3000)),
            three_s
        );
        backoff.record_start(&config, at(6000));
        // Two starts within (4 s, 9 s]: a third is over the limit.
        let quick = program(0, 0, 2, 5000);
        let mut backoff = Backoff::new(&quick);
        backoff.record_start(&quick, at(0));
        backoff.record_start(&quick, at(10));
        assert_eq!(
            backoff.plan(&quick, UncleanCode, Some(at(10)), at(10)),
            RestartPlan::GiveUp
        );
    }

    #[test]
    fn delays_double_up_to_the_maximum_and_reset_after_a_long_run() {
        let config = program(10, 100, 0, 5000);
        let mut backoff = Backoff::new(&config);
        let t0 = Instant::now();
        let delays: Vec<RestartPlan> = (0..5)
            .map(|_| backoff.plan(&config, UncleanCode, Some(t0), t0))
            .collect();
        let ms = |n| RestartPlan::After(Duration::from_millis(n));
        assert_eq!(delays, [ms(10), ms(20), ms(40), ms(80), ms(100)]);
        let later = t0 + Duration::from_millis(150);
        assert_eq!(backoff.plan(&config, UncleanCode, Some(t0), later), ms(10));
        assert_eq!(backoff.plan(&config, Clean, Some(later), later), ms(20));
        let mut no = program(10, 100, 0, 5000);
        no.restart = Restart::OnFailure;
        assert_eq!(Backoff::new(&no).plan(&no, Clean, None, t0), RestartPlan::No);
    }

    #[test]
    fn no_start_limit_keeps_no_history() {
        let config = program(0, 0, 0, 5000);
        let mut backoff = Backoff::new(&config);
        for ms in 0..1000 {
            backoff.record_start(&config, Instant::now() + Duration::from_millis(ms));
        }
        assert!(backoff.starts.is_empty());
    }
}
