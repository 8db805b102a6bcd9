//! Prefixed output: each `output = "prefix"` program writes into two pipes;
//! rinit reads them without blocking and writes whole lines `NAME | text` to
//! its own stdout or stderr, stream kept, through a `Sink` each (whole lines,
//! atomic writes, never blocking). Lines longer than `LINE_MAX` are split
//! into pieces, each a line of its own.
//!
//! A slow reader of rinit's output never blocks the event loop, and never
//! makes rinit grow: once `READ_PAUSE` bytes wait for a destination, rinit
//! stops reading the programs' pipes — so the programs block on their own
//! full pipes (back-pressure) and nothing is lost. What a program left in its
//! pipe when it ended is still read (up to a pipe's capacity); lines past the
//! destination's `QUEUE_LIMIT` are then dropped, and counted.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;

use crate::pid1::event_loop::EventLoop;
use crate::sink::Sink;

/// The longest line rinit writes as one: longer lines are split.
pub const LINE_MAX: usize = 4000;
/// How much may wait for one destination before rinit stops reading programs.
const READ_PAUSE: usize = 64 * 1024;
/// The most that ever waits for one destination (stdout, stderr): past it,
/// lines are dropped and counted. With `READ_PAUSE` it bounds rinit's memory
/// behind a stalled reader, whatever the programs write.
pub const QUEUE_LIMIT: usize = 256 * 1024;
/// One read from a program's pipe.
const READ_SIZE: usize = 64 * 1024;

/// Stdout or stderr, of rinit and of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    const BOTH: [Stream; 2] = [Stream::Out, Stream::Err];

    /// This stream's one of `pair`, which holds stdout's then stderr's.
    fn of<T>(self, pair: &[T; 2]) -> &T {
        let [out, err] = pair;
        match self {
            Stream::Out => out,
            Stream::Err => err,
        }
    }

    fn of_mut<T>(self, pair: &mut [T; 2]) -> &mut T {
        let [out, err] = pair;
        match self {
            Stream::Out => out,
            Stream::Err => err,
        }
    }
}

/// A program's stdout or stderr pipe: its place in `Output::pipes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId(usize);

/// A program's two pipes, as `Output::open` makes them: their ids, and the
/// write ends for the child's stdout and stderr.
pub type Pipes = ([StreamId; 2], [OwnedFd; 2]);

/// What the event loop's keys need to name in here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watch {
    /// A program's pipe has data.
    Pipe(StreamId),
    /// rinit's stdout or stderr can take more.
    Sink(Stream),
}

/// A program's stdout or stderr pipe. Its slot is reused only once both
/// the pipe has reached its end and the program has let go of it (`drain`),
/// so an id an instance holds always names its own pipe.
struct Pipe {
    /// None once every writer has closed it.
    read_end: Option<OwnedFd>,
    /// The program has ended and no longer names this pipe.
    released: bool,
    stream: Stream,
    /// "web | " or "worker.1 | ".
    prefix: Box<[u8]>,
    /// The start of a line not yet ended.
    partial: Vec<u8>,
    watching: bool,
}

pub struct Output {
    /// rinit's stdout and stderr, by `Stream::index`.
    sinks: [Sink; 2],
    /// Whether each sink is watched for POLLOUT.
    sink_watched: [bool; 2],
    pipes: Vec<Option<Pipe>>,
    /// Pipes that have closed since the last `sync_watches`.
    closed: Vec<StreamId>,
    /// Pipes opened since the last `sync_watches`.
    fresh: Vec<StreamId>,
    /// Whether rinit's stdout and stderr queues had room at the last `sync_watches`.
    room: [bool; 2],
}

impl Output {
    pub fn new() -> Output {
        Output {
            sinks: [Sink::open(1, QUEUE_LIMIT), Sink::open(2, QUEUE_LIMIT)],
            sink_watched: [false; 2],
            pipes: Vec::new(),
            closed: Vec::new(),
            fresh: Vec::new(),
            room: [true; 2],
        }
    }

