//! Signals: names and numbers, which ones rinit forwards, and the process-wide
//! signal state — rinit blocks every catchable signal and reads them from a
//! signalfd; a child gets default dispositions and an empty mask back.

use nix::libc::{self, c_int};

/// Raised by the kernel for a fault of the receiving process itself. rinit
/// never blocks them (a real fault must kill it, not hang it) and never
/// forwards them.
pub const CRASH: [c_int; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSYS,
    libc::SIGTRAP,
    libc::SIGABRT,
];

const NAMES: [(c_int, &str); 31] = [
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGSTKFLT, "STKFLT"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGURG, "URG"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// The highest signal number: SIGRTMAX.
pub fn max() -> c_int {
    libc::SIGRTMAX()
}

/// "SIGTERM" for 15, "SIGRTMIN+2" for real-time signals.
pub fn name(signo: c_int) -> String {
    if let Some((_, name)) = NAMES.iter().find(|(n, _)| *n == signo) {
        return format!("SIG{name}");
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&signo) {
        return format!("SIGRTMIN+{}", signo - min);
    }
    format!("signal {signo}")
}

/// Accepts "TERM", "SIGTERM" (any case), "15", "RTMIN+2", "SIGRTMAX-1".
pub fn parse(text: &str) -> Result<c_int, String> {
    let bad = || {
        format!("unknown signal {text:?}: expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to {}", max())
    };
    if let Ok(number) = text.parse::<c_int>() {
        return if (1..=max()).contains(&number) {
            Ok(number)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((number, _)) = NAMES.iter().find(|(_, name)| *name == bare) {
        return Ok(*number);
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let realtime = if let Some(offset) = bare.strip_prefix("RTMIN") {
        offset
            .strip_prefix('+')
            .map_or(Some(0), |n| n.parse::<c_int>().ok())
            .map(|n| min + n)
    } else if let Some(offset) = bare.strip_prefix("RTMAX") {
        offset
            .strip_prefix('-')
            .map_or(Some(0), |n| n.parse::<c_int>().ok())
            .map(|n| max - n)
    } else {
        None
    };
    match realtime {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(bad()),
    }
}

/// A signal rinit passes on to what it runs: every catchable one except
/// SIGCHLD (rinit's own business), the crash signals, and SIGTTIN/SIGTTOU
/// (the terminal's reaction to rinit's own output, not a request for the child).
pub fn is_forwarded(signo: c_int) -> bool {
    signo >= 1
        && signo <= max()
        && !matches!(
            signo,
            libc::SIGKILL | libc::SIGSTOP | libc::SIGCHLD | libc::SIGTTIN | libc::SIGTTOU
        )
        && !CRASH.contains(&signo)
        && !glibc_reserved(signo)
}

/// Signals 32 and 33 belong to glibc's thread library; they cannot be handled.
fn glibc_reserved(signo: c_int) -> bool {
    signo > 31 && signo < libc::SIGRTMIN()
}

/// Takes over rinit's own signal state at start-up: every catchable signal
/// except the crash signals gets its default disposition back (rinit may have
/// been started with some ignored, and an ignored signal is discarded before a
/// signalfd sees it) and is blocked. Returns the blocked set, for the signalfd.
pub fn take_over() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for signo in 1..=max() {
        if matches!(signo, libc::SIGKILL | libc::SIGSTOP)
            || CRASH.contains(&signo)
            || glibc_reserved(signo)
        {
            continue;
        }
        // SAFETY: SIG_DFL is a valid disposition for any catchable signal and
        // installs no handler code; `set` is a valid sigset_t.
        unsafe {
            libc::signal(signo, libc::SIG_DFL);
            libc::sigaddset(&mut set, signo);
        }
    }
    // SAFETY: `set` is initialised; a null old-set pointer is allowed. rinit is
    // single-threaded, so the process mask is this thread's mask.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    set
}

/// In a freshly forked child, before exec: default disposition for every
/// signal and an empty mask. Only async-signal-safe calls.
pub fn reset_in_child(empty: &libc::sigset_t) {
    for signo in 1..=max() {
        if matches!(signo, libc::SIGKILL | libc::SIGSTOP) || glibc_reserved(signo) {
            continue;
        }
        // SAFETY: signal(2) with SIG_DFL is async-signal-safe and installs no code.
        unsafe { libc::signal(signo, libc::SIG_DFL) };
    }
    // SAFETY: `empty` is an initialised sigset_t; sigprocmask is async-signal-safe.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, empty, std::ptr::null_mut()) };
}

/// An initialised empty signal set.
pub fn empty_set() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for signo in 1..=max() {
            if glibc_reserved(signo) {
                continue;
            }
            assert_eq!(parse(&name(signo)), Ok(signo), "{}", name(signo));
        }
        assert_eq!(parse("term"), Ok(libc::SIGTERM));
        assert_eq!(parse("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse("9"), Ok(libc::SIGKILL));
        assert_eq!(parse("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
    }

    #[test]
    fn rejects_unknown_signals() {
        for bad in ["", "0", "65", "-1", "SIGFOO", "RTMIN+99", "RTMIN+x"] {
            assert!(
                parse(bad).unwrap_err().starts_with("unknown signal"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn forwards_what_tini_forwards() {
        for signo in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGWINCH,
            libc::SIGCONT,
            libc::SIGTSTP,
            libc::SIGRTMIN(),
        ] {
            assert!(is_forwarded(signo), "{}", name(signo));
        }
        for signo in [
            libc::SIGCHLD,
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGABRT,
            libc::SIGTTOU,
            32,
        ] {
            assert!(!is_forwarded(signo), "{}", name(signo));
        }
    }
}
