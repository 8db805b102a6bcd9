//! Read output: each `output = "prefix"` or `"json"` program writes into two
//! pipes; rinit reads them without blocking and writes whole lines `NAME |
//! text` (after the time, with `timestamps`), or one JSON object a line
//! (lines.rs), to its own stdout or stderr, stream kept, through a `Sink`
//! each (whole lines, atomic writes, never blocking). Lines longer than
//! `LINE_MAX` are split into pieces, each a line of its own (a JSON piece
//! that goes on in the next says `"split":true`).
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

#[path = "output_lines.rs"]
mod lines;
use crate::sink::Sink;
pub use lines::LineFormat;
use lines::{find_newline, queue_json, queue_line, queue_short_lines, write_prefixed};

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
    format: LineFormat,
    /// What each line starts with: "web | " or "worker.1 | ", after the
    /// time of the latest read with timestamps; for JSON, the object up to
    /// the line's text (lines.rs, `json_head`).
    prefix: Vec<u8>,
    /// The time of the latest read, for timestamps and JSON.
    time: [u8; crate::lines::STAMP_LEN],
    /// The start of a line not yet ended.
    partial: Vec<u8>,
    /// What a read brought that the destination had no room for yet (at
    /// most one read's worth): taken before the pipe is read again.
    backlog: Vec<u8>,
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
    /// Where pipes are read into, made at the first read (not zeroed per read).
    read_buf: Vec<u8>,
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
            read_buf: Vec::new(),
        }
    }

    /// Creates the two pipes of a program whose lines are written as
    /// `format` says. Returns their ids and the write ends for the child's
    /// stdout and stderr.
    pub fn open(&mut self, format: &LineFormat) -> Result<Pipes, Errno> {
        let flags = OFlag::O_CLOEXEC;
        let (out_read, out_write) = nix::unistd::pipe2(flags)?;
        let (err_read, err_write) = nix::unistd::pipe2(flags)?;
        let mut ids = [StreamId(0); 2];
        for (stream, read_end) in Stream::BOTH.into_iter().zip([out_read, err_read]) {
            nix::fcntl::fcntl(&read_end, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let mut pipe = Pipe {
                read_end: Some(read_end),
                released: false,
                stream,
                format: format.clone(),
                prefix: Vec::new(),
                time: [b'0'; crate::lines::STAMP_LEN],
                partial: Vec::new(),
                backlog: Vec::new(),
                watching: false,
            };
            pipe.set_time();
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
            Watch::Sink(stream) => {
                stream.of_mut(&mut self.sinks).flush();
                // What waited for room goes now (the pipes may have no
                // more to make them readable).
                let waiting: Vec<StreamId> = (0..self.pipes.len())
                    .map(StreamId)
                    .filter(|id| {
                        let pipe = self.pipes.get(id.0).and_then(Option::as_ref);
                        pipe.is_some_and(|p| p.stream == stream && !p.backlog.is_empty())
                    })
                    .collect();
                for id in waiting {
                    self.read(id, false);
                }
                stream
            }
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
                let partial = std::mem::take(&mut pipe.partial);
                pipe.queue(sink, &partial);
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
    /// queue; the rest waits in `partial`, and what found no room in the
    /// queue in `backlog`. Over 50 lines: the backlog, the reads and the
    /// pipe's end, in the order they are taken.
    fn read(&mut self, id: StreamId, all: bool) {
        let Some(slot) = self.pipes.get_mut(id.0) else {
            return;
        };
        let Some(pipe) = slot else { return };
        let Some(fd) = pipe.read_end.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let sink = pipe.stream.of_mut(&mut self.sinks);
        pipe.set_time();
        // What an earlier read could not queue goes first.
        if !pipe.backlog.is_empty() {
            let backlog = std::mem::take(&mut pipe.backlog);
            let taken = pipe.take(&backlog, sink, all);
            if taken < backlog.len() {
                pipe.backlog = backlog.get(taken..).unwrap_or_default().to_vec();
                return;
            }
        }
        if self.read_buf.len() < READ_SIZE {
            self.read_buf.resize(READ_SIZE, 0);
        }
        let buf = &mut self.read_buf;
        // Draining takes what the pipe held when the program ended (its
        // capacity), not what a descendant still writing adds meanwhile.
        let mut budget = if all { pipe_capacity(fd) } else { 0 };
        loop {
            // `pipe` owns `fd`; it is closed only below, after the last read.
            match crate::sys::read(fd, buf) {
                Ok(0) => {
                    // Every writer has gone: end the last line.
                    if !pipe.partial.is_empty() {
                        let partial = std::mem::take(&mut pipe.partial);
                        pipe.queue(sink, &partial);
                    }
                    pipe.read_end = None;
                    self.closed.push(id);
                    if pipe.released {
                        *slot = None;
                    }
                    return;
                }
                Ok(n) => {
                    let read = buf.get(..n).unwrap_or_default();
                    let taken = pipe.take(read, sink, all);
                    if taken < n {
                        // No room: the rest waits, and so does the pipe.
                        pipe.backlog
                            .extend_from_slice(read.get(taken..).unwrap_or_default());
                        return;
                    }
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
    /// The time of this read, for the lines it brings: each line's start
    /// with timestamps, and the JSON lines' time.
    fn set_time(&mut self) {
        let timestamps = match &self.format {
            LineFormat::Prefix { timestamps, .. } => *timestamps,
            LineFormat::Json { .. } => true,
        };
        if timestamps {
            self.time = crate::lines::stamp(std::time::SystemTime::now());
        }
        self.prefix.clear();
        match &self.format {
            LineFormat::Prefix { label, timestamps } => {
                if *timestamps {
                    self.prefix.extend_from_slice(&self.time);
                    self.prefix.push(b' ');
                }
                self.prefix.extend_from_slice(label.as_bytes());
                self.prefix.extend_from_slice(b" | ");
            }
            LineFormat::Json { program, instance } => {
                let fields = crate::lines::JsonFields {
                    time: &self.time,
                    program,
                    instance: *instance,
                    stream: Some(match self.stream {
                        Stream::Out => "stdout",
                        Stream::Err => "stderr",
                    }),
                    level: None,
                };
                crate::lines::json_head(&mut self.prefix, &fields);
            }
        }
    }

    /// Queues one whole line, as this pipe's format writes it.
    fn queue(&self, sink: &mut Sink, line: &[u8]) {
        self.queue_piece(sink, line, false);
    }

    /// Queues `line`; `continues`: it is the start of a longer line, whose
    /// rest comes later (a JSON object then says `"split":true`).
    fn queue_piece(&self, sink: &mut Sink, line: &[u8], continues: bool) {
        match &self.format {
            LineFormat::Prefix { .. } => queue_line(sink, &self.prefix, line, continues),
            LineFormat::Json { .. } => queue_json(sink, &self.prefix, line, continues),
        }
    }

    /// Splits freshly read bytes into lines, queueing each whole one while
    /// the destination has room (with `all`, every one: past the queue's
    /// limit they are dropped and counted); the rest waits in `partial`.
    /// Returns how many bytes it took: fewer when the destination is full.
    fn take(&mut self, bytes: &[u8], queue: &mut Sink, all: bool) -> usize {
        let mut rest = bytes;
        loop {
            if self.partial.is_empty() {
                let taken = self.take_short_lines(rest, queue);
                rest = rest.get(taken..).unwrap_or_default();
            }
            let Some(newline) = find_newline(rest) else { break };
            if !all && !has_room(queue) {
                return bytes.len().saturating_sub(rest.len());
            }
            let (line, after) = rest.split_at(newline);
            if self.partial.is_empty() {
                self.queue(queue, line);
            } else {
                self.partial.extend_from_slice(line);
                let partial = std::mem::take(&mut self.partial);
                self.queue(queue, &partial);
                self.partial = partial;
                self.partial.clear();
                self.partial.shrink_to(LINE_MAX);
            }
            rest = after.get(1..).unwrap_or_default();
        }
        if self.partial.len().saturating_add(rest.len()) >= LINE_MAX && !all && !has_room(queue) {
            return bytes.len().saturating_sub(rest.len());
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() >= LINE_MAX {
            let whole = self.partial.len().saturating_sub(self.partial.len() % LINE_MAX);
            let partial = std::mem::take(&mut self.partial);
            self.queue_piece(queue, partial.get(..whole).unwrap_or_default(), true);
            self.partial = partial;
            self.partial.drain(..whole);
            // Keep no more than a line's worth between reads.
            self.partial.shrink_to(LINE_MAX);
        }
        bytes.len()
    }

    /// `take`'s fast way for short lines (output_lines.rs, `queue_short_lines`).
    fn take_short_lines(&self, bytes: &[u8], queue: &mut Sink) -> usize {
        let head = self.prefix.as_slice();
        match &self.format {
            LineFormat::Prefix { .. } => queue_short_lines(
                queue,
                bytes,
                |n| n.saturating_add(head.len()).saturating_add(1),
                |q, line| write_prefixed(q, head, line),
            ),
            // Escaping takes at most 5 bytes a byte; 32 for the object's end.
            LineFormat::Json { .. } => queue_short_lines(
                queue,
                bytes,
                |n| n.saturating_mul(5).saturating_add(head.len()).saturating_add(32),
                |q, line| {
                    q.extend_from_slice(head);
                    crate::lines::json_rest(q, line, false);
                },
            ),
        }
    }
}

/// Whether `sink` can take another line while programs run: under half its
/// limit, after writing what its reader takes now. A line adds at most a
/// few times LINE_MAX, so a running program's lines are never dropped: its
/// pipe waits instead.
fn has_room(sink: &mut Sink) -> bool {
    if sink.queued() < QUEUE_LIMIT / 2 {
        return true;
    }
    sink.flush();
    sink.queued() < QUEUE_LIMIT / 2
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
            format: LineFormat::Prefix {
                label: "web".into(),
                timestamps: false,
            },
            prefix: Vec::new(),
            time: [b'0'; crate::lines::STAMP_LEN],
            partial: Vec::new(),
            backlog: Vec::new(),
            watching: false,
        };
        stream.set_time();
        // Never flushed: what is queued stays in the queue.
        let mut sink = Sink::open(write_end.as_raw_fd(), 3 * LINE_MAX);
        stream.take(b"one\ntw", &mut sink, true);
        assert_eq!(sink.queued_bytes(), b"web | one\n");
        stream.take(b"o\r\n\nthree", &mut sink, true);
        assert_eq!(sink.queued_bytes(), b"web | one\nweb | two\nweb |\n");
        assert_eq!(stream.partial, b"three");
        stream.partial.clear();
        stream.take(&vec![b'x'; LINE_MAX * 2 + 5], &mut sink, true);
        assert_eq!(sink.queued(), 26 + 2 * (6 + LINE_MAX + 1));
        assert_eq!(stream.partial.len(), 5);
        // A line that does not fit whole is dropped whole.
        stream.take(&[b"\n", &[b'y'; LINE_MAX][..], b"\n"].concat(), &mut sink, true);
        assert_eq!(sink.queued(), 26 + 2 * (6 + LINE_MAX + 1) + 6 + 5 + 1);
        assert!(!sink.queued_bytes().contains(&b'y'));
    }
}
