//! Single-command mode, run as a real PID 1 (`unshare --pid --fork`) unless a
//! test is about rinit *not* being PID 1.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use crate::common::*;

fn probe_cmd(mut cmd: std::process::Command, args: &[&str]) -> std::process::Command {
    cmd.arg("--").arg(probe()).args(args);
    cmd
}

#[test]
fn exit_codes_pass_through() {
    for code in ["0", "3", "255"] {
        let done = run(probe_cmd(pid1(&[]), &["exit", code]));
        assert_eq!(done.code().to_string(), code, "{:?}", done.err);
        assert!(done.err.is_empty(), "rinit said something: {:?}", done.err);
    }
}

#[test]
fn signal_deaths_are_128_plus_n() {
    assert_eq!(run(probe_cmd(pid1(&[]), &["die", "KILL"])).code(), 137);
    assert_eq!(run(probe_cmd(pid1(&[]), &["die", "TERM"])).code(), 143);
    assert_eq!(run(probe_cmd(pid1(&[]), &["die", "SEGV"])).code(), 139);
}

#[test]
fn missing_command_is_127_with_its_name() {
    let mut cmd = pid1(&["--", "no-such-command-xyz"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let done = run(cmd);
    assert_eq!(done.code(), 127);
    assert_eq!(
        done.err,
        ["rinit: cannot run \"no-such-command-xyz\": command not found in PATH (/usr/bin:/bin)"]
    );
    let done = run(pid1(&["--", "/nonexistent/tool"]));
    assert_eq!(done.code(), 127);
    assert_eq!(
        done.err,
        ["rinit: cannot run \"/nonexistent/tool\": No such file or directory"]
    );
}

#[test]
fn non_executable_command_is_126() {
    let dir = temp_dir("noexec");
    let file = dir.join("script");
    std::fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    let done = run(pid1(&["--", file.to_str().unwrap()]));
    assert_eq!(done.code(), 126);
    assert_eq!(
        done.err,
        [format!(
            "rinit: cannot run {:?}: Permission denied",
            file.to_str().unwrap()
        )]
    );
    let done = run(pid1(&["--", "/"]));
    assert_eq!(done.code(), 126);
    assert_eq!(done.err, ["rinit: cannot run \"/\": Permission denied"]);
}

#[test]
fn a_script_whose_interpreter_is_missing_is_126_and_says_so() {
    let dir = temp_dir("interp");
    let script = dir.join("script");
    // Written by a shell, not by this process: see copy_binaries_to (ETXTBSY).
    let written = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '#!/no/such/shell\\nexit 0\\n' > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&script)
        .status()
        .unwrap();
    assert!(written.success());
    let done = run(pid1(&["--", script.to_str().unwrap()]));
    assert_eq!(done.code(), 126);
    assert_eq!(
        done.err,
        [format!(
            "rinit: cannot run {:?}: the interpreter on its \"#!\" line was not found \
             (a CRLF line ending can cause this too)",
            script.to_str().unwrap()
        )]
    );
}

#[test]
fn a_starting_directory_rinit_cannot_open_is_still_the_commands() {
    // Docker's WORKDIR readable by root only, USER 1000: rinit cannot open it
    // to move to / and back, so it stays there and the command inherits it.
    let dir = temp_dir("workdir");
    let private = dir.join("private");
    std::fs::create_dir(&private).unwrap();
    // unshare as uid 1000 cannot make a PID namespace: rinit runs directly,
    // from copies uid 1000 can reach wherever the checkout is.
    let bin = temp_dir("bin");
    copy_binaries_to(&bin);
    let mut cmd = std::process::Command::new(bin.join("rinit"));
    cmd.arg("--")
        .arg(bin.join("probe"))
        .arg("status")
        .current_dir(&private);
    let private_c = std::ffi::CString::new(private.to_str().unwrap()).unwrap();
    unsafe {
        cmd.pre_exec(move || {
            libc::chmod(private_c.as_ptr(), 0o700);
            if libc::setgid(1000) != 0 || libc::setuid(1000) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.err,
        ["rinit: cannot open the starting directory (Permission denied); staying in it rather than moving to /"]
    );
    assert_has_line(&done.out, &format!("cwd: {}", private.display()));
    assert_has_line(&done.out, "Uid: 1000 1000 1000 1000");
}

#[test]
fn e_maps_each_of_the_256_codes_to_zero_and_nothing_else() {
    let probe = probe_str();
    for code in 0..=255 {
        let c = code.to_string();
        let done = run(pid1(&["-e", &c, "--", &probe, "exit", &c]));
        assert_eq!(done.code(), 0, "-e {code}");
        let other = ((code + 1) % 256).to_string();
        if code % 32 == 0 {
            let done = run(pid1(&["-e", &c, "--", &probe, "exit", &other]));
            assert_eq!(
                done.code().to_string(),
                other,
                "-e {code} must leave {other} alone"
            );
        }
    }
    // After 128+N: -e 143 maps a SIGTERM death.
    assert_eq!(run(pid1(&["-e", "143", "--", &probe, "die", "TERM"])).code(), 0);
    assert_eq!(run(pid1(&["-e", "143", "--", &probe, "die", "INT"])).code(), 130);
}

/// Starts rinit the way a careless parent might: every signal blocked, most
/// ignored, extra descriptors open without close-on-exec.
fn dirty(cmd: &mut std::process::Command, leak: &std::path::Path) {
    let leak = std::fs::File::create(leak).unwrap();
    let leak_fd = std::os::fd::IntoRawFd::into_raw_fd(leak);
    unsafe {
        cmd.pre_exec(move || {
            for fd in [5, 9, 200] {
                libc::dup2(leak_fd, fd);
            }
            for signo in 1..=64 {
                if signo != libc::SIGKILL && signo != libc::SIGSTOP && signo != libc::SIGCHLD {
                    libc::signal(signo, libc::SIG_IGN);
                }
            }
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            Ok(())
        });
    }
}

#[test]
fn child_starts_clean_even_when_rinit_did_not() {
    let dir = temp_dir("dirty");
    let leak = dir.join("leaked-file");
    for as_pid1 in [true, false] {
        let base = if as_pid1 { pid1(&[]) } else { plain(&[]) };
        let mut cmd = probe_cmd(base, &["status"]);
        cmd.current_dir(&dir);
        dirty(&mut cmd, &leak);
        let done = run(cmd);
        assert_eq!(done.code(), 0, "{:?}", done.err);
        assert_has_line(&done.out, "fds: 0 1 2");
        assert_has_line(&done.out, &format!("cwd: {}", dir.display()));
        // Its own process group.
        let ids = done.out.iter().find(|l| l.starts_with("pid: ")).unwrap();
        let f: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(f[1], f[3], "pid and pgrp differ: {ids}");
    }
}

#[test]
fn child_has_empty_mask_and_no_ignored_signal_even_when_rinit_did_not() {
    // Read by cat, a C program that leaves its signal state as exec gave it
    // (the Rust probe's runtime ignores SIGPIPE on its own).
    let dir = temp_dir("dirty-signals");
    for as_pid1 in [true, false] {
        let mut cmd = if as_pid1 {
            pid1(&["--", "cat", "/proc/self/status"])
        } else {
            plain(&["--", "cat", "/proc/self/status"])
        };
        dirty(&mut cmd, &dir.join("leak"));
        let done = run(cmd);
        assert_eq!(done.code(), 0, "{:?}", done.err);
        let field = |key: &str| {
            done.out
                .iter()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        assert_eq!(
            field("SigBlk:").as_deref(),
            Some("0000000000000000"),
            "pid1={as_pid1}"
        );
        assert_eq!(
            field("SigIgn:").as_deref(),
            Some("0000000000000000"),
            "pid1={as_pid1}"
        );
    }
}

#[test]
fn a_closed_stdin_becomes_dev_null_so_no_other_descriptor_lands_on_0() {
    let mut cmd = probe_cmd(pid1(&[]), &["status"]);
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "stdin: /dev/null");
    assert_has_line(&done.out, "fds: 0 1 2");
}

#[test]
fn rinit_drops_inherited_descriptors_and_moves_to_root() {
    let dir = temp_dir("own-state");
    let leak = dir.join("leaked-file");
    let mut cmd = probe_cmd(pid1(&[]), &["signals"]);
    cmd.current_dir(&dir);
    dirty(&mut cmd, &leak);
    let mut running = Running::start(cmd);
    running.expect_out_eq("ready");
    let pid = running.rinit_pid();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        std::path::Path::new("/")
    );
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = std::fs::read_link(entry.unwrap().path()).unwrap();
        assert_ne!(target, leak, "rinit kept an inherited descriptor");
    }
    // Every catchable signal is blocked in rinit (read from its signalfd); none ignored.
    assert_eq!(proc_status(pid, "SigBlk"), "fffffffffffbfeff");
    assert_eq!(proc_status(pid, "SigIgn"), "0000000000000000");
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn signals_are_forwarded_even_when_rinit_started_with_them_ignored() {
    let dir = temp_dir("fwd");
    let mut cmd = probe_cmd(pid1(&[]), &["signals"]);
    dirty(&mut cmd, &dir.join("leak"));
    let mut running = Running::start(cmd);
    running.expect_out_eq("ready");
    let pid = running.rinit_pid();
    let rtmin = libc::SIGRTMIN();
    let wanted = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGTTIN, "SIG21"),
        (libc::SIGTTOU, "SIG22"),
        (rtmin, &format!("SIG{rtmin}")),
    ];
    for (signo, name) in wanted {
        send(pid, signo);
        running.expect_out_eq(&format!("got {name}"));
    }
    // Never forwarded: SIGCHLD and the crash signals. Sent before
    // SIGRTMAX, they are dequeued before it (standard signals first), so by the
    // time the probe reports SIGRTMAX rinit has dealt with all of them.
    let never = [
        libc::SIGCHLD,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGABRT,
        libc::SIGSYS,
        libc::SIGTRAP,
    ];
    for signo in never {
        send(pid, signo);
    }
    let rtmax = libc::SIGRTMAX();
    send(pid, rtmax);
    let line = running.expect_out(|l| l.starts_with("got "), "after the crash signals");
    assert_eq!(line, format!("got SIG{rtmax}"));
    let done = running.finish();
    assert_eq!(
        done.code(),
        0,
        "rinit must survive crash signals sent by kill: {:?}",
        done.err
    );
}

