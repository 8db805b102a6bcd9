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
//! full pipes (back-pressure) and nothing is lost. Each instance keeps its
//! two pipes for all its runs (rinit holds a write end to give each run), so
//! what a run left unread waits in the pipe, not in rinit, and comes out
//! before the next run's first line; each run's unfinished last line is
//! ended where that run's bytes end.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;

use crate::pid1::event_loop::EventLoop;

#[path = "output_lines.rs"]
mod lines;
#[path = "output_pipe.rs"]
mod pipe;
use crate::sink::Sink;
pub use lines::LineFormat;

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

/// What the event loop's keys need to name in here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watch {
    /// A program's pipe has data.
    Pipe(StreamId),
    /// rinit's stdout or stderr can take more.
    Sink(Stream),
}

/// An instance's stdout or stderr pipe. Its slot is reused only once the
/// instance has let go of it (`release`) and it has reached its end, so an
/// id an instance holds always names its own pipe.
struct Pipe {
    /// None once every writer has closed it.
    read_end: Option<OwnedFd>,
    /// rinit's write end, a copy of which each run gets; None once released.
    write_end: Option<OwnedFd>,
    /// Where runs that ended ended, in bytes still to take (the backlog's,
    /// then the pipe's), nearest first: the partial line is ended there.
    run_ends: Vec<usize>,
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

