//! How the bytes read from one program pipe become lines in rinit's queues:
//! the prefix (or JSON head) of each read, whole lines taken while the
//! destination has room, long lines split, unfinished ones kept, and a run's
//! last line ended where that run's bytes end. A child module of output.rs,
//! which owns the pipes and their reading.

use super::lines::{find_newline, queue_json, queue_line, queue_short_lines, write_prefixed};
use super::{LineFormat, Pipe, Stream, LINE_MAX, QUEUE_LIMIT};
use crate::sink::Sink;

impl Pipe {
    /// The time of this read, for the lines it brings: each line's start
    /// with timestamps, and the JSON lines' time.
    pub(super) fn set_time(&mut self) {
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
    pub(super) fn queue(&self, sink: &mut Sink, line: &[u8]) {
        self.queue_piece(sink, line, false);
    }

    /// Queues `line`; `continues`: it is the start of a longer line, whose
    /// rest comes later (a JSON object then says `"split":true`).
    pub(super) fn queue_piece(&self, sink: &mut Sink, line: &[u8], continues: bool) {
        match &self.format {
            LineFormat::Prefix { .. } => queue_line(sink, &self.prefix, line, continues),
            LineFormat::Json { .. } => queue_json(sink, &self.prefix, line, continues),
        }
    }

    /// `take`, ending the partial line where a run's bytes end (`run_ends`).
    pub(super) fn take_runs(&mut self, bytes: &[u8], sink: &mut Sink) -> usize {
        let mut taken = 0usize;
        loop {
            let rest = bytes.get(taken..).unwrap_or_default();
            let Some(&end) = self.run_ends.first() else {
                return taken.saturating_add(self.take(rest, sink));
            };
            let this_run = rest.get(..end.min(rest.len())).unwrap_or_default();
            let n = self.take(this_run, sink);
            taken = taken.saturating_add(n);
            for end in &mut self.run_ends {
                *end = end.saturating_sub(n);
            }
            if n < this_run.len() || self.run_ends.first() != Some(&0) {
                return taken;
            }
            self.run_ends.remove(0);
            self.end_line(sink);
        }
    }

    /// Queues the unfinished line, if any, as a whole one.
    pub(super) fn end_line(&mut self, sink: &mut Sink) {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            self.queue(sink, &partial);
        }
    }

    /// Splits freshly read bytes into lines, queueing each whole one while
    /// the destination has room; the rest waits in `partial`. Returns how
    /// many bytes it took: fewer when the destination is full.
    pub(super) fn take(&mut self, bytes: &[u8], queue: &mut Sink) -> usize {
        let mut rest = bytes;
        loop {
            if self.partial.is_empty() {
                let taken = self.take_short_lines(rest, queue);
                rest = rest.get(taken..).unwrap_or_default();
            }
            let Some(newline) = find_newline(rest) else { break };
            if !has_room(queue) {
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
        if self.partial.len().saturating_add(rest.len()) >= LINE_MAX && !has_room(queue) {
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
    pub(super) fn take_short_lines(&self, bytes: &[u8], queue: &mut Sink) -> usize {
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
