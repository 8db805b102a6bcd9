//! The sd_notify socket of `type = "notify"` programs: READY=1 from the
//! program's own processes goes to its gate as `Ready`. (The `ready` checks
//! are checks.rs's.)

use nix::errno::Errno;
use nix::libc::{self, pid_t};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::instance::{Event, Run, State};
use super::{InstanceId, Supervisor};
use crate::sys;

/// The most datagrams read from one notify socket per wake-up.
const NOTIFY_BATCH: usize = 64;
/// At most `WARN_BURST` warnings about refused notify senders this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
const WARN_BURST: u32 = 5;

/// A datagram socket in the abstract namespace (no file on disk, so a
/// read-only root is no obstacle), named by the kernel (autobind), which a
/// program reaches through NOTIFY_SOCKET=@NAME as with systemd. Any process in
/// the network namespace can find it in /proc/net/unix, so every message
/// carries its sender's credentials (SO_PASSCRED) and counts only when they
/// name the program's main process or a member of its process group.
pub struct NotifySocket {
    fd: OwnedFd,
    /// The value for NOTIFY_SOCKET: "@" then the abstract name.
    pub address: String,
    /// The current warning window (its start and the warnings in it), and
    /// how many refusals went unsaid: outside input never floods stderr.
    window: Option<(Instant, u32)>,
    unsaid: u64,
}

impl NotifySocket {
    pub fn new() -> Result<NotifySocket, Errno> {
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM, true)?;
        sys::pass_credentials(&fd)?;
        let name = sys::autobind(&fd)?;
        // The kernel's autobind names are five hex digits: safe in an environment value.
        Ok(NotifySocket {
            fd,
            address: format!("@{name}"),
            window: None,
            unsaid: 0,
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every waiting datagram; whether one of them, sent by the
    /// program whose main process is `main_pid` (or by a member of its
    /// process group), said READY=1. With None, only empties the socket.
    /// `name` is the program's, for the message about a refused sender.
    pub fn ready_received(&mut self, main_pid: Option<pid_t>, name: &str) -> bool {
        let mut ready = false;
        let mut buf = [0u8; 4096];
        // A bounded batch per wake-up: a flood of datagrams waits for the
        // next turn of the loop instead of starving everything else.
        for _ in 0..NOTIFY_BATCH {
            let (n, sender) = match sys::receive_with_credentials(&self.fd, &mut buf) {
                Ok(received) => received,
                Err(Errno::EINTR) => continue,
                Err(_) => return ready, // EAGAIN: drained
            };
            let Some(main_pid) = main_pid else { continue };
            let from_program = sender.is_some_and(|c| {
                c.pid > 0 && (c.pid == main_pid || sys::process_group_of(c.pid) == Ok(main_pid))
            });
            if !from_program {
                let (pid, uid) = sender.map_or((0, 0), |c| (c.pid, c.uid));
                self.refused(name, pid, uid, main_pid);
                continue;
            }
            let message = buf.get(..n).unwrap_or_default();
            ready |= message.split(|&b| b == b'\n').any(|line| line == b"READY=1");
        }
        ready
    }

    /// A message from a process that is not the program's: at most
    /// `WARN_BURST` warnings every `WARN_EVERY`, the next one with the count
    /// of those not warned about.
    fn refused(&mut self, name: &str, pid: pid_t, uid: u32, main_pid: pid_t) {
        let now = Instant::now();
        let (start, count) = match self.window {
            Some((start, count)) if now.saturating_duration_since(start) < WARN_EVERY => (start, count),
            _ => (now, 0),
        };
        if count >= WARN_BURST {
            self.unsaid = self.unsaid.saturating_add(1);
            return;
        }
        self.window = Some((start, count.saturating_add(1)));
        let unsaid = match std::mem::take(&mut self.unsaid) {
            0 => String::new(),
            n => format!(" ({n} more refused since the last warning)"),
        };
        warn!(
            "{name}: notify message from pid {pid} (uid {uid}) ignored: only {name}'s \
             main process (pid {main_pid}) and its process group may send it{unsaid}"
        );
    }
}

impl Supervisor<'_> {
    /// Datagrams on instance `i`'s notify socket.
    pub(super) fn on_notify(&mut self, i: InstanceId) {
        let instance = self.fleet.instance(i);
        let main_pid = match instance.state() {
            State::Running(Run {
                child, ready: false, ..
            }) => Some(child.pid()),
            _ => None,
        };
        let ready = self
            .io
            .get_mut(i.0)
            .and_then(|io| io.notify.as_mut())
            .is_some_and(|socket| socket.ready_received(main_pid, instance.name()));
        if ready {
            self.deliver(i, Event::Ready);
        }
    }
}