    /// Creates the two pipes of an instance whose lines are written as
    /// `format` says, for all its runs (`write_ends`). Returns their ids.
    pub fn open(&mut self, format: &LineFormat) -> Result<[StreamId; 2], Errno> {
        let flags = OFlag::O_CLOEXEC;
        let out = nix::unistd::pipe2(flags)?;
        let err = nix::unistd::pipe2(flags)?;
        let mut ids = [StreamId(0); 2];
        for (stream, (read_end, write_end)) in Stream::BOTH.into_iter().zip([out, err]) {
            nix::fcntl::fcntl(&read_end, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let mut pipe = Pipe {
                read_end: Some(read_end),
                write_end: Some(write_end),
                run_ends: Vec::new(),
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
        Ok(ids)
    }

    /// The write ends a run gets as its stdout and stderr.
    pub fn write_ends(&self, ids: [StreamId; 2]) -> [Option<RawFd>; 2] {
        ids.map(|id| {
            let pipe = self.pipes.get(id.0).and_then(Option::as_ref)?;
            pipe.write_end.as_ref().map(AsRawFd::as_raw_fd)
        })
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

    /// A run of the instance behind this pipe has ended: what it left is
    /// taken while its destination has room (the rest waits in the pipe, as
    /// any output does under back-pressure), and its unfinished last line is
    /// ended where its bytes end.
    pub fn run_ended(&mut self, id: StreamId) {
        let emptied = self.read(id, true);
        let Some(Some(pipe)) = self.pipes.get_mut(id.0) else {
            return;
        };
        let sink = pipe.stream.of_mut(&mut self.sinks);
        match &pipe.read_end {
            Some(fd) if !emptied => {
                let in_pipe = crate::sys::bytes_in_pipe(fd.as_raw_fd()).unwrap_or(0);
                let end = pipe.backlog.len().saturating_add(in_pipe);
                if pipe.run_ends.last() != Some(&end) {
                    pipe.run_ends.push(end);
                }
            }
            _ => pipe.end_line(sink),
        }
        sink.flush();
    }

    /// The instance behind this pipe is gone (retired by a reload, its last
    /// run over): rinit's write end closes, and the slot is freed once the
    /// pipe is read to its end.
    pub fn release(&mut self, id: StreamId) {
        if let Some(slot) = self.pipes.get_mut(id.0) {
            if let Some(pipe) = slot {
                pipe.write_end = None;
            }
            if slot.as_ref().is_some_and(|pipe| pipe.read_end.is_none()) {
                *slot = None;
            }
        }
    }

    /// Before rinit exits: write what is queued and what the pipes still
    /// hold, waiting for the reader as long as it takes at most `patience`.
    pub fn finish(&mut self, patience: std::time::Duration) {
        let deadline = crate::pid1::event_loop::after(patience);
        loop {
            let mut emptied = true;
            for id in (0..self.pipes.len()).map(StreamId) {
                emptied &= self.read(id, true);
            }
            if emptied || std::time::Instant::now() >= deadline {
                break;
            }
            // Room comes from the reader: wait for it where lines wait.
            self.sinks.iter_mut().for_each(Sink::flush);
            let waiting = self.sinks.iter_mut().find(|sink| sink.pending());
            if waiting.is_some_and(|sink| !sink.wait_for_reader(deadline)) {
                break;
            }
        }
        for sink in &mut self.sinks {
            sink.finish(deadline);
        }
    }

    /// Reads one pipe while its destination has room: with `until_empty`
    /// (a run has ended, rinit exits) until the pipe is empty, at most its
    /// capacity; otherwise as much as one turn of the loop takes. Whole lines
    /// go to the queue; the rest waits in `partial`, and what found no room
    /// in `backlog`. Returns whether the pipe was left empty (or at its end).
    /// Over 50 lines: the backlog, the reads and the pipe's end, in the
    /// order they are taken.
    fn read(&mut self, id: StreamId, until_empty: bool) -> bool {
        let Some(slot) = self.pipes.get_mut(id.0) else {
            return true;
        };
        let Some(pipe) = slot else { return true };
        let Some(fd) = pipe.read_end.as_ref().map(AsRawFd::as_raw_fd) else {
            return true;
        };
        let sink = pipe.stream.of_mut(&mut self.sinks);
        pipe.set_time();
        // What an earlier read could not queue goes first.
        if !pipe.backlog.is_empty() {
            let backlog = std::mem::take(&mut pipe.backlog);
            let taken = pipe.take_runs(&backlog, sink);
            if taken < backlog.len() {
                pipe.backlog = backlog.get(taken..).unwrap_or_default().to_vec();
                return false;
            }
        }
        if self.read_buf.len() < READ_SIZE {
            self.read_buf.resize(READ_SIZE, 0);
        }
        let buf = &mut self.read_buf;
        // Until empty: at most what the pipe holds, not what a descendant
        // still writing adds meanwhile. Otherwise the pause bounds the turn
        // (and no F_GETPIPE_SZ is spent on each read).
        let mut budget = if until_empty {
            pipe_capacity(fd)
        } else {
            usize::MAX
        };
        loop {
            // `pipe` owns `fd`; it is closed only below, after the last read.
            match crate::sys::read(fd, buf) {
                Ok(0) => {
                    // Every writer has gone (rinit's too: released).
                    pipe.end_line(sink);
                    pipe.read_end = None;
                    self.closed.push(id);
                    if pipe.write_end.is_none() {
                        *slot = None;
                    }
                    return true;
                }
                Ok(n) => {
                    let read = buf.get(..n).unwrap_or_default();
                    let taken = pipe.take_runs(read, sink);
                    if taken < n {
                        // No room: the rest waits, and so does the pipe.
                        pipe.backlog
                            .extend_from_slice(read.get(taken..).unwrap_or_default());
                        return false;
                    }
                    budget = budget.saturating_sub(n);
                    let paused = !until_empty && (n < READ_SIZE || sink.queued() >= READ_PAUSE);
                    if budget == 0 || paused {
                        return false;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return true, // EAGAIN: nothing more for now
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

/// How many bytes the pipe `fd` holds at most (64 KiB unless resized).
fn pipe_capacity(fd: RawFd) -> usize {
    crate::sys::pipe_capacity(fd).unwrap_or(64 * 1024).max(READ_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdout pipe of a program named web, its lines prefixed.
    fn web_pipe(read_end: OwnedFd, run_ends: Vec<usize>) -> Pipe {
        let mut pipe = Pipe {
            read_end: Some(read_end),
            write_end: None,
            run_ends,
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
        pipe.set_time();
        pipe
    }

    #[test]
    fn lines_are_prefixed_split_kept_whole_and_dropped_past_the_limit() {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut stream = web_pipe(read_end, Vec::new());
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

    #[test]
    fn a_runs_unfinished_last_line_ends_where_its_bytes_end() {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut stream = web_pipe(read_end, vec![7, 12]);
        let mut sink = Sink::open(write_end.as_raw_fd(), QUEUE_LIMIT);
        // Runs of 7 bytes ("a\nlast1"), 5 ("last2") and what follows, taken in pieces.
        assert_eq!(stream.take_runs(b"a\nla", &mut sink), 4);
        assert_eq!(stream.take_runs(b"st1last2ne", &mut sink), 10);
        assert_eq!(stream.take_runs(b"xt\n", &mut sink), 3);
        assert_eq!(
            sink.queued_bytes(),
            b"web | a\nweb | last1\nweb | last2\nweb | next\n"
        );
        assert!(stream.run_ends.is_empty());
    }
}
