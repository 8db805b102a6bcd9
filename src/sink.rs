//! Writing to rinit's own stdout or stderr without ever blocking: whole lines
//! go into a bounded queue and out through a non-blocking descriptor, as fast
//! as the reader takes them. Past the bound, lines are dropped and counted;
//! once the reader has caught up (the queue is empty), one line says how many
//! were lost. rinit's own messages (log.rs) and prefixed program output
//! (output.rs) each write through a `Sink`.
//!
//! Writes to a pipe are at most PIPE_BUF bytes and end at a line's end, so no
//! other writer of the same pipe (a program with `output = "inherit"`, or the
//! other `Sink` on stderr) lands inside a line.
//!
//! Also `send_rest`, the same non-blocking send for sockets that answer
//! or ask once (the control socket, the HTTP server, http checks), and
//! `accept`, the non-blocking accept both servers take connections with.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::Mode;

use crate::sys;

/// Bytes per write to a pipe or socket: a pipe write of at most this many
/// bytes is atomic.
const PIPE_WRITE_MAX: usize = libc::PIPE_BUF;
/// Bytes per write to anything else (a file, /dev/null, a terminal).
const WRITE_MAX: usize = 64 * 1024;

pub struct Sink {
    fd: RawFd,
    /// Our own non-blocking copy of the descriptor, when one could be opened.
    _reopened: Option<OwnedFd>,
    /// send(MSG_DONTWAIT) rather than write: the descriptor is a socket.
    socket: bool,
    /// PIPE_WRITE_MAX for a pipe or socket, WRITE_MAX otherwise.
    write_max: usize,
    /// A pipe rinit could not reopen (not its own: a non-root rinit on a
    /// pipe root made): poll for room before each write of at most PIPE_BUF
    /// bytes, which then cannot block.
    poll_first: bool,
    queue: Vec<u8>,
    /// Bytes of `queue` already written.
    sent: usize,
    /// The most bytes waiting to be written; lines past it are dropped.
    limit: usize,
    /// Lines dropped since the last notice.
    dropped: u64,
    /// "stdout" or "stderr", for the notice.
    name: &'static str,
}

impl Sink {
    /// A sink for rinit's descriptor `fd` (1 or 2) that holds at most `limit`
    /// unwritten bytes. Writes to a pipe or terminal go through a
    /// non-blocking descriptor of our own (opened through /proc, so the flag
    /// does not change the descriptor the programs share); to a socket with
    /// MSG_DONTWAIT. A file does not block on a slow reader.
    pub fn open(fd: RawFd, limit: usize) -> Sink {
        let mut sink = Sink {
            fd,
            _reopened: None,
            socket: false,
            write_max: PIPE_WRITE_MAX,
            poll_first: false,
            queue: Vec::new(),
            sent: 0,
            limit,
            dropped: 0,
            name: match fd {
                1 => "stdout",
                2 => "stderr",
                _ => "the output",
            },
        };
        let Ok(file_type) = sys::file_type(fd) else {
            return sink;
        };
        match file_type {
            // A pipe, or a terminal (which blocks too: a full pty, Ctrl-S).
            kind @ (libc::S_IFIFO | libc::S_IFCHR) => {
                if kind == libc::S_IFCHR {
                    sink.write_max = WRITE_MAX;
                }
                let path = format!("/proc/self/fd/{fd}");
                let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
                match nix::fcntl::open(path.as_str(), flags, Mode::empty()) {
                    Ok(own) => {
                        sink.fd = own.as_raw_fd();
                        sink._reopened = Some(own);
                    }
                    Err(_) => sink.poll_first = true,
                }
            }
            libc::S_IFSOCK => sink.socket = true,
            _ => sink.write_max = WRITE_MAX,
        }
        sink
    }

