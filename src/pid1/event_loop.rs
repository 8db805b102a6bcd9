//! The event loop: one thread, every signal read from a signalfd, child exits
//! collected by the reaper when SIGCHLD arrives, keyed timers, and watched file
//! descriptors — all waited for in one `ppoll` whose only timeout is the next
//! timer's deadline. With no timer set it sleeps until something happens: no
//! periodic wake-ups. rinit's own messages that a slow stderr has not taken
//! yet are written from here, as stderr makes room.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc::{self, c_int, pid_t};
use nix::poll::PollFlags;
use nix::sys::time::TimeSpec;

use super::reaper::{self, ExitStatus};
use super::signals;

/// A signal as the signalfd reported it.
#[derive(Clone, Copy, Debug)]
pub struct SignalInfo {
    pub signo: c_int,
    /// The sender's pid as seen from rinit's PID namespace (0 when the sender
    /// is outside it or the kernel).
    pub sender: pid_t,
}

impl SignalInfo {
    /// Raised by rinit's own actions (SIGPIPE on a write to a closed pipe):
    /// never a request from outside.
    pub fn is_self_inflicted(&self) -> bool {
        self.sender as u32 == std::process::id()
    }
}

#[derive(Debug)]
pub enum Event<K> {
    Signal(SignalInfo),
    Exited(pid_t, ExitStatus),
    Timer(K),
    /// A watched descriptor is ready (or has an error or hang-up).
    Ready(K),
}

pub struct EventLoop<K: Ord + Copy> {
    signals: OwnedFd,
    deadlines: BTreeSet<(Instant, K)>,
    deadline_of: BTreeMap<K, Instant>,
    /// Keyed, so that watching and unwatching one of thousands is cheap.
    watched: BTreeMap<K, (RawFd, PollFlags)>,
    /// The key of each `pollfds` entry after the signalfd's.
    polled_keys: Vec<K>,
    /// SIGCHLD was read: reap before waiting again. Reaping is deferred until
    /// the caller has handled the signals read with it, so a signal that
    /// arrived just before the child's exit is forwarded to the unreaped
    /// child, never to a reaped PID.
    reap_due: bool,
    pollfds: Vec<libc::pollfd>,
}

/// The instant `delay` from now; past what an Instant can hold, about 136
/// years from now (rinit's durations stop at 366 days, so only a
/// command-line `-t` can get there), or now itself as the last resort.
pub fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