#[test]
fn sigpipe_raised_by_rinits_own_write_is_not_forwarded() {
    // rinit logs each forward (-v) to a stderr pipe whose reader is gone: its
    // write fails with EPIPE and the kernel raises SIGPIPE on rinit itself.
    let mut cmd = probe_cmd(pid1(&["-v"]), &["signals"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    let mut stdin = child.stdin.take();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let pid = only_child(child.id() as i32);
    for _ in 0..3 {
        send(pid, libc::SIGUSR1);
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "got SIGUSR1\n");
    }
    stdin.take();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "", "SIGPIPE from rinit's own write was forwarded");
    assert_eq!(wait_timeout(&mut child, PATIENCE).code(), Some(0));
}

#[test]
fn g_signals_the_whole_process_group() {
    let probe = probe_str();
    // -g, tini's TINI_KILL_PROCESS_GROUP (any value) standing in for it, or neither.
    for (group, flag, variable) in [(true, true, false), (true, false, true), (false, false, false)] {
        let args: &[&str] = if flag { &["-g", "--"] } else { &["--"] };
        let mut cmd = pid1(args);
        if variable {
            cmd.env("TINI_KILL_PROCESS_GROUP", "");
        } else {
            cmd.env_remove("TINI_KILL_PROCESS_GROUP");
        }
        cmd.args([probe.as_str(), "group-signals"]);
        let mut running = Running::start(cmd);
        running.expect_out_all(&["ready", "grandchild ready"]);
        let rinit_pid = running.rinit_pid();
        let child = only_child(rinit_pid);
        let grandchild = only_child(child);
        send(rinit_pid, libc::SIGUSR1);
        running.expect_out_eq("got SIGUSR1");
        // Whatever rinit sent the grandchild was queued before the child heard
        // of it; a later USR2 from us is dequeued after any pending USR1.
        send(grandchild, libc::SIGUSR2);
        running.expect_out_eq("grandchild got SIGUSR2");
        let done = running.finish();
        assert_eq!(done.code(), 0);
        let first = done.out.iter().find(|l| l.starts_with("grandchild got")).unwrap();
        let expected = if group {
            "grandchild got SIGUSR1"
        } else {
            "grandchild got SIGUSR2"
        };
        assert_eq!(first, expected, "-g={group}: {:?}", done.out);
    }
}

