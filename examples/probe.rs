//! Test probe: the program the integration tests and the benchmark run under
//! rinit (and under tini / dumb-init for comparison). Each mode reports what it
//! sees from inside the container on stdout, one line per fact.
//!
//!   probe status          SigBlk/SigIgn, open fds, pgrp/tpgid, cwd, ids, ppid
//!   probe signals         prints "ready", then "got SIGNAME" per signal; exits 0 at stdin EOF
//!   probe group-signals   as `signals`, plus a grandchild in the same group ("grandchild got ...")
//!   probe exit N          exits with N
//!   probe die SIGNAL      kills itself with SIGNAL (default disposition)
//!   probe orphans N       leaves N zombie orphans to PID 1, waits until PID 1 has
//!                         reaped them, prints "reaped N in US us" and "zombies=K"
//!   probe orphan-ppid     prints the ppid an orphaned grandchild ends up with
//!   probe daemon MODE     leaves a grandchild that traps SIGTERM ("daemon got SIGTERM",
//!                         exits) or ignores it (MODE=stubborn), then exits 7
//!   probe serve NAME [SIG|never]   prints "NAME ready", then "NAME got SIGNAME" per signal;
//!                         exits 0 on SIG (default SIGTERM), never with "never"
//!   probe family NAME     a main process and a child in its process group, each printing
//!                         "NAME main|child ready" and "NAME main got SIG" / "NAME child got
//!                         SIG while main ran|after main exited"; both exit on SIGTERM, the
//!                         main one 300 ms after it (a warm shutdown)
//!   probe write-root    tries to create a file in / (only meant for read-only roots)
//!   probe tty             prints pgrp/tpgid, reads a line from stdin, prints "read LINE"

use std::io::{BufRead, Write};
use std::time::Instant;

use libc::c_int;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "status" => status(),
        "signals" => signals("", true),
        "serve" => serve(&arg(1), &arg(2)),
        "group-signals" => group_signals(),
        "family" => family(&arg(1)),
        "exit" => std::process::exit(arg(1).parse().unwrap_or(0)),
        "die" => die(signal_number(&arg(1))),
        "orphans" => orphans(arg(1).parse().unwrap_or(1000)),
        "orphan-ppid" => orphan_ppid(),
        "daemon" => daemon(arg(1) == "stubborn"),
        "tty" => tty(),
        "write-root" => match std::fs::write("/.probe-write-test", "x") {
            Ok(()) => say("write to /: ok"),
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => say("write to /: EROFS"),
            Err(e) => say(&format!("write to /: {e}")),
        },
        other => {
            eprintln!("probe: unknown mode {other:?}");
            std::process::exit(64)
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn status() {
    // Descriptors first: reading /proc opens one.
    let open: Vec<String> = (0..4096)
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .map(|fd| fd.to_string())
        .collect();
    say(&format!("fds: {}", open.join(" ")));
    let stdin = std::fs::read_link("/proc/self/fd/0")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    say(&format!("stdin: {stdin}"));
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    for line in text.lines() {
        if ["SigBlk:", "SigIgn:", "Uid:", "Gid:", "Groups:", "PPid:"]
            .iter()
            .any(|k| line.starts_with(k))
        {
            say(&line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    let (pgrp, tpgid) = pgrp_and_tpgid();
    say(&format!(
        "pid: {} pgrp: {pgrp} tpgid: {tpgid}",
        std::process::id()
    ));
    say(&format!("cwd: {}", std::env::current_dir().unwrap().display()));
    for key in ["HOME", "RINIT_TEST_VAR"] {
        say(&format!("env {key}={}", std::env::var(key).unwrap_or_default()));
    }
}

fn pgrp_and_tpgid() -> (i32, i32) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // state ppid pgrp session tty_nr tpgid
    (fields[2].parse().unwrap(), fields[5].parse().unwrap())
}

fn signal_number(name: &str) -> c_int {
    let names = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("CHLD", 17),
        ("CONT", 18),
        ("TSTP", 20),
        ("WINCH", 28),
    ];
    let bare = name.trim_start_matches("SIG");
    names
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(_, s)| *s)
        .or_else(|| bare.parse().ok())
        .unwrap_or(15)
}

fn signal_name(signo: c_int) -> String {
    let names = [
        (1, "HUP"),
        (2, "INT"),
        (3, "QUIT"),
        (10, "USR1"),
        (12, "USR2"),
        (13, "PIPE"),
        (14, "ALRM"),
        (15, "TERM"),
        (17, "CHLD"),
        (18, "CONT"),
        (20, "TSTP"),
        (28, "WINCH"),
    ];
    match names.iter().find(|(n, _)| *n == signo) {
        Some((_, name)) => format!("SIG{name}"),
        None => format!("SIG{signo}"),
    }
}

/// Every catchable signal, blocked and read from a signalfd.
fn signal_fd() -> c_int {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    }
}

/// Reports signals until stdin closes (or forever when `watch_stdin` is false).
fn signals(prefix: &str, watch_stdin: bool) {
    let fd = signal_fd();
    say(&format!("{prefix}ready"));
    loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if watch_stdin { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            if unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) }
                == size as isize
            {
                say(&format!("{prefix}got {}", signal_name(info.ssi_signo as c_int)));
            }
        }
        if fds[1].revents != 0 {
            let mut buf = [0u8; 64];
            if unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) } <= 0 {
                std::process::exit(0);
            }
        }
    }
}

