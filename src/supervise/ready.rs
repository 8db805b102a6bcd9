//! Telling when a started program is ready, without ever blocking the event
//! loop: the sd_notify socket of `type = "notify"` programs, and the
//! `ready = { tcp | file | command }` checks, tried on timers every
//! `CHECK_INTERVAL` until one passes or `ready_timeout` ends. What they find
//! goes to the instance's gate as `Ready`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc::{self, pid_t};

use super::instance::{Event, Run, State};
use super::probe::{Probe, Step};
use super::{InstanceId, Key, Owner, Supervisor};
use crate::config::Ready;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// How often a `ready` check is tried until it passes or `ready_timeout` ends.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long one tcp or http try of a `ready` check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

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
        })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every waiting datagram; whether one of them, sent by the
    /// program whose main process is `main_pid` (or by a member of its
    /// process group), said READY=1. With None, only empties the socket.
    /// `name` is the program's, for the message about a refused sender.
    pub fn ready_received(&self, main_pid: Option<pid_t>, name: &str) -> bool {
        let mut ready = false;
        let mut buf = [0u8; 4096];
        // Room for the credentials and, should a sender pass descriptors, a few of them.
        let mut control = [0u64; 16];
        loop {
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
                warn!(
                    "{name}: notify message from pid {pid} (uid {uid}) ignored: only {name}'s \
                     main process (pid {main_pid}) and its process group may send it"
                );
                continue;
            }
            let message = &buf[..n as usize];
            ready |= message.split(|&b| b == b'\n').any(|line| line == b"READY=1");
        }
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
    /// Instance `i` has started and is not ready yet: its ready_timeout
    /// runs, and its check (if it has one) is tried at once.
    pub(super) fn watch_readiness(&mut self, i: InstanceId) {
        let program = &self.plan.programs[self.members[i.0].program.0];
        self.events
            .set_timer_after(Key::ReadyTimeout(i), program.ready_timeout);
        if program.ready.is_some() {
            self.check(i);
        }
    }

    /// Instance `i` is ready, stopping or has ended: its readiness no longer
    /// matters. Cancels the timers, drops a tcp attempt, kills a check.
    pub(super) fn abandon_readiness(&mut self, i: InstanceId) {
        self.events.cancel_timer(Key::ReadyTimeout(i));
        self.events.cancel_timer(Key::Check(i));
        self.events.unwatch(Key::Probe(i));
        let member = &mut self.members[i.0];
        member.probing = None;
        if let Some(check) = member.checking.take() {
            let _ = check.signal_group(libc::SIGKILL);
        }
    }

    /// Time for instance `i`'s `ready` check: a try, or (a tcp or http try
    /// still under way) the end of that one, and the next in a moment.
    pub(super) fn on_check_timer(&mut self, i: InstanceId) {
        if self.members[i.0].probing.take().is_some() {
            self.events.unwatch(Key::Probe(i));
            self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL);
        } else {
            self.check(i);
        }
    }

    /// One try of instance `i`'s `ready` check.
    pub(super) fn check(&mut self, i: InstanceId) {
        if !matches!(
            self.members[i.0].instance.state,
            State::Running(Run { ready: false, .. })
        ) {
            return;
        }
        let program = &self.plan.programs[self.members[i.0].program.0];
        match &program.ready {
            Some(Ready::File(path)) if path.exists() => self.deliver(i, Event::Ready),
            Some(Ready::File(_)) => self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL),
            Some(check @ (Ready::Tcp(_) | Ready::Http(_))) => match Probe::start(check) {
                Some(Step::Wait(probe, flags)) => {
                    self.events.watch(probe.raw_fd(), flags, Key::Probe(i));
                    self.members[i.0].probing = Some(probe);
                    // This try's time: past it, the next one.
                    self.events.set_timer_after(Key::Check(i), PROBE_TIMEOUT);
                }
                Some(Step::Passed) => self.deliver(i, Event::Ready),
                Some(Step::Failed) | None => self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL),
            },
            Some(Ready::Command(words)) => self.start_check_command(i, words),
            None => {}
        }
    }

    fn start_check_command(&mut self, i: InstanceId, words: &[String]) {
        match self.spawn_check(i, words) {
            Ok(child) => {
                self.owners.insert(child.pid(), Owner::Check(i));
                self.members[i.0].checking = Some(child);
            }
            Err(err) => {
                debug!("{}: ready check: {err}", self.members[i.0].instance.name);
                self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL);
            }
        }
    }

    /// A `ready` command ended: exit 0 is ready; else it is tried again.
    pub(super) fn on_check_exit(&mut self, i: InstanceId, pid: pid_t, status: ExitStatus) {
        // A check killed when its program stopped may end after the next
        // one started: only the current one counts.
        let member = &mut self.members[i.0];
        if member.checking.as_ref().map(Child::pid) != Some(pid) {
            return;
        }
        member.checking = None;
        if !matches!(member.instance.state, State::Running(Run { ready: false, .. })) {
            return;
        }
        if status == ExitStatus::Code(0) {
            self.deliver(i, Event::Ready);
        } else {
            debug!("{}: ready check ended with {status}", member.instance.name);
            self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL);
        }
    }

    /// A `ready` tcp or http try can take its next step.
    pub(super) fn on_probe(&mut self, i: InstanceId) {
        let Some(probe) = self.members[i.0].probing.take() else {
            self.events.unwatch(Key::Probe(i));
            return;
        };
        match probe.step() {
            Step::Wait(probe, flags) => {
                self.events.watch(probe.raw_fd(), flags, Key::Probe(i));
                self.members[i.0].probing = Some(probe);
            }
            Step::Passed => {
                self.events.unwatch(Key::Probe(i));
                self.events.cancel_timer(Key::Check(i));
                self.deliver(i, Event::Ready);
            }
            Step::Failed => {
                self.events.unwatch(Key::Probe(i));
                self.events.set_timer_after(Key::Check(i), CHECK_INTERVAL);
            }
        }
    }

    /// Datagrams on instance `i`'s notify socket.
    pub(super) fn on_notify(&mut self, i: InstanceId) {
        let member = &self.members[i.0];
        let main_pid = match &member.instance.state {
            State::Running(Run {
                child, ready: false, ..
            }) => Some(child.pid()),
            _ => None,
        };
        let ready = member
            .notify
            .as_ref()
            .is_some_and(|socket| socket.ready_received(main_pid, &member.instance.name));
        if ready {
            self.deliver(i, Event::Ready);
        }
    }
}
