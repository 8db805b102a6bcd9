//! Supervision that cannot wedge, with rinit as PID 1 and real processes:
//! a program that leaves its process group behind stops and starts again;
//! a crashed program's leftovers go before it restarts, and a check
//! command's with it; control requests compose (the last one wins, each
//! client hears what became of its own); `start` brings up what a program
//! comes after; waiting clients hear of a shutdown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::control::{client, start, wait_for_state};

/// A directory with a copy of `sleep` named `sleeper` (so that the test can
/// find its own processes by their command line) and `rinit.toml`.
fn setup(tag: &str, programs: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    std::fs::copy("/bin/sleep", dir.join("sleeper")).unwrap();
    let socket = dir.join("rinit.sock");
    let config = dir.join("rinit.toml");
    let programs = programs.replace("DIR", dir.to_str().unwrap());
    let text = format!(
        "[rinit]\ncontrol_socket = {:?}\n{programs}",
        socket.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    (dir, config, socket)
}

/// `rinit ARGS -c CONFIG` as a client in the background, its output piped.
fn spawn_client(config: &Path, args: &[&str]) -> std::process::Child {
    let mut all = args.to_vec();
    all.extend(["-c", config.to_str().unwrap()]);
    plain(&all)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The state column of `status NAME`.
fn state_of(config: &Path, name: &str) -> String {
    let done = client(config, &["status", name]);
    done.out
        .get(1)
        .and_then(|row| row.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default()
}

/// How many live processes run `DIR/sleeper SECONDS`.
fn sleepers(dir: &Path, seconds: &str) -> usize {
    let mut want = dir.join("sleeper").into_os_string().into_encoded_bytes();
    want.push(0);
    want.extend_from_slice(seconds.as_bytes());
    want.push(0);
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            !status.contains("State:\tZ")
                && std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == want)
        })
        .count()
}