    /// The descriptor to poll for POLLOUT while `pending`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queue.len().saturating_sub(self.sent)
    }

    /// What waits to be written.
    #[cfg(test)]
    pub fn queued_bytes(&self) -> &[u8] {
        &self.queue[self.sent..]
    }

    /// Whether anything waits to be written.
    pub fn pending(&self) -> bool {
        self.sent < self.queue.len()
    }

    /// Queues `bytes`, which end with a newline, as one unit; when they do
    /// not fit within the limit, drops them and counts `lines` lost.
    pub fn push(&mut self, bytes: &[u8], lines: u64) {
        self.push_with(bytes.len(), lines, |queue| queue.extend_from_slice(bytes));
    }

    /// Appends to the queue with `fill` (which writes whole lines, at most
    /// `len` bytes, `lines` of them) when that fits; else counts them
    /// dropped. After a drop, the first lines that fit again come after a
    /// line that says how many were lost, in the place of the gap.
    pub fn push_with(&mut self, len: usize, lines: u64, fill: impl FnOnce(&mut Vec<u8>)) {
        let notice = self.dropped_notice();
        let needed = notice.len().saturating_add(len);
        if self.queued().saturating_add(needed) > self.limit {
            self.dropped = self.dropped.saturating_add(lines);
            return;
        }
        self.dropped = 0;
        self.queue.reserve(needed);
        self.queue.extend_from_slice(notice.as_bytes());
        fill(&mut self.queue);
    }

    /// "rinit: N lines dropped: ...", or "" when none were.
    fn dropped_notice(&self) -> String {
        match self.dropped {
            0 => String::new(),
            count => format!(
                "rinit: {count} line{} dropped: {} was not read fast enough\n",
                if count == 1 { "" } else { "s" },
                self.name
            ),
        }
    }

    /// Appends whole lines with `fill` for as long as fewer than `until`
    /// bytes wait: `fill` gets the queue, the length past which it must not
    /// start a line, and the length no line may end past (the limit). For
    /// many lines at once, without a check and a call per line. A notice
    /// of lines dropped before comes first, when a line follows it.
    pub fn fill_while_room(&mut self, until: usize, fill: impl FnOnce(&mut Vec<u8>, usize, usize)) {
        let before = self.queue.len();
        let dropped = self.dropped;
        if dropped > 0 {
            let notice = self.dropped_notice();
            self.dropped = 0;
            self.queue.extend_from_slice(notice.as_bytes());
        }
        let noticed = self.queue.len();
        let end = self.sent.saturating_add(self.limit);
        fill(&mut self.queue, self.sent.saturating_add(until).min(end), end);
        if self.queue.len() == noticed {
            // No line came: the notice waits for one.
            self.queue.truncate(before);
            self.dropped = dropped;
        }
    }

    /// Writes queued lines, at most `write_max` bytes per write, until the
    /// queue is empty or the reader is full. When the reader has taken
    /// everything and lines were dropped, says how many.
    pub fn flush(&mut self) {
        self.write_some();
        if !self.pending() && self.dropped > 0 {
            let notice = self.dropped_notice();
            self.dropped = 0;
            self.queue.extend_from_slice(notice.as_bytes());
            self.write_some();
        }
    }

    fn write_some(&mut self) {
        while self.sent < self.queue.len() {
            let rest = self.queue.get(self.sent..).unwrap_or_default();
            let mut end = rest.len().min(self.write_max);
            if end < rest.len() {
                // End the write at a line's end when one fits.
                if let Some(newline) = find_last_newline(rest.get(..end).unwrap_or_default()) {
                    end = newline.saturating_add(1);
                }
            }
            if self.poll_first && !has_room(self.fd) {
                break;
            }
            let chunk = rest.get(..end).unwrap_or(rest);
            let written = if self.socket {
                sys::send_now(self.fd, chunk)
            } else {
                sys::write(self.fd, chunk)
            };
            match written {
                Ok(n) if n > 0 => self.sent = self.sent.saturating_add(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                // The reader is gone (EPIPE) or the descriptor is broken:
                // nothing can be written any more; drop the queue.
                _ => self.sent = self.queue.len(),
            }
        }
        if self.sent >= self.queue.len() {
            self.queue.clear();
            self.sent = 0;
            // Memory back after a burst past the limit, but not after each
            // turn of a steady stream (a reallocation each time: the
            // allocator maps and unmaps buffers this large).
            if self.queue.capacity() > self.limit.saturating_mul(2) {
                self.queue.shrink_to(self.limit);
            }
        } else if self.sent >= self.limit / 4 {
            self.queue.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// Before rinit exits: writes what is queued, waiting for the reader
    /// until `deadline` at the latest.
    pub fn finish(&mut self, deadline: Instant) {
        loop {
            self.flush();
            if !self.pending() || !self.wait_for_reader(deadline) {
                return;
            }
        }
    }

    /// Waits until the reader makes room, or a second, at most until
    /// `deadline`; false once it has passed or the reader is gone.
    pub fn wait_for_reader(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let millis = left.min(Duration::from_secs(1)).as_millis() as libc::c_int;
        poll_writable(self.fd, millis) & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) == 0
    }
}

/// The last newline in `bytes`.
fn find_last_newline(bytes: &[u8]) -> Option<usize> {
    sys::find_last(bytes, b'\n')
}

/// Whether a write of at most PIPE_BUF bytes to the pipe `fd` would not block.
fn has_room(fd: RawFd) -> bool {
    poll_writable(fd, 0) & libc::POLLOUT != 0
}

/// Waits up to `millis` for `fd` to take writes; its revents (0 on timeout,
/// POLLNVAL when the poll itself fails, so callers stop).
fn poll_writable(fd: RawFd, millis: libc::c_int) -> libc::c_short {
    match sys::poll_one(fd, libc::POLLOUT, millis) {
        Ok(revents) => revents,
        Err(Errno::EINTR) => 0,
        Err(_) => libc::POLLNVAL,
    }
}

/// How far `send_rest` got.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    All,
    /// The socket is full: wait for POLLOUT and call again.
    WouldBlock,
    /// The peer is gone or the socket broken.
    Failed,
}