    /// Creates the two pipes of a program called `label`. Returns their ids
    /// and the write ends for the child's stdout and stderr.
    pub fn open(&mut self, label: &str) -> Result<Pipes, Errno> {
        let flags = OFlag::O_CLOEXEC;
        let (out_read, out_write) = nix::unistd::pipe2(flags)?;
        let (err_read, err_write) = nix::unistd::pipe2(flags)?;
        let mut ids = [StreamId(0); 2];
        for (stream, read_end) in Stream::BOTH.into_iter().zip([out_read, err_read]) {
            nix::fcntl::fcntl(&read_end, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let pipe = Pipe {
                read_end: Some(read_end),
                released: false,
                stream,
                prefix: format!("{label} | ").into_bytes().into_boxed_slice(),
                partial: Vec::new(),
                watching: false,
            };
            let id = match self.pipes.iter_mut().enumerate().find(|(_, slot)| slot.is_none()) {
                Some((free, slot)) => {
                    *slot = Some(pipe);
                    StreamId(free)
                }
                None => {
                    self.pipes.push(Some(pipe));
                    StreamId(self.pipes.len().saturating_sub(1))
                }
            };
            *stream.of_mut(&mut ids) = id;
            self.fresh.push(id);
        }
        Ok((ids, [out_write, err_write]))
    }

    /// What the event loop reported ready: a program's pipe (read what the
    /// queue has room for) or one of rinit's own descriptors.
    pub fn on_ready(&mut self, watch: Watch) {
        let stream = match watch {
            Watch::Sink(stream) => stream,
            Watch::Pipe(id) => {
                let Some(Some(pipe)) = self.pipes.get(id.0) else {
                    return;
                };
                let stream = pipe.stream;
                if stream.of(&self.sinks).queued() < READ_PAUSE {
                    self.read(id, false);
                }
                stream
            }
        };
        stream.of_mut(&mut self.sinks).flush();
    }

    /// The program behind this pipe has exited: take everything it wrote,
    /// queue or no queue (at most a pipe's capacity), and end its last line.
    /// The pipe stays open, and watched, while a descendant holds it.
    pub fn drain(&mut self, id: StreamId) {
        self.read(id, true);
        let Some(slot) = self.pipes.get_mut(id.0) else {
            return;
        };
        if let Some(pipe) = slot {
            let sink = pipe.stream.of_mut(&mut self.sinks);
            if !pipe.partial.is_empty() {
                queue_line(sink, &pipe.prefix, &pipe.partial);
                pipe.partial.clear();
            }
            pipe.released = true;
            sink.flush();
            if pipe.read_end.is_none() {
                *slot = None;
            }
        }
    }

    /// Before rinit exits: write what is queued, waiting for the reader as
    /// long as it takes at most `patience`.
    pub fn finish(&mut self, patience: std::time::Duration) {
        let deadline = crate::pid1::event_loop::after(patience);
        for sink in &mut self.sinks {
            sink.finish(deadline);
        }
    }

    /// Reads one pipe: while its destination has room, or (`all`, when the
    /// program has ended) until the pipe is empty. Whole lines go to the
    /// queue; the rest waits in `partial`.
    fn read(&mut self, id: StreamId, all: bool) {
        let Some(slot) = self.pipes.get_mut(id.0) else {
            return;
        };
        let Some(pipe) = slot else { return };
        let Some(fd) = pipe.read_end.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let sink = pipe.stream.of_mut(&mut self.sinks);
        let mut buf = [0u8; READ_SIZE];
        // Draining takes what the pipe held when the program ended (its
        // capacity), not what a descendant still writing adds meanwhile.
        let mut budget = if all { pipe_capacity(fd) } else { 0 };
        loop {
            // `pipe` owns `fd`; it is closed only below, after the last read.
            match crate::sys::read(fd, &mut buf) {
                Ok(0) => {
                    // Every writer has gone: end the last line.
                    if !pipe.partial.is_empty() {
                        queue_line(sink, &pipe.prefix, &pipe.partial);
                        pipe.partial.clear();
                    }
                    pipe.read_end = None;
                    self.closed.push(id);
                    if pipe.released {
                        *slot = None;
                    }
                    return;
                }
                Ok(n) => {
                    pipe.take(buf.get(..n).unwrap_or_default(), sink);
                    budget = budget.saturating_sub(n);
                    let done = if all {
                        budget == 0
                    } else {
                        n < READ_SIZE || sink.queued() >= READ_PAUSE
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

    /// Watches what can make progress: a sink with data queued (POLLOUT), and
    /// the open pipes whose destination has room (POLLIN). Only changes reach
    /// the loop.
    pub fn sync_watches<K: Ord + Copy>(&mut self, events: &mut EventLoop<K>, key: impl Fn(Watch) -> K) {
        for id in self.closed.drain(..) {
            events.unwatch(key(Watch::Pipe(id)));
            if let Some(Some(pipe)) = self.pipes.get_mut(id.0) {
                pipe.watching = false;
            }
        }
        let room = Stream::BOTH.map(|stream| stream.of(&self.sinks).queued() < READ_PAUSE);
        let flipped = room != self.room;
        self.room = room;
        for stream in Stream::BOTH {
            let sink = stream.of(&self.sinks);
            let want = sink.pending();
            if want != *stream.of(&self.sink_watched) {
                *stream.of_mut(&mut self.sink_watched) = want;
                if want {
                    events.watch(sink.raw_fd(), PollFlags::POLLOUT, key(Watch::Sink(stream)));
                } else {
                    events.unwatch(key(Watch::Sink(stream)));
                }
            }
        }
        // Every pipe when a destination's room changed; otherwise only the
        // new ones (thousands of pipes, one event at a time).
        let ids: Vec<StreamId> = if flipped {
            self.fresh.clear();
            (0..self.pipes.len()).map(StreamId).collect()
        } else {
            std::mem::take(&mut self.fresh)
        };
        for id in ids {
            let Some(Some(pipe)) = self.pipes.get_mut(id.0) else {
                continue;
            };
            let Some(read_end) = &pipe.read_end else { continue };
            let want = *pipe.stream.of(&room);
            if want != pipe.watching {
                pipe.watching = want;
                if want {
                    events.watch(read_end.as_raw_fd(), PollFlags::POLLIN, key(Watch::Pipe(id)));
                } else {
                    events.unwatch(key(Watch::Pipe(id)));
                }
            }
        }
    }
}

impl Pipe {
    /// Splits freshly read bytes into lines, queueing each whole one.
    fn take(&mut self, mut bytes: &[u8], queue: &mut Sink) {
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
            bytes = rest.get(1..).unwrap_or_default();
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() >= LINE_MAX {
            let whole = self.partial.len().saturating_sub(self.partial.len() % LINE_MAX);
            queue_line(queue, &self.prefix, self.partial.get(..whole).unwrap_or_default());
            self.partial.drain(..whole);
            // Keep no more than a line's worth between reads.
            self.partial.shrink_to(LINE_MAX);
        }
    }
}

/// Queues `prefix` + `line` + "\n", in pieces of at most LINE_MAX bytes,
/// or drops it all when the sink has no room for it.
fn queue_line(sink: &mut Sink, prefix: &[u8], line: &[u8]) {
    let line = match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    };
    if line.is_empty() {
        let prefix = prefix.trim_ascii_end();
        sink.push_with(prefix.len().saturating_add(1), 1, |queue| {
            queue.extend_from_slice(prefix);
            queue.push(b'\n');
        });
        return;
    }
    let pieces = line.len().div_ceil(LINE_MAX);
    let room = pieces.saturating_mul(prefix.len().saturating_add(1));
    sink.push_with(line.len().saturating_add(room), pieces as u64, |queue| {
        for piece in line.chunks(LINE_MAX) {
            queue.extend_from_slice(prefix);
            queue.extend_from_slice(piece);
            queue.push(b'\n');
        }
    });
}

/// The first newline in `bytes` (glibc's vectorised memchr: the byte loop
/// costs more than everything else on the output path).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    crate::sys::find_first(bytes, b'\n')
}

/// How many bytes the pipe `fd` holds at most (64 KiB unless resized).
fn pipe_capacity(fd: RawFd) -> usize {
    crate::sys::pipe_capacity(fd).unwrap_or(64 * 1024).max(READ_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_split_kept_whole_and_dropped_past_the_limit() {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut stream = Pipe {
            read_end: Some(read_end),
            released: false,
            stream: Stream::Out,
            prefix: b"web | ".to_vec().into_boxed_slice(),
            partial: Vec::new(),
            watching: false,
        };
        // Never flushed: what is queued stays in the queue.
        let mut sink = Sink::open(write_end.as_raw_fd(), 3 * LINE_MAX);
        stream.take(b"one\ntw", &mut sink);
        assert_eq!(sink.queued_bytes(), b"web | one\n");
        stream.take(b"o\r\n\nthree", &mut sink);
        assert_eq!(sink.queued_bytes(), b"web | one\nweb | two\nweb |\n");
        assert_eq!(stream.partial, b"three");
        stream.partial.clear();
        stream.take(&vec![b'x'; LINE_MAX * 2 + 5], &mut sink);
        assert_eq!(sink.queued(), 26 + 2 * (6 + LINE_MAX + 1));
        assert_eq!(stream.partial.len(), 5);
        // A line that does not fit whole is dropped whole.
        stream.take(&[b"\n", &[b'y'; LINE_MAX][..], b"\n"].concat(), &mut sink);
        assert_eq!(sink.queued(), 26 + 2 * (6 + LINE_MAX + 1) + 6 + 5 + 1);
        assert!(!sink.queued_bytes().contains(&b'y'));
    }
}
