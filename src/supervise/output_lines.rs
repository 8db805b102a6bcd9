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

/// Queues `line` as JSON objects, one per piece of at most LINE_MAX bytes
/// (each but the last `"split":true`, and the last too when the line
/// `continues`), or drops it all when the sink has no room for it.
pub(super) fn queue_json(sink: &mut Sink, fields: &crate::lines::JsonFields, line: &[u8], continues: bool) {
    let line = match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    };
    let pieces = line.len().div_ceil(LINE_MAX).max(1);
    // Escaping can take up to 5 bytes a byte; 160 for the fields.
    let room = line
        .len()
        .saturating_mul(5)
        .saturating_add(pieces.saturating_mul(160));
    sink.push_with(room, pieces as u64, |queue| {
        let mut chunks = line.chunks(LINE_MAX).peekable();
        if chunks.peek().is_none() {
            crate::lines::json_line(queue, fields, b"", false);
        }
        while let Some(piece) = chunks.next() {
            crate::lines::json_line(queue, fields, piece, continues || chunks.peek().is_some());
        }
    });
}

/// Queues `prefix` + `line` + "\n", in pieces of at most LINE_MAX bytes,
/// or drops it all when the sink has no room for it.
pub(super) fn queue_line(sink: &mut Sink, prefix: &[u8], line: &[u8]) {
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
pub(super) fn find_newline(bytes: &[u8]) -> Option<usize> {
    crate::sys::find_first(bytes, b'\n')
}