#[test]
fn ten_thousand_orphans_are_reaped_and_no_zombie_is_left() {
    let done = run(probe_cmd(pid1(&[]), &["orphans", "10000"]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        done.out.iter().any(|l| l.starts_with("reaped 10000 in ")),
        "{:?}",
        done.out
    );
    assert_eq!(
        done.out.last().map(String::as_str),
        Some("zombies=0"),
        "{:?}",
        done.out
    );
}

#[test]
fn not_pid1_it_is_a_subreaper_for_orphans() {
    let mut running = Running::start(probe_cmd(plain(&[]), &["orphan-ppid"]));
    let rinit_pid = running.child.id();
    running.expect_out_eq(&format!("orphan ppid={rinit_pid}"));
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn not_pid1_it_never_kills_what_is_left() {
    let mut running = Running::start(probe_cmd(plain(&["-t", "0"]), &["daemon"]));
    let line = running.expect_out(|l| l.starts_with("daemon started pid="), "daemon");
    let daemon: i32 = line.rsplit('=').next().unwrap().parse().unwrap();
    let status = wait_timeout(&mut running.child, PATIENCE);
    assert_eq!(status.code(), Some(7));
    // rinit is gone and the daemon still lives: no kill(-1), no sweep.
    assert_eq!(unsafe { libc::kill(daemon, 0) }, 0, "the daemon was killed");
    send(daemon, libc::SIGKILL);
}

#[test]
fn as_pid1_leftovers_get_sigterm_and_rinit_exits_with_the_commands_code() {
    let done = run(probe_cmd(pid1(&[]), &["daemon"]));
    assert_eq!(done.code(), 7, "{:?}", done.err);
    assert!(
        done.out.contains(&"daemon got SIGTERM".to_string()),
        "{:?}",
        done.out
    );
}

#[test]
fn leftovers_that_ignore_sigterm_get_sigkill_after_the_grace() {
    for (flag, env, grace) in [(Some("300ms"), None, 0.3), (None, Some("1s"), 1.0)] {
        let mut cmd = match flag {
            Some(t) => pid1(&["-t", t]),
            None => pid1(&[]),
        };
        if let Some(value) = env {
            cmd.env("RINIT_GRACE", value);
        }
        let cmd = probe_cmd(cmd, &["daemon", "stubborn"]);
        let started = Instant::now();
        let done = run(cmd);
        let took = started.elapsed().as_secs_f64();
        assert_eq!(done.code(), 7);
        assert!(
            took >= grace && took < grace + 2.0,
            "took {took}s for a grace of {grace}s"
        );
        assert_eq!(done.err.len(), 1, "{:?}", done.err);
        assert!(
            done.err[0].starts_with("rinit: processes still running"),
            "{:?}",
            done.err
        );
    }
}

#[test]
fn a_second_sigterm_during_the_sweep_kills_at_once() {
    let mut running = Running::start(probe_cmd(pid1(&["-v", "-t", "60s"]), &["daemon", "stubborn"]));
    running.expect_err(
        |l| l.contains("sending SIGTERM to the processes left"),
        "sweep start",
    );
    let started = Instant::now();
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 7);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        done.err.iter().any(|l| l.contains("SIGTERM during clean-up")),
        "{:?}",
        done.err
    );
}

