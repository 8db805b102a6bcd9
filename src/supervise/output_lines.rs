//! How the lines read from programs go into rinit's queues: `NAME | line`
//! (after the time, with timestamps) or JSON objects, split at LINE_MAX, and
//! whether a queue has room for more while programs run. A child module of
//! output.rs.

use crate::sink::Sink;

use super::LINE_MAX;

/// How a program's lines are written.
#[derive(Clone, Debug)]
pub enum LineFormat {
    /// `NAME | line`, after the time with `timestamps`.
    Prefix { label: String, timestamps: bool },
    /// One JSON object a line.
    Json { program: String, instance: Option<u32> },
}

/// Queues the whole lines `bytes` starts with, each as `write` writes it
/// (given the line without its newline and a `\r` before it; `most`: the
/// most bytes that can make of a line of N), while the queue has room
/// (under half its limit, as `has_room` says, and the line fits within the
/// limit) and the lines are at most LINE_MAX long. Returns how many bytes it
/// took; the rest (a longer line, an unfinished one, what found no room) is
/// left to `Pipe::take`'s line-by-line way. The fast path for the lines of
/// most programs: one reservation and no per-line calls into the queue.
pub(super) fn queue_short_lines(
    sink: &mut Sink,
    bytes: &[u8],
    most: impl Fn(usize) -> usize,
    mut write: impl FnMut(&mut Vec<u8>, &[u8]),
) -> usize {
    let mut taken = 0usize;
    sink.fill_while_room(super::QUEUE_LIMIT / 2, |queue, bound, end| {
        queue.reserve(
            bytes
                .len()
                .saturating_add(bytes.len() / 2)
                .min(bound.saturating_sub(queue.len())),
        );
        while queue.len() < bound {
            let rest = bytes.get(taken..).unwrap_or_default();
            let Some(newline) = find_newline(rest) else { break };
            if newline > LINE_MAX || queue.len().saturating_add(most(newline)) > end {
                break;
            }
            let line = rest.get(..newline).unwrap_or_default();
            let line = match line.split_last() {
                Some((b'\r', before)) => before,
                _ => line,
            };
            write(queue, line);
            taken = taken.saturating_add(newline).saturating_add(1);
        }
    });
    taken
}

/// `prefix` + `line` + "\n" (an empty line: the prefix without its space).
#[inline(always)]
pub(super) fn write_prefixed(queue: &mut Vec<u8>, prefix: &[u8], line: &[u8]) {
    if line.is_empty() {
        queue.extend_from_slice(prefix.trim_ascii_end());
    } else {
        queue.extend_from_slice(prefix);
        queue.extend_from_slice(line);
    }
    queue.push(b'\n');
}

/// Queues `line` as JSON objects after `head` (lines.rs, `json_head`), one
/// per piece of at most LINE_MAX bytes (each but the last `"split":true`,
/// and the last too when the line `continues`), or drops it all when the
/// sink has no room for it.
pub(super) fn queue_json(sink: &mut Sink, head: &[u8], line: &[u8], continues: bool) {
    let line = match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    };
    if line.len() <= LINE_MAX {
        // The common case, without the iterators below.
        let room = line
            .len()
            .saturating_mul(5)
            .saturating_add(head.len())
            .saturating_add(32);
        sink.push_with(room, 1, |queue| {
            queue.extend_from_slice(head);
            crate::lines::json_rest(queue, line, continues);
        });
        return;
    }
    let pieces = line.len().div_ceil(LINE_MAX);
    // Escaping can take up to 5 bytes a byte; 32 for the end of each object.
    let room = line
        .len()
        .saturating_mul(5)
        .saturating_add(pieces.saturating_mul(head.len().saturating_add(32)));
    sink.push_with(room, pieces as u64, |queue| {
        let mut chunks = line.chunks(LINE_MAX).peekable();
        while let Some(piece) = chunks.next() {
            queue.extend_from_slice(head);
            crate::lines::json_rest(queue, piece, continues || chunks.peek().is_some());
        }
    });
}

/// Queues `prefix` + `line` + "\n", in pieces of at most LINE_MAX bytes,
/// or drops it all when the sink has no room for it. A piece that the
/// next line goes on with has `+` in place of the prefix's `|` (`web +
/// ...`), as a JSON piece says `"split":true`: every piece but the last,
/// and the last too when the line `continues` (the start of a longer line
/// whose rest comes later).
pub(super) fn queue_line(sink: &mut Sink, prefix: &[u8], line: &[u8], continues: bool) {
    let line = match line.split_last() {
        Some((b'\r', rest)) if !continues => rest,
        _ => line,
    };
    if line.len() <= LINE_MAX && !continues {
        // The common case, without the pieces below.
        let room = line.len().saturating_add(prefix.len()).saturating_add(1);
        sink.push_with(room, 1, |queue| write_prefixed(queue, prefix, line));
        return;
    }
    let name = prefix.strip_suffix(b"| ").unwrap_or(prefix);
    let pieces = line.len().div_ceil(LINE_MAX).max(1);
    let room = pieces.saturating_mul(prefix.len().saturating_add(1));
    sink.push_with(line.len().saturating_add(room), pieces as u64, |queue| {
        let mut chunks = line.chunks(LINE_MAX).peekable();
        while let Some(piece) = chunks.next() {
            if continues || chunks.peek().is_some() {
                queue.extend_from_slice(name);
                queue.extend_from_slice(b"+ ");
                queue.extend_from_slice(piece);
                queue.push(b'\n');
            } else {
                write_prefixed(queue, prefix, piece);
            }
        }
    });
}

/// The first newline in `bytes` (glibc's vectorised memchr: the byte loop
/// costs more than everything else on the output path).
pub(super) fn find_newline(bytes: &[u8]) -> Option<usize> {
    crate::sys::find_first(bytes, b'\n')
}
