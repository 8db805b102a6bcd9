//! The read-only HTTP server (`[rinit] http`) with rinit as PID 1: every
//! endpoint's status and body, `/readyz` and `/livez` following a program
//! through its states, `/metrics` read by Prometheus's own parser
//! (prometheus_client), no wake-up while nobody is connected, a port that
//! cannot be bound, and clients that misbehave — a slowloris, 1,000 idle
//! connections, a 1 MiB header, garbage, a disconnect mid-answer — each
//! followed by a request answered within 100 ms and rinit's descriptors
//! back where they were.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A directory with `rinit.toml`: `[rinit] http` on a free port and a
/// control socket in the directory, then `programs` (`@DIR@` for the
/// directory). Returns (dir, config, port).
fn setup(tag: &str, programs: &str) -> (PathBuf, PathBuf, u16) {
    let dir = temp_dir(tag);
    let port = free_port();
    let config = dir.join("rinit.toml");
    let text = format!(
        "[rinit]\nhttp = \"127.0.0.1:{port}\"\ncontrol_socket = \"{}/rinit.sock\"\n\n{}",
        dir.display(),
        programs.replace("@DIR@", dir.to_str().unwrap())
    );
    std::fs::write(&config, text).unwrap();
    (dir, config, port)
}

/// rinit as PID 1 on `config`, once its port accepts connections.
fn start(config: &Path, port: u16) -> Running {
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.current_dir(config.parent().unwrap());
    let running = Running::start(cmd);
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

/// An answer: status code, head lines, body.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    head: Vec<String>,
    pub body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().find_map(|line| {
            let (key, value) = line.split_once(": ")?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
    }
}

/// Splits one answer off the front of `bytes` (by its Content-Length).
fn split_answer(bytes: &[u8]) -> Option<(Answer, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n").map(str::to_string);
    let status = lines.next().unwrap();
    let code = status.split(' ').nth(1).unwrap().parse().unwrap();
    let head: Vec<String> = lines.collect();
    let length: usize = head
        .iter()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.parse().unwrap());
    let body_start = end + 4;
    let body = bytes.get(body_start..body_start + length)?;
    let answer = Answer {
        code,
        head,
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    Some((answer, body_start + length))
}

/// One request on a new connection (`Connection: close`), with a time limit.
fn request(port: u16, method: &str, path: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    if method == "HEAD" {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert_eq!(end + 4, bytes.len(), "HEAD answered with a body");
        bytes.truncate(end + 4);
        let head = String::from_utf8(bytes).unwrap();
        let mut lines = head.trim_end().split("\r\n").map(str::to_string);
        let code = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        return Answer {
            code,
            head: lines.collect(),
            body: String::new(),
        };
    }
    let (answer, used) = split_answer(&bytes).unwrap_or_else(|| panic!("not an answer: {bytes:?}"));
    assert_eq!(used, bytes.len(), "bytes after the answer");
    answer
}

/// `GET path` on a new connection.
pub fn get(port: u16, path: &str) -> Answer {
    request(port, "GET", path)
}

/// Polls `GET path` until `want` holds for its answer; panics after PATIENCE.
fn wait_for(port: u16, path: &str, want: impl Fn(&Answer) -> bool, what: &str) -> Answer {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = get(port, path);
        if want(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{path} never {what}: last {answer:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state of instance `name` in `/status`.
fn state_of(port: u16, name: &str) -> (String, Option<i64>) {
    let status: serde_json::Value = serde_json::from_str(&get(port, "/status").body).unwrap();
    let instance = status
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"));
    (
        instance["state"].as_str().unwrap().to_string(),
        instance["pid"].as_i64(),
    )
}

pub fn wait_for_state(port: u16, name: &str, state: &str) -> Option<i64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (now, pid) = state_of(port, name);
        if now == state {
            return pid;
        }
        assert!(Instant::now() < deadline, "{name} never {state}: still {now}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// rinit's open descriptors.
fn descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// `GET /readyz` on a new connection is answered within 100 ms.
#[track_caller]
fn answers_quickly(port: u16, after: &str) {
    let started = Instant::now();
    let answer = get(port, "/readyz");
    let took = started.elapsed();
    assert_eq!(answer.code, 200, "after {after}: {answer:?}");
    assert!(
        took < Duration::from_millis(100),
        "after {after}: answered in {took:?}"
    );
}

/// Waits until rinit has `count` descriptors open again.
#[track_caller]
fn descriptors_back_to(pid: i32, count: usize, after: &str) {
    let deadline = Instant::now() + PATIENCE;
    while descriptors(pid) != count {
        assert!(
            Instant::now() < deadline,
            "after {after}: {} descriptors, {count} before",
            descriptors(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `/metrics` as prometheus_client's parser reads it: one sorted line per
/// sample, `name{label="value",...} value`.
fn parsed_metrics(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
lines = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        lines.append("%s|%s{%s} %s" % (family.type, s.name, labels, float(s.value)))
print("\n".join(sorted(lines)))
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    python.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client could not parse /metrics (pip install prometheus_client): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// SIGTERM, and rinit's exit code is `code`.
fn stop(rinit: Running, code: i32) {
    send(rinit.rinit_pid(), libc::SIGTERM);
    let done = rinit.finish();
    assert_eq!(done.code(), code, "{:?}", done.err);
}

const PROGRAMS: &str = r#"
[program.migrate]
command = "true"
type = "oneshot"

[program.web]
command = "sleep 1000"
ready = { file = "@DIR@/web-ready" }
critical = true
after = ["migrate"]

[program.worker]
command = "sleep 1000"
instances = 2
"#;

// ------------------------------------------------------------------ endpoints

#[test]
fn every_endpoint_answers_with_its_status_and_body() {
    let (dir, config, port) = setup("http-endpoints", PROGRAMS);
    std::fs::write(dir.join("web-ready"), "").unwrap();
    let rinit = start(&config, port);
    let ready = wait_for(port, "/readyz", |a| a.code == 200, "200");
    assert_eq!(ready.body, "ok\n");
    assert_eq!(ready.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(get(port, "/healthz").body, "ok\n");
    let live = get(port, "/livez");
    assert_eq!((live.code, live.body.as_str()), (200, "ok\n"));

    // /status is `rinit status --json`, but for how long each has run.
    let status = get(port, "/status");
    assert_eq!(status.header("Content-Type"), Some("application/json"));
    let client = run(plain(&["status", "--json", "-c", config.to_str().unwrap()]));
    let without_uptime = |text: &str| {
        let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
        for instance in value.as_array_mut().unwrap() {
            instance.as_object_mut().unwrap().remove("uptime_ms");
        }
        value
    };
    assert_eq!(
        without_uptime(&status.body),
        without_uptime(&client.out.join("\n"))
    );
    let names: Vec<_> = without_uptime(&status.body)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {}", i["name"].as_str().unwrap(), i["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        ["migrate done", "web ready", "worker.0 ready", "worker.1 ready"]
    );

    // The page: the table, rows as `rinit status` shows them, nothing from elsewhere.
    let page = get(port, "/");
    assert_eq!(
        (page.code, page.header("Content-Type")),
        (200, Some("text/html; charset=utf-8"))
    );
    for row in [
        "<td>web</td><td>ready</td>",
        "<td>migrate</td><td>done</td>",
        "<td>worker.1</td><td>ready</td>",
    ] {
        assert!(page.body.contains(row), "{row} not in {}", page.body);
    }
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "an external asset"
    );
    assert!(
        page.body.contains("fetch(\"/status\""),
        "the page does not refresh itself"
    );

    let metrics = get(port, "/metrics");
    assert_eq!(
        metrics.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(metrics
        .body
        .contains("rinit_program_ready{program=\"worker\",instance=\"worker.1\"} 1\n"));

    // HEAD: the same head, no body.
    let head = request(port, "HEAD", "/livez");
    assert_eq!((head.code, head.header("Content-Length")), (200, Some("3")));
    let missing = get(port, "/admin");
    assert_eq!(
        (missing.code, missing.body.as_str()),
        (404, "not found: try /, /status, /readyz, /livez or /metrics\n")
    );
    let post = request(port, "POST", "/status");
    assert_eq!((post.code, post.header("Allow")), (405, Some("GET, HEAD")));
    assert_eq!(post.body, "405 Method Not Allowed\n");
    stop(rinit, 0);
}

#[test]
fn keep_alive_serves_requests_one_after_another_on_one_connection() {
    let (dir, config, port) = setup("http-keep-alive", PROGRAMS);
    std::fs::write(dir.join("web-ready"), "").unwrap();
    let rinit = start(&config, port);
    wait_for(port, "/readyz", |a| a.code == 200, "200");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut bytes = Vec::new();
    // One at a time, then two sent together (pipelined): four answers in order.
    for requests in [&["/livez"][..], &["/readyz"], &["/status", "/livez"]] {
        for path in requests {
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        let mut answers = Vec::new();
        while answers.len() < requests.len() {
            match split_answer(&bytes) {
                Some((answer, used)) => {
                    bytes.drain(..used);
                    answers.push(answer);
                }
                None => {
                    let mut buf = [0u8; 65536];
                    let n = stream.read(&mut buf).unwrap();
                    assert!(n > 0, "closed after {} answers", answers.len());
                    bytes.extend_from_slice(&buf[..n]);
                }
            }
        }
        assert!(answers
            .iter()
            .all(|a| a.code == 200 && a.header("Connection").is_none()));
    }
    // HTTP/1.0 without keep-alive: one answer, then the connection closes.
    let mut old = TcpStream::connect(("127.0.0.1", port)).unwrap();
    old.set_read_timeout(Some(PATIENCE)).unwrap();
    old.write_all(b"GET /livez HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    old.read_to_end(&mut all).unwrap();
    let (answer, used) = split_answer(&all).unwrap();
    assert_eq!(
        (answer.code, answer.header("Connection"), used),
        (200, Some("close"), all.len())
    );
    stop(rinit, 0);
}

#[test]
fn readyz_and_livez_follow_a_program_through_its_states() {
    // web: after a gate (a oneshot waiting on a FIFO), ready when its file
    // exists, unhealthy when "sick" exists; it ignores SIGTERM, so an
    // unhealthy stop lasts its stop_timeout (30 s) unless rinit is told twice.
    let (dir, config, port) = setup(
        "http-probes",
        r#"
[program.gate]
command = ["sh", "-c", "read line < @DIR@/fifo"]
type = "oneshot"

[program.web]
command = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
after = ["gate"]
critical = true
ready = { file = "@DIR@/ready" }
health = { command = ["sh", "-c", "test ! -e @DIR@/sick"], interval = "100ms", retries = 1 }
restart_delay = "2s"
stop_timeout = "30s"
"#,
    );
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let rinit = start(&config, port);
    let probe = |path: &str| {
        let answer = get(port, path);
        (answer.code, answer.body)
    };
    wait_for_state(port, "web", "starting");
    assert_eq!(probe("/readyz"), (503, "not ready: web (starting)\n".into()));
    assert_eq!(probe("/livez"), (200, "ok\n".into()));

    std::fs::write(&fifo, "go\n").unwrap();
    wait_for_state(port, "web", "running");
    assert_eq!(probe("/readyz"), (503, "not ready: web (running)\n".into()));

    std::fs::write(dir.join("ready"), "").unwrap();
    let pid = wait_for_state(port, "web", "ready").unwrap();
    assert_eq!(probe("/readyz"), (200, "ok\n".into()));
    assert_eq!(probe("/healthz"), (200, "ok\n".into()));

    // A crash: backoff (not ready, still live), then up again.
    let rinit_pid = rinit.rinit_pid();
    let host_pid = pid_in_host(rinit_pid, pid as i32);
    send(host_pid, libc::SIGKILL);
    wait_for_state(port, "web", "backoff");
    assert_eq!(probe("/readyz"), (503, "not ready: web (backoff)\n".into()));
    assert_eq!(probe("/livez"), (200, "ok\n".into()));
    wait_for_state(port, "web", "ready");

    // Unhealthy: neither ready nor live while it is stopped.
    std::fs::write(dir.join("sick"), "").unwrap();
    wait_for_state(port, "web", "unhealthy");
    assert_eq!(probe("/livez"), (503, "not live: web (unhealthy)\n".into()));
    assert_eq!(probe("/readyz"), (503, "not ready: web (unhealthy)\n".into()));

    // Told twice, rinit stops at once.
    send(rinit_pid, libc::SIGTERM);
    send(rinit_pid, libc::SIGTERM);
    let done = rinit.finish();
    // web, SIGKILLed, did not end cleanly.
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

/// The host pid of the process that is `inner` in rinit's namespace.
fn pid_in_host(rinit_pid: i32, inner: i32) -> i32 {
    let children = std::fs::read_to_string(format!("/proc/{rinit_pid}/task/{rinit_pid}/children")).unwrap();
    for child in children.split_whitespace() {
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap();
        if nspid.split_whitespace().last() == Some(&inner.to_string()) {
            return child.parse().unwrap();
        }
    }
    panic!("no child of rinit is pid {inner} inside");
}

// -------------------------------------------------------------------- metrics

#[test]
fn metrics_parse_as_prometheus_and_count_reaping_and_forwarding() {
    let (dir, config, port) = setup(
        "http-metrics",
        r#"
[program.orphans]
command = ["sh", "-c", "sleep 0.05 & sleep 0.05 & exit 3"]
restart = "no"

[program.hup]
command = ["sh", "-c", "trap 'echo HUP' HUP; while :; do sleep 1 & wait; done"]
instances = 2
"#,
    );
    let rinit = start(&config, port);
    wait_for_state(port, "orphans", "exited");
    wait_for_state(port, "hup.1", "ready");
    // sh and its two orphans.
    wait_for(
        port,
        "/metrics",
        |a| a.body.contains("rinit_zombies_reaped_total 3\n"),
        "3 reaped",
    );
    send(rinit.rinit_pid(), libc::SIGHUP);
    let metrics = wait_for(
        port,
        "/metrics",
        |a| a.body.contains("rinit_signals_forwarded_total 2\n"),
        "2 forwarded",
    );
    let samples = parsed_metrics(&metrics.body);
    for sample in [
        "gauge|rinit_build_info{version=\"0.1.0\"} 1.0",
        "counter|rinit_zombies_reaped_total{} 3.0",
        "counter|rinit_signals_forwarded_total{} 2.0",
        "gauge|rinit_program_up{instance=\"orphans\",program=\"orphans\"} 0.0",
        "gauge|rinit_program_up{instance=\"hup.0\",program=\"hup\"} 1.0",
        "gauge|rinit_program_ready{instance=\"hup.1\",program=\"hup\"} 1.0",
        "gauge|rinit_program_state{instance=\"orphans\",program=\"orphans\",state=\"exited\"} 1.0",
        "gauge|rinit_program_state{instance=\"orphans\",program=\"orphans\",state=\"ready\"} 0.0",
        "gauge|rinit_program_last_exit_code{instance=\"orphans\",program=\"orphans\"} 3.0",
        "counter|rinit_program_restarts_total{instance=\"hup.0\",program=\"hup\"} 0.0",
        "gauge|rinit_program_uptime_seconds{instance=\"orphans\",program=\"orphans\"} 0.0",
    ] {
        assert!(
            samples.iter().any(|s| s == sample),
            "{sample} not in {samples:#?}"
        );
    }
    // Ten states per instance, one of them 1.
    let states = samples
        .iter()
        .filter(|s| s.contains("rinit_program_state{instance=\"hup.0\""))
        .count();
    assert_eq!(states, 10);
    assert!(samples
        .iter()
        .any(|s| s.starts_with("gauge|rinit_uptime_seconds{} ")));
    let _ = dir;
    // orphans' exit 3 was not clean.
    stop(rinit, 1);
}

// ------------------------------------------------------------ costs, errors

#[test]
fn no_wake_up_while_nobody_is_connected() {
    let (dir, config, port) = setup("http-idle", PROGRAMS);
    std::fs::write(dir.join("web-ready"), "").unwrap();
    let rinit = start(&config, port);
    wait_for(port, "/readyz", |a| a.code == 200, "200");
    let pid = rinit.rinit_pid();
    let switches = || {
        proc_status(pid, "voluntary_ctxt_switches")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    // The last connection's close reaches rinit first.
    std::thread::sleep(Duration::from_millis(200));
    let before = switches();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(switches(), before, "rinit woke up with nobody connected");
    stop(rinit, 0);
}

#[test]
fn a_port_that_cannot_be_bound_is_one_warning_and_rinit_runs_on() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = temp_dir("http-taken");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        format!(
            "[rinit]\nhttp = \"127.0.0.1:{port}\"\ncontrol_socket = \"{}/rinit.sock\"\n\n[program.a]\ncommand = \"sleep 1000\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.current_dir(&dir);
    let mut rinit = Running::start(cmd);
    rinit.expect_err(
        |l| {
            l == format!(
                "rinit: http 127.0.0.1:{port}: Address already in use; running without the status page"
            )
        },
        "the one warning",
    );
    let deadline = Instant::now() + PATIENCE;
    while !run(plain(&["status", "a", "-c", config.to_str().unwrap()]))
        .out
        .join("\n")
        .contains("ready")
    {
        assert!(Instant::now() < deadline, "a never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    send(rinit.rinit_pid(), libc::SIGTERM);
    let done = rinit.finish();
    assert_eq!(done.code(), 0);
    let warnings = done.err.iter().filter(|l| l.contains("status page")).count();
    assert_eq!(warnings, 1, "{:?}", done.err);
}

#[test]
fn bad_http_addresses_are_configuration_errors() {
    for (value, message) in [
        (
            "\"nope\"",
            ":2:8: key http: \"nope\" is not IP:PORT: expected e.g. \"127.0.0.1:9001\", \"0.0.0.0:9001\" or \
             \"[::]:9001\" (no host names: rinit has no DNS), or \"\" for off",
        ),
        (
            "9001",
            ":2:8: key http: invalid type: integer `9001`, expected a string",
        ),
    ] {
        let dir = temp_dir("http-bad");
        let config = dir.join("rinit.toml");
        std::fs::write(
            &config,
            format!("[rinit]\nhttp = {value}\n\n[program.a]\ncommand = \"true\"\n"),
        )
        .unwrap();
        let done = run(plain(&["check", "-c", config.to_str().unwrap()]));
        assert_eq!(
            (done.code(), done.err),
            (2, vec![format!("rinit: {}{message}", config.display())])
        );
    }
}

// ---------------------------------------------------------------- bad clients

/// A client socket with a small receive buffer (so that a long answer
/// cannot all be sent at once), connected to `port`.
fn small_window_client(port: u16) -> TcpStream {
    // SAFETY: socket(2), setsockopt(2) on it, connect(2) with a live
    // sockaddr_in; the descriptor is handed to TcpStream, which owns it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 2048;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let connected = libc::connect(
            fd,
            (&raw const address).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(connected, 0, "{}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// Raises this process's open-files limit to `count` (for 1,000 clients).
fn allow_descriptors(count: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a live struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(count.max(limit.rlim_cur));
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Over 50 lines: five clients, each followed by the same two checks.
#[test]
fn bad_clients_leave_rinit_answering_and_its_descriptors_as_they_were() {
    let (dir, config, port) = setup(
        "http-bad-clients",
        "[program.many]\ncommand = \"sleep 1000\"\ninstances = 200\n\n[program.web]\ncommand = \"sleep 1000\"\nready = { file = \"@DIR@/web-ready\" }\ncritical = true\n",
    );
    std::fs::write(dir.join("web-ready"), "").unwrap();
    let rinit = start(&config, port);
    wait_for(port, "/readyz", |a| a.code == 200, "200");
    let pid = rinit.rinit_pid();
    std::thread::sleep(Duration::from_millis(100));
    let baseline = descriptors(pid);

    // A slowloris: a byte a second. Others are served meanwhile; rinit
    // closes it at its 5 s deadline, without an answer.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for byte in b"GET /".iter() {
        slow.write_all(&[*byte]).unwrap();
        answers_quickly(port, "a slowloris's byte");
        std::thread::sleep(Duration::from_secs(1));
    }
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        closed.is_ok() && rest.is_empty(),
        "the slowloris got {closed:?} {rest:?}"
    );
    answers_quickly(port, "a slowloris");
    descriptors_back_to(pid, baseline, "a slowloris");

    // 1,000 idle connections: the oldest make room for the newest.
    allow_descriptors(1200);
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    answers_quickly(port, "1,000 idle connections");
    let open = descriptors(pid);
    assert!(
        open <= baseline + 64,
        "{open} descriptors with 1,000 idle clients ({baseline} before)"
    );
    drop(idle);
    descriptors_back_to(pid, baseline, "1,000 idle connections");

    // A 1 MiB header: 431 once the head passes 8 KiB, then closed.
    let mut big = TcpStream::connect(("127.0.0.1", port)).unwrap();
    big.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut header = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    header.resize(1 << 20, b'a');
    let mut writer = big.try_clone().unwrap();
    // (The whole MiB may fit in the sockets' buffers: whether the write
    // fails says nothing.)
    let sender = std::thread::spawn(move || writer.write_all(&header));
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    drop(big);
    let _ = sender.join();
    answers_quickly(port, "a 1 MiB header");
    descriptors_back_to(pid, baseline, "a 1 MiB header");

    // Garbage: 400, closed.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    garbage.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{answer:?}");
    answers_quickly(port, "garbage");
    descriptors_back_to(pid, baseline, "garbage");

    // A client that asks for /metrics (about 200 kB here), takes a little,
    // and goes away.
    let mut gone = small_window_client(port);
    gone.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    assert!(gone.read(&mut first).unwrap() > 0);
    drop(gone);
    answers_quickly(port, "a disconnect mid-answer");
    descriptors_back_to(pid, baseline, "a disconnect mid-answer");
    stop(rinit, 0);
}

#[test]
fn an_answer_that_waited_for_its_reader_leaves_the_next_request_its_own_time() {
    // Five pipelined /metrics answers of about 930 kB each (1,000
    // instances) to a client with a small window that reads nothing for
    // 3 s: more than the kernel's socket buffers hold (4 MiB at most), so the
    // last answers wait for the reader. Read at 3 s, the connection has 5 s
    // from then for its next request, not from when the requests came.
    let (_dir, config, port) = setup(
        "http-deadline",
        "[program.many]\ncommand = \"sleep 1000\"\ninstances = 1000\n",
    );
    let rinit = start(&config, port);
    wait_for_state(port, "many.999", "ready");
    let mut client = small_window_client(port);
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    for _ in 0..5 {
        client.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut bytes = Vec::new();
    let mut answers = 0;
    while answers < 5 {
        match split_answer(&bytes) {
            Some((answer, used)) => {
                assert_eq!(answer.code, 200);
                bytes.drain(..used);
                answers += 1;
            }
            None => {
                let mut buf = [0u8; 65536];
                let n = client.read(&mut buf).unwrap();
                assert!(n > 0, "closed after {answers} answers");
                bytes.extend_from_slice(&buf[..n]);
            }
        }
    }
    // 5.5 s after the requests, 2.5 s after the last answer went out.
    std::thread::sleep(Duration::from_millis(2500));
    client.write_all(b"GET /livez HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = client.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"),
        "closed before its time: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    stop(rinit, 0);
}

/// One `GET /readyz` on a new connection; None when the connection was
/// closed without an answer.
fn readyz_answered(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    split_answer(&bytes).map(|(answer, _)| answer.code)
}

#[test]
fn probes_are_answered_during_a_flood_of_idle_connections() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_dir, config, port) = setup("http-idle-flood", "[program.app]\ncommand = \"sleep 1000\"\n");
    let rinit = start(&config, port);
    wait_for_state(port, "app", "ready");
    // Two threads keep opening connections that never send a request, 200
    // at a time: far more than the 64 rinit serves at once.
    let stop_flood = std::sync::Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let stop_flood = stop_flood.clone();
            std::thread::spawn(move || {
                let mut opened = 0u64;
                while !stop_flood.load(Ordering::Relaxed) {
                    let held: Vec<TcpStream> = (0..200)
                        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                        .collect();
                    opened += held.len() as u64;
                }
                opened
            })
        })
        .collect();
    let (mut asked, mut unanswered) = (0, 0);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        asked += 1;
        match readyz_answered(port) {
            Some(200) => {}
            Some(code) => panic!("/readyz answered {code}"),
            None => unanswered += 1,
        }
    }
    stop_flood.store(true, Ordering::Relaxed);
    let opened: u64 = flooders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(opened > 1000, "the flood opened only {opened} connections");
    assert!(asked >= 20, "only {asked} probes in 3 s");
    // A probe whose request has not reached rinit yet, while 64 newer idle
    // connections arrive (its client descheduled between connect and
    // write, on a loaded machine), looks like one more idle connection: at
    // most one in a thousand. Before the eviction kept waiting requests,
    // 41 % went unanswered.
    assert!(
        unanswered * 1000 <= asked,
        "{unanswered} of {asked} probes closed unanswered ({opened} idle connections)"
    );
    stop(rinit, 0);
}
