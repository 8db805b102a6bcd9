//! rinit as PID 1 under the faults operators meet: a reader of its stderr or
//! stdout that stalls, a crash loop, a signal storm, too few descriptors or
//! processes, double-forking daemons, a program that closes its stdout. Each
//! test asserts that rinit stays alive, that reaping goes on (no zombie
//! survives two samples 0.5 s apart), that its descriptors and memory stay
//! flat, and that SIGTERM still ends it within its shutdown_timeout.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

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

    /// rinit's pid in our namespace: unshare's only child, once it runs
    /// rinit (unshare forks, and sh may exec it, a moment after the spawn).
    fn rinit(&self) -> i32 {
        let unshare = self.0.id() as i32;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
                .unwrap_or_default();
            let exe = |pid: &str| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            if let Some(pid) = children.split_whitespace().next() {
                if exe(pid).is_some_and(|exe| exe.file_name() == Some(std::ffi::OsStr::new("rinit"))) {
                    return pid.parse().unwrap();
                }
            }
            assert!(
                Instant::now() < deadline,
                "rinit did not start under unshare {unshare}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Pid1 {
    /// rinit first: a change of user on the way (setpriv) clears
    /// --kill-child's parent-death signal.
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let unshare = self.0.id();
            let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"));
            for pid in children.unwrap_or_default().split_whitespace() {
                unsafe { libc::kill(pid.parse().unwrap_or(0), libc::SIGKILL) };
            }
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
    // 30 kB written, then a crash, in a loop: each run's output waits in
    // the instance's pipe, and the next run blocks on it once it is full.
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

/// rinit as PID 1 with `config` until it ends, its stdout read 4 KiB a
/// millisecond (a few MB/s); its exit code, stdout and stderr.
fn read_slowly(config: &std::path::Path) -> (Option<i32>, String, String) {
    let mut pid1 = Pid1::start(config, Stdio::piped(), Stdio::piped());
    let mut stdout = pid1.0.stdout.take().unwrap();
    let stderr = pid1.0.stderr.take().unwrap();
    let messages = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut stdout, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = wait_timeout(&mut pid1.0, PATIENCE);
    let read = String::from_utf8(read).unwrap();
    (status.code(), read, messages.join().unwrap())
}

#[test]
fn a_slow_reader_loses_no_line_of_programs_that_end_together() {
    // Three programs write as fast as they can and end at about the same
    // time, while rinit's stdout is read at a few MB/s: what each left in
    // its pipe waits there for room, and every line comes out, in order.
    let dir = temp_dir("slow-reader");
    let config = dir.join("rinit.toml");
    let mut text = String::from("[rinit]\noutput = \"prefix\"\n");
    for name in ["a", "b", "c"] {
        text += &format!(
            "[program.{name}]\ncommand = [\"seq\", \"-f\", \"{name}-line-%g\", \"1\", \"50000\"]\nrestart = \"no\"\n"
        );
    }
    std::fs::write(&config, text).unwrap();
    let (code, read, messages) = read_slowly(&config);
    assert_eq!(code, Some(0), "{messages}");
    let mut next = [1u32; 3];
    for line in read.lines() {
        let (name, n) = line
            .split_once(" | ")
            .and_then(|(name, rest)| Some((name, rest.strip_prefix(&format!("{name}-line-"))?)))
            .unwrap_or_else(|| panic!("mangled line {line:?}; stderr: {messages}"));
        let who = ["a", "b", "c"].iter().position(|&p| p == name).unwrap();
        assert_eq!(
            n.parse::<u32>().ok(),
            Some(next[who]),
            "line {line:?} out of order"
        );
        next[who] += 1;
    }
    assert_eq!(next, [50_001; 3], "stderr: {messages}");
}

#[test]
fn a_restart_under_a_slow_reader_keeps_the_runs_in_order_and_their_last_lines_whole() {
    // Three runs, each ending with a line without a newline and restarted at
    // once, while the last run's output still waits: one run's lines all
    // come before the next one's, and each unfinished last line is a line.
    let dir = temp_dir("slow-restarts");
    let config = dir.join("rinit.toml");
    let script = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; \
                  seq -f \"run$n-%g\" 1 40000; printf \"run$n-end\"; [ $n -ge 3 ]";
    std::fs::write(
        &config,
        format!(
            "[program.runs]\ncommand = [\"sh\", \"-c\", {script:?}]\ndirectory = {:?}\n\
             output = \"prefix\"\nrestart = \"on-failure\"\nrestart_delay = \"0\"\n",
            dir.to_str().unwrap()
        ),
    )
    .unwrap();
    let (code, read, messages) = read_slowly(&config);
    assert_eq!(code, Some(0), "{messages}");
    let want: Vec<String> = (1..=3)
        .flat_map(|run| {
            (1..=40000)
                .map(move |n| format!("runs | run{run}-{n}"))
                .chain([format!("runs | run{run}-end")])
        })
        .collect();
    let got: Vec<&str> = read.lines().collect();
    let first_wrong = got.iter().zip(&want).position(|(got, want)| got != want);
    assert!(
        first_wrong.is_none() && got.len() == want.len(),
        "line {first_wrong:?} differs ({:?}); {} lines of {}; stderr: {messages}",
        first_wrong.map(|i| (got[i], &want[i])),
        got.len(),
        want.len()
    );
}

#[test]
fn a_reader_that_comes_back_learns_how_many_lines_were_dropped() {
    // stderr is a pipe read only once the crash loop has overflowed it.
    let dir = temp_dir("dropped");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        "[program.crash]\ncommand = [\"sh\", \"-c\", \"exit 1\"]\nrestart_delay = \"0\"\nstart_limit_burst = 0\n\
         instances = 4\n",
    )
    .unwrap();
    let mut pid1 = Pid1::start(&config, Stdio::null(), Stdio::piped());
    let stderr = pid1.0.stderr.take().unwrap();
    // 64 KiB of pipe and 64 KiB of queue hold about 2,000 of its lines:
    // once the pipe is full, the queue fills behind it within a second or
    // two, and lines are dropped.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int: the bytes waiting in our pipe.
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&stderr),
                libc::FIONREAD,
                &mut queued,
            )
        };
        if queued > 65536 - 4096 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rinit's stderr never filled ({queued} bytes)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
             restart_delay = \"0\"\nstart_limit_burst = 20\nstart_limit_interval = \"1h\"\nready_timeout = \"2s\"\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let trace = dir.join("trace");
    // Not PID 1: strace follows rinit and its children; every pid is in one namespace.
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=kill,wait4,execve,clone,clone3,vfork",
            "-o",
        ])
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
    let rinit_lines: Vec<&str> = trace
        .lines()
        .filter(|l| l.starts_with(&format!("{rinit_pid} ")))
        .collect();
    for (at, line) in rinit_lines.iter().enumerate() {
        if let Some((_, result)) = line
            .split_once("wait4(-1,")
            .and_then(|(_, rest)| rest.rsplit_once(") = "))
        {
            if let Ok(pid) = result.trim().parse::<i32>() {
                reaped.insert(pid);
            }
        } else if line.contains("clone") || line.contains("vfork") {
            // A pid the kernel hands out again (the whole suite runs at
            // once) is a new process: its group may be signalled.
            if let Some(pid) = line
                .rsplit_once(") = ")
                .and_then(|(_, pid)| pid.trim().parse::<i32>().ok())
            {
                reaped.remove(&pid);
            }
        } else if let Some(args) = line.split_once("kill(").map(|(_, rest)| rest) {
            let target: i32 = args.split(',').next().unwrap().trim().parse().unwrap();
            // Signal 0 sends nothing: it asks whether a stopped program's
            // group still has members (KillMode=mixed).
            let probe = args
                .split(',')
                .nth(1)
                .is_some_and(|signo| signo.trim().starts_with("0)"));
            if target < -1 && reaped.contains(&-target) && !probe {
                violations.push(rinit_lines[at.saturating_sub(12)..=at].join("\n"));
            }
        }
    }
    assert!(reaped.len() > 20, "the scenario did not run: {trace}");
    assert!(violations.is_empty(), "signalled reaped groups: {violations:?}");
}

