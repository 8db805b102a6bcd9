//! Supervisor mode with rinit as PID 1 of a new PID namespace: the restart
//! table, backoff, the start limit, critical programs, main command +
//! programs, instances, ordering and every kind of readiness, prefixed
//! output, and the orderly shutdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// Writes `text` as DIR/rinit.toml.
fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("rinit.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path, extra: &[&str]) -> Running {
    let mut args = vec!["-c", config.to_str().unwrap()];
    args.extend(extra);
    Running::start(pid1(&args))
}

/// `sh -c SCRIPT` as a TOML array.
fn sh(script: &str) -> String {
    format!("[\"sh\", \"-c\", {script:?}]")
}

fn probe_serve(name: &str, stop: &str) -> String {
    format!("[{:?}, \"serve\", {name:?}, {stop:?}]", probe_str())
}

#[test]
fn the_restart_table_holds_for_every_policy_and_exit_kind() {
    let dir = temp_dir("table");
    let policies = [
        "no",
        "on-success",
        "on-failure",
        "on-abnormal",
        "on-abort",
        "always",
    ];
    let kinds = [
        ("exit0", "exit 0"),
        ("exit1", "exit 1"),
        ("kill", "kill -KILL $$"),
        ("term", "kill -TERM $$"),
    ];
    // (clean exit, unclean code, unclean signal) (systemd's table); SIGTERM is clean.
    let restarts = |policy: &str, kind: &str| match (policy, kind) {
        ("no", _) => false,
        ("on-success", k) => k == "exit0" || k == "term",
        ("on-failure", k) => k != "exit0" && k != "term",
        ("on-abnormal" | "on-abort", k) => k == "kill",
        ("always", _) => true,
        _ => unreachable!(),
    };
    let mut text = String::new();
    for policy in policies {
        for (kind, script) in kinds {
            // A restarted program runs twice, then hits the start limit.
            text += &format!(
                "[program.{policy}-{kind}]\ncommand = {}\nrestart = {policy:?}\nrestart_delay = \"0\"\n\
                 start_limit_burst = 2\nstart_limit_interval = \"1h\"\n",
                sh(&format!("echo start {policy}-{kind}; {script}"))
            );
        }
    }
    let done = start(&config(&dir, &text), &[]).finish();
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    for line in &done.out {
        if let Some(name) = line.strip_prefix("start ") {
            *starts.entry(name.to_string()).or_default() += 1;
        }
    }
    for policy in policies {
        for (kind, _) in kinds {
            let name = format!("{policy}-{kind}");
            let expected = if restarts(policy, kind) { 2 } else { 1 };
            assert_eq!(starts.get(&name), Some(&expected), "{name}: {:?}", done.err);
        }
    }
    // Some exits were unclean: supervisor mode ends with 1.
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert!(done
        .err
        .iter()
        .any(|l| l.starts_with("rinit: always-exit0 ended (exit code 0) and was started 2 times")));
    assert!(done
        .err
        .iter()
        .any(|l| l == "rinit: on-failure-exit0 ended (exit code 0)"));
}

#[test]
fn supervisor_mode_exits_0_when_every_program_ended_cleanly() {
    let dir = temp_dir("clean");
    let text = format!(
        "[program.a]\ncommand = {}\n[program.b]\ncommand = {}\nsuccess_exit_codes = [0, 3]\n",
        sh("exit 0"),
        sh("exit 3")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.err, "rinit: every program has ended");
}

#[test]
fn backoff_doubles_up_to_the_maximum_and_resets_after_a_long_run() {
    let dir = temp_dir("backoff");
    let count = dir.join("count");
    // Starts 1-3 fail at once; start 4 runs 300 ms (longer than the 100 ms
    // maximum delay) and fails; start 5 exits cleanly.
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}; \
         if [ $n -ge 4 ]; then exit 0; fi; if [ $n -eq 3 ]; then sleep 0.3; fi; exit 1",
        c = count.display()
    );
    let text = format!(
        "[program.flaky]\ncommand = {}\nrestart_delay = \"10ms\"\nrestart_max_delay = \"100ms\"\n\
         start_limit_burst = 0\n",
        sh(&script)
    );
    let done = start(&config(&dir, &text), &[]).finish();
    let delays: Vec<&str> = done
        .err
        .iter()
        .filter_map(|l| l.strip_prefix("rinit: flaky ended (exit code 1); restarting in "))
        .collect();
    assert_eq!(delays, ["10ms", "20ms", "40ms", "10ms"], "{:?}", done.err);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn the_delay_stops_growing_at_restart_max_delay() {
    let dir = temp_dir("maxdelay");
    let text = format!(
        "[program.f]\ncommand = {}\nrestart_delay = \"5ms\"\nrestart_max_delay = \"20ms\"\n\
         start_limit_burst = 6\nstart_limit_interval = \"1h\"\n",
        sh("exit 2")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    let delays: Vec<&str> = done
        .err
        .iter()
        .filter_map(|l| l.strip_prefix("rinit: f ended (exit code 2); restarting in "))
        .collect();
    assert_eq!(delays, ["5ms", "10ms", "20ms", "20ms", "20ms"], "{:?}", done.err);
    assert_has_line(
        &done.err,
        "rinit: f ended (exit code 2) and was started 6 times within 3600s (start_limit_burst): giving up",
    );
    assert_eq!(done.code(), 1);
}

#[test]
fn a_critical_program_ends_rinit_with_its_code_and_stops_the_rest() {
    let dir = temp_dir("critical");
    // side is ready once its trap is set, so the SIGTERM it gets is seen.
    let flag = dir.join("side-ready");
    let text = format!(
        "[program.side]\ncommand = {}\nready = {{ file = {:?} }}\n\
         [program.core]\ncommand = {}\nafter = [\"side\"]\ncritical = true\nrestart = \"no\"\n",
        sh(&format!(
            "trap 'echo side got SIGTERM; exit 0' TERM; touch {}; while :; do sleep 10 & wait $!; done",
            flag.display()
        )),
        flag.display().to_string(),
        sh("exit 7")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 7, "{:?}", done.err);
    assert_has_line(&done.out, "side got SIGTERM");
    assert_has_line(
        &done.err,
        "rinit: core is critical and has ended: stopping everything",
    );

    // Killed by a signal: 128+N.
    let text = format!(
        "[program.core]\ncommand = {}\ncritical = true\nrestart = \"no\"\n",
        sh("kill -KILL $$")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 137, "{:?}", done.err);

    // A critical program past its start limit: its last code.
    let text = format!(
        "[program.core]\ncommand = {}\ncritical = true\nrestart_delay = \"0\"\nstart_limit_burst = 2\n",
        sh("exit 4")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 4, "{:?}", done.err);
}

#[test]
fn main_command_beside_programs_sets_the_exit_code() {
    let dir = temp_dir("main");
    let ready = dir.join("side-ready");
    // main starts only once the sidecar is ready: the file exists when main runs.
    let text = format!(
        "[program.side]\ncommand = {}\nready = {{ file = {:?} }}\n",
        sh(&format!(
            "trap 'echo side stopped; exit 0' TERM; touch {}; while :; do sleep 10 & wait $!; done",
            ready.display()
        )),
        ready.display().to_string()
    );
    let cfg = config(&dir, &text);
    let check = format!("test -e {} && echo main saw side; exit 5", ready.display());
    let done = start(&cfg, &["--", "sh", "-c", &check]).finish();
    assert_eq!(done.code(), 5, "{:?}", done.err);
    assert_eq!(done.out, ["main saw side", "side stopped"], "{:?}", done.err);
    std::fs::remove_file(&ready).unwrap();

    let done = start(&cfg, &["-e", "5", "--", "sh", "-c", "exit 5"]).finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    std::fs::remove_file(&ready).unwrap();

    // docker stop: main gets SIGTERM and rinit reports its death as 143.
    let mut running = start(&cfg, &["--", "sh", "-c", "echo main ready; exec sleep 100"]);
    running.expect_out_eq("main ready");
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 143, "{:?}", done.err);
    assert_has_line(&done.out, "side stopped");
}

