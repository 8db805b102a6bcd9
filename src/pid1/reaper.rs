//! PID 1 duties: the one and only reaper (a `waitpid(-1, WNOHANG)` loop), how a
//! wait status becomes an exit code, child-subreaper set-up when rinit is not
//! PID 1, and signalling every process left — which only PID 1 may do.

use nix::errno::Errno;
use nix::libc::{self, c_int, pid_t};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(c_int),
    Signal(c_int),
}

impl ExitStatus {
    fn from_wait(status: c_int) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        }
    }

    /// The shell's convention: the exit code, or 128+N for a death by signal N.
    pub fn code(self) -> c_int {
        match self {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signo) => signo.saturating_add(128),
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(signo) => write!(f, "{}", super::signals::name(*signo)),
        }
    }
}

/// Reaps every child that has ended, appending (pid, status). SIGCHLD
/// coalesces, so one notification may stand for many exits: loop until the
/// kernel says there is nothing more to collect now.
pub fn reap_all(mut on_exit: impl FnMut(pid_t, ExitStatus)) {
    loop {
        let mut status: c_int = 0;
        // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            on_exit(pid, ExitStatus::from_wait(status));
        } else if pid < 0 && Errno::last() == Errno::EINTR {
            continue;
        } else {
            return; // 0: children remain, none ended; ECHILD: no children.
        }
    }
}

/// A pid rinit reaped without having started it: an orphan that ended (a
/// daemon's grandchild, a `sh -c 'x &'`). With `-w`, as tini's, a warning.
pub fn reaped_unknown(pid: pid_t, status: ExitStatus, warn: bool) {
    if warn {
        warn!("reaped pid {pid} ({status}), which rinit did not start");
    } else {
        debug!("reaped pid {pid} ({status})");
    }
}

/// Whether rinit still has a child, running or unreaped (it reaps nothing).
pub fn children_remain() -> bool {
    // SAFETY: a zeroed siginfo_t is valid storage for waitid's answer.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is valid storage; WNOWAIT leaves any zombie in place,
        // WNOHANG never blocks.
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return true;
        }
        if Errno::last() != Errno::EINTR {
            return false; // ECHILD
        }
    }
}

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Makes orphaned descendants re-parent to rinit rather than to the real init.
/// Needs no capability.
pub fn become_subreaper() -> Result<(), Errno> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Sends `signo` to every process rinit can signal — kill(-1), which as PID 1
/// of a PID namespace means every other process in the container. Refuses when
/// rinit is not PID 1: there, kill(-1) would reach the whole host session.
pub fn signal_everyone(signo: c_int) {
    if !is_pid1() {
        return;
    }
    // SAFETY: kill(2) takes plain integers; -1 is only used as PID 1 (checked above).
    if unsafe { libc::kill(-1, signo) } != 0 && Errno::last() != Errno::ESRCH {
        warn!(
            "could not send {} to the remaining processes: {}",
            super::signals::name(signo),
            Errno::last()
        );
    }
}

/// Asks the kernel to send `signo` to rinit when its parent dies.
pub fn set_parent_death_signal(signo: c_int) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers involved.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong) }).map(drop)
}
