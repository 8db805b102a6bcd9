//! One running copy of a configured program (an instance): its state, as
//! `rinit status` shows them, and the rules applied when it ends — which exits are
//! clean, systemd's restart table, the exponential backoff and the start
//! limit. The supervisor drives the transitions; nothing here touches the
//! system.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::libc::{self, c_int};

use crate::config::{Program, Restart};
use crate::readiness::{Connect, NotifySocket};
use crate::reaper::ExitStatus;
use crate::spawn::Child;

pub enum State {
    /// Waiting for the programs it comes `after`.
    Starting,
    /// Started; `ready` once its readiness is confirmed (at once for a simple
    /// program without a check).
    Running {
        child: Child,
        since: Instant,
        ready: bool,
        /// The signals rinit forwarded to it during this run: a death by one
        /// of them is a failure, whatever the signal.
        forwarded: Signals,
    },
    /// Ended; restarts when its timer fires.
    Backoff,
    /// rinit asked it to stop (`why`); `killed` once SIGKILL was sent.
    Stopping {
        child: Child,
        why: StopReason,
        killed: bool,
    },
    /// Stopping in a shutdown: the program itself has ended, but others of
    /// its process group have not (yet). Shown as "stopping".
    StoppingGroup { pgid: nix::libc::pid_t, killed: bool },
    /// Stopped by rinit, or never started because rinit is shutting down.
    Stopped,
    /// Ended for good: the restart policy said no.
    Exited,
    /// A oneshot that completed cleanly.
    Done,
    /// Gave up: start limit reached, oneshot failed, or a dependency failed.
    Failed,
}

/// A set of signal numbers (1 to 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals(u64);

impl Signals {
    pub fn insert(&mut self, signo: c_int) {
        if (1..=64).contains(&signo) {
            self.0 |= 1 << (signo - 1);
        }
    }

    pub fn contains(self, signo: c_int) -> bool {
        (1..=64).contains(&signo) && self.0 & (1 << (signo - 1)) != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Shutdown: never restarted.
    Shutdown,
    /// It missed `ready_timeout`: the restart policy decides, as for a failure.
    ReadyTimeout,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running { ready: false, .. } => "running",
            State::Running { ready: true, .. } => "ready",
            State::Backoff => "backoff",
            State::Stopping { .. } | State::StoppingGroup { .. } => "stopping",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    /// What the programs that come `after` it may go by.
    pub fn is_ready(&self) -> bool {
        matches!(self, State::Running { ready: true, .. } | State::Done)
    }

    /// Ended and will not run again by itself.
    pub fn is_final(&self) -> bool {
        matches!(self, State::Stopped | State::Exited | State::Done | State::Failed)
    }

    /// The process group of what still runs: the program's own, led by it.
    pub fn group(&self) -> Option<nix::libc::pid_t> {
        match self {
            State::Running { child, .. } | State::Stopping { child, .. } => Some(child.pid()),
            State::StoppingGroup { pgid, .. } => Some(*pgid),
            _ => None,
        }
    }
}

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
    /// Stopped by rinit (shutdown) and died of its stop signal: clean, and
    /// never restarted.
    Stopped,
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
        Restart::No => false,
        _ if outcome == Stopped => false,
        Restart::OnSuccess => outcome == Clean,
        Restart::OnFailure => outcome != Clean,
        Restart::OnAbnormal => matches!(outcome, UncleanSignal | Forwarded | Timeout),
        Restart::OnAbort => matches!(outcome, UncleanSignal | Forwarded),
        Restart::Always => true,
    }
}

pub struct Instance {
    /// Index of its program in the plan.
    pub program: usize,
    /// "web", or "worker.1" for an instance.
    pub name: String,
    pub number: Option<u32>,
    pub state: State,
    pub last_exit: Option<ExitStatus>,
    /// How the last exit counted.
    pub last_outcome: Option<Outcome>,
    /// It has been ready (or done) at least once: programs that come after
    /// it may start even once it has ended (`after` orders, nothing more).
    pub ever_ready: bool,
    pub restarts: u32,
    /// The next restart's delay.
    delay: Duration,
    /// When it was started, within the start-limit window.
    starts: VecDeque<Instant>,
    /// Its sd_notify socket (`type = "notify"`), made at the first start.
    pub notify: Option<NotifySocket>,
    /// A `ready = { tcp }` connection in progress.
    pub connecting: Option<Connect>,
    /// A `ready = { command }` check running.
    pub checking: Option<Child>,
    /// The ids of its output streams, when `output = "prefix"`.
    pub streams: Option<[usize; 2]>,
}