// ------------------------------------------------------------ endurance

/// What rinit's stdout or stderr is.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// A pipe nobody reads.
    Stalled,
    Null,
    /// The file `log` in the test's directory, for what rinit says.
    File,
}

impl Reader {
    fn stdio(self, dir: &std::path::Path) -> Stdio {
        match self {
            Reader::Stalled => Stdio::piped(),
            Reader::Null => Stdio::null(),
            Reader::File => std::fs::File::create(dir.join("log")).unwrap().into(),
        }
    }
}

/// How rinit is started in its namespace: `limits` are sh `ulimit` options
/// set first; `uid` is a user to run it as (from copies it can reach).
struct Launch<'a> {
    limits: &'a str,
    uid: Option<u32>,
}

const AS_ROOT: Launch = Launch {
    limits: "",
    uid: None,
};

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// rinit's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// What `endure` measured.
struct Endured {
    /// rinit's CPU time over the run, in clock ticks (100 per second).
    cpu_ticks: u64,
    /// What rinit wrote to a `Reader::File`.
    log: String,
}

/// Runs rinit as PID 1 with `programs` (and shutdown_timeout = "3s") for
/// `run` after a second of warm-up, with `during` running beside it (given
/// rinit's pid); then asserts that rinit is alive, reaps, has as many
/// descriptors as after the warm-up (give or take a starting program's),
/// grew by at most 2 MiB and peaked under 8 MiB, and ends on SIGTERM
/// within its shutdown_timeout.
fn endure(
    tag: &str,
    programs: &str,
    readers: [Reader; 2],
    launch: Launch,
    run: Duration,
    during: impl FnOnce(i32, Duration),
) -> Endured {
    let dir = temp_dir(tag);
    let config = dir.join("rinit.toml");
    std::fs::write(&config, format!("[rinit]\nshutdown_timeout = \"3s\"\n{programs}")).unwrap();
    let binary = match launch.uid {
        Some(_) => {
            copy_binaries_to(&dir);
            dir.join("rinit")
        }
        None => rinit(),
    };
    let switch_user = launch
        .uid
        .map(|uid| format!("setpriv --reuid {uid} --regid {uid} --clear-groups "))
        .unwrap_or_default();
    let limits = if launch.limits.is_empty() {
        String::new()
    } else {
        format!("ulimit {}; ", launch.limits)
    };
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg(format!("{limits}exec {switch_user}\"$0\" -c \"$1\""))
        .arg(&binary)
        .arg(&config)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(readers[0].stdio(&dir))
        .stderr(readers[1].stdio(&dir))
        .spawn()
        .unwrap();
    let mut pid1 = Pid1(child);
    let _never_read = (pid1.0.stdout.take(), pid1.0.stderr.take());
    let rinit = pid1.rinit();
    assert_eq!(
        std::fs::read_link(format!("/proc/{rinit}/exe")).ok().as_deref(),
        Some(binary.as_path()),
        "rinit did not start"
    );
    // The warm-up: measures start from a rinit that has started its programs.
    std::thread::sleep(Duration::from_secs(1));
    let (fds, rss, ticks) = (open_fds(rinit), kib("VmRSS", rinit), cpu_ticks(rinit));
    during(rinit, run);
    assert!(
        matches!(pid1.0.try_wait(), Ok(None)),
        "rinit died: {:?}",
        pid1.0.try_wait()
    );
    let cpu_ticks = cpu_ticks(rinit) - ticks;
    assert_reaping_goes_on(rinit);
    let (fds_after, rss_after, peak) = (open_fds(rinit), kib("VmRSS", rinit), kib("VmHWM", rinit));
    assert!(fds_after <= fds + 8, "descriptors grew from {fds} to {fds_after}");
    assert!(
        rss_after <= rss + 2048,
        "RSS grew from {rss} kB to {rss_after} kB"
    );
    assert!(peak < 8 * 1024, "peak RSS {peak} kB");
    assert_sigterm_ends_it_within(&mut pid1, Duration::from_secs(3));
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    Endured { cpu_ticks, log }
}