#[test]
fn p_sets_the_parent_death_signal() {
    // sh starts rinit in the background (stdin passed on explicitly) and is then killed.
    let script = format!(
        "exec 3<&0; {} -p SIGUSR1 -- {} signals <&3 & echo $!; wait",
        rinit().display(),
        probe_str()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script]);
    let mut running = Running::start(cmd);
    let rinit_pid: i32 = running
        .expect_out(|l| l.parse::<i32>().is_ok(), "rinit's pid")
        .parse()
        .unwrap();
    running.expect_out_all(&["ready"]); // sh and the probe print independently
    assert_eq!(proc_status(rinit_pid, "PPid"), running.child.id().to_string());
    send(running.child.id() as i32, libc::SIGKILL);
    running.expect_out_eq("got SIGUSR1");
    running.close_stdin();
    let _ = running.finish();
}

#[test]
fn bad_command_lines_start_nothing() {
    let dir = temp_dir("badcli");
    let marker = dir.join("marker");
    let touch = ["--", "touch", marker.to_str().unwrap()];
    type Case<'a> = (Vec<&'a str>, Option<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["-x"], None, "rinit: unknown option '-x' (see rinit --help)"),
        (vec!["--frobnicate"], None, "rinit: unknown option '--frobnicate' (see rinit --help)"),
        (vec!["-e", "x"], None, "rinit: -e: invalid exit code \"x\": expected a number from 0 to 255"),
        (vec!["-e", "256"], None, "rinit: -e: invalid exit code \"256\": expected a number from 0 to 255"),
        (vec!["-e", "-1"], None, "rinit: -e: invalid exit code \"-1\": expected a number from 0 to 255"),
        (vec!["-p", "SIGNOPE"], None, "rinit: -p: unknown signal \"SIGNOPE\": expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to 64"),
        (vec!["-p", "0"], None, "rinit: -p: unknown signal \"0\": expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to 64"),
        (vec!["-t", "soon"], None, "rinit: -t: invalid duration \"soon\": expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds"),
        (vec!["-t", "-5s"], None, "rinit: -t: invalid duration \"-5s\": must not be negative"),
        (vec![], Some(("RINIT_GRACE", "later")), "rinit: RINIT_GRACE: invalid duration \"later\": expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds"),
        (vec![], Some(("RINIT_LOG", "loud")), "rinit: RINIT_LOG: unknown level \"loud\": expected debug, info, warn or error"),
    ];
    for (flags, env, message) in cases {
        let mut args = flags.clone();
        args.extend(touch);
        let mut cmd = pid1(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let done = run(cmd);
        assert_eq!(done.code(), 2, "{flags:?}");
        assert_eq!(done.err, [message], "{flags:?}");
        assert!(!marker.exists(), "{flags:?} started the command");
    }
    let e_without_value = run(pid1(&["-e"]));
    assert_eq!(
        (e_without_value.code(), e_without_value.err),
        (2, vec!["rinit: -e needs a value (see rinit --help)".to_string()])
    );
    let nothing = run(pid1(&[]));
    assert_eq!(nothing.code(), 2);
    assert_eq!(
        nothing.err,
        [
            "rinit: no command given and no configuration (/etc/rinit.toml does not exist); \
          usage: rinit [OPTIONS] -- COMMAND [ARGS...] (see rinit --help)"
        ]
    );
}

