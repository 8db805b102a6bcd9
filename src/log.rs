//! rinit's own messages: one `rinit: ...` line each on stderr, filtered by level.
//!
//! Each line is built in memory and handed to the kernel in one write(2), so it
//! never splits inside (or is split by) a line a child writes to the same
//! stream; and it goes through a bounded, non-blocking queue (sink.rs), so a
//! stalled reader of stderr never stops PID 1.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use crate::sink::Sink;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    /// `steps` levels more verbose (positive) or quieter (negative), clamped.
    pub fn shifted(self, steps: i32) -> Level {
        match (self as i32).saturating_add(steps).clamp(0, 3) {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Level {
    /// As `log_format = "json"` names it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// How rinit's own messages look (`[rinit] log_format` and `timestamps`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `rinit: message`.
    #[default]
    Plain,
    /// `2026-12-05T17:00:00.123Z rinit: message`.
    Timestamped,
    /// `{"time":...,"program":"rinit","level":"info","line":"message"}`.
    Json,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

pub fn set_format(format: Format) {
    FORMAT.store(format as u8, Ordering::Relaxed);
}

fn format() -> Format {
    match FORMAT.load(Ordering::Relaxed) {
        1 => Format::Timestamped,
        2 => Format::Json,
        _ => Format::Plain,
    }
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// The most bytes of rinit's own messages waiting for a slow reader of
/// stderr; past it, messages are dropped and counted (sink.rs).
pub const QUEUE_LIMIT: usize = 64 * 1024;

thread_local! {
    /// rinit's stderr, opened at the first message.
    static STDERR: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Queues `rinit: <message>\n` for stderr and writes what the reader takes
/// now, never waiting for it: the event loop writes the rest when stderr has
/// room (`waiting_fd`). Control characters in the message are escaped, so
/// one message is always one line.
/// (`log_format = "json"` names `level`; `timestamps` adds the time.)
pub fn line_at(level: Level, args: fmt::Arguments) {
    let mut message = String::with_capacity(160);
    let _ = message.write_fmt(args);
    let text = match format() {
        Format::Plain => format!("rinit: {}\n", escape_controls(message)).into_bytes(),
        Format::Timestamped => {
            let stamp = crate::lines::stamp(std::time::SystemTime::now());
            let mut text = stamp.to_vec();
            text.extend_from_slice(format!(" rinit: {}\n", escape_controls(message)).as_bytes());
            text
        }
        Format::Json => {
            let stamp = crate::lines::stamp(std::time::SystemTime::now());
            let fields = crate::lines::JsonFields {
                time: &stamp,
                program: "rinit",
                instance: None,
                stream: None,
                level: Some(level.name()),
            };
            let mut text = Vec::with_capacity(message.len().saturating_add(96));
            crate::lines::json_line(&mut text, &fields, message.as_bytes(), false);
            text
        }
    };
    with_stderr(|sink| {
        sink.push(&text, 1);
        sink.flush();
    });
}

fn with_stderr(act: impl FnOnce(&mut Sink)) {
    STDERR.with(|cell| {
        act(cell
            .borrow_mut()
            .get_or_insert_with(|| Sink::open(2, QUEUE_LIMIT)))
    });
}

/// While messages wait for stderr to take them: the descriptor to poll for POLLOUT.
pub fn waiting_fd() -> Option<RawFd> {
    STDERR.with(|cell| {
        cell.borrow()
            .as_ref()
            .filter(|sink| sink.pending())
            .map(Sink::raw_fd)
    })
}

/// stderr has room: write what waits.
pub fn on_writable() {
    with_stderr(Sink::flush);
}

/// Before rinit exits: write what waits, giving a slow reader until `deadline`.
pub fn finish(deadline: Instant) {
    if waiting_fd().is_some() {
        with_stderr(|sink| sink.finish(deadline));
    }
}

/// `text` with every control character (a newline, an escape sequence)
/// written as an escape, `\n` or `\x1b`: user-controlled text in a message
/// can neither end the line nor forge another.
pub fn escape_controls(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut escaped = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() && (c as u32) < 0x100 => {
                let _ = write!(escaped, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Writes all of `bytes` to descriptor `fd`, retrying on EINTR and short
/// writes; gives up silently on any other error. (rinit does not use std's
/// stdout/stderr: their error paths pull glibc's locale machinery into the
/// static binary.)
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match crate::sys::write(fd, bytes) {
            Ok(n) if n > 0 => bytes = bytes.get(n..).unwrap_or_default(),
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// An I/O error as text: "No such file or directory", without std's
/// " (os error 2)" — and without std's Display, whose strerror_r call would
/// pull glibc's locale machinery (about 300 KB) into the static binary.
pub fn io_error_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.kind().to_string(),
    }
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::line_at($level, format_args!($($arg)*))
        }
    };
}

macro_rules! error { ($($arg:tt)*) => { log_at!($crate::log::Level::Error, $($arg)*) }; }
macro_rules! warn { ($($arg:tt)*) => { log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { log_at!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { log_at!($crate::log::Level::Debug, $($arg)*) }; }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_a_message_stays_one_line() {
        assert_eq!(escape_controls("plain text".into()), "plain text");
        assert_eq!(
            escape_controls("a\nrinit: all programs OK\r\t\x1b[31m\u{85}é".into()),
            "a\\nrinit: all programs OK\\r\\t\\x1b[31m\\x85é"
        );
    }
}