fn just_wait(_: i32, run: Duration) {
    std::thread::sleep(run);
}

#[test]
fn a_crash_loop_without_delay_or_start_limit_for_a_minute() {
    endure(
        "crash-minute",
        BUSY,
        [Reader::Stalled, Reader::Stalled],
        AS_ROOT,
        Duration::from_secs(60),
        just_wait,
    );
}

#[test]
fn a_signal_storm_during_restarts() {
    // HUP, USR1 and WINCH at over 100,000 a second: each is forwarded to
    // every program, and HUP kills the ones without a handler (restarted).
    let programs = format!(
        "{BUSY}\n[program.trapper]\ncommand = [\"sh\", \"-c\", \"trap : USR1 WINCH; while :; do sleep 1; done\"]\n\
         restart_delay = \"0\"\nstart_limit_burst = 0\n"
    );
    endure(
        "storm",
        &programs,
        [Reader::Null, Reader::Stalled],
        AS_ROOT,
        Duration::from_secs(5),
        |rinit, run| {
            let started = Instant::now();
            let mut sent = 0u64;
            while started.elapsed() < run {
                for signo in [libc::SIGHUP, libc::SIGUSR1, libc::SIGWINCH] {
                    for _ in 0..100 {
                        unsafe { libc::kill(rinit, signo) };
                    }
                    sent += 100;
                }
            }
            let rate = sent as f64 / started.elapsed().as_secs_f64();
            assert!(rate >= 100_000.0, "only {rate:.0} signals a second");
        },
    );
}