#[test]
fn help_and_version() {
    let help = run(plain(&["--help"]));
    assert_eq!(help.code(), 0);
    assert!(help.out[0].starts_with("usage: rinit"), "{:?}", help.out);
    let version = run(plain(&["-V"]));
    assert_eq!(version.out, [format!("rinit {}", env!("CARGO_PKG_VERSION"))]);
}

#[test]
fn a_signal_racing_the_commands_exit_is_never_sent_to_a_reaped_pid() {
    // SIGUSR1 (10) is dequeued before SIGCHLD (17): when both are pending, rinit
    // must forward the USR1 to the still-unreaped child, not reap first and then
    // signal a pid that is gone ("could not forward ...: No such process").
    for _ in 0..30 {
        let mut running = Running::start(probe_cmd(pid1(&[]), &["exit", "0"]));
        let unshare = running.child.id();
        // Until rinit is gone: its pid, once unshare has forked it.
        while let Ok(None) = running.child.try_wait() {
            let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"));
            if let Some(pid) = children
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse::<i32>().ok())
            {
                unsafe { libc::kill(pid, libc::SIGUSR1) };
            }
        }
        let done = running.finish();
        assert!(
            done.err.iter().all(|l| !l.contains("could not forward")),
            "{:?}",
            done.err
        );
    }
}

/// An orphan that exits 3 before COMMAND does: its writer end of a FIFO
/// closes as it exits, and that EOF is what lets COMMAND (`cat`) end.
fn orphan_then_exit(flags: &[&str]) -> (Finished, String) {
    let dir = temp_dir("warn-reaped");
    let fifo = dir.join("fifo");
    let script = format!(
        "mkfifo {f} && (sh -c 'echo orphan=$$; exec 4>{f}; exit 3' &) && exec cat {f}",
        f = fifo.display()
    );
    let mut args = flags.to_vec();
    args.extend(["--", "sh", "-c", &script]);
    let done = run(pid1(&args));
    let orphan = done
        .out
        .iter()
        .find_map(|l| l.strip_prefix("orphan="))
        .unwrap_or_else(|| panic!("no orphan pid in {:?}", done.out))
        .to_string();
    (done, orphan)
}

#[test]
fn dash_w_warns_of_each_orphan_reaped() {
    let (done, orphan) = orphan_then_exit(&["-w"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.err,
        [format!(
            "rinit: reaped pid {orphan} (exit code 3), which rinit did not start"
        )]
    );
    // Without -w the same reap says nothing at the default level.
    let (done, _) = orphan_then_exit(&[]);
    assert_eq!((done.code(), done.err.len()), (0, 0), "{:?}", done.err);
}

#[test]
fn dash_l_prints_the_license() {
    let mut cmd = std::process::Command::new(rinit());
    cmd.arg("-l");
    let done = run(cmd);
    assert_eq!(done.code(), 0);
    assert_eq!(done.out.first().map(String::as_str), Some("MIT License"));
    assert!(
        done.out
            .iter()
            .any(|l| l.contains("Permission is hereby granted")),
        "{:?}",
        done.out
    );
}
