//! Signals: names and numbers, which ones rinit forwards, and the process-wide
//! signal state — rinit blocks every catchable signal and reads them from a
//! signalfd. rinit installs no handler and, after `take_over`, has no ignored
//! signal, so a child (whose handlers exec resets anyway) starts with every
//! disposition at default; it only needs its mask emptied before exec.

use nix::libc::{self, c_int};

/// Raised by the kernel for a fault of the receiving process itself; never
/// forwarded. rinit blocks them like the rest, so one sent with kill(2) is read
/// and dropped; a real fault still kills rinit (the kernel unblocks a fault's
/// signal and restores its default action).
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
        return format!("SIGRTMIN+{}", signo.saturating_sub(min));
    }
    format!("signal {signo}")
}

/// Accepts "TERM", "SIGTERM" (any case), "15", "RTMIN+2", "SIGRTMAX-1".
pub fn parse(text: &str) -> Result<c_int, String> {
    let bad = || {
        format!(
            "unknown signal {text:?}: expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to {}",
            max()
        )
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
            .and_then(|n| min.checked_add(n))
    } else if let Some(offset) = bare.strip_prefix("RTMAX") {
        offset
            .strip_prefix('-')
            .map_or(Some(0), |n| n.parse::<c_int>().ok())
            .and_then(|n| max.checked_sub(n))
    } else {
        None
    };
    match realtime {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(bad()),
    }
}

/// A signal rinit passes on to what it runs: every catchable one except
/// SIGCHLD (rinit's own business) and the crash signals. (SIGTTIN/SIGTTOU
/// are forwarded too: with them blocked, the terminal never raises them at
/// rinit's own I/O, so one that arrives was sent on purpose.)
pub fn is_forwarded(signo: c_int) -> bool {
    signo >= 1
        && signo <= max()
        && !matches!(signo, libc::SIGKILL | libc::SIGSTOP | libc::SIGCHLD)
        && !CRASH.contains(&signo)
}

/// A kernel signal mask: bit N-1 stands for signal N. rinit talks to the
/// kernel with it directly, because glibc's sigset functions refuse its two
/// reserved signals (32 and 33), which rinit must block like the others.
pub type Mask = u64;

/// Takes over rinit's own signal state at start-up: any signal rinit was
/// started with ignored gets its default disposition back (an ignored signal is
/// discarded before a signalfd sees it, and children would inherit the
/// ignore: this is where their dispositions are reset, once for all), and
/// every catchable signal is blocked, to be read from the signalfd. Returns
/// the blocked mask, for the signalfd.
pub fn take_over() -> Mask {
    let mut mask: Mask = 0;
    for signo in 1..=max() {
        if matches!(signo, libc::SIGKILL | libc::SIGSTOP) {
            continue;
        }
        if disposition(signo) == Some(libc::SIG_IGN) {
            set_default(signo);
        }
        mask |= 1u64
            .checked_shl(signo.saturating_sub(1).unsigned_abs())
            .unwrap_or(0);
    }
    set_mask(libc::SIG_BLOCK, mask);
    mask
}

/// rt_sigprocmask(2) with a kernel mask. A raw system call: async-signal-safe,
/// usable in a child before exec.
pub fn set_mask(how: c_int, mask: Mask) {
    // SAFETY: rt_sigprocmask with a pointer to an 8-byte mask, no old-mask
    // pointer, and the kernel's mask size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &mask as *const Mask,
            std::ptr::null_mut::<Mask>(),
            std::mem::size_of::<Mask>(),
        )
    };
}

/// The kernel's `struct sigaction` as rt_sigaction(2) takes it. Going to the
/// kernel directly reaches the signals glibc reserves (32, 33), which its
/// sigaction() refuses.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

fn set_default(signo: c_int) {
    let action = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction with a valid new action (SIG_DFL installs no code),
    // no old-action pointer, and the kernel's sigset size (8 bytes).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            &action,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
}

fn disposition(signo: c_int) -> Option<libc::sighandler_t> {
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction with no new action only writes the current one into `old`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            std::ptr::null::<KernelSigaction>(),
            &mut old,
            8usize,
        )
    };
    (rc == 0).then_some(old.handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for signo in 1..=max() {
            if signo > 31 && signo < libc::SIGRTMIN() {
                continue; // glibc's own two: named by number only
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
        for bad in [
            "",
            "0",
            "65",
            "-1",
            "SIGFOO",
            "RTMIN+99",
            "RTMIN+x",
            "RTMIN+2147483647",
            "RTMAX--2147483648",
        ] {
            assert!(parse(bad).unwrap_err().starts_with("unknown signal"), "{bad:?}");
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
            libc::SIGTTIN,
            libc::SIGTTOU,
            32,
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
        ] {
            assert!(!is_forwarded(signo), "{}", name(signo));
        }
    }
}
