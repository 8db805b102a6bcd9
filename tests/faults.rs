//! rinit as PID 1 under the faults operators meet: a reader of its stderr or
//! stdout that stalls. Each test asserts that reaping goes on (no zombie
//! survives two samples), that memory stays bounded, and that SIGTERM still
//! ends rinit within its shutdown_timeout.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// rinit as PID 1 (`-c CONFIG`), with stdout and stderr as given, stdin
/// closed; killed with its namespace if the test fails.
struct Pid1(Child);

impl Pid1 {
    fn start(config: &std::path::Path, stdout: Stdio, stderr: Stdio) -> Pid1 {
        let child = pid1(&["-c", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        Pid1(child)
    }

    /// rinit's pid in our namespace (unshare's only child).
    fn rinit(&self) -> i32 {
        only_child(self.0.id() as i32)
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The zombie children of `parent` now.
fn zombies_of(parent: i32) -> BTreeSet<i32> {
    let children =
        std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|pid| pid.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// No zombie of `parent` survives from one sample to the next, 0.5 s later.
#[track_caller]
fn assert_reaping_goes_on(parent: i32) {
    let first = zombies_of(parent);
    std::thread::sleep(Duration::from_millis(500));
    let second = zombies_of(parent);
    let stuck: Vec<_> = first.intersection(&second).collect();
    assert!(stuck.is_empty(), "zombies not reaped in 0.5 s: {stuck:?}");
}

/// Sends SIGTERM and asserts that rinit (and its namespace) is gone within `limit`.
#[track_caller]
fn assert_sigterm_ends_it_within(pid1: &mut Pid1, limit: Duration) {
    let asked = Instant::now();
    send(pid1.rinit(), libc::SIGTERM);
    wait_timeout(&mut pid1.0, limit + Duration::from_secs(5));
    let took = asked.elapsed();
    assert!(
        took <= limit,
        "SIGTERM took {took:?} to end rinit (limit {limit:?})"
    );
}

fn kib(field: &str, pid: i32) -> u64 {
    proc_status(pid, field)
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{field} of {pid}"))
}

/// A crash loop with no delay and no start limit, and a steady stream of
/// orphans that PID 1 must reap.
const BUSY: &str = r#"
[program.crash]
command = ["sh", "-c", "exit 1"]
restart_delay = "0"
start_limit_burst = 0

[program.orphans]
command = ["sh", "-c", "while :; do (sleep 0.05 &); sleep 0.02; done"]
"#;

#[test]
fn a_stderr_nobody_reads_never_stops_reaping_or_the_shutdown() {
    // rinit writes a line for every crash: the pipe fills in well under a
    // second, and a blocking write would freeze PID 1 there.
    let dir = temp_dir("stalled-stderr");
    let config = dir.join("rinit.toml");
    std::fs::write(&config, format!("[rinit]\nshutdown_timeout = \"3s\"\n{BUSY}")).unwrap();
    let mut pid1 = Pid1::start(&config, Stdio::null(), Stdio::piped());
    let _never_read = pid1.0.stderr.take();
    std::thread::sleep(Duration::from_secs(8));
    let rinit = pid1.rinit();
    assert_reaping_goes_on(rinit);
    // Its own messages wait in a bounded queue: memory stays flat.
    assert!(
        kib("VmHWM", rinit) < 8 * 1024,
        "peak RSS {} kB",
        kib("VmHWM", rinit)
    );
    assert_sigterm_ends_it_within(&mut pid1, Duration::from_secs(3));
}

#[test]
fn a_stdout_nobody_reads_keeps_prefixed_output_bounded() {
    // 30 kB written, then a crash, in a loop: each run's output lands in
    // the pipe and is read when the program ends, whatever is queued.
    let dir = temp_dir("stalled-stdout");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        format!(
            "[rinit]\nshutdown_timeout = \"3s\"\noutput = \"prefix\"\n{BUSY}\n\
             [program.chatty]\ncommand = [\"sh\", \"-c\", \"head -c 30000 /dev/zero | tr '\\\\0' x; echo; exit 1\"]\n\
             restart_delay = \"0\"\nstart_limit_burst = 0\n"
        ),
    )
    .unwrap();
    let mut pid1 = Pid1::start(&config, Stdio::piped(), Stdio::piped());
    let _never_read = (pid1.0.stdout.take(), pid1.0.stderr.take());
    let rinit = pid1.rinit();
    let started = Instant::now();
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(kib("VmRSS", rinit));
    }
    let peak = kib("VmHWM", rinit);
    // docs/configuration.md ("Output") states this bound.
    assert!(peak < 8 * 1024, "peak RSS {peak} kB; samples {rss:?}");
    assert_reaping_goes_on(rinit);
    assert_sigterm_ends_it_within(&mut pid1, Duration::from_secs(3));
}

#[test]
fn a_reader_that_comes_back_learns_how_many_lines_were_dropped() {
    // stderr is a pipe read only once the crash loop has overflowed it.
    let dir = temp_dir("dropped");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        "[program.crash]\ncommand = [\"sh\", \"-c\", \"exit 1\"]\nrestart_delay = \"0\"\nstart_limit_burst = 0\n",
    )
    .unwrap();
    let mut pid1 = Pid1::start(&config, Stdio::null(), Stdio::piped());
    let stderr = pid1.0.stderr.take().unwrap();
    // 64 KiB of pipe and 64 KiB of queue hold about 2,000 of its lines.
    std::thread::sleep(Duration::from_secs(3));
    let lines = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.0.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let notice = loop {
        let line = lines
            .1
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no notice of dropped lines");
        if line.contains("dropped") {
            break line;
        }
    };
    let count = notice
        .strip_prefix("rinit: ")
        .and_then(|rest| rest.strip_suffix(" lines dropped: stderr was not read fast enough"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n > 0), "{notice:?}");
    assert_sigterm_ends_it_within(&mut pid1, Duration::from_secs(9));
}

#[test]
fn a_check_reaped_with_its_program_is_never_signalled() {
    // The ready check kills its program and exits: both are reaped in the
    // same batch. Handling the program's exit abandons its readiness; the
    // check's group must not get the SIGKILL then (its pid was collected).
    let dir = temp_dir("check-race");
    let pidfile = dir.join("pid");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        format!(
            "[program.victim]\ncommand = [\"sh\", \"-c\", \"echo $$ > {p}; exec sleep 1000\"]\n\
             ready = {{ command = [\"sh\", \"-c\", \"v=$(cat {p} 2>/dev/null) && rm {p} && kill -9 $v; exit 1\"] }}\n\
             restart_delay = \"0\"\nstart_limit_burst = 20\nstart_limit_interval = \"1h\"\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let trace = dir.join("trace");
    // Not PID 1: strace follows rinit and its children; every pid is in one namespace.
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=kill,wait4,execve", "-o"])
        .arg(&trace)
        .arg(rinit())
        .args(["-c", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace (apt-get install strace)");
    assert_eq!(status.code(), Some(1));
    let trace = std::fs::read_to_string(&trace).unwrap();
    let rinit_pid = trace
        .lines()
        .find(|l| l.contains(&format!("execve(\"{}\"", rinit().display())))
        .and_then(|l| l.split_whitespace().next())
        .expect("rinit's execve in the trace")
        .to_string();
    let mut reaped = BTreeSet::new();
    let mut violations = Vec::new();
    for line in trace.lines().filter(|l| l.starts_with(&format!("{rinit_pid} "))) {
        if let Some((_, result)) = line
            .split_once("wait4(-1,")
            .and_then(|(_, rest)| rest.rsplit_once(") = "))
        {
            if let Ok(pid) = result.trim().parse::<i32>() {
                reaped.insert(pid);
            }
        } else if let Some(args) = line.split_once("kill(").map(|(_, rest)| rest) {
            let target: i32 = args.split(',').next().unwrap().trim().parse().unwrap();
            if target < -1 && reaped.contains(&-target) {
                violations.push(line.to_string());
            }
        }
    }
    assert!(reaped.len() > 20, "the scenario did not run: {trace}");
    assert!(violations.is_empty(), "signalled reaped groups: {violations:?}");
}
