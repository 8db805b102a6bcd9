//! How a line of output is written, for programs' output and rinit's own
//! messages alike: an RFC 3339 UTC time with milliseconds
//! (`timestamps = true`), and one JSON object per line (`output = "json"`,
//! `log_format = "json"`), with invalid UTF-8 escaped (`\xHH`), never
//! dropped. Pure byte building: callers hand the result to a `Sink`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::schedule::civil_from_days;

/// The length of `stamp`'s text: `2026-12-05T17:00:00.123Z`.
pub const STAMP_LEN: usize = 24;

/// `now` as `2026-12-05T17:00:00.123Z` (UTC, milliseconds).
pub fn stamp(now: SystemTime) -> [u8; STAMP_LEN] {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86400));
    let of_day = seconds.rem_euclid(86400);
    let text = format!(
        "{:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        year.clamp(0, 9999),
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    );
    let mut out = [b'0'; STAMP_LEN];
    for (slot, byte) in out.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    out
}

/// The fields of one JSON line, beside the line itself.
pub struct JsonFields<'a> {
    pub time: &'a [u8],
    pub program: &'a str,
    /// Its number, for a program with `instances`.
    pub instance: Option<u32>,
    /// "stdout" or "stderr" (a program's), None for rinit's own.
    pub stream: Option<&'static str>,
    /// rinit's messages: "error", "warn", "info", "debug".
    pub level: Option<&'static str>,
}

/// Appends `{"time":...,"program":...,...,"line":"..."}` and a newline;
/// `split`: the line goes on in the next object (it was too long for one).
pub fn json_line(out: &mut Vec<u8>, fields: &JsonFields, line: &[u8], split: bool) {
    json_head(out, fields);
    json_rest(out, line, split);
}

/// Appends what comes before a JSON line's text: `{"time":"...", ...
/// ,"line":"`. The same for every line of one read of a program's pipe, so
/// output.rs builds it once per read.
pub fn json_head(out: &mut Vec<u8>, fields: &JsonFields) {
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(fields.time);
    out.extend_from_slice(b"\",\"program\":\"");
    escape(out, fields.program.as_bytes());
    out.push(b'"');
    if let Some(instance) = fields.instance {
        out.extend_from_slice(format!(",\"instance\":{instance}").as_bytes());
    }
    if let Some(stream) = fields.stream {
        out.extend_from_slice(b",\"stream\":\"");
        out.extend_from_slice(stream.as_bytes());
        out.push(b'"');
    }
    if let Some(level) = fields.level {
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(level.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"line\":\"");
}

/// Appends a JSON line's text after its head, and the object's end.
#[inline(always)]
pub fn json_rest(out: &mut Vec<u8>, line: &[u8], split: bool) {
    escape(out, line);
    out.push(b'"');
    if split {
        out.extend_from_slice(b",\"split\":true");
    }
    out.extend_from_slice(b"}\n");
}

/// `bytes` as the inside of a JSON string: `"`, `\` and control characters
/// escaped; a byte that is not UTF-8 written `\xHH` (as text: a backslash,
/// `x` and two hex digits), so that no byte is lost and the object stays
/// valid JSON. Runs of plain ASCII (most of any log) are found eight bytes
/// at a time and copied whole; the rest goes byte by byte.
#[inline(always)]
pub fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    loop {
        let plain = plain_ascii_prefix(rest);
        let (run, after) = rest.split_at(plain);
        out.extend_from_slice(run);
        match after.first() {
            None => return,
            Some(&b) if b < 0x80 => {
                escape_ascii(out, b);
                rest = after.get(1..).unwrap_or_default();
            }
            // Not ASCII: UTF-8 or not, up to the next plain run.
            Some(_) => {
                let end = after.iter().position(|&b| b < 0x80).unwrap_or(after.len());
                let (text, next) = after.split_at(end);
                escape_utf8(out, text);
                rest = next;
            }
        }
    }
}

