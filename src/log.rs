//! rinit's own messages: one `rinit: ...` line each on stderr, filtered by level.
//!
//! Each line is built in memory and handed to the kernel in one write(2), so it
//! never splits inside (or is split by) a line a child writes to the same stream.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU8, Ordering};

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
        match (self as i32 + steps).clamp(0, 3) {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes `rinit: <message>\n` to stderr in one write. Errors are ignored: there
/// is nowhere left to report them.
pub fn line(args: fmt::Arguments) {
    let mut text = String::with_capacity(160);
    text.push_str("rinit: ");
    let _ = text.write_fmt(args);
    text.push('\n');
    let kept = DIVERTED.with(|diverted| match diverted.borrow_mut().as_mut() {
        Some(queue) => {
            queue.extend_from_slice(text.as_bytes());
            true
        }
        None => false,
    });
    if !kept {
        write_all(2, text.as_bytes());
    }
}

thread_local! {
    /// While supervisor mode prefixes programs' output, rinit's own messages
    /// are held here and join the same queue, so they never cut a program's
    /// line in two.
    static DIVERTED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Holds messages back from now on, for `take_diverted`.
pub fn divert() {
    DIVERTED.with(|diverted| *diverted.borrow_mut() = Some(Vec::new()));
}

/// The messages held back since the last call.
pub fn take_diverted() -> Vec<u8> {
    DIVERTED.with(|diverted| {
        diverted
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    })
}

/// Messages go straight to stderr again; returns what was still held.
pub fn stop_diverting() -> Vec<u8> {
    DIVERTED.with(|diverted| diverted.borrow_mut().take().unwrap_or_default())
}

/// Writes all of `bytes` to descriptor `fd`, retrying on EINTR and short
/// writes; gives up silently on any other error. (rinit does not use std's
/// stdout/stderr: their error paths pull glibc's locale machinery into the
/// static binary.)
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) on a plain descriptor number reads `bytes.len()`
        // bytes from a live slice.
        let n = unsafe { nix::libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        } else {
            return;
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
            $crate::log::line(format_args!($($arg)*))
        }
    };
}

macro_rules! error { ($($arg:tt)*) => { log_at!($crate::log::Level::Error, $($arg)*) }; }
macro_rules! warn { ($($arg:tt)*) => { log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { log_at!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { log_at!($crate::log::Level::Debug, $($arg)*) }; }
