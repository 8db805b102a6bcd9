//! rinit's own signals and the orderly shutdown, as fleet decisions:
//! SIGTERM, SIGINT and SIGQUIT (after `drain`, during which rinit reports
//! not ready and a second one skips the rest) stop the programs in reverse
//! dependency order
//! (fleet.rs `stop_what_may_stop`; each by its gate: stop signal, then
//! SIGKILL to its group at its stop_timeout), other signals are forwarded;
//! then, as PID 1, the sweep of what is left (SIGTERM, SIGKILL after `-t`),
//! all within `shutdown_timeout`. A second stop request, or the deadline,
//! kills everything at once. Also rinit's exit code.

use nix::libc::{self, c_int};

use super::fleet::{Effect, Fleet, FleetTimer, InstanceId, Kernel, Phase, KILL_OVER};
use super::instance::{Event, Instance};
use crate::log::Level;
use crate::pid1::signals;

impl<K: Kernel> Fleet<K> {
    /// A signal rinit received (not one it raised itself).
    pub fn on_signal(&mut self, signo: c_int) {
        if !signals::is_forwarded(signo) {
            return;
        }
        let name = signals::name(signo);
        if matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
            let drain = self.plan.drain;
            if self.phase == Phase::Running && self.drain_ends.is_none() && !drain.is_zero() {
                let message = format!(
                    "{name}: draining for {drain:?} (rinit status and /readyz say not ready), then stopping the programs"
                );
                self.push(Effect::Log(Level::Info, message));
                self.drain_ends = Some(
                    self.kernel
                        .now()
                        .checked_add(drain)
                        .unwrap_or_else(|| self.kernel.now()),
                );
                self.push(Effect::SetTimer(FleetTimer::DrainOver, drain));
            } else if self.phase == Phase::Running && self.drain_ends.is_some() {
                let message = format!("{name} during the drain: stopping the programs now");
                self.push(Effect::Log(Level::Info, message));
                self.push(Effect::CancelTimer(FleetTimer::DrainOver));
                self.begin_shutdown();
            } else if self.phase == Phase::Running {
                self.push(Effect::Log(Level::Info, format!("{name}: stopping the programs")));
                self.begin_shutdown();
            } else if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
                let message = format!("{name} during shutdown: killing everything now");
                self.push(Effect::Log(Level::Info, message));
                self.kill_everything();
            }
            return;
        }
        for i in (0..self.members.len()).map(InstanceId) {
            if self.instance(i).state().child().is_some() {
                self.forwarded = self.forwarded.saturating_add(1);
            }
            self.deliver(i, Event::Forward(signo));
        }
    }

    /// A critical program has ended for good: everything stops, and rinit
    /// exits with its status.
    pub(super) fn critical_ended(&mut self, i: InstanceId) {
        if self.phase != Phase::Running {
            return;
        }
        let code = self.instance(i).last_exit().map_or(1, |status| status.code());
        self.exit_code.get_or_insert(code);
        if !self.program_of(i).is_main {
            let message = format!(
                "{} is critical and has ended: stopping everything",
                self.instance(i).name()
            );
            self.push(Effect::Log(Level::Info, message));
        }
        self.begin_shutdown();
    }

    pub(super) fn begin_shutdown(&mut self) {
        self.phase = Phase::Stopping;
        self.push(Effect::SetTimer(
            FleetTimer::ShutdownDeadline,
            self.plan.shutdown_timeout,
        ));
        for i in (0..self.members.len()).map(InstanceId) {
            self.deliver(i, Event::ShutdownBegun);
        }
    }

    /// Every program is down: as PID 1, SIGTERM to whatever is left, SIGKILL
    /// after the grace; otherwise done.
    pub(super) fn sweep(&mut self) {
        if self.kernel.is_pid1() && self.kernel.children_remain() {
            self.push(Effect::Log(
                Level::Debug,
                "sending SIGTERM to the processes left".into(),
            ));
            self.push(Effect::SignalEveryone(libc::SIGTERM));
            self.push(Effect::SetTimer(FleetTimer::SweepOver, self.grace));
            self.phase = Phase::Sweeping;
        } else {
            self.phase = Phase::Done;
        }
    }

    /// The drain's time is over: the orderly shutdown begins.
    pub(super) fn on_drain_over(&mut self) {
        if self.phase == Phase::Running {
            let message = format!("the drain ({:?}) is over: stopping the programs", self.plan.drain);
            self.push(Effect::Log(Level::Info, message));
            self.begin_shutdown();
        }
    }

    /// While rinit drains: how long until it stops the programs.
    pub fn draining(&self) -> Option<std::time::Duration> {
        let ends = self.drain_ends.filter(|_| self.phase == Phase::Running)?;
        Some(ends.saturating_duration_since(self.kernel.now()))
    }

    pub(super) fn on_shutdown_deadline(&mut self) {
        if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
            let message = format!(
                "shutdown_timeout ({:?}) is over: killing everything",
                self.plan.shutdown_timeout
            );
            self.push(Effect::Log(Level::Warn, message));
            self.kill_everything();
        }
    }

    pub(super) fn on_sweep_over(&mut self) {
        if self.phase == Phase::Sweeping {
            let message = format!(
                "processes still running {:?} after SIGTERM: sending SIGKILL",
                self.grace
            );
            self.push(Effect::Log(Level::Warn, message));
            self.kill_everything();
        }
    }

    /// The second stop request, or the shutdown deadline: SIGKILL to every
    /// program's group and (as PID 1) every process.
    fn kill_everything(&mut self) {
        for i in (0..self.members.len()).map(InstanceId) {
            self.deliver(i, Event::Kill);
        }
        if self.kernel.is_pid1() {
            self.push(Effect::SignalEveryone(libc::SIGKILL));
        }
        self.push(Effect::CancelTimer(FleetTimer::SweepOver));
        self.push(Effect::CancelTimer(FleetTimer::ShutdownDeadline));
        self.push(Effect::SetTimer(FleetTimer::KillOver, KILL_OVER));
        self.phase = Phase::Killing;
    }

    /// rinit's exit code: main's or the critical program's that ended
    /// everything; else 0 when every program's end was clean, 1 otherwise.
    pub fn final_code(&self) -> c_int {
        if let Some(code) = self.exit_code {
            return code;
        }
        // What a reload retired is no longer the configuration's.
        let clean = self
            .live_members()
            .map(|(_, m)| &m.instance)
            .all(Instance::ended_cleanly);
        if clean {
            0
        } else {
            1
        }
    }
}