#[test]
fn a_stalled_reader_in_each_output_mode() {
    // Programs that write both streams as fast as they can, beside the crash
    // loop, with rinit's stdout, then its stderr, never read.
    for output in ["inherit", "prefix", "null"] {
        for readers in [[Reader::Stalled, Reader::Null], [Reader::Null, Reader::Stalled]] {
            let programs = format!(
                "[rinit]\n{BUSY}\n[program.writer]\ncommand = [\"sh\", \"-c\", \"yes out-line & yes err-line >&2\"]\n\
                 output = \"{output}\"\n"
            )
            .replacen("[rinit]\n", "", 1);
            let programs = programs.replace(
                "[program.crash]",
                &format!("[program.crash]\noutput = \"{output}\""),
            );
            endure(
                &format!("stalled-{output}"),
                &programs,
                readers,
                AS_ROOT,
                Duration::from_secs(3),
                just_wait,
            );
        }
    }
}

#[test]
fn too_few_descriptors_for_its_many_instances() {
    // 40 prefixed instances need two pipes, a pidfd and an exec-report pipe
    // each: with 64 descriptors, some starts fail with EMFILE and are
    // retried; nothing leaks and nothing spins.
    let programs = "[program.many]\ncommand = [\"sleep\", \"1000\"]\ninstances = 40\noutput = \"prefix\"\n\
                    restart_delay = \"50ms\"\nrestart_max_delay = \"200ms\"\nstart_limit_burst = 0\n";
    let endured = endure(
        "emfile",
        programs,
        [Reader::Null, Reader::File],
        Launch {
            limits: "-n 64",
            uid: None,
        },
        Duration::from_secs(4),
        just_wait,
    );
    assert!(
        endured.cpu_ticks < 200,
        "rinit used {} ticks in 4 s",
        endured.cpu_ticks
    );
    assert!(
        endured
            .log
            .contains(": cannot start the command: create a pipe failed: Too many open files\n"),
        "no start failed for want of descriptors: {}",
        &endured.log[..endured.log.len().min(2000)]
    );
}

#[test]
fn fork_failures_as_a_non_root_user() {
    // RLIMIT_NPROC counts uid 1000's processes: 20 instances of a crash loop
    // cannot all start; the failed forks are failed starts, retried.
    let programs = "[program.crowd]\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 1\"]\ninstances = 20\n\
                    restart_delay = \"0\"\nstart_limit_burst = 0\n";
    let endured = endure(
        "nproc",
        programs,
        [Reader::Null, Reader::File],
        Launch {
            limits: "-p 12",
            uid: Some(1000),
        },
        Duration::from_secs(4),
        just_wait,
    );
    assert!(
        endured
            .log
            .contains(": cannot start the command: clone failed: Try again\n"),
        "no fork failed: {}",
        &endured.log[..endured.log.len().min(2000)]
    );
}

#[test]
fn double_forking_daemons_are_reaped_and_swept() {
    // Each run leaves a daemon (double fork) that outlives it by a second:
    // rinit reaps them as they end and sweeps the rest at the shutdown.
    let programs = "[program.daemonize]\ncommand = [\"sh\", \"-c\", \"(sleep 1 &); sleep 0.01; exit 1\"]\n\
                    restart_delay = \"0\"\nstart_limit_burst = 0\n";
    endure(
        "daemons",
        programs,
        [Reader::Null, Reader::Stalled],
        AS_ROOT,
        Duration::from_secs(4),
        just_wait,
    );
}

#[test]
fn a_program_that_closes_its_stdout_costs_nothing() {
    // The program closes its end of the prefixed pipes and runs on: rinit
    // (which keeps a write end for the next run) neither spins nor wakes.
    let programs = "[program.quiet]\ncommand = [\"sh\", \"-c\", \"exec >&- 2>&-; exec sleep 1000\"]\noutput = \"prefix\"\n";
    let endured = endure(
        "closed-stdout",
        programs,
        [Reader::Null, Reader::Null],
        AS_ROOT,
        Duration::from_secs(3),
        just_wait,
    );
    assert!(
        endured.cpu_ticks <= 2,
        "rinit used {} ticks while idle",
        endured.cpu_ticks
    );
}
