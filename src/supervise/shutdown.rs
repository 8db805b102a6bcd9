//! rinit's own signals and the orderly shutdown: SIGTERM, SIGINT and SIGQUIT
//! stop the programs in reverse dependency order (each by its gate: stop
//! signal, then SIGKILL to its group at its stop_timeout), other signals
//! are forwarded; then, as PID 1, the sweep of what is left (SIGTERM, SIGKILL
//! after `-t`), all within `shutdown_timeout`. A second stop request, or the
//! deadline, kills everything at once. Also rinit's exit code.

use std::time::Duration;

use nix::libc::{self, c_int};

use super::instance::{Event, Instance, StopReason};
use super::{InstanceId, Key, Phase, Supervisor};
use crate::pid1::event_loop::SignalInfo;
use crate::pid1::{reaper, signals, spawn};

/// After SIGKILL to everything, how long rinit waits for the reaping before
/// it exits anyway (as PID 1 the kernel then kills whatever is left).
pub(super) const KILL_WAIT: Duration = Duration::from_secs(1);

impl Supervisor<'_> {
    pub(super) fn on_signal(&mut self, signal: SignalInfo) {
        if signal.is_self_inflicted() || !signals::is_forwarded(signal.signo) {
            return;
        }
        let name = signals::name(signal.signo);
        if matches!(signal.signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT) {
            if self.phase == Phase::Running {
                info!("{name}: stopping the programs");
                self.begin_shutdown();
            } else if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
                info!("{name} during shutdown: killing everything now");
                self.kill_everything();
            }
            return;
        }
        for i in (0..self.members.len()).map(InstanceId) {
            if self.members[i.0].instance.state.child().is_some() {
                self.counts.forwarded += 1;
            }
            self.deliver(i, Event::Forward(signal.signo));
        }
    }

    /// A critical program has ended for good: everything stops, and rinit
    /// exits with its status.
    pub(super) fn critical_ended(&mut self, i: InstanceId) {
        if self.phase != Phase::Running {
            return;
        }
        let member = &self.members[i.0];
        let code = member.instance.last_exit.map_or(1, |status| status.code());
        self.exit_code.get_or_insert(code);
        if !self.plan.programs[member.program.0].is_main {
            info!(
                "{} is critical and has ended: stopping everything",
                member.instance.name
            );
        }
        self.begin_shutdown();
    }

    pub(super) fn begin_shutdown(&mut self) {
        self.phase = Phase::Stopping;
        self.events
            .set_timer_after(Key::ShutdownDeadline, self.plan.shutdown_timeout);
        for i in (0..self.members.len()).map(InstanceId) {
            self.deliver(i, Event::ShutdownBegun);
        }
    }

    /// In the shutdown: stops each program once nothing after it, directly
    /// or through others (redis -> migrate, done -> web), still has a
    /// process; notices groups that have emptied; sweeps when all is down.
    pub(super) fn stop_in_order(&mut self) {
        for i in (0..self.members.len()).map(InstanceId) {
            if let super::State::StoppingGroup { pgid, .. } = self.members[i.0].instance.state {
                if !spawn::group_alive(pgid) {
                    self.deliver(i, Event::GroupEmpty);
                }
            }
        }
        // Dependents come later in the plan: one pass from the end.
        let mut alive_from = vec![false; self.plan.programs.len()];
        for p in (0..alive_from.len()).rev() {
            alive_from[p] = self.of_program[p]
                .clone()
                .any(|d| self.members[d].instance.state.group().is_some())
                || self.dependents[p].iter().any(|d| alive_from[d.0]);
        }
        for i in (0..self.members.len()).map(InstanceId) {
            let program = self.members[i.0].program;
            let dependents_alive = self.dependents[program.0].iter().any(|d| alive_from[d.0]);
            if matches!(self.members[i.0].instance.state, super::State::Running(_)) && !dependents_alive {
                self.deliver(i, Event::Stop(StopReason::Shutdown));
            }
        }
        if !self.members.iter().any(|m| m.instance.state.group().is_some()) {
            self.sweep();
        }
    }

    /// Every program is down: as PID 1, SIGTERM to whatever is left, SIGKILL
    /// after the grace; otherwise done.
    fn sweep(&mut self) {
        if reaper::is_pid1() && reaper::children_remain() {
            debug!("sending SIGTERM to the processes left");
            reaper::signal_everyone(libc::SIGTERM);
            self.events.set_timer_after(Key::SweepOver, self.settings.grace);
            self.phase = Phase::Sweeping;
        } else {
            self.phase = Phase::Done;
        }
    }

    pub(super) fn on_shutdown_deadline(&mut self) {
        if matches!(self.phase, Phase::Stopping | Phase::Sweeping) {
            warn!(
                "shutdown_timeout ({:?}) is over: killing everything",
                self.plan.shutdown_timeout
            );
            self.kill_everything();
        }
    }

    pub(super) fn on_sweep_over(&mut self) {
        if self.phase == Phase::Sweeping {
            warn!(
                "processes still running {:?} after SIGTERM: sending SIGKILL",
                self.settings.grace
            );
            self.kill_everything();
        }
    }

    /// The second stop request, or the shutdown deadline: SIGKILL to every
    /// program's group and (as PID 1) every process.
    fn kill_everything(&mut self) {
        for i in (0..self.members.len()).map(InstanceId) {
            self.deliver(i, Event::Kill);
        }
        reaper::signal_everyone(libc::SIGKILL);
        self.events.cancel_timer(Key::SweepOver);
        self.events.cancel_timer(Key::ShutdownDeadline);
        self.events.set_timer_after(Key::KillOver, KILL_WAIT);
        self.phase = Phase::Killing;
    }

    /// rinit's exit code: main's or the critical program's that ended
    /// everything; else 0 when every program's end was clean, 1 otherwise.
    pub(super) fn final_code(&self) -> c_int {
        if let Some(code) = self.exit_code {
            return code;
        }
        let clean = self
            .members
            .iter()
            .map(|m| &m.instance)
            .all(Instance::ended_cleanly);
        if clean {
            0
        } else {
            1
        }
    }
}
