//! Prefixed output: each `output = "prefix"` program writes into two pipes;
//! rinit reads them without blocking and writes whole lines `NAME | text` to
//! its own stdout or stderr, stream kept. Lines longer than `LINE_MAX` are
//! split into pieces, each a line of its own. What rinit writes goes out in
//! writes of whole lines of at most PIPE_BUF bytes, so no other writer on the
//! same pipe (a program with `output = "inherit"`) lands inside a line.
//! rinit's own messages join the same queue, so they never cut a line either.
//!
//! A slow reader of rinit's output never blocks the event loop: rinit writes
//! to a non-blocking descriptor, keeps at most about `QUEUE_MAX` bytes queued
//! per destination, and while the queue is full it stops reading the
//! programs' pipes — so the programs block on their own full pipes
//! (back-pressure) and nothing is dropped.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::PollFlags;
use nix::sys::stat::Mode;

use crate::event_loop::EventLoop;

/// The longest line rinit writes as one: longer lines are split.
pub const LINE_MAX: usize = 4000;
/// How much rinit queues for one destination before it stops reading programs.
const QUEUE_MAX: usize = 64 * 1024;
/// One read from a program's pipe.
const READ_SIZE: usize = 64 * 1024;
/// Bytes per write to a pipe: a pipe write of at most this many bytes is
/// atomic, so no other writer of the pipe lands inside a line.
const PIPE_WRITE_MAX: usize = libc::PIPE_BUF;
/// Bytes per write to anything else (a file, /dev/null, a terminal).
const WRITE_MAX: usize = 64 * 1024;

/// Stdout (0) or stderr (1) of rinit and of a program.
pub type StreamKind = usize;
pub const STDOUT: StreamKind = 0;
pub const STDERR: StreamKind = 1;

/// What the event loop's keys need to name in here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watch {
    /// A program's pipe has data (index into `streams`).
    Stream(usize),
    /// rinit's stdout or stderr can take more.
    Sink(StreamKind),
}

/// One of rinit's own output descriptors and what is queued for it.
struct Sink {
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
    watching: bool,
}

/// A program's stdout or stderr pipe. Its slot is reused only once both
/// the pipe has reached its end and the program has let go of it (`drain`),
/// so an id an instance holds always names its own stream.
struct Stream {
    /// None once every writer has closed it.
    pipe: Option<OwnedFd>,
    /// The program has ended and no longer names this stream.
    released: bool,
    kind: StreamKind,
    /// "web | " or "worker.1 | ".
    prefix: Box<[u8]>,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
    watching: bool,
}

pub struct Output {
    sinks: [Sink; 2],
    streams: Vec<Option<Stream>>,
    /// Streams whose pipe has closed since the last `sync_watches`.
    closed: Vec<usize>,
    /// Streams opened since the last `sync_watches`.
    fresh: Vec<usize>,
    /// Whether rinit's stdout and stderr queues had room at the last `sync_watches`.
    room: [bool; 2],
}

impl Output {
    pub fn new() -> Output {
        Output {
            sinks: [Sink::open(1), Sink::open(2)],
            streams: Vec::new(),
            closed: Vec::new(),
            fresh: Vec::new(),
            room: [true; 2],
        }
    }