/// Waits until exactly one `DIR/sleeper SECONDS` runs (the new run's
/// helper, which its shell forks), failing at once if two ever do.
fn until_one_sleeper(dir: &Path, seconds: &str, two: &str) {
    let deadline = Instant::now() + PATIENCE;
    while sleepers(dir, seconds) != 1 {
        assert!(sleepers(dir, seconds) < 2, "{two}");
        assert!(Instant::now() < deadline, "no helper after the restart");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A client started in the background: its exit code and its stderr.
fn outcome(mut child: std::process::Child) -> (Option<i32>, String) {
    let status = wait_timeout(&mut child, PATIENCE);
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

fn shut_down(running: Running) -> Finished {
    send(running.rinit_pid(), libc::SIGTERM);
    running.finish()
}

#[test]
fn a_program_that_leaves_its_group_behind_stops_and_starts_again() {
    let (dir, config, socket) = setup(
        "wedge-stop",
        "[program.app]\ncommand = [\"sh\", \"-c\", \"DIR/sleeper 1000 & exec DIR/sleeper 1001\"]\n\
         stop_timeout = \"2s\"\n\
         [program.pipe]\ncommand = [\"sh\", \"-c\", \"DIR/sleeper 1002 | DIR/sleeper 1003\"]\nstop_group = true\n",
    );
    let running = start(&config, &socket);
    wait_for_state(&config, "app", "ready");
    let asked = Instant::now();
    let done = client(&config, &["stop", "app", "pipe"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(done.out, ["app: stopped", "pipe: stopped"]);
    for seconds in ["1000", "1001", "1002", "1003"] {
        assert_eq!(sleepers(&dir, seconds), 0, "sleeper {seconds} survived the stop");
    }
    let done = client(&config, &["start", "app", "pipe"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    let done = client(&config, &["restart", "app"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    // The new run's helper comes (sh forks it); the old one never returns.
    until_one_sleeper(&dir, "1000", "the old helper outlived the restart");
    let done = shut_down(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_crashed_programs_leftovers_go_before_it_restarts() {
    let (dir, config, socket) = setup(
        "wedge-crash",
        "[program.app]\ncommand = [\"sh\", \"-c\", \"DIR/sleeper 1000 & exec DIR/sleeper 1001\"]\n\
         restart = \"always\"\nrestart_delay = \"0\"\n\
         [program.checked]\ncommand = [\"DIR/sleeper\", \"1004\"]\n\
         health = { command = [\"sh\", \"-c\", \"DIR/sleeper 1005 & exit 0\"], interval = \"100ms\" }\n",
    );
    let mut running = start(&config, &socket);
    wait_for_state(&config, "app", "ready");
    assert_eq!(sleepers(&dir, "1000"), 1);
    // SIGKILL to the main process only, as `kill -9` of a gunicorn master.
    let done = client(&config, &["signal", "KILL", "app"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    running.expect_err(
        |l| {
            l.contains("app ended (SIGKILL") && l.contains("stopping what is left of its process group first")
        },
        "about the leftovers",
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = client(&config, &["status", "app"]);
        let restarted = status
            .out
            .get(1)
            .is_some_and(|row| row.split_whitespace().nth(4) == Some("1"));
        if restarted && state_of(&config, "app") == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "app never restarted: {:?}", status.out);
        std::thread::sleep(Duration::from_millis(20));
    }
    until_one_sleeper(
        &dir,
        "1000",
        "the crashed run's helper is still there beside the new one",
    );
    // Twenty health checks later, none has left its helper behind.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        sleepers(&dir, "1005") <= 1,
        "{} health helpers left",
        sleepers(&dir, "1005")
    );
    let done = shut_down(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

/// A program that takes 600 ms to stop.
const SLOW_STOP: &str =
    "[\"sh\", \"-c\", \"trap 'DIR/sleeper 0.6; exit 0' TERM; while :; do DIR/sleeper 0.05; done\"]";

#[test]
fn requests_compose_and_the_last_one_wins() {
    let (_dir, config, socket) = setup("wedge-compose", &format!("[program.db]\ncommand = {SLOW_STOP}\n"));
    let running = start(&config, &socket);
    wait_for_state(&config, "db", "ready");
    // A stop that has not finished, then a start: db ends up running.
    let done = client(&config, &["stop", "--no-wait", "db"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let done = client(&config, &["start", "db"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    assert!(done.out[0].starts_with("db: ready (pid "), "{:?}", done.out);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state_of(&config, "db"), "ready");
    // A stop during a restart: the restart's client hears it was
    // superseded, and db ends stopped.
    let restart = spawn_client(&config, &["restart", "db"]);
    std::thread::sleep(Duration::from_millis(200));
    let done = client(&config, &["stop", "db"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    assert_eq!(done.out, ["db: stopped"]);
    let (code, err) = outcome(restart);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err, "rinit: restart superseded by stop\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state_of(&config, "db"), "stopped");
    let done = client(&config, &["status", "--json", "db"]);
    assert!(done.out.concat().contains("\"want\":\"down\""), "{:?}", done.out);
    let done = shut_down(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn start_brings_up_what_a_program_comes_after_and_says_so() {
    let (_dir, config, socket) = setup(
        "wedge-deps",
        "[program.db]\ncommand = [\"DIR/sleeper\", \"1000\"]\n\
         [program.web]\ncommand = [\"DIR/sleeper\", \"1001\"]\nafter = [\"db\"]\n",
    );
    let running = start(&config, &socket);
    wait_for_state(&config, "web", "ready");
    let done = client(&config, &["stop", "db"]);
    assert_eq!(
        done.out[0], "also stopping web: it comes after db",
        "{:?}",
        done.out
    );
    let asked = Instant::now();
    let done = client(&config, &["start", "web"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(done.out[0], "also starting db: web comes after it");
    assert!(done.out[1].starts_with("web: ready (pid "), "{:?}", done.out);
    assert!(done.out[2].starts_with("db: ready (pid "), "{:?}", done.out);
    let done = shut_down(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn waiting_clients_hear_that_rinit_is_shutting_down() {
    let (_dir, config, socket) = setup(
        "wedge-shutdown",
        "[program.slow]\ncommand = [\"DIR/sleeper\", \"1000\"]\nautostart = false\n\
         ready = { file = \"/nonexistent/ready\" }\n",
    );
    let running = start(&config, &socket);
    let waiting = spawn_client(&config, &["start", "slow"]);
    wait_for_state(&config, "slow", "running");
    let done = shut_down(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let (code, err) = outcome(waiting);
    assert_eq!(err, "rinit: start: rinit is shutting down\n");
    assert_eq!(code, Some(1));
}

#[test]
fn a_bad_health_address_names_the_health_key() {
    let (_dir, config, _socket) = setup(
        "wedge-health-key",
        "[program.web]\ncommand = [\"DIR/sleeper\", \"1000\"]\nhealth = { tcp = \"nonsense\" }\n",
    );
    let done = client(&config, &["check"]);
    assert_eq!(done.code(), 2, "{:?}", done.err);
    let line = &done.err[0];
    assert!(
        line.ends_with(": program web: key health: tcp: \"nonsense\" is not an address: expected IP:PORT, e.g. \"127.0.0.1:8000\" or \"[::1]:8000\""),
        "{line}"
    );
}