/// How many bytes `bytes` starts with that JSON takes as they are: ASCII,
/// not a control character, `"` or `\`.
#[inline(always)]
fn plain_ascii_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A byte of `word` is zero: its high bit in the result (exact for the
    // first such byte, which is all that is looked for).
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut done: usize = 0;
    while let Some(chunk) = bytes.get(done..done.saturating_add(8)) {
        // (Never the fallback: the chunk has 8 bytes; 0xff would only stop here.)
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0xff; 8]));
        // High bit set, below 0x20 (word - 0x20 borrows), '"', '\\'.
        let special = (word & HIGHS)
            | (word.wrapping_sub(ONES.wrapping_mul(0x20)) & !word & HIGHS)
            | zero_byte(word ^ ONES.wrapping_mul(u64::from(b'"')))
            | zero_byte(word ^ ONES.wrapping_mul(u64::from(b'\\')));
        if special != 0 {
            break;
        }
        done = done.saturating_add(8);
    }
    let tail = bytes.get(done..).unwrap_or_default();
    let special = |b: &u8| *b >= 0x80 || *b < 0x20 || *b == b'"' || *b == b'\\';
    done.saturating_add(tail.iter().position(special).unwrap_or(tail.len()))
}

/// One ASCII byte that is not plain, as JSON writes it.
fn escape_ascii(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b if b < 0x20 => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)]),
        b => out.push(b),
    }
}

/// Bytes of 0x80 and above: valid UTF-8 as it is, anything else `\\xHH`.
fn escape_utf8(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        for &b in chunk.invalid() {
            out.extend_from_slice(&[b'\\', b'\\', b'x', hex(b >> 4), hex(b)]);
        }
    }
}

/// The hex digit of `b`'s low four bits.
fn hex(b: u8) -> u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The escaping rules byte by byte, as simply as they can be written.
    fn escape_slowly(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' => out.extend_from_slice(b"\\\""),
                    '\\' => out.extend_from_slice(b"\\\\"),
                    '\n' => out.extend_from_slice(b"\\n"),
                    '\r' => out.extend_from_slice(b"\\r"),
                    '\t' => out.extend_from_slice(b"\\t"),
                    c if (c as u32) < 0x20 => {
                        out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                    }
                    c => out.extend_from_slice(c.to_string().as_bytes()),
                }
            }
            for b in chunk.invalid() {
                out.extend_from_slice(format!("\\\\x{b:02x}").as_bytes());
            }
        }
        out
    }

    #[test]
    fn the_fast_escape_agrees_with_the_rules_at_every_position() {
        // Every byte value at every place of the eight-byte words and the
        // tail, amid plain text and amid UTF-8.
        for len in [1usize, 7, 8, 9, 16, 17, 23] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    let mut fast = Vec::new();
                    escape(&mut fast, &text);
                    assert_eq!(fast, escape_slowly(&text), "byte {b:#x} at {at} of {len}");
                    let mut mixed = "é€".as_bytes().to_vec();
                    mixed.extend_from_slice(&text);
                    mixed.extend_from_slice("😀".as_bytes());
                    let mut fast = Vec::new();
                    escape(&mut fast, &mixed);
                    assert_eq!(
                        fast,
                        escape_slowly(&mixed),
                        "byte {b:#x} at {at} of {len}, with UTF-8"
                    );
                }
            }
        }
        // A UTF-8 character cut by a plain byte stays escaped byte by byte.
        let mut fast = Vec::new();
        escape(&mut fast, b"\xe2\x82a\xac");
        assert_eq!(fast, b"\\\\xe2\\\\x82a\\\\xac");
    }

    #[test]
    fn stamps_are_rfc3339_utc_with_milliseconds() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_490_000_123);
        assert_eq!(&stamp(at), b"2026-12-05T17:00:00.123Z");
        assert_eq!(&stamp(UNIX_EPOCH), b"1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn json_lines_escape_everything_and_keep_every_byte() {
        let mut out = Vec::new();
        let fields = JsonFields {
            time: b"2026-12-05T17:00:00.123Z",
            program: "web",
            instance: Some(1),
            stream: Some("stderr"),
            level: None,
        };
        json_line(
            &mut out,
            &fields,
            b"say \"hi\"\\ \t\x01 caf\xe9 \xff ok \xc3\xa9",
            true,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"time\":\"2026-12-05T17:00:00.123Z\",\"program\":\"web\",\"instance\":1,\"stream\":\"stderr\",\
             \"line\":\"say \\\"hi\\\"\\\\ \\t\\u0001 caf\\\\xe9 \\\\xff ok \u{e9}\",\"split\":true}\n"
        );
        let mut out = Vec::new();
        let rinit = JsonFields {
            time: b"t",
            program: "rinit",
            instance: None,
            stream: None,
            level: Some("warn"),
        };
        json_line(&mut out, &rinit, b"web ended", false);
        assert_eq!(
            out,
            b"{\"time\":\"t\",\"program\":\"rinit\",\"level\":\"warn\",\"line\":\"web ended\"}\n"
        );
    }
}
