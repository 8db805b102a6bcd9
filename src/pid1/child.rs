//! `Child`: a process rinit started and has not reaped yet, and the only
//! handle through which rinit signals one. Signals go through a pidfd where
//! the kernel has them; dropping the handle is how the state machines record
//! the reap, so a reaped (and possibly reused) pid is never signalled. Also
//! the process-group signals for what a program leaves behind.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc::{self, c_int, pid_t};

use super::spawn::Failure;

/// A child rinit started and has not reaped yet. Dropping it is how the
/// state machines record the reap: there is no way to signal a dropped Child,
/// so a reaped (and possibly reused) PID is never signalled.
#[derive(Debug)]
pub struct Child {
    pid: pid_t,
    /// Signals go through the pidfd where the kernel has them (5.3+).
    pidfd: Option<OwnedFd>,
    /// The read end of the exec-report pipe, until its outcome is known.
    exec_report: Option<OwnedFd>,
}

impl Child {
    pub(super) fn adopt(pid: pid_t, exec_report: OwnedFd) -> Child {
        // SAFETY: pidfd_open takes a pid and flags; the pid is our unreaped
        // child, so it cannot have been reused.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: on success the kernel returned a new descriptor nobody else owns
        // (pidfds are always close-on-exec).
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        Child {
            pid,
            pidfd,
            exec_report: Some(exec_report),
        }
    }

    /// What went wrong before the command could run, once the child has
    /// reported it. Never blocks: call it when the child has ended to know.
    pub fn exec_failure(&mut self) -> Option<(Failure, Errno)> {
        let pipe = self.exec_report.as_ref()?;
        let mut buf = [0u8; 8];
        match nix::unistd::read(pipe, &mut buf) {
            Err(Errno::EAGAIN) => None, // still running, not yet exec'd
            Ok(8) => {
                self.exec_report = None;
                let [k0, k1, k2, k3, e0, e1, e2, e3] = buf;
                let failure = Failure::from_raw(i32::from_ne_bytes([k0, k1, k2, k3]));
                Some((failure, Errno::from_raw(i32::from_ne_bytes([e0, e1, e2, e3]))))
            }
            _ => {
                self.exec_report = None; // EOF: the exec happened
                None
            }
        }
    }

    pub fn pid(&self) -> pid_t {
        self.pid
    }

    pub fn signal(&self, signo: c_int) -> Result<(), Errno> {
        let rc = match &self.pidfd {
            // SAFETY: pidfd_send_signal with a live pidfd, a signal number, no
            // siginfo (null) and no flags.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signo,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            },
            // SAFETY: kill(2) with our unreaped child's pid.
            None => unsafe { libc::kill(self.pid, signo) as libc::c_long },
        };
        Errno::result(rc).map(drop)
    }

    /// Signals the child's whole process group (it leads its own group;
    /// unreaped, its group id cannot have been reused).
    pub fn signal_group(&self, signo: c_int) -> Result<(), Errno> {
        signal_group(self.pid, signo)
    }
}

/// Signals the process group `pgid`: a program's group, after its leader has
/// been reaped. A group id is not given to a new process while the group has
/// members; rinit forgets the group as soon as it finds it empty.
pub fn signal_group(pgid: pid_t, signo: c_int) -> Result<(), Errno> {
    // SAFETY: kill(2) with a negated process group id and a signal number.
    Errno::result(unsafe { libc::kill(pgid.wrapping_neg(), signo) }).map(drop)
}

/// Whether the process group `pgid` still has a member.
pub fn group_alive(pgid: pid_t) -> bool {
    // kill(…, 0) checks without sending; EPERM means someone is there.
    !matches!(signal_group(pgid, 0), Err(Errno::ESRCH))
}

#[cfg(test)]
impl Child {
    /// A handle for the state machines' unit tests: no process behind it,
    /// never signalled (the gate only returns actions).
    pub fn for_tests(pid: pid_t) -> Child {
        Child {
            pid,
            pidfd: None,
            exec_report: None,
        }
    }
}