/// A long-running program for supervisor tests: stdin is /dev/null there, so
/// unlike `signals` it ignores stdin.
fn serve(name: &str, stop: &str) {
    let stop = match stop {
        "" => libc::SIGTERM,
        "never" => 0,
        other => signal_number(other),
    };
    let fd = signal_fd();
    say(&format!("{name} ready"));
    loop {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        if unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) } == size as isize
        {
            let signo = info.ssi_signo as c_int;
            say(&format!("{name} got {}", signal_name(signo)));
            if signo == stop {
                std::process::exit(0);
            }
        }
    }
}

fn group_signals() {
    // The grandchild shares our process group and dies with us (parent-death
    // signal). Both print "ready" lines; the test waits for both.
    if unsafe { libc::fork() } == 0 {
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        signals("grandchild ", false);
    }
    signals("", true);
}

fn family(name: &str) {
    let main_pid = unsafe { libc::getpid() };
    let next_signal = |fd: c_int| -> c_int {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        while unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) }
            != size as isize
        {}
        info.ssi_signo as c_int
    };
    // Blocked before the fork: no signal can reach the child before it reads them.
    let fd = signal_fd();
    if unsafe { libc::fork() } == 0 {
        say(&format!("{name} child ready"));
        loop {
            let signo = next_signal(fd);
            let when = if unsafe { libc::getppid() } == main_pid {
                "while main ran"
            } else {
                "after main exited"
            };
            say(&format!("{name} child got {} {when}", signal_name(signo)));
            if signo == libc::SIGTERM {
                std::process::exit(0);
            }
        }
    }
    say(&format!("{name} main ready"));
    loop {
        let signo = next_signal(fd);
        say(&format!("{name} main got {}", signal_name(signo)));
        if signo == libc::SIGTERM {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::process::exit(0);
        }
    }
}

fn pipe() -> (c_int, c_int) {
    let mut fds = [0; 2];
    unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    (fds[0], fds[1])
}

fn die(signo: c_int) -> ! {
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signo);
    }
    std::process::exit(99)
}

/// Forks a middle process that forks `n` children which exit at once, then
/// exits without reaping them: they all go to PID 1 (or the nearest
/// subreaper). Then waits until PID 1 has reaped them all.
fn orphans(n: usize) {
    let started = Instant::now();
    let middle = unsafe { libc::fork() };
    if middle == 0 {
        for _ in 0..n {
            if unsafe { libc::fork() } == 0 {
                unsafe { libc::_exit(0) };
            }
        }
        unsafe { libc::_exit(0) };
    }
    unsafe { libc::waitpid(middle, std::ptr::null_mut(), 0) };
    let handed_over = Instant::now();
    // Now PID 1 holds `n` zombies. Its children list shrinks to just us.
    // Polled every 200 us, not in a busy loop: reading the list takes the
    // lock that PID 1's every reap needs, and would slow down what it measures.
    let me = std::process::id().to_string();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let children = std::fs::read_to_string("/proc/1/task/1/children").unwrap_or_default();
        if children.split_whitespace().all(|p| p == me) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let reaped_after = handed_over.elapsed();
    let zombies = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(false)
        })
        .count();
    say(&format!(
        "reaped {n} in {} us (all forked after {} us)",
        reaped_after.as_micros(),
        (handed_over - started).as_micros()
    ));
    say(&format!("zombies={zombies}"));
}

/// A grandchild whose parent exits reports its new parent.
fn orphan_ppid() {
    let (done_read, done_write) = pipe();
    let middle = unsafe { libc::fork() };
    if middle == 0 {
        let (watching_read, watching_write) = pipe();
        if unsafe { libc::fork() } == 0 {
            // Watch the middle process (our parent) through a pidfd, tell it we
            // do, and wait for it to be gone.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getppid(), 0) } as c_int;
            unsafe { libc::close(watching_write) };
            let mut fds = [libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            }];
            unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
            say(&format!("orphan ppid={}", unsafe { libc::getppid() }));
            unsafe { libc::_exit(0) };
        }
        unsafe { libc::close(watching_write) };
        let mut buf = [0u8; 1];
        unsafe { libc::read(watching_read, buf.as_mut_ptr().cast(), 1) };
        unsafe { libc::_exit(0) };
    }
    unsafe { libc::close(done_write) };
    unsafe { libc::waitpid(middle, std::ptr::null_mut(), 0) };
    // EOF once the grandchild has printed and exited.
    let mut buf = [0u8; 1];
    unsafe { libc::read(done_read, buf.as_mut_ptr().cast(), 1) };
    say(&format!("probe pid={}", std::process::id()));
}

/// Leaves a grandchild behind and exits 7.
fn daemon(stubborn: bool) {
    let (read_end, write_end) = pipe();
    let daemon_pid = unsafe { libc::fork() };
    if daemon_pid == 0 {
        unsafe { libc::setsid() }; // a daemon leaves our process group
        if stubborn {
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            unsafe { libc::close(write_end) }; // tells the parent we are set up
            loop {
                unsafe { libc::pause() };
            }
        }
        let fd = signal_fd();
        unsafe { libc::close(write_end) };
        loop {
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            if unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) }
                == size as isize
            {
                say(&format!("daemon got {}", signal_name(info.ssi_signo as c_int)));
                if info.ssi_signo as c_int == libc::SIGTERM {
                    std::process::exit(0);
                }
            }
        }
    }
    unsafe { libc::close(write_end) };
    let mut buf = [0u8; 1];
    unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), 1) };
    say(&format!("daemon started pid={daemon_pid}"));
    std::process::exit(7);
}

fn tty() {
    let (pgrp, tpgid) = pgrp_and_tpgid();
    say(&format!("pgrp: {pgrp} tpgid: {tpgid}"));
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    say(&format!("read {}", line.trim_end()));
}