    /// Creates the two pipes of a program called `label`. Returns the
    /// streams' ids and the write ends for the child's stdout and stderr.
    pub fn open(&mut self, label: &str) -> Result<([usize; 2], [OwnedFd; 2]), Errno> {
        let flags = OFlag::O_CLOEXEC;
        let (out_read, out_write) = nix::unistd::pipe2(flags)?;
        let (err_read, err_write) = nix::unistd::pipe2(flags)?;
        let mut ids = [0; 2];
        for (kind, read_end) in [out_read, err_read].into_iter().enumerate() {
            nix::fcntl::fcntl(&read_end, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let stream = Stream {
                pipe: Some(read_end),
                released: false,
                kind,
                prefix: format!("{label} | ").into_bytes().into_boxed_slice(),
                partial: Vec::new(),
                watching: false,
            };
            ids[kind] = match self.streams.iter().position(Option::is_none) {
                Some(free) => {
                    self.streams[free] = Some(stream);
                    free
                }
                None => {
                    self.streams.push(Some(stream));
                    self.streams.len() - 1
                }
            };
            self.fresh.push(ids[kind]);
        }
        Ok((ids, [out_write, err_write]))
    }

    /// A program's pipe is readable (or closed): read what the queue has
    /// room for.
    pub fn on_stream_ready(&mut self, id: usize) {
        let Some(Some(stream)) = self.streams.get(id) else {
            return;
        };
        let kind = stream.kind;
        if self.sinks[kind].queue.len() < QUEUE_MAX {
            self.read(id, false);
        }
        self.flush(kind);
    }

    /// The program behind these streams has exited: take everything it
    /// wrote, queue or no queue (at most a pipe's capacity), and end its last
    /// line. The pipe stays open, and watched, while a descendant holds it.
    pub fn drain(&mut self, id: usize) {
        self.read(id, true);
        let Some(slot) = self.streams.get_mut(id) else {
            return;
        };
        if let Some(stream) = slot {
            let kind = stream.kind;
            if !stream.partial.is_empty() {
                queue_line(&mut self.sinks[kind].queue, &stream.prefix, &stream.partial);
                stream.partial.clear();
            }
            stream.released = true;
            if stream.pipe.is_none() {
                *slot = None;
            }
            self.flush(kind);
        }
    }

    /// rinit's own message: joins stderr's queue, whatever its length.
    pub fn message(&mut self, line: &[u8]) {
        self.sinks[STDERR].queue.extend_from_slice(line);
        self.flush(STDERR);
    }

    pub fn on_sink_ready(&mut self, kind: StreamKind) {
        self.flush(kind);
    }

    /// Before rinit exits: write what is queued, waiting for the reader as
    /// long as it takes at most `patience`.
    pub fn finish(&mut self, patience: std::time::Duration) {
        let deadline = std::time::Instant::now() + patience;
        for kind in [STDOUT, STDERR] {
            loop {
                self.flush(kind);
                let sink = &self.sinks[kind];
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if sink.sent >= sink.queue.len() || left.is_zero() {
                    break;
                }
                let revents = poll_writable(sink.fd, left.as_millis().min(1000) as libc::c_int);
                if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                    break;
                }
            }
        }
    }

