//! The sd_notify socket of `type = "notify"` programs: READY=1 from the
//! program's own processes goes to its gate as `Ready`. (The `ready` checks
//! are checks.rs's.)

use nix::errno::Errno;
use nix::libc::{self, pid_t};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::instance::{Event, Run, State};
use super::{InstanceId, Supervisor};

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
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        let fd = Errno::result(fd)?;
        // SAFETY: socket just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads one int from a live local.
        Errno::result(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
        // SAFETY: a zeroed sockaddr_un is valid; binding with only the family
        // asks the kernel for a unique abstract name (autobind).
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let family_len = std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
        // SAFETY: `address` is live and at least `family_len` bytes long.
        Errno::result(unsafe { libc::bind(fd.as_raw_fd(), (&raw const address).cast(), family_len) })?;
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: getsockname writes at most `len` bytes into `address`.
        Errno::result(unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut address).cast(), &mut len) })?;
        // sun_path[0] is NUL (abstract); the name follows, `len - family - 1` bytes.
        let name_len = (len as usize).saturating_sub(family_len as usize + 1);
        let name: String = address.sun_path[1..1 + name_len.min(address.sun_path.len() - 1)]
            .iter()
            .map(|&c| c as u8 as char)
            .collect();
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
        // Room for the credentials and, should a sender pass descriptors, a few of them.
        let mut control = [0u64; 16];
        // A bounded batch per wake-up: a flood of datagrams waits for the
        // next turn of the loop instead of starving everything else.
        for _ in 0..NOTIFY_BATCH {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: a zeroed msghdr is valid; the pointers set below are live.
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            message.msg_iov = &raw mut iov;
            message.msg_iovlen = 1;
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: recvmsg writes at most the lengths given into `buf` and `control`.
            let n = unsafe {
                libc::recvmsg(
                    self.fd.as_raw_fd(),
                    &raw mut message,
                    libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
                )
            };
            if n < 0 {
                if Errno::last() == Errno::EINTR {
                    continue;
                }
                return ready; // EAGAIN: drained
            }
            let sender = take_control(&message);
            let Some(main_pid) = main_pid else { continue };
            let from_program = sender.is_some_and(|c| {
                // SAFETY: getpgid takes a pid; an unknown one is an error.
                c.pid > 0 && (c.pid == main_pid || unsafe { libc::getpgid(c.pid) } == main_pid)
            });
            if !from_program {
                let (pid, uid) = sender.map_or((0, 0), |c| (c.pid, c.uid));
                self.refused(name, pid, uid, main_pid);
                continue;
            }
            let message = &buf[..n as usize];
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
        self.window = Some((start, count + 1));
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

/// The sender's credentials from a received message's control data; closes
/// any descriptor it passed (rinit keeps none).
fn take_control(message: &libc::msghdr) -> Option<libc::ucred> {
    let mut credentials = None;
    // SAFETY: the CMSG_* walk stays within `msg_control`/`msg_controllen`,
    // which recvmsg filled; each header's data is read with its own length.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(message);
        while !header.is_null() {
            let data = libc::CMSG_DATA(header);
            let len = (*header).cmsg_len as usize - (data as usize - header as usize);
            match ((*header).cmsg_level, (*header).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if len >= std::mem::size_of::<libc::ucred>() => {
                    credentials = Some(std::ptr::read_unaligned(data.cast::<libc::ucred>()));
                }
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..len / std::mem::size_of::<RawFd>() {
                        libc::close(std::ptr::read_unaligned(data.cast::<RawFd>().add(i)));
                    }
                }
                _ => {}
            }
            header = libc::CMSG_NXTHDR(message, header);
        }
    }
    credentials
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
        let ready = self.io[i.0]
            .notify
            .as_mut()
            .is_some_and(|socket| socket.ready_received(main_pid, instance.name()));
        if ready {
            self.deliver(i, Event::Ready);
        }
    }
}
