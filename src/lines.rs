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
/// valid JSON.
pub fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |b: u8| HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let plain = |b: &u8| *b >= 0x20 && *b != b'"' && *b != b'\\';
        if valid.iter().all(plain) {
            out.extend_from_slice(valid);
        } else {
            for &b in valid {
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
        }
        for &b in chunk.invalid() {
            out.extend_from_slice(&[b'\\', b'\\', b'x', hex(b >> 4), hex(b)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