    /// Reads one stream: while its destination has room, or (`all`, when
    /// the program has ended) until the pipe is empty. Whole lines go to the
    /// queue; the rest waits in `partial`.
    fn read(&mut self, id: usize, all: bool) {
        let Some(slot) = self.streams.get_mut(id) else {
            return;
        };
        let Some(stream) = slot else { return };
        let Some(fd) = stream.pipe.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let sink = &mut self.sinks[stream.kind];
        let mut buf = [0u8; READ_SIZE];
        // Draining takes what the pipe held when the program ended (its
        // capacity), not what a descendant still writing adds meanwhile.
        let mut budget = if all { pipe_capacity(fd) } else { 0 };
        loop {
            // SAFETY: read(2) into a live buffer of its length, from a pipe
            // `stream` owns (it is closed only below, after the last read).
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            match Errno::result(n).map(|n| n as usize) {
                Ok(0) => {
                    // Every writer has gone: end the last line.
                    if !stream.partial.is_empty() {
                        queue_line(&mut sink.queue, &stream.prefix, &stream.partial);
                        stream.partial.clear();
                    }
                    stream.pipe = None;
                    self.closed.push(id);
                    if stream.released {
                        *slot = None;
                    }
                    return;
                }
                Ok(n) => {
                    stream.take(&buf[..n], &mut sink.queue);
                    budget = budget.saturating_sub(n);
                    let done = if all {
                        budget == 0
                    } else {
                        n < READ_SIZE || sink.queue.len() >= QUEUE_MAX
                    };
                    if done {
                        return;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return, // EAGAIN: nothing more for now
            }
        }
    }

    fn flush(&mut self, kind: StreamKind) {
        self.sinks[kind].flush();
    }

    /// Watches what can make progress: a sink with data queued (POLLOUT), and
    /// the open pipes whose destination has room (POLLIN). Only changes reach
    /// the loop.
    pub fn sync_watches<K: Ord + Copy>(&mut self, events: &mut EventLoop<K>, key: impl Fn(Watch) -> K) {
        for id in self.closed.drain(..) {
            events.unwatch(key(Watch::Stream(id)));
            if let Some(Some(stream)) = self.streams.get_mut(id) {
                stream.watching = false;
            }
        }
        let room = [STDOUT, STDERR].map(|kind| self.sinks[kind].queue.len() < QUEUE_MAX);
        let flipped = [
            room[STDOUT] != self.room[STDOUT],
            room[STDERR] != self.room[STDERR],
        ];
        self.room = room;
        for (kind, sink) in self.sinks.iter_mut().enumerate() {
            let want = sink.sent < sink.queue.len();
            if want != sink.watching {
                sink.watching = want;
                if want {
                    events.watch(sink.fd, PollFlags::POLLOUT, key(Watch::Sink(kind)));
                } else {
                    events.unwatch(key(Watch::Sink(kind)));
                }
            }
        }
        // Every stream when a destination's room changed; otherwise only
        // the new ones (thousands of pipes, one event at a time).
        let ids: Vec<usize> = if flipped.contains(&true) {
            self.fresh.clear();
            (0..self.streams.len()).collect()
        } else {
            std::mem::take(&mut self.fresh)
        };
        for id in ids {
            let Some(Some(stream)) = self.streams.get_mut(id) else {
                continue;
            };
            let Some(pipe) = &stream.pipe else { continue };
            let want = room[stream.kind];
            if want != stream.watching {
                stream.watching = want;
                if want {
                    events.watch(pipe.as_raw_fd(), PollFlags::POLLIN, key(Watch::Stream(id)));
                } else {
                    events.unwatch(key(Watch::Stream(id)));
                }
            }
        }
    }
}

impl Stream {
    /// Splits freshly read bytes into lines, queueing each whole one.
    fn take(&mut self, mut bytes: &[u8], queue: &mut Vec<u8>) {
        while let Some(newline) = find_newline(bytes) {
            let (line, rest) = bytes.split_at(newline);
            if self.partial.is_empty() {
                queue_line(queue, &self.prefix, line);
            } else {
                self.partial.extend_from_slice(line);
                queue_line(queue, &self.prefix, &self.partial);
                self.partial.clear();
                self.partial.shrink_to(LINE_MAX);
            }
            bytes = &rest[1..];
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() >= LINE_MAX {
            let whole = self.partial.len() / LINE_MAX * LINE_MAX;
            queue_line(queue, &self.prefix, &self.partial[..whole]);
            self.partial.drain(..whole);
            // Keep no more than a line's worth between reads.
            self.partial.shrink_to(LINE_MAX);
        }
    }
}

/// Appends `prefix` + `line` + "\n", in pieces of at most LINE_MAX bytes.
fn queue_line(queue: &mut Vec<u8>, prefix: &[u8], line: &[u8]) {
    let line = match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    };
    if line.is_empty() {
        queue.extend_from_slice(prefix.trim_ascii_end());
        queue.push(b'\n');
        return;
    }
    if line.len() <= LINE_MAX {
        // The common case, with one reservation and three copies.
        queue.reserve(prefix.len() + line.len() + 1);
        queue.extend_from_slice(prefix);
        queue.extend_from_slice(line);
        queue.push(b'\n');
        return;
    }
    for piece in line.chunks(LINE_MAX) {
        queue.extend_from_slice(prefix);
        queue.extend_from_slice(piece);
        queue.push(b'\n');
    }
}

impl Sink {
    /// Writes to a pipe or FIFO go through a non-blocking descriptor of our
    /// own (opened through /proc, so the flag does not change the descriptor
    /// the programs share); to a socket with MSG_DONTWAIT. A terminal or a
    /// file does not block on a slow reader.
    fn open(fd: RawFd) -> Sink {
        let mut sink = Sink {
            fd,
            _reopened: None,
            socket: false,
            write_max: PIPE_WRITE_MAX,
            poll_first: false,
            queue: Vec::new(),
            sent: 0,
            watching: false,
        };
        // SAFETY: a zeroed stat is valid storage for fstat's answer.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes into `stat`.
        if unsafe { libc::fstat(fd, &mut stat) } != 0 {
            return sink;
        }
        match stat.st_mode & libc::S_IFMT {
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

    /// Writes queued whole lines, at most PIPE_BUF bytes per write, until
    /// the queue is empty or the reader is full.
    fn flush(&mut self) {
        while self.sent < self.queue.len() {
            let rest = &self.queue[self.sent..];
            let mut end = rest.len().min(self.write_max);
            if end < rest.len() {
                // End the write at a line's end when one fits.
                if let Some(newline) = find_last_newline(&rest[..end]) {
                    end = newline + 1;
                }
            }
            if self.poll_first && !has_room(self.fd) {
                break;
            }
            // SAFETY: write/send read `end` bytes from the live slice `rest`.
            let n = unsafe {
                if self.socket {
                    libc::send(
                        self.fd,
                        rest.as_ptr().cast(),
                        end,
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                } else {
                    libc::write(self.fd, rest.as_ptr().cast(), end)
                }
            };
            if n > 0 {
                self.sent += n as usize;
            } else if n < 0 && Errno::last() == Errno::EINTR {
                continue;
            } else if n < 0 && Errno::last() == Errno::EAGAIN {
                break;
            } else {
                // The reader is gone (EPIPE) or the descriptor is broken:
                // nothing can be written any more; drop the queue.
                self.sent = self.queue.len();
            }
        }
        if self.sent >= self.queue.len() {
            self.queue.clear();
            self.sent = 0;
            if self.queue.capacity() > QUEUE_MAX * 2 {
                self.queue.shrink_to(QUEUE_MAX);
            }
        } else if self.sent >= QUEUE_MAX {
            self.queue.drain(..self.sent);
            self.sent = 0;
        }
    }
}

/// The first newline in `bytes` (glibc's vectorised memchr: the byte loop
/// costs more than everything else on the output path).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most `bytes.len()` bytes of the live slice.
    let found = unsafe { libc::memchr(bytes.as_ptr().cast(), b'\n' as libc::c_int, bytes.len()) };
    (!found.is_null()).then(|| found as usize - bytes.as_ptr() as usize)
}

/// The last newline in `bytes`.
fn find_last_newline(bytes: &[u8]) -> Option<usize> {
    // SAFETY: memrchr reads at most `bytes.len()` bytes of the live slice.
    let found = unsafe { libc::memrchr(bytes.as_ptr().cast(), b'\n' as libc::c_int, bytes.len()) };
    (!found.is_null()).then(|| found as usize - bytes.as_ptr() as usize)
}

/// How many bytes the pipe `fd` holds at most (64 KiB unless resized).
fn pipe_capacity(fd: RawFd) -> usize {
    // SAFETY: F_GETPIPE_SZ only queries a descriptor.
    let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    usize::try_from(size).unwrap_or(64 * 1024).max(READ_SIZE)
}

/// Whether a write of at most PIPE_BUF bytes to the pipe `fd` would not block.
fn has_room(fd: RawFd) -> bool {
    poll_writable(fd, 0) & libc::POLLOUT != 0
}

/// Waits up to `millis` for `fd` to take writes; its revents (0 on timeout,
/// POLLNVAL when the poll itself fails, so callers stop).
fn poll_writable(fd: RawFd, millis: libc::c_int) -> libc::c_short {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd and a timeout in milliseconds.
    match unsafe { libc::poll(&mut poll, 1, millis) } {
        n if n < 0 && Errno::last() != Errno::EINTR => libc::POLLNVAL,
        _ => poll.revents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_split_and_kept_whole() {
        let (read_end, _write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut stream = Stream {
            pipe: Some(read_end),
            released: false,
            kind: STDOUT,
            prefix: b"web | ".to_vec().into_boxed_slice(),
            partial: Vec::new(),
            watching: false,
        };
        let mut queue = Vec::new();
        stream.take(b"one\ntw", &mut queue);
        assert_eq!(queue, b"web | one\n");
        stream.take(b"o\r\n\nthree", &mut queue);
        assert_eq!(queue, b"web | one\nweb | two\nweb |\n");
        assert_eq!(stream.partial, b"three");
        queue.clear();
        stream.partial.clear();
        stream.take(&vec![b'x'; LINE_MAX * 2 + 5], &mut queue);
        assert_eq!(queue.len(), 2 * (6 + LINE_MAX + 1));
        assert_eq!(stream.partial.len(), 5);
    }
}