#[test]
fn instances_get_their_names_and_numbers() {
    let dir = temp_dir("instances");
    let text = format!(
        "[program.w]\ncommand = {}\ninstances = 3\noutput = \"prefix\"\n",
        sh("echo \"$RINIT_PROGRAM $RINIT_INSTANCE\"")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let mut out = done.out.clone();
    out.sort();
    assert_eq!(out, ["w.0 | w 0", "w.1 | w 1", "w.2 | w 2"]);
}

#[test]
fn programs_start_after_their_dependencies_are_ready_or_done() {
    let dir = temp_dir("order");
    let flag = dir.join("flag");
    let port = free_port();
    let listener = format!(
        "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
         print('tcp listening', flush=True); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(100)"
    );
    let notifier =
        "import os,socket,time; a=os.environ['NOTIFY_SOCKET']; a='\\0'+a[1:] if a[0]=='@' else a; \
                    s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); print('notify sending', flush=True); \
                    s.sendto(b'STATUS=up\\nREADY=1', a); time.sleep(100)";
    let text = format!(
        "[program.migrate]\ncommand = {}\ntype = \"oneshot\"\n\
         [program.tcp]\ncommand = [\"python3\", \"-c\", {listener:?}]\nafter = [\"migrate\"]\n\
         ready = {{ tcp = \"127.0.0.1:{port}\" }}\n\
         [program.file]\ncommand = {}\nafter = [\"tcp\"]\nready = {{ file = {:?} }}\n\
         [program.cmd]\ncommand = {}\nafter = [\"file\"]\nready = {{ command = [\"test\", \"-e\", {:?}] }}\n\
         [program.notify]\ncommand = [\"python3\", \"-c\", {notifier:?}]\ntype = \"notify\"\nafter = [\"cmd\"]\n\
         [program.last]\ncommand = {}\nafter = [\"notify\"]\n",
        sh("echo migrate done"),
        sh(&format!("echo file touching; touch {}.file; exec sleep 100", flag.display())),
        format!("{}.file", flag.display()),
        sh(&format!("echo cmd touching; touch {}.cmd; exec sleep 100", flag.display())),
        format!("{}.cmd", flag.display()),
        sh("echo last started"),
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_eq("last started");
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(
        done.out,
        [
            "migrate done",
            "tcp listening",
            "file touching",
            "cmd touching",
            "notify sending",
            "last started"
        ],
        "{:?}",
        done.err
    );
    for line in ["tcp is ready", "file is ready", "cmd is ready", "notify is ready"] {
        assert_has_line(&done.err, &format!("rinit: {line}"));
    }
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_failed_dependency_keeps_its_dependents_down() {
    let dir = temp_dir("depfail");
    let text = format!(
        "[program.migrate]\ncommand = {}\ntype = \"oneshot\"\n[program.web]\ncommand = {}\nafter = [\"migrate\"]\n",
        sh("exit 3"),
        sh("echo web started")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert!(done.out.is_empty(), "{:?}", done.out);
    assert_has_line(
        &done.err,
        "rinit: migrate ended (exit code 3); not restarted (restart = no)",
    );
    assert_has_line(
        &done.err,
        "rinit: web cannot start: it comes after migrate, which is failed",
    );
    assert_eq!(done.code(), 1);

    // ... and ends rinit when the dependent is critical.
    let text = format!(
        "[program.migrate]\ncommand = {}\ntype = \"oneshot\"\n[program.web]\ncommand = {}\nafter = [\"migrate\"]\n\
         critical = true\n[program.side]\ncommand = {}\n",
        sh("exit 3"),
        sh("echo web started"),
        probe_serve("side", "")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert_has_line(
        &done.err,
        "rinit: web is critical and has ended: stopping everything",
    );
}

#[test]
fn a_program_not_ready_in_time_is_stopped_and_handled_as_a_failure() {
    let dir = temp_dir("readytimeout");
    let text = format!(
        "[program.slow]\ncommand = {}\ntype = \"notify\"\nready_timeout = \"500ms\"\nrestart = \"on-failure\"\n\
         restart_delay = \"0\"\nstart_limit_burst = 2\n[program.after]\ncommand = {}\nafter = [\"slow\"]\n",
        probe_serve("slow", ""),
        sh("echo after started")
    );
    let started = Instant::now();
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(
        done.err
            .iter()
            .filter(|l| *l == "rinit: slow was not ready within 500ms (ready_timeout): stopping it")
            .count(),
        2,
        "{:?}",
        done.err
    );
    assert_eq!(done.out.iter().filter(|l| *l == "slow got SIGTERM").count(), 2);
    assert!(!done.out.iter().any(|l| l == "after started"));
    assert_eq!(done.code(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_missing_executable_is_reported_per_program() {
    let dir = temp_dir("missing");
    let text = "[program.ghost]\ncommand = \"no-such-program-here --flag\"\nrestart = \"no\"\n";
    let done = start(&config(&dir, text), &[]).finish();
    assert!(
        done.err
            .iter()
            .any(|l| l
                .starts_with("rinit: ghost: cannot run \"no-such-program-here\": command not found in PATH")),
        "{:?}",
        done.err
    );
    assert_has_line(
        &done.err,
        "rinit: ghost ended (exit code 127); not restarted (restart = no)",
    );
    assert_eq!(done.code(), 1);
}

#[test]
fn prefixed_output_keeps_every_line_of_two_busy_programs_intact() {
    let dir = temp_dir("prefix");
    // seq writes through stdio in 4 KiB blocks, so lines arrive cut at
    // arbitrary points and must be put back together.
    let text = format!(
        "[rinit]\noutput = \"prefix\"\n[program.a]\ncommand = {}\n[program.b]\ncommand = {}\n",
        sh("seq -f 'a-line-%g' 1 100000"),
        sh("seq -f 'b-line-%g' 1 100000")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let mut next = [1u32, 1u32];
    for line in &done.out {
        let (who, n) = if let Some(n) = line.strip_prefix("a | a-line-") {
            (0, n)
        } else if let Some(n) = line.strip_prefix("b | b-line-") {
            (1, n)
        } else {
            panic!("mangled line {line:?}");
        };
        assert_eq!(
            n.parse::<u32>().ok(),
            Some(next[who]),
            "line {line:?} out of order"
        );
        next[who] += 1;
    }
    assert_eq!(next, [100_001, 100_001]);
}

#[test]
fn prefixed_output_keeps_streams_apart_splits_long_lines_and_ends_the_last_line() {
    let dir = temp_dir("streams");
    let text = format!(
        "[program.p]\ncommand = {}\noutput = \"prefix\"\n",
        sh("echo to-out; echo to-err >&2; head -c 9000 /dev/zero | tr '\\0' x; echo; printf tail")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let x = |n| "x".repeat(n);
    assert_eq!(
        done.out,
        [
            "p | to-out".to_string(),
            format!("p + {}", x(4000)),
            format!("p + {}", x(4000)),
            format!("p | {}", x(1000)),
            "p | tail".to_string()
        ]
    );
    assert_has_line(&done.err, "p | to-err");
}

#[test]
fn a_stuck_reader_of_stdout_does_not_stop_rinit() {
    stuck_reader(None);
}

/// As uid 1000, rinit cannot reopen the root-owned pipe it was given as
/// stdout to get a non-blocking descriptor of its own: it must poll instead.
#[test]
fn a_stuck_reader_of_stdout_does_not_stop_a_non_root_rinit() {
    stuck_reader(Some(1000));
}

fn stuck_reader(uid: Option<u32>) {
    let dir = temp_dir("stuck");
    // `flood` fills rinit's stdout, which nobody reads for now; `other`
    // answers signals on stderr, which the test does read. (USR1 goes to
    // every program: flood ignores it.)
    let text = format!(
        "[rinit]\noutput = \"prefix\"\ncontrol_socket = \"\"\n[program.flood]\ncommand = {}\n[program.other]\ncommand = {}\n",
        // It stays up once it has written all: a program's end takes what is
        // left in its pipe at once, dropping past the queue's bound, which
        // is not what this test is about.
        sh("trap '' USR1; yes flood-line | head -n 200000; exec sleep 1000"),
        sh("trap 'echo other got USR1 >&2' USR1; echo other up >&2; while :; do sleep 10 & wait $!; done")
    );
    let config = config(&dir, &text);
    let mut cmd = match uid {
        None => pid1(&["-c", config.to_str().unwrap()]),
        Some(uid) => {
            copy_binaries_to(&dir);
            let mut cmd = std::process::Command::new("unshare");
            let id = uid.to_string();
            cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child", "setpriv"])
                .args(["--reuid", &id, "--regid", &id, "--clear-groups"])
                .arg(dir.join("rinit"))
                .arg("-c")
                .arg(&config);
            cmd
        }
    };
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // A regression blocks the reads below: a watchdog ends it instead.
    let unshare = child.id() as i32;
    std::thread::spawn(move || {
        std::thread::sleep(PATIENCE);
        // rinit first: setpriv's change of user cleared --kill-child's
        // parent-death signal.
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"));
        for pid in children.unwrap_or_default().split_whitespace() {
            unsafe { libc::kill(pid.parse().unwrap_or(0), libc::SIGKILL) };
        }
        unsafe { libc::kill(unshare, libc::SIGKILL) };
    });
    let stdout = child.stdout.take().unwrap(); // not read yet
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut read_line = |line: &mut String| {
        line.clear();
        std::io::BufRead::read_line(&mut stderr, line).unwrap();
        line.trim_end().to_string()
    };
    assert_eq!(read_line(&mut line), "other | other up");
    let rinit = only_child(child.id() as i32);
    // Wait until `head` is blocked writing to rinit: rinit has stopped
    // reading because its stdout is full.
    let deadline = std::time::Instant::now() + PATIENCE;
    while !blocked_writing("head") {
        assert!(std::time::Instant::now() < deadline, "head never blocked");
        std::thread::yield_now();
    }
    send(rinit, libc::SIGUSR1);
    // The USR1 reached `other` and its answer came out while stdout is full.
    loop {
        let got = read_line(&mut line);
        if got == "other | other got USR1" {
            break;
        }
        assert!(!got.is_empty(), "stderr ended");
    }
    // Now read stdout: every line intact.
    let (all_read, read) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = 0;
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            assert_eq!(line.unwrap(), "flood | flood-line");
            lines += 1;
            if lines == 200_000 {
                let _ = all_read.send(());
            }
        }
        lines
    });
    // Once every line has come through, stop.
    read.recv_timeout(PATIENCE).expect("200,000 lines read");
    send(rinit, libc::SIGTERM);
    let status = wait_timeout(&mut child, PATIENCE);
    assert_eq!(reader.join().unwrap(), 200_000);
    assert_eq!(status.code(), Some(0));
}

/// Whether a process named `comm` is blocked writing to a full pipe.
fn blocked_writing(comm: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let wchan = std::fs::read_to_string(dir.join("wchan")).unwrap_or_default();
        name.trim() == comm && wchan.contains("pipe_write")
    })
}

#[test]
fn shutdown_stops_programs_in_reverse_dependency_order() {
    let dir = temp_dir("stoporder");
    let text = format!(
        "[program.a]\ncommand = {}\n[program.b]\ncommand = {}\nafter = [\"a\"]\n\
         [program.c]\ncommand = {}\nafter = [\"b\"]\n",
        probe_serve("a", ""),
        probe_serve("b", ""),
        probe_serve("c", "")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["a ready", "b ready", "c ready"]);
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    let stops: Vec<&String> = done.out.iter().filter(|l| l.ends_with("got SIGTERM")).collect();
    assert_eq!(stops, ["c got SIGTERM", "b got SIGTERM", "a got SIGTERM"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn each_program_gets_its_stop_signal_and_other_signals_are_forwarded() {
    let dir = temp_dir("stopsignal");
    let text = format!(
        "[program.q]\ncommand = {}\nstop_signal = \"SIGQUIT\"\n[program.u]\ncommand = {}\nstop_signal = 10\n",
        probe_serve("q", "QUIT"),
        probe_serve("u", "USR1")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["q ready", "u ready"]);
    let unshare = running.rinit_pid();
    send(unshare, libc::SIGHUP);
    send(unshare, libc::SIGWINCH);
    running.expect_out_all(&["q got SIGHUP", "u got SIGHUP", "q got SIGWINCH", "u got SIGWINCH"]);
    send(unshare, libc::SIGTERM);
    let done = running.finish();
    assert_has_line(&done.out, "q got SIGQUIT");
    assert_has_line(&done.out, "u got SIGUSR1");
    assert!(
        !done.out.iter().any(|l| l.ends_with("got SIGTERM")),
        "{:?}",
        done.out
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

/// Starts `stubborn`, a program that ignores its stop signal, with `rinit_keys`
/// in [rinit] and `program_keys` in its table; asks rinit to stop (twice with
/// `again`) and returns how long that took, and the end.
fn stop_a_stubborn_program(rinit_keys: &str, program_keys: &str, again: Option<i32>) -> (Duration, Finished) {
    let dir = temp_dir("stubborn");
    let text = format!(
        "[rinit]\n{rinit_keys}\n[program.stubborn]\ncommand = {}\n{program_keys}\n",
        probe_serve("stubborn", "never")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_eq("stubborn ready");
    let asked = Instant::now();
    send(running.rinit_pid(), libc::SIGTERM);
    if let Some(signo) = again {
        running.expect_out_eq("stubborn got SIGTERM");
        send(running.rinit_pid(), signo);
    }
    let done = running.finish();
    (asked.elapsed(), done)
}

#[test]
fn a_program_that_ignores_its_stop_signal_is_killed_after_stop_timeout() {
    let (took, done) = stop_a_stubborn_program("", "stop_timeout = \"300ms\"", None);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_has_line(
        &done.err,
        "rinit: stubborn did not stop within 300ms: sending SIGKILL",
    );
    // Killed rather than stopped: not a clean end.
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

#[test]
fn shutdown_timeout_bounds_the_whole_shutdown() {
    let (took, done) =
        stop_a_stubborn_program("shutdown_timeout = \"500ms\"", "stop_timeout = \"30s\"", None);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_has_line(
        &done.err,
        "rinit: shutdown_timeout (500ms) is over: killing everything",
    );
}

#[test]
fn a_second_stop_request_skips_to_sigkill() {
    let (took, done) = stop_a_stubborn_program("", "stop_timeout = \"30s\"", Some(libc::SIGINT));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_has_line(&done.err, "rinit: SIGINT during shutdown: killing everything now");
}

#[test]
fn defaults_finish_inside_docker_stops_ten_seconds() {
    let (took, done) = stop_a_stubborn_program("", "", None);
    // stop_timeout 7s, then SIGKILL.
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(9),
        "{took:?}"
    );
    assert_has_line(
        &done.err,
        "rinit: stubborn did not stop within 7s: sending SIGKILL",
    );
}

#[test]
fn leftover_processes_are_swept_after_the_programs_stop() {
    let dir = temp_dir("sweep");
    // The daemon traps SIGTERM, says so and exits.
    let text = format!(
        "[program.d]\ncommand = [{:?}, \"daemon\"]\nrestart = \"no\"\n[program.s]\ncommand = {}\n",
        probe_str(),
        probe_serve("s", "")
    );
    let mut running = start(&config(&dir, &text), &["-t", "3s"]);
    running.expect_out_eq("s ready");
    running.expect_err(|l| l.starts_with("rinit: d ended (exit code 7)"), "d ended");
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_has_line(&done.out, "daemon got SIGTERM");
    // d ended with 7 and was not restarted: not clean.
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

#[test]
fn programs_start_clean_in_their_own_process_group() {
    let dir = temp_dir("clean-start");
    // cat for the signal fields (the Rust probe's runtime ignores SIGPIPE on
    // its own), the probe for descriptors and the process group.
    let text = format!(
        "[program.c]\ncommand = \"cat /proc/self/status\"\ntype = \"oneshot\"\n\
         [program.s]\ncommand = [{:?}, \"status\"]\nafter = [\"c\"]\n",
        probe_str()
    );
    // rinit itself starts with signals ignored and blocked and a stray descriptor.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "trap '' HUP INT USR1; exec 7</dev/null; exec unshare --pid --fork --mount-proc --kill-child {} -c {}",
            rinit().display(),
            config(&dir, &text).display()
        ));
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "SigBlk:\t0000000000000000");
    assert_has_line(&done.out, "SigIgn:\t0000000000000000");
    assert_has_line(&done.out, "fds: 0 1 2");
    // Its own process group: pgrp is its pid.
    let pid = done.out.iter().find_map(|l| l.strip_prefix("pid: ")).unwrap();
    let (pid, rest) = pid.split_once(' ').unwrap();
    assert!(rest.starts_with(&format!("pgrp: {pid} ")), "{:?}", done.out);
}

#[test]
fn a_critical_sidecar_sets_the_exit_code_even_with_main_running() {
    let dir = temp_dir("critical-main");
    let text = format!(
        "[program.db]\ncommand = {}\ncritical = true\nrestart = \"no\"\n",
        sh("exit 3")
    );
    let main = ["--", "sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"];
    let done = start(&config(&dir, &text), &main).finish();
    assert_eq!(done.code(), 3, "{:?}", done.err);
}

#[test]
fn a_dependency_that_was_ready_and_ended_does_not_hold_back_its_dependents() {
    let dir = temp_dir("ready-then-exited");
    let flag = dir.join("slow-ready");
    // setup is ready at once and exits; main also waits for slow, which is
    // ready only later: setup has ended by then.
    let text = format!(
        "[program.setup]\ncommand = {}\n[program.slow]\ncommand = {}\nready = {{ file = {:?} }}\n",
        sh("exit 0"),
        sh(&format!("sleep 0.3; touch {}; exec sleep 100", flag.display())),
        flag.display().to_string()
    );
    let done = start(&config(&dir, &text), &["--", "echo", "main ran"]).finish();
    assert_eq!(done.out, ["main ran"], "{:?}", done.err);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn shutdown_order_goes_through_completed_oneshots() {
    let dir = temp_dir("transitive");
    // db <- migrate (oneshot, done) <- web: db stops only once web is down.
    let text =
        format!(
        "[program.db]\ncommand = {}\n[program.migrate]\ncommand = {}\ntype = \"oneshot\"\nafter = [\"db\"]\n\
         [program.web]\ncommand = {}\nafter = [\"migrate\"]\n",
        probe_serve("db", ""),
        sh("exit 0"),
        sh("trap 'echo web stopping; sleep 0.2; echo web stopped; exit 0' TERM; echo web up; \
            while :; do sleep 10 & wait $!; done")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["db ready", "web up"]);
    running.expect_err(|l| l == "rinit: migrate completed", "migrate completed");
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    let web_stopped = done.out.iter().position(|l| l == "web stopped");
    let db_stopping = done.out.iter().position(|l| l == "db got SIGTERM");
    assert!(
        web_stopped.is_some() && web_stopped < db_stopping,
        "{:?}",
        done.out
    );
}

#[test]
fn missing_ready_timeout_is_not_a_clean_end() {
    let dir = temp_dir("timeout-exit");
    let text = format!(
        "[program.slow]\ncommand = {}\ntype = \"notify\"\nready_timeout = \"100ms\"\nrestart = \"no\"\n",
        probe_serve("slow", "")
    );
    let done = start(&config(&dir, &text), &[]).finish();
    assert_has_line(
        &done.err,
        "rinit: slow was not ready within 100ms (ready_timeout): stopping it",
    );
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

#[test]
fn a_relative_ready_file_is_in_the_programs_directory() {
    let dir = temp_dir("relative-ready");
    let text = format!(
        "[program.a]\ncommand = {}\nready = {{ file = \"run/ready\" }}\nready_timeout = \"5s\"\n\
         [program.b]\ncommand = {}\nafter = [\"a\"]\n",
        sh("mkdir -p run && touch run/ready && exec sleep 100"),
        sh("echo b started")
    );
    let mut cmd = pid1(&["-c", config(&dir, &text).to_str().unwrap()]);
    cmd.current_dir(&dir);
    let mut running = Running::start(cmd);
    running.expect_out_eq("b started");
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn stop_timeout_zero_kills_at_once_without_a_warning() {
    let (took, done) = stop_a_stubborn_program("", "stop_timeout = \"0\"", None);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        !done.err.iter().any(|l| l.contains("did not stop")),
        "{:?}",
        done.err
    );
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

#[test]
fn a_descendant_still_writing_does_not_hold_up_the_programs_exit() {
    // p leaves `yes` writing into its stdout pipe and exits. Taking what p
    // wrote must not turn into reading yes's endless output.
    let dir = temp_dir("drain");
    let text = format!(
        "[program.p]\ncommand = {}\noutput = \"prefix\"\nrestart = \"no\"\n",
        sh("yes & yes & yes & sleep 0.2; exit 3")
    );
    let mut cmd = pid1(&["-c", config(&dir, &text).to_str().unwrap()]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l == "rinit: p ended (exit code 3); not restarted (restart = no)")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("p's end was not reported: {seen:?}");
            }
        }
    }
    // Its end is handled at once (0.2 s in, plus start-up), not once the
    // pipe happens to be empty between two writes of `yes` (seconds).
    let took = PATIENCE - deadline.saturating_duration_since(Instant::now());
    assert!(took < Duration::from_secs(2), "p's end took {took:?} to handle");
    // Every program has ended: rinit sweeps `yes` and exits.
    let status = wait_timeout(&mut child, PATIENCE);
    assert_eq!(status.code(), Some(1), "{seen:?}");
}

#[test]
fn readiness_does_not_interfere_with_the_shutdown() {
    // db is ready, crashes, and its second run never becomes ready; web,
    // after db, takes 1.5 s to stop. db's ready_timeout (1 s) must not stop
    // it while web still runs: db stops after web, and cleanly.
    let dir = temp_dir("ready-shutdown");
    let flag = dir.join("db-ran");
    let db = format!(
        "import os,socket,sys,time,signal\n\
         if not os.path.exists({flag:?}):\n\
         \x20   open({flag:?}, 'w').close()\n\
         \x20   a=os.environ['NOTIFY_SOCKET']; a='\\0'+a[1:]\n\
         \x20   socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', a)\n\
         \x20   time.sleep(0.3); sys.exit(1)\n\
         def stop(*_):\n\
         \x20   print('db got SIGTERM', flush=True); sys.exit(0)\n\
         signal.signal(signal.SIGTERM, stop)\n\
         print('db second run', flush=True)\n\
         time.sleep(100)\n",
        flag = flag.display().to_string()
    );
    let text = format!(
        "[program.db]\ncommand = [\"python3\", \"-c\", {db:?}]\ntype = \"notify\"\nready_timeout = \"1s\"\n\
         restart_delay = \"0\"\n[program.web]\ncommand = {}\nafter = [\"db\"]\n",
        sh("trap 'sleep 1.5; echo web stopped; exit 0' TERM; echo web up; while :; do sleep 10 & wait $!; done")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["web up", "db second run"]);
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    let web = done.out.iter().position(|l| l == "web stopped");
    let db = done.out.iter().position(|l| l == "db got SIGTERM");
    assert!(web.is_some() && web < db, "{:?} {:?}", done.out, done.err);
    assert!(
        !done.err.iter().any(|l| l.contains("was not ready")),
        "{:?}",
        done.err
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn mains_arguments_need_not_be_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir("main-bytes");
    let cfg = config(&dir, "[rinit]\n");
    let mut cmd = pid1(&["-c", cfg.to_str().unwrap(), "--", "printf", "%s"]);
    cmd.arg(std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    let output = cmd.output().unwrap();
    assert_eq!(output.stdout, b"\xff\xfe");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_low_open_files_limit_does_not_starve_rinit_and_programs_keep_it() {
    // 40 prefixed instances need ~160 descriptors in rinit; the soft limit is
    // 64. rinit raises its own and gives each program the 64 back.
    let dir = temp_dir("nofile");
    let text = format!(
        "[program.w]\ncommand = {}\ninstances = 40\noutput = \"prefix\"\n",
        sh("echo \"limit $(ulimit -n)\"; sleep 0.2")
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -Sn 64 && exec unshare --pid --fork --mount-proc --kill-child {} -c {}",
        rinit().display(),
        config(&dir, &text).display()
    ));
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let mut out = done.out.clone();
    out.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!("w.{i} | limit 64")).collect();
    expected.sort();
    assert_eq!(out, expected, "{:?}", done.err);
}

#[test]
fn what_a_stopped_program_leaves_in_its_group_is_stopped_with_it() {
    // web's leader dies at once on SIGTERM; its worker, in the same process
    // group, ignores SIGTERM. The worker gets SIGKILL at web's stop_timeout,
    // and db (before web) is stopped only after that.
    let dir = temp_dir("group");
    let text = format!(
        "[program.db]\ncommand = {}\n[program.web]\ncommand = {}\nafter = [\"db\"]\nstop_timeout = \"500ms\"\n",
        probe_serve("db", ""),
        sh(&format!(
            "(trap '' TERM; echo worker up; while :; do sleep 0.05; done) & : {}; exec sleep 1000",
            dir.display()
        ))
    );
    // Not PID 1 (a plain subreaper): no kill(-1) sweep to fall back on.
    let mut cmd = plain(&["-c", config(&dir, &text).to_str().unwrap()]);
    cmd.current_dir("/");
    let mut running = Running::start(cmd);
    running.expect_out_all(&["db ready", "worker up"]);
    let asked = Instant::now();
    send(running.child.id() as i32, libc::SIGTERM);
    running.expect_out_eq("db got SIGTERM");
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "db stopped after {took:?}, before the worker was killed"
    );
    let done = running.finish();
    assert_has_line(&done.err, "rinit: web did not stop within 500ms: sending SIGKILL");
    // Killed, not stopped: not a clean end.
    assert_eq!(done.code(), 1, "{:?}", done.err);
    // And the worker is gone (its command line names this test's directory).
    let marker = dir.display().to_string().into_bytes();
    let left = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_slice()))
    });
    assert!(!left, "the worker survived rinit");
}

/// `probe family NAME` as a TOML command.
fn probe_family(name: &str) -> String {
    format!("[{:?}, \"family\", {name:?}]", probe_str())
}

#[test]
fn the_stop_signal_goes_to_the_main_process_and_the_rest_of_its_group_after_it() {
    // KillMode=mixed: `main` gets SIGTERM and takes 300 ms to finish (a
    // celery warm shutdown); its child, in the same process group, gets
    // SIGTERM only once main has exited. With stop_group, both at once.
    let dir = temp_dir("mixed");
    let text = format!(
        "[program.mixed]\ncommand = {}\n[program.grouped]\ncommand = {}\nstop_group = true\n",
        probe_family("mixed"),
        probe_family("grouped")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&[
        "mixed main ready",
        "mixed child ready",
        "grouped main ready",
        "grouped child ready",
    ]);
    let rinit = running.rinit_pid();
    // Other signals follow the same rule.
    send(rinit, libc::SIGUSR1);
    running.expect_out_all(&[
        "mixed main got SIGUSR1",
        "grouped main got SIGUSR1",
        "grouped child got SIGUSR1 while main ran",
    ]);
    send(rinit, libc::SIGTERM);
    let done = running.finish();
    assert_has_line(&done.out, "mixed main got SIGTERM");
    assert_has_line(&done.out, "mixed child got SIGTERM after main exited");
    assert_has_line(&done.out, "grouped main got SIGTERM");
    assert_has_line(&done.out, "grouped child got SIGTERM while main ran");
    assert!(
        !done.out.iter().any(|l| l.starts_with("mixed child got SIGUSR1")),
        "{:?}",
        done.out
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn main_gets_the_stop_signal_alone_too() {
    let dir = temp_dir("mixedmain");
    let text = format!("[program.side]\ncommand = {}\n", probe_serve("side", ""));
    let probe = probe_str();
    let mut running = start(&config(&dir, &text), &["--", &probe, "family", "main"]);
    running.expect_out_all(&["side ready", "main main ready", "main child ready"]);
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_has_line(&done.out, "main main got SIGTERM");
    assert_has_line(&done.out, "main child got SIGTERM after main exited");
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_death_by_a_forwarded_signal_is_a_failure_and_says_so() {
    // `docker kill -s HUP` reaches a program without a HUP handler: it dies
    // of SIGHUP, which systemd's table alone counts as clean. It restarts,
    // under on-failure as under every policy that restarts on a failure.
    let dir = temp_dir("forwarded");
    let text = format!(
        "[program.plain]\ncommand = {}\nrestart_delay = \"0\"\n[program.abort]\ncommand = {}\n\
         restart = \"on-abort\"\nrestart_delay = \"0\"\n",
        sh("echo plain up; exec sleep 1000"),
        sh("echo abort up; exec sleep 1000")
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["plain up", "abort up"]);
    send(running.rinit_pid(), libc::SIGHUP);
    for name in ["plain", "abort"] {
        let line = format!(
            "rinit: {name} ended (SIGHUP, which rinit forwarded: counted as a failure); restarting in 0ns"
        );
        if !running.err_seen.contains(&line) {
            running.expect_err(
                |l| l == line,
                &format!("{name} restarting after the forwarded SIGHUP"),
            );
        }
    }
    running.out_seen.clear();
    running.expect_out_all(&["plain up", "abort up"]);
    // A SIGHUP that rinit did not forward (sent to the program directly) is clean.
    let done = {
        send(running.rinit_pid(), libc::SIGTERM);
        running.finish()
    };
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_sighup_from_elsewhere_is_still_a_clean_exit() {
    let dir = temp_dir("directhup");
    let pidfile = dir.join("pid");
    let text = format!(
        "[program.plain]\ncommand = {}\nrestart_delay = \"0\"\n",
        sh(&format!(
            "echo $$ > {}; echo plain up; exec sleep 1000",
            pidfile.display()
        ))
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_eq("plain up");
    // The pid in rinit's namespace; /proc of ours shows it under another number:
    // find it as rinit's only child.
    let program = only_child(running.rinit_pid());
    send(program, libc::SIGHUP);
    let done = running.finish();
    assert_has_line(&done.err, "rinit: plain ended (SIGHUP)");
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn notify_messages_count_only_from_the_programs_own_processes() {
    // Any process in the network namespace can find the abstract notify
    // socket. Two send READY=1 as uid 65534: a sidecar program inside the
    // container, and a process outside rinit's PID namespace (pid 0 there).
    let dir = temp_dir("spoof");
    let address = dir.join("address");
    let go = dir.join("go");
    let send = "import os,socket,sys; a=open(sys.argv[1]).read(); \
                s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', '\\0'+a[1:])";
    let target = format!(
        "import os,socket,time; a=os.environ['NOTIFY_SOCKET']; open('{tmp}','w').write(a); \
         os.rename('{tmp}','{address}'); print('target waiting', flush=True)\n\
         while not os.path.exists('{go}'): time.sleep(0.02)\n\
         s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', '\\0'+a[1:]); time.sleep(100)",
        tmp = dir.join("tmp").display(),
        address = address.display(),
        go = go.display()
    );
    let sidecar = format!(
        "import os,time,subprocess\nwhile not os.path.exists('{address}'): time.sleep(0.02)\n\
         subprocess.run(['python3', '-c', {send:?}, '{address}'], check=True); print('sidecar sent', flush=True); time.sleep(100)",
        address = address.display()
    );
    let text = format!(
        "[program.target]\ncommand = [\"python3\", \"-c\", {target:?}]\ntype = \"notify\"\n\
         [program.sidecar]\ncommand = [\"python3\", \"-c\", {sidecar:?}]\nuser = \"65534\"\n\
         [program.after]\ncommand = {}\nafter = [\"target\"]\n",
        sh("echo after started; exec sleep 100"),
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["target waiting", "sidecar sent"]);
    let ignored = |line: &str, uid: &str| {
        line.starts_with("rinit: target: notify message from pid ")
            && line.contains(&format!(" (uid {uid}) ignored: only target's main process (pid "))
            && line.ends_with(") and its process group may send it")
    };
    running.expect_err(|l| ignored(l, "65534"), "about the sidecar's READY=1");
    let outside = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            send,
        ])
        .arg(&address)
        .status()
        .unwrap();
    assert!(outside.success());
    let line = running.expect_err(|l| ignored(l, "65534"), "about the outside READY=1");
    assert!(
        line.starts_with("rinit: target: notify message from pid 0 "),
        "{line}"
    );
    assert!(
        !running.err_seen.iter().any(|l| l == "rinit: target is ready"),
        "{:?}",
        running.err_seen
    );
    assert!(!running.out_seen.iter().any(|l| l == "after started"));
    // The program's own READY=1 counts.
    std::fs::write(&go, "").unwrap();
    running.expect_err(|l| l == "rinit: target is ready", "target ready");
    running.expect_out_eq("after started");
    send_signal_and_finish(running);
}

fn send_signal_and_finish(running: Running) {
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn what_a_program_stopped_for_its_ready_timeout_leaves_in_its_group_goes_too() {
    // Not PID 1: no sweep at the end would hide a process left behind.
    let dir = temp_dir("timeout-group");
    let marker = dir.display().to_string();
    let text = format!(
        "[program.slow]\ncommand = {}\ntype = \"notify\"\nready_timeout = \"200ms\"\nrestart = \"no\"\n",
        probe_family(&marker)
    );
    let mut cmd = plain(&["-c", config(&dir, &text).to_str().unwrap()]);
    cmd.current_dir("/");
    let done = Running::start(cmd).finish();
    assert_has_line(&done.out, &format!("{marker} main got SIGTERM"));
    assert_eq!(done.code(), 1, "{:?}", done.err);
    let left = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
    });
    assert!(!left, "the program's child survived its stop: {:?}", done.out);
}

/// A real HTTP server (python's http.server) on `port`: 200, or 500 once
/// the file `fail` exists.
fn http_server(port: u16, fail: &Path) -> String {
    let script = format!(
        "import http.server, os\n\
         class H(http.server.BaseHTTPRequestHandler):\n    \
         def do_GET(self):\n        \
         self.send_response(500 if os.path.exists({fail:?}) else 200); self.end_headers(); self.wfile.write(b'x')\n    \
         def log_message(self, *args): pass\n\
         print('serving', flush=True)\n\
         http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()"
    );
    format!("[\"python3\", \"-c\", {script:?}]")
}

#[test]
fn an_http_ready_check_waits_for_a_2xx_and_outlasts_a_server_that_never_answers() {
    let dir = temp_dir("http-ready");
    let (good, silent) = (free_port(), free_port());
    let silent_server = format!(
        "import socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {silent})); s.listen(); kept=[]\nprint('silent listening', flush=True)\n\
         while True: kept.append(s.accept())"
    );
    let text = format!(
        "[program.web]\ncommand = {}\nready = {{ http = \"127.0.0.1:{good}/healthz\" }}\n\
         [program.after]\ncommand = {}\nafter = [\"web\"]\n\
         [program.silent]\ncommand = [\"python3\", \"-c\", {silent_server:?}]\n\
         ready = {{ http = \"localhost:{silent}\" }}\nready_timeout = \"2500ms\"\nrestart = \"no\"\n",
        http_server(good, &dir.join("fail")),
        sh("echo after started; exec sleep 100"),
    );
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_all(&["serving", "after started", "silent listening"]);
    running.expect_err(|l| l == "rinit: web is ready", "web ready");
    // The silent server accepts every try and answers none: each try ends at
    // its own timeout, and rinit goes on (web stayed served meanwhile).
    running.expect_err(
        |l| l == "rinit: silent was not ready within 2.5s (ready_timeout): stopping it",
        "silent's ready_timeout",
    );
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert!(
        !done.err.iter().any(|l| l == "rinit: silent is ready"),
        "{:?}",
        done.err
    );
}

#[test]
fn a_failing_health_check_restarts_the_program() {
    let dir = temp_dir("health");
    let web = free_port();
    let fail = dir.join("fail");
    let text = format!(
        "[program.web]\ncommand = {}\n\
         health = {{ http = \"127.0.0.1:{web}/\", interval = \"300ms\", timeout = \"1s\", retries = 2, \
         start_period = \"3s\" }}\n\
         restart_delay = \"0\"\n\
         [program.probe]\ncommand = [\"sh\", \"-c\", \"exit 0\"]\ntype = \"oneshot\"\n\
         health = {{ command = \"true\" }}\n",
        http_server(web, &fail)
    );
    let done = run(plain(&["check", "-c", config(&dir, &text).to_str().unwrap()]));
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}/rinit.toml:8:10: program probe: key health: a oneshot program cannot have a health check",
            dir.display()
        )]
    );
    let text = text.replace("type = \"oneshot\"\nhealth = { command = \"true\" }\n", "");
    let mut running = start(&config(&dir, &text), &[]);
    running.expect_out_eq("serving");
    // Healthy checks come and go; nothing happens. (Failures in the first
    // 3 s, while python starts on a busy machine, do not count.)
    std::thread::sleep(Duration::from_millis(700));
    assert!(!running.err_seen.iter().any(|l| l.contains("unhealthy")));
    // The endpoint starts answering 500: two failures in a row, then the
    // stop (its stop signal), and the restart as an unclean end.
    std::fs::write(&fail, "").unwrap();
    running.expect_err(
        |l| l == "rinit: web is unhealthy: its health check failed 2 times in a row: stopping it",
        "web found unhealthy",
    );
    running.expect_err(
        |l| l.starts_with("rinit: web ended (SIGTERM); restarting in "),
        "web restarted",
    );
    std::fs::remove_file(&fail).unwrap();
    running.out_seen.clear();
    running.expect_out_eq("serving");
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
}