/// What `accept` found on a listener.
pub enum Accepted {
    /// A connection, non-blocking and close-on-exec.
    Connection(OwnedFd),
    /// None waits (or one could not be taken for a reason of its own).
    Nothing,
    /// rinit is out of descriptors (EMFILE, ENFILE) or kernel memory: the
    /// caller stops watching the listener for a while instead of spinning.
    Exhausted,
}

/// The most connections taken from one listener per wake-up: a flood of
/// connects waits for the next turn of the loop.
pub const ACCEPT_BATCH: usize = 64;

/// How long a listener goes unwatched after rinit ran out of descriptors.
pub const EXHAUSTED_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The next connection waiting on the non-blocking `listener`.
pub fn accept(listener: RawFd) -> Accepted {
    loop {
        match sys::accept(listener) {
            Ok(fd) => return Accepted::Connection(fd),
            Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
            Err(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => {
                return Accepted::Exhausted
            }
            Err(_) => return Accepted::Nothing,
        }
    }
}

/// Sends `bytes[*sent..]` on a socket without blocking and without SIGPIPE,
/// advancing `sent` past what the kernel took.
pub fn send_rest(fd: RawFd, bytes: &[u8], sent: &mut usize) -> Sent {
    while *sent < bytes.len() {
        let rest = bytes.get(*sent..).unwrap_or_default();
        match sys::send_now(fd, rest) {
            Ok(n) => *sent = sent.saturating_add(n),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Sent::WouldBlock,
            Err(_) => return Sent::Failed,
        }
    }
    Sent::All
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink on the write end of a pipe nobody reads yet.
    fn stalled(limit: usize) -> (Sink, OwnedFd, OwnedFd) {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let sink = Sink::open(write_end.as_raw_fd(), limit);
        (sink, read_end, write_end)
    }

    fn read_all(fd: &OwnedFd) -> Vec<u8> {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = nix::unistd::read(fd, &mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    }

    #[test]
    fn a_stalled_reader_never_blocks_and_the_queue_stays_bounded() {
        let (mut sink, read_end, _write_end) = stalled(4096);
        let line = [b'x'; 99].iter().copied().chain([b'\n']).collect::<Vec<u8>>();
        let started = Instant::now();
        // 100,000 lines (10 MB) into a 64 KiB pipe and a 4 KiB queue.
        for _ in 0..100_000 {
            sink.push(&line, 1);
            sink.flush();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "writing blocked");
        assert!(sink.queued() <= 4096, "queue grew to {}", sink.queued());
        assert!(
            sink.queue.capacity() <= 4 * 4096,
            "capacity {}",
            sink.queue.capacity()
        );
        // The reader comes back: what fitted arrives in whole lines, then the count.
        let mut got = read_all(&read_end);
        sink.flush();
        got.extend(read_all(&read_end));
        sink.flush();
        got.extend(read_all(&read_end));
        let text = String::from_utf8(got).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let kept = lines.iter().filter(|l| l.len() == 99).count();
        let notice = lines.last().unwrap();
        assert_eq!(
            *notice,
            format!(
                "rinit: {} lines dropped: the output was not read fast enough",
                100_000 - kept
            ),
            "{:?}",
            &lines[lines.len().saturating_sub(3)..]
        );
        assert_eq!(kept + 1, lines.len(), "only whole lines and the notice");
    }
}