impl Instance {
    pub fn new(program: usize, name: String, number: Option<u32>, config: &Program) -> Instance {
        Instance {
            program,
            name,
            number,
            state: State::Starting,
            last_exit: None,
            last_outcome: None,
            ever_ready: false,
            restarts: 0,
            delay: config.restart_delay,
            starts: VecDeque::new(),
            notify: None,
            connecting: None,
            checking: None,
            streams: None,
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

    /// After an exit with `outcome` (having run since `since`): the delay
    /// before the restart, or None when the policy says no; Err when a
    /// restart would pass the start limit.
    pub fn plan_restart(
        &mut self,
        config: &Program,
        outcome: Outcome,
        since: Option<Instant>,
        now: Instant,
    ) -> Result<Option<Duration>, ()> {
        if !restarts(config.restart, outcome) {
            return Ok(None);
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
                return Err(());
            }
        }
        self.delay = self
            .delay
            .saturating_mul(2)
            .min(config.restart_max_delay)
            .max(config.restart_delay);
        self.restarts = self.restarts.saturating_add(1);
        Ok(Some(delay))
    }

    /// Whether the end of this instance left everything clean, for rinit's
    /// own exit code.
    pub fn ended_cleanly(&self) -> bool {
        !matches!(self.state, State::Failed)
            && matches!(self.last_outcome, None | Some(Outcome::Clean | Outcome::Stopped))
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

    fn program(delay_ms: u64, max_ms: u64, burst: u32, interval_ms: u64) -> Program {
        Program {
            name: "p".into(),
            instances: None,
            command: vec!["true".into()],
            kind: crate::config::Kind::Simple,
            after: Vec::new(),
            user: None,
            directory: None,
            env: Default::default(),
            restart: Restart::Always,
            restart_delay: Duration::from_millis(delay_ms),
            restart_max_delay: Duration::from_millis(max_ms),
            start_limit_burst: burst,
            start_limit_interval: Duration::from_millis(interval_ms),
            success_exit_codes: vec![0],
            stop_signal: libc::SIGTERM,
            stop_group: false,
            stop_timeout: Duration::from_secs(7),
            critical: false,
            ready: None,
            ready_timeout: Duration::from_secs(60),
            output: crate::config::Output::Inherit,
            is_main: false,
        }
    }

    #[test]
    fn the_start_limit_counts_the_window_ending_at_the_restart() {
        // Starts at 0 s and 3 s; each run fails at once; the next restart
        // would be at 6 s, and (1 s, 6 s] holds one start: allowed.
        let config = program(3000, 3000, 2, 5000);
        let mut instance = Instance::new(0, "p".into(), None, &config);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        instance.record_start(&config, at(0));
        assert_eq!(
            instance.plan_restart(&config, UncleanCode, Some(at(0)), at(0)),
            Ok(Some(Duration::from_secs(3)))
        );
        instance.record_start(&config, at(3000));
        assert_eq!(
            instance.plan_restart(&config, UncleanCode, Some(at(3000)), at(3000)),
            Ok(Some(Duration::from_secs(3)))
        );
        instance.record_start(&config, at(6000));
        // Two starts within (4 s, 9 s]: a third is over the limit.
        let mut quick = program(0, 0, 2, 5000);
        quick.restart_delay = Duration::ZERO;
        let mut instance = Instance::new(0, "p".into(), None, &quick);
        instance.record_start(&quick, at(0));
        instance.record_start(&quick, at(10));
        assert_eq!(
            instance.plan_restart(&quick, UncleanCode, Some(at(10)), at(10)),
            Err(())
        );
    }

    #[test]
    fn no_start_limit_keeps_no_history() {
        let config = program(0, 0, 0, 5000);
        let mut instance = Instance::new(0, "p".into(), None, &config);
        for ms in 0..1000 {
            instance.record_start(&config, Instant::now() + Duration::from_millis(ms));
        }
        assert!(instance.starts.is_empty());
    }
}