impl<K: Ord + Copy> EventLoop<K> {
    /// `blocked` is the kernel signal mask rinit has blocked
    /// (signals::take_over); the signalfd receives exactly those.
    pub fn new(blocked: signals::Mask) -> Result<EventLoop<K>, Errno> {
        // SAFETY: signalfd4 with -1 (a new descriptor), a pointer to an 8-byte
        // kernel signal mask and its size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_signalfd4,
                -1,
                &blocked as *const signals::Mask,
                std::mem::size_of::<signals::Mask>(),
                libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
            )
        };
        let fd = Errno::result(fd)? as RawFd;
        // SAFETY: signalfd just returned this descriptor and nothing else owns it.
        let signals = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventLoop {
            signals,
            deadlines: BTreeSet::new(),
            deadline_of: BTreeMap::new(),
            watched: BTreeMap::new(),
            polled_keys: Vec::new(),
            reap_due: false,
            pollfds: Vec::new(),
        })
    }

    /// Sets (or moves) the timer `key` to fire at `deadline`.
    pub fn set_timer(&mut self, key: K, deadline: Instant) {
        self.cancel_timer(key);
        self.deadlines.insert((deadline, key));
        self.deadline_of.insert(key, deadline);
    }

    /// A delay too long to represent (`-t 300000000000y`) sets no timer: it
    /// would never fire anyway.
    pub fn set_timer_after(&mut self, key: K, delay: Duration) {
        match Instant::now().checked_add(delay) {
            Some(deadline) => self.set_timer(key, deadline),
            None => self.cancel_timer(key),
        }
    }

    pub fn cancel_timer(&mut self, key: K) {
        if let Some(deadline) = self.deadline_of.remove(&key) {
            self.deadlines.remove(&(deadline, key));
        }
    }

    /// Reports `Ready(key, ..)` whenever `fd` has one of `flags` (or an error or
    /// hang-up), replacing what `key` watched before. The caller keeps `fd`
    /// open until it calls `unwatch`. (Supervisor mode's pipes and sockets;
    /// single-command mode watches nothing but the signalfd.)
    pub fn watch(&mut self, fd: RawFd, flags: PollFlags, key: K) {
        self.watched.insert(key, (fd, flags));
    }

    pub fn unwatch(&mut self, key: K) {
        self.watched.remove(&key);
    }

    /// Blocks until at least one event is due, then appends every due event to
    /// `events`: signals (SIGCHLD turned into the exits it stands for, after
    /// the signals read with it have been returned), timers whose deadline has
    /// passed, ready descriptors.
    pub fn wait(&mut self, events: &mut Vec<Event<K>>) -> Result<(), Errno> {
        loop {
            if self.reap_due {
                self.reap_due = false;
                reaper::reap_all(|pid, status| events.push(Event::Exited(pid, status)));
                if !events.is_empty() {
                    return Ok(());
                }
            }
            let log_polled = self.poll()?;
            // The first pollfd is the signalfd's; the watched descriptors follow.
            if self.pollfds.first().is_some_and(|signalfd| signalfd.revents != 0) {
                self.read_signals(events)?;
            }
            let now = Instant::now();
            while let Some(&(deadline, key)) = self.deadlines.first() {
                if deadline > now {
                    break;
                }
                self.deadlines.pop_first();
                self.deadline_of.remove(&key);
                events.push(Event::Timer(key));
            }
            let watched = self.pollfds.get(1..).unwrap_or_default();
            for (key, polled) in self.polled_keys.iter().zip(watched) {
                if polled.revents != 0 {
                    events.push(Event::Ready(*key));
                }
            }
            if log_polled && self.pollfds.last().is_some_and(|polled| polled.revents != 0) {
                crate::log::on_writable();
            }
            if !events.is_empty() {
                return Ok(());
            }
            // Nothing else came with a SIGCHLD: reap at the top of the loop.
        }
    }

    /// One ppoll on the signalfd, the watched descriptors and (while rinit's
    /// own messages wait for a slow stderr) stderr, until the next timer's
    /// deadline. Whether stderr was polled (the last entry).
    fn poll(&mut self) -> Result<bool, Errno> {
        let timeout = self
            .deadlines
            .first()
            .map(|(deadline, _)| TimeSpec::from_duration(deadline.saturating_duration_since(Instant::now())));
        // One pollfd array, rebuilt in place: no allocation per wake-up.
        let entry = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        self.pollfds.clear();
        self.pollfds.push(entry(self.signals.as_raw_fd(), libc::POLLIN));
        self.polled_keys.clear();
        for (key, (fd, flags)) in &self.watched {
            self.polled_keys.push(*key);
            self.pollfds.push(entry(*fd, flags.bits()));
        }
        let log_fd = crate::log::waiting_fd();
        if let Some(fd) = log_fd {
            self.pollfds.push(entry(fd, libc::POLLOUT));
        }
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t.as_ref() as *const libc::timespec);
        // SAFETY: `pollfds` is a live array of `len` pollfd entries whose
        // descriptors stay open (the caller keeps watched ones open); the
        // timeout is null or points to a live timespec; no signal mask.
        let rc = unsafe {
            libc::ppoll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if rc < 0 && Errno::last() != Errno::EINTR {
            return Err(Errno::last());
        }
        Ok(log_fd.is_some())
    }

    /// Drains the signalfd: up to `BATCH` signals per read, reading again only
    /// when a read came back full.
    fn read_signals(&mut self, events: &mut Vec<Event<K>>) -> Result<(), Errno> {
        const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        const BATCH: usize = 16;
        loop {
            // SAFETY: signalfd_siginfo is plain old data; all-zero is valid.
            let mut infos: [libc::signalfd_siginfo; BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: reads at most BATCH * SIZE bytes into `infos`, which is that long.
            let n = unsafe { libc::read(self.signals.as_raw_fd(), infos.as_mut_ptr().cast(), BATCH * SIZE) };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    Errno::EAGAIN => return Ok(()),
                    e => return Err(e),
                }
            }
            let count = n as usize / SIZE;
            for info in infos.iter().take(count) {
                let signo = info.ssi_signo as c_int;
                if signo == libc::SIGCHLD {
                    self.reap_due = true;
                } else {
                    events.push(Event::Signal(SignalInfo {
                        signo,
                        sender: info.ssi_pid as pid_t,
                    }));
                }
            }
            if count < BATCH {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_loop() -> EventLoop<u32> {
        EventLoop::new(0).unwrap()
    }

    #[test]
    fn timers_fire_in_deadline_order_and_can_be_cancelled_or_moved() {
        let mut events = empty_loop();
        let start = Instant::now();
        events.set_timer_after(1, Duration::from_millis(40));
        events.set_timer_after(2, Duration::from_millis(10));
        events.set_timer_after(3, Duration::from_millis(20));
        events.cancel_timer(3);
        events.set_timer_after(4, Duration::from_millis(5));
        events.set_timer_after(4, Duration::from_millis(30)); // moved, fires once
        let mut fired = Vec::new();
        while fired.len() < 3 {
            let mut batch = Vec::new();
            events.wait(&mut batch).unwrap();
            for event in batch {
                match event {
                    Event::Timer(key) => fired.push((key, start.elapsed())),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(fired.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [2, 4, 1]);
        assert!(fired[2].1 >= Duration::from_millis(40), "fired early: {fired:?}");
    }

    #[test]
    fn watched_descriptors_report_readiness() {
        let mut events = empty_loop();
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        events.watch(read_end.as_raw_fd(), PollFlags::POLLIN, 7);
        nix::unistd::write(&write_end, b"x").unwrap();
        let mut batch = Vec::new();
        events.wait(&mut batch).unwrap();
        assert!(matches!(batch[..], [Event::Ready(7)]));
        events.unwatch(7);
        events.set_timer_after(8, Duration::from_millis(1));
        batch.clear();
        events.wait(&mut batch).unwrap();
        assert!(
            matches!(batch[..], [Event::Timer(8)]),
            "unwatched fd still reported: {batch:?}"
        );
    }
}
