//! The control socket with rinit as PID 1: `rinit status` (table, JSON,
//! names, exit codes as a health probe), `rinit signal`, the socket's own
//! guarantees (mode 0600, peer uid checked, stale file replaced, a socket
//! that cannot be made costs one warning), and clients that misbehave:
//! garbage, a stall, a flood, a disconnect mid-request.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// A directory with `rinit.toml` (`[rinit] control_socket` in it, then
/// `programs`); returns (dir, config, socket).
pub(crate) fn setup(tag: &str, programs: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let socket = dir.join("rinit.sock");
    let config = dir.join("rinit.toml");
    let text = format!(
        "[rinit]\ncontrol_socket = {:?}\n{programs}",
        socket.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    (dir, config, socket)
}

/// rinit as PID 1 on `config`, started in the configuration's folder (where
/// relative paths of its programs point), once its socket answers.
pub(crate) fn start(config: &Path, socket: &Path) -> Running {
    start_with(config, socket, &[])
}

/// `start`, with more arguments after `-c CONFIG` (`--` and a command, say).
pub(crate) fn start_with(config: &Path, socket: &Path, more: &[&str]) -> Running {
    let mut args = vec!["-c", config.to_str().unwrap()];
    args.extend(more);
    let mut cmd = pid1(&args);
    cmd.current_dir(config.parent().unwrap());
    let running = Running::start(cmd);
    let deadline = Instant::now() + PATIENCE;
    while UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "no control socket at {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

/// `rinit ARGS -c CONFIG` as a client.
pub(crate) fn client(config: &Path, args: &[&str]) -> Finished {
    let mut all = args.to_vec();
    all.extend(["-c", config.to_str().unwrap()]);
    run(plain(&all))
}

/// Until `status NAME` shows `state` (polling the socket, as a probe would).
pub(crate) fn wait_for_state(config: &Path, name: &str, state: &str) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let done = client(config, &["status", name]);
        if done
            .out
            .get(1)
            .is_some_and(|row| row.split_whitespace().nth(1) == Some(state))
        {
            return done.out;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never {state}: {:?} {:?}",
            done.out,
            done.err
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(running: Running) -> Finished {
    send(running.rinit_pid(), libc::SIGTERM);
    running.finish()
}

#[test]
fn status_shows_every_instance_for_people_and_for_tools() {
    let (_dir, config, socket) = setup(
        "status",
        &format!(
            "[program.web]\ncommand = {}\ncritical = true\n[program.worker]\ncommand = \"sleep 1000\"\ninstances = 2\n\
             [program.flaky]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nrestart_delay = \"1h\"\n",
            format_args!("[{:?}, \"serve\", \"web\"]", probe_str())
        ),
    );
    let mut running = start(&config, &socket);
    running.expect_out_eq("web ready");
    wait_for_state(&config, "flaky", "backoff");
    let done = client(&config, &["status"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(done.out[0], "NAME      STATE    PID  UPTIME  RESTARTS  LAST EXIT");
    let rows: Vec<Vec<&str>> = done.out[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(names, ["web", "worker.0", "worker.1", "flaky"]);
    assert_eq!(&rows[0][1..2], ["ready"]);
    assert!(rows[0][2].parse::<i32>().is_ok(), "{:?}", rows[0]);
    assert_eq!(rows[3], ["flaky", "backoff", "-", "-", "1", "exit", "code", "3"]);
    // JSON, and a program's name, one instance, and NAME:*.
    let done = client(&config, &["status", "--json", "worker:*", "web"]);
    let json: serde_json::Value = serde_json::from_str(&done.out.concat()).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker.0", "worker.1"], "plan order");
    assert_eq!(json[0]["critical"], true);
    assert_eq!(json[0]["ready"], true);
    assert!(json[0]["pid"].is_i64() && json[0]["uptime_ms"].is_u64(), "{json}");
    assert_eq!(json[1]["last_exit"], serde_json::Value::Null);
    let done = client(&config, &["status", "worker.1"]);
    assert_eq!(done.out.len(), 2, "{:?}", done.out);
    // An unknown name: exit 1 and why; -q: nothing on stdout.
    let done = client(&config, &["status", "nope"]);
    assert_eq!(
        (done.code(), done.err),
        (
            1,
            vec!["rinit: no program, instance or group named \"nope\"".to_string()]
        )
    );
    let done = client(&config, &["status", "-q"]);
    assert_eq!((done.code(), done.out.len()), (0, 0));
    stop(running);
}

#[test]
fn status_exit_code_says_whether_every_critical_program_is_up() {
    // db is critical and notify: "running" until it says READY=1 (when
    // DIR/go exists); web, critical, waits for it ("starting").
    let (dir, config, socket) = setup(
        "status-exit",
        &format!(
            "[program.db]\ncommand = [\"python3\", \"-c\", {:?}]\ntype = \"notify\"\ncritical = true\n\
             [program.web]\ncommand = \"sleep 1000\"\nafter = [\"db\"]\ncritical = true\n\
             [program.migrate]\ncommand = \"true\"\ntype = \"oneshot\"\ncritical = true\n",
            "import os,socket,time\nwhile not os.path.exists('go'): time.sleep(0.02)\n\
             a=os.environ['NOTIFY_SOCKET']; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', '\\0'+a[1:])\n\
             time.sleep(1000)"
        ),
    );
    let running = start(&config, &socket);
    wait_for_state(&config, "migrate", "done");
    let done = client(&config, &["status"]);
    let states: Vec<&str> = done.out[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(states, ["running", "starting", "done"], "{:?}", done.out);
    assert_eq!(done.code(), 1, "a critical program is not up");
    // Only the named ones count.
    assert_eq!(client(&config, &["status", "-q", "migrate"]).code(), 0);
    assert_eq!(client(&config, &["status", "-q", "web"]).code(), 1);
    std::fs::write(dir.join("go"), "").unwrap();
    wait_for_state(&config, "web", "ready");
    assert_eq!(client(&config, &["status", "-q"]).code(), 0);
    stop(running);
}

#[test]
fn signal_reaches_the_named_instances_only() {
    let probe = probe_str();
    let (_dir, config, socket) = setup(
        "signal",
        &format!("[program.w]\ncommand = [{probe:?}, \"serve\", \"w\"]\ninstances = 2\n"),
    );
    let mut running = start(&config, &socket);
    running.expect_out_all(&["w ready", "w ready"]);
    let done = client(&config, &["signal", "USR1", "w.1"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        done.out[0].starts_with("sent SIGUSR1 to w.1 (pid "),
        "{:?}",
        done.out
    );
    running.expect_out_eq("w got SIGUSR1");
    let done = client(&config, &["signal", "NOPE", "w"]);
    assert_eq!(done.code(), 1);
    assert!(
        done.err[0].starts_with("rinit: unknown signal \"NOPE\""),
        "{:?}",
        done.err
    );
    // The other instance got nothing.
    let finished = stop(running);
    let usr1 = finished.out.iter().filter(|l| *l == "w got SIGUSR1").count();
    assert_eq!(usr1, 1, "{:?}", finished.out);
}

#[test]
fn the_socket_is_0600_checks_its_peer_and_goes_away_with_rinit() {
    let (dir, config, socket) = setup("socket", "[program.a]\ncommand = \"sleep 1000\"\n");
    // A stale socket file of an earlier run is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(stale);
    assert!(socket.exists());
    let running = start(&config, &socket);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // uid 65534: the file refuses it...
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("client");
    std::fs::create_dir(&copy).unwrap();
    copy_binaries_to(&copy);
    let as_nobody = |config: &Path| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(copy.join("rinit"))
            .args(["status", "-c"])
            .arg(config);
        run(cmd)
    };
    let done = as_nobody(&config);
    assert_eq!(done.code(), 3, "{:?}", done.err);
    assert!(done.err[0].ends_with(": Permission denied"), "{:?}", done.err);
    // ... and so does rinit, by the peer's uid, when the file would not.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let done = as_nobody(&config);
    assert_eq!(
        (done.code(), done.err),
        (
            1,
            vec!["rinit: permission denied: only root and uid 0 may use this socket".to_string()]
        )
    );
    // A second rinit on the same socket leaves the first one's alone.
    let second = run(plain(&["-c", config.to_str().unwrap(), "--", "true"]));
    assert!(
        second
            .err
            .iter()
            .any(|l| l.contains("another process is listening on it; running without it")),
        "{:?}",
        second.err
    );
    assert_eq!(
        client(&config, &["status", "-q"]).code(),
        0,
        "the first rinit still answers"
    );
    stop(running);
    assert!(!socket.exists(), "the socket file outlived rinit");
}

#[test]
fn a_socket_that_cannot_be_made_costs_one_warning() {
    let (dir, config, _) = setup(
        "no-socket",
        "[program.a]\ncommand = [\"sh\", \"-c\", \"echo a up\"]\n",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let missing = dir.join("missing/rinit.sock");
    std::fs::write(
        &config,
        text.replacen(
            &format!("{:?}", dir.join("rinit.sock").to_str().unwrap()),
            &format!("{:?}", missing.to_str().unwrap()),
            1,
        ),
    )
    .unwrap();
    let done = run(pid1(&["-c", config.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "a up");
    let warnings: Vec<&String> = done.err.iter().filter(|l| l.contains("control socket")).collect();
    assert_eq!(
        warnings,
        [&format!(
            "rinit: control socket {}: No such file or directory; running without it \
             (rinit status and the like cannot reach this rinit)",
            missing.display()
        )]
    );
    let done = client(&config, &["status"]);
    assert_eq!(done.code(), 3, "{:?}", done.err);
}

/// `rinit status` still answers, within `limit`.
#[track_caller]
fn answers_within(config: &Path, limit: Duration) {
    let asked = Instant::now();
    let done = client(config, &["status", "-q"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(asked.elapsed() < limit, "status took {:?}", asked.elapsed());
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[test]
fn misbehaving_clients_cost_rinit_nothing() {
    let (_dir, config, socket) = setup("bad-clients", "[program.a]\ncommand = \"sleep 1000\"\n");
    let running = start(&config, &socket);
    let rinit = running.rinit_pid();
    let fds = open_fds(rinit);
    let answer = |stream: &mut UnixStream| {
        let mut text = String::new();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = stream.read_to_string(&mut text);
        text
    };
    // Garbage, and a line past the size cap: an error, then the end.
    let mut garbage = UnixStream::connect(&socket).unwrap();
    garbage.write_all(b"\x00\xff GET / HTTP/1.1\r\n").unwrap();
    assert_eq!(
        answer(&mut garbage),
        "rinit/1 error a request starts with rinit/1\n"
    );
    let mut long = UnixStream::connect(&socket).unwrap();
    let _ = long.write_all(&vec![b'x'; 10_000]);
    assert_eq!(
        answer(&mut long),
        "rinit/1 error the request is longer than 4096 bytes\n"
    );
    // A stall: connected, half a request, nothing more. Others are served
    // meanwhile, and rinit closes it at its deadline.
    let mut stalled = UnixStream::connect(&socket).unwrap();
    stalled.write_all(b"rinit/1 sta").unwrap();
    answers_within(&config, Duration::from_millis(500));
    let closed_at = Instant::now();
    assert_eq!(answer(&mut stalled), "");
    let waited = closed_at.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "a stalled client was held {waited:?}"
    );
    // A flood: 100 connections held open. Past 16 they are turned away at
    // once; when they go, rinit serves again.
    let flood: Vec<UnixStream> = (0..100).map(|_| UnixStream::connect(&socket).unwrap()).collect();
    let mut turned_away = UnixStream::connect(&socket).unwrap();
    turned_away.write_all(b"rinit/1 status\n").unwrap();
    let busy = answer(&mut turned_away);
    assert!(
        busy.is_empty() || busy.starts_with("rinit/1 error busy"),
        "{busy:?}"
    );
    drop(flood);
    let deadline = Instant::now() + PATIENCE;
    while client(&config, &["status", "-q"]).code() != 0 {
        assert!(
            Instant::now() < deadline,
            "rinit did not serve again after the flood"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A disconnect in the middle of a request.
    let mut gone = UnixStream::connect(&socket).unwrap();
    gone.write_all(b"rinit/1 status we").unwrap();
    drop(gone);
    answers_within(&config, Duration::from_millis(500));
    // Every connection's descriptor is given back.
    let deadline = Instant::now() + PATIENCE;
    while open_fds(rinit) > fds {
        assert!(
            Instant::now() < deadline,
            "descriptors: {} before, {} after",
            fds,
            open_fds(rinit)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = stop(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

/// The pid `status NAME` shows.
fn pid_of(config: &Path, name: &str) -> Option<i32> {
    let done = client(config, &["status", name]);
    done.out.get(1)?.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn stop_holds_a_program_down_start_brings_it_back_and_restart_gives_a_new_pid() {
    let probe = probe_str();
    let (_dir, config, socket) = setup(
        "changes",
        &format!(
            "[program.db]\ncommand = [{probe:?}, \"serve\", \"db\"]\nrestart = \"always\"\nrestart_delay = \"0\"\n\
             [program.web]\ncommand = [{probe:?}, \"serve\", \"web\"]\nafter = [\"db\"]\nrestart = \"always\"\n\
             [program.other]\ncommand = \"sleep 1000\"\n"
        ),
    );
    let mut running = start(&config, &socket);
    running.expect_out_all(&["db ready", "web ready"]);
    // Stopping db stops web first, and says so.
    let done = client(&config, &["stop", "db"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out,
        [
            "also stopping web: it comes after db",
            "db: stopped",
            "web: stopped"
        ]
    );
    let order: Vec<&String> = running
        .out_seen
        .iter()
        .filter(|l| l.ends_with("got SIGTERM"))
        .collect();
    assert!(order.is_empty() || order[0] == "web got SIGTERM", "{order:?}");
    running.expect_out_all(&["web got SIGTERM", "db got SIGTERM"]);
    let web_at = running
        .out_seen
        .iter()
        .position(|l| l == "web got SIGTERM")
        .unwrap();
    let db_at = running
        .out_seen
        .iter()
        .position(|l| l == "db got SIGTERM")
        .unwrap();
    assert!(
        web_at < db_at,
        "web stops before what it comes after: {:?}",
        running.out_seen
    );
    // restart = "always" does not bring it back: it stays down.
    std::thread::sleep(Duration::from_millis(300));
    let done = client(&config, &["status", "db", "web", "other"]);
    let states: Vec<&str> = done.out[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(states, ["stopped", "stopped", "ready"], "{:?}", done.out);
    // start waits until they are up.
    let done = client(&config, &["start", "db", "web"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        done.out[0].starts_with("db: ready (pid ") && done.out[1].starts_with("web: ready (pid "),
        "{:?}",
        done.out
    );
    // restart: a new pid.
    let before = pid_of(&config, "web").unwrap();
    let done = client(&config, &["restart", "web"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let after = pid_of(&config, "web").unwrap();
    assert_ne!(before, after);
    assert_eq!(done.out, [format!("web: ready (pid {after})")]);
    // --no-wait answers at once.
    let done = client(&config, &["stop", "--no-wait", "other"]);
    assert_eq!(
        (done.code(), done.out.clone()),
        (0, vec!["stopping other".to_string()])
    );
    wait_for_state(&config, "other", "stopped");
    let done = stop(running);
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_start_that_fails_or_runs_out_of_time_says_so() {
    let (_dir, config, socket) = setup(
        "change-fails",
        "[program.broken]\ncommand = [\"sh\", \"-c\", \"exit 4\"]\ntype = \"oneshot\"\n\
         [program.slow]\ncommand = \"sleep 1000\"\ntype = \"notify\"\nready_timeout = \"300ms\"\nrestart = \"no\"\n\
         [program.keep]\ncommand = \"sleep 1000\"\n",
    );
    let running = start(&config, &socket);
    // A simple program is up once started (systemd's Type=simple); a
    // oneshot once it has completed: this one fails.
    wait_for_state(&config, "broken", "failed");
    let done = client(&config, &["start", "broken"]);
    assert_eq!(done.code(), 1, "{:?}", done.out);
    assert_eq!(done.err, ["rinit: start failed: broken is failed"]);
    assert_eq!(done.out, ["broken: failed"]);
    wait_for_state(&config, "slow", "exited");
    let asked = Instant::now();
    let done = client(&config, &["start", "slow"]);
    assert_eq!(done.code(), 1, "{:?}", done.out);
    assert_eq!(done.err, ["rinit: start failed: slow is exited"]);
    assert!(asked.elapsed() < Duration::from_secs(5), "{:?}", asked.elapsed());
    let done = client(&config, &["restart", "nope"]);
    assert_eq!(
        (done.code(), done.err),
        (
            1,
            vec!["rinit: no program, instance or group named \"nope\"".to_string()]
        )
    );
    stop(running);
}

#[test]
fn groups_name_several_programs_and_manual_programs_wait_for_start() {
    let (_dir, config, socket) = setup(
        "groups",
        "[program.web]\ncommand = \"sleep 1000\"\n[program.worker]\ncommand = \"sleep 1000\"\nafter = [\"web\"]\n\
         [program.other]\ncommand = \"sleep 1000\"\n\
         [program.manual]\ncommand = \"sleep 1000\"\nautostart = false\n\
         [program.needs]\ncommand = \"sleep 1000\"\nafter = [\"manual\"]\n\
         [group.app]\nprograms = [\"worker\", \"web\"]\n",
    );
    let running = start(&config, &socket);
    wait_for_state(&config, "worker", "ready");
    // Declared, not started: shown as stopped; what comes after it waits.
    let done = client(&config, &["status", "manual", "needs"]);
    let states: Vec<&str> = done.out[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(states, ["stopped", "starting"], "{:?}", done.out);
    // status of a group: its members only, in start order.
    let done = client(&config, &["status", "app"]);
    let names: Vec<&str> = done.out[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker"]);
    // restart of a group: both members get new pids, the others keep theirs.
    let before: Vec<Option<i32>> = ["web", "worker", "other"]
        .iter()
        .map(|n| pid_of(&config, n))
        .collect();
    let done = client(&config, &["restart", "app"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    let after: Vec<Option<i32>> = ["web", "worker", "other"]
        .iter()
        .map(|n| pid_of(&config, n))
        .collect();
    assert_ne!(before[0], after[0]);
    assert_ne!(before[1], after[1]);
    assert_eq!(before[2], after[2], "other is not in the group");
    // supervisord's spelling.
    let done = client(&config, &["stop", "app:*"]);
    assert_eq!(done.out, ["web: stopped", "worker: stopped"], "{:?}", done.err);
    let done = client(&config, &["start", "app:*"]);
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
    // A manual program starts on request; what waits for it follows.
    let done = client(&config, &["start", "manual"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    wait_for_state(&config, "needs", "ready");
    stop(running);
}

#[test]
fn status_exit_code_for_a_critical_program_in_backoff_stopped_or_unhealthy() {
    let (dir, config, socket) = setup(
        "status-states",
        "[program.flaky]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\ncritical = true\nrestart_delay = \"1h\"\n\
         [program.held]\ncommand = \"sleep 1000\"\ncritical = true\n\
         [program.sick]\ncommand = [\"sh\", \"-c\", \"trap '' USR1; exec sleep 1000\"]\ncritical = true\n\
         stop_signal = \"USR1\"\nstop_timeout = \"2s\"\n\
         health = { command = [\"test\", \"!\", \"-e\", \"sick\"], interval = \"100ms\", retries = 1 }\n",
    );
    let running = start(&config, &socket);
    wait_for_state(&config, "held", "ready");
    wait_for_state(&config, "flaky", "backoff");
    assert_eq!(client(&config, &["status", "-q", "held"]).code(), 0);
    assert_eq!(
        client(&config, &["status", "-q", "flaky"]).code(),
        1,
        "backoff is not up"
    );
    assert_eq!(client(&config, &["stop", "held"]).code(), 0);
    assert_eq!(
        client(&config, &["status", "-q", "held"]).code(),
        1,
        "stopped is not up"
    );
    // sick's check fails once: it is unhealthy, and (its stop signal
    // ignored) stays so for its 2 s stop_timeout while the probe looks.
    std::fs::write(dir.join("sick"), "").unwrap();
    wait_for_state(&config, "sick", "unhealthy");
    assert_eq!(
        client(&config, &["status", "-q", "sick"]).code(),
        1,
        "unhealthy is not up"
    );
    stop(running);
}
