//! Every source of events flooded in turn, for 3 s each, while a program
//! crashes every 200 ms: HTTP pipelining, an HTTP connection flood, a
//! control-socket flood, notify datagrams from another uid, and a program
//! writing as fast as it can. Throughout, `rinit status` must answer within
//! 100 ms and the crasher be restarted on time; at the end, with floods
//! still going, SIGTERM must end rinit within 1 s. The figures are printed
//! (`cargo test flood -- --nocapture`) for docs/performance.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;

/// How long each source is flooded.
const PHASE: Duration = Duration::from_secs(3);
/// The crasher's run: it exits 1 this long after its start.
const RUN: Duration = Duration::from_millis(200);

/// A flood going on in background threads until `stop`; `count` is how
/// much it got through (requests, connections, datagrams).
struct Flood {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    children: Vec<Child>,
}

impl Flood {
    fn new() -> Flood {
        Flood {
            stop: Arc::new(AtomicBool::new(false)),
            count: Arc::new(AtomicU64::new(0)),
            threads: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Runs `step` in a loop on `threads` threads; each call adds its count.
    fn spawn(mut self, threads: usize, step: impl Fn() -> u64 + Send + Sync + Clone + 'static) -> Flood {
        for _ in 0..threads {
            let (stop, count, step) = (self.stop.clone(), self.count.clone(), step.clone());
            self.threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    count.fetch_add(step(), Ordering::Relaxed);
                }
            }));
        }
        self
    }

    /// Stops the threads; waits for the children, which print their count.
    fn end(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        for child in self.children {
            let output = child.wait_with_output().unwrap();
            let printed = String::from_utf8_lossy(&output.stdout);
            self.count
                .fetch_add(printed.trim().parse().unwrap_or(0), Ordering::Relaxed);
        }
        self.count.load(Ordering::Relaxed)
    }
}

/// One keep-alive connection sending pipelined `HEAD /metrics` for a while
/// and reading what comes back; the requests answered (by bytes read).
fn http_pipelining(port: u16) -> u64 {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let mut reader = stream.try_clone().unwrap();
    let reading = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let batch = "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(500);
    let mut writer = stream;
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until && writer.write_all(batch.as_bytes()).is_ok() {}
    let _ = writer.shutdown(std::net::Shutdown::Both);
    reading.join().unwrap() / 100
}

/// 200 connections opened and left idle with half a request, then dropped.
fn http_connections(port: u16) -> u64 {
    let mut held = Vec::new();
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /readyz HT");
            held.push(stream);
        }
    }
    held.len() as u64
}

/// One control request, answered.
fn control_request(socket: &Path) -> u64 {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(b"rinit/1 status\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    u64::from(!answer.is_empty())
}

/// `python3` sending READY=1 to `address` as fast as it can for `seconds`,
/// as uid 65534; it prints how many datagrams went out.
fn foreign_notify(address: &str, seconds: u64) -> Child {
    let script = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.setblocking(False)\n\
         n = 0\n\
         end = time.monotonic() + {seconds}\n\
         while time.monotonic() < end:\n\
         \x20   try:\n\
         \x20       s.sendto(b'READY=1', '\\x00{}')\n\
         \x20       n += 1\n\
         \x20   except BlockingIOError:\n\
         \x20       pass\n\
         \x20   except OSError:\n\
         \x20       break\n\
         print(n)\n",
        &address[1..]
    );
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The crasher's start times, from the file it appends to.
fn starts(dir: &Path) -> Vec<Duration> {
    let text = std::fs::read_to_string(dir.join("starts")).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.trim().replace(',', ".").parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .collect()
}

fn now_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// What one phase measured.
struct Figures {
    source: &'static str,
    got_through: u64,
    status_slowest: Duration,
    statuses: u32,
    restart_gap_slowest: Duration,
    runs: usize,
}

/// `rinit status` every 50 ms for one phase; the slowest answer, and how
/// many there were. Each must list the programs.
fn probe_status(config: &Path) -> (Duration, u32) {
    let mut slowest = Duration::ZERO;
    let mut answers = 0;
    let until = Instant::now() + PHASE;
    while Instant::now() < until {
        let asked = Instant::now();
        let mut command = plain(&["status", "-c", config.to_str().unwrap()]);
        command.stdin(Stdio::null()).stderr(Stdio::null());
        let output = command.output().unwrap();
        slowest = slowest.max(asked.elapsed());
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("crasher"), "status answered {text:?}");
        answers += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    (slowest, answers)
}

fn setup(dir: &Path, port: u16) -> PathBuf {
    let config = dir.join("rinit.toml");
    let text = format!(
        "[rinit]\ncontrol_socket = {socket:?}\nhttp = \"127.0.0.1:{port}\"\nshutdown_timeout = \"5s\"\n\
         [program.crasher]\ncommand = [\"bash\", \"-c\", \"echo $EPOCHREALTIME >> {dir}/starts; sleep 0.2; exit 1\"]\n\
         restart = \"always\"\nrestart_delay = \"0\"\nstart_limit_burst = 0\n\
         [program.app]\ntype = \"notify\"\nready_timeout = \"1h\"\n\
         command = [\"sh\", \"-c\", \"echo $NOTIFY_SOCKET > {dir}/notify; exec sleep 1000\"]\n\
         [program.chatty]\ncommand = [\"yes\", \"a line from a program that writes as fast as it can\"]\n\
         output = \"prefix\"\nautostart = false\n",
        socket = dir.join("rinit.sock"),
        dir = dir.display(),
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// rinit's stdout, counted and thrown away (the chatty program's lines).
fn count_output(mut out: impl Read + Send + 'static) -> Arc<AtomicU64> {
    let total = Arc::new(AtomicU64::new(0));
    let counted = total.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            counted.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    total
}

/// Over 50 lines: the five phases in order, each measured the same way.
#[test]
fn no_flood_starves_the_loop_and_sigterm_still_ends_rinit_within_a_second() {
    let dir = temp_dir("flood");
    let port = free_port();
    let config = setup(&dir, port);
    let socket = dir.join("rinit.sock");
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut unshare = cmd.spawn().unwrap();
    let output = count_output(unshare.stdout.take().unwrap());
    let deadline = Instant::now() + PATIENCE;
    while !(socket.exists() && dir.join("notify").exists()) {
        assert!(Instant::now() < deadline, "rinit never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let notify = std::fs::read_to_string(dir.join("notify"))
        .unwrap()
        .trim()
        .to_string();
    let rinit_pid = only_child(unshare.id() as i32);
    let mut figures = Vec::new();
    for source in [
        "HTTP pipelining",
        "HTTP connections",
        "control socket",
        "notify, uid 65534",
        "chatty program",
    ] {
        let flood = match source {
            "HTTP pipelining" => Flood::new().spawn(2, move || http_pipelining(port)),
            "HTTP connections" => Flood::new().spawn(2, move || http_connections(port)),
            "control socket" => {
                let socket = socket.clone();
                Flood::new().spawn(4, move || control_request(&socket))
            }
            "notify, uid 65534" => {
                let mut flood = Flood::new();
                flood.children.push(foreign_notify(&notify, PHASE.as_secs()));
                flood
            }
            _ => {
                let done = run(plain(&[
                    "start",
                    "--no-wait",
                    "chatty",
                    "-c",
                    config.to_str().unwrap(),
                ]));
                assert_eq!(done.code(), 0, "{:?}", done.err);
                Flood::new()
            }
        };
        let began = now_epoch();
        let (status_slowest, statuses) = probe_status(&config);
        let ended = now_epoch();
        let got_through = match source {
            "chatty program" => output.load(Ordering::Relaxed) >> 20,
            _ => flood.end(),
        };
        let runs: Vec<Duration> = starts(&dir)
            .into_iter()
            .filter(|t| *t >= began && *t <= ended)
            .collect();
        let restart_gap_slowest = runs.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        figures.push(Figures {
            source,
            got_through,
            status_slowest,
            statuses,
            restart_gap_slowest,
            runs: runs.len(),
        });
    }
    // Everything at once, then SIGTERM.
    let _ = run(plain(&[
        "start",
        "--no-wait",
        "chatty",
        "-c",
        config.to_str().unwrap(),
    ]));
    let socket_for_flood = socket.clone();
    let floods = [
        Flood::new().spawn(1, move || http_pipelining(port)),
        Flood::new().spawn(1, move || http_connections(port)),
        Flood::new().spawn(2, move || control_request(&socket_for_flood)),
    ];
    let mut notify_flood = foreign_notify(&notify, 60);
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    send(rinit_pid, libc::SIGTERM);
    let status = wait_timeout(&mut unshare, PATIENCE);
    let sigterm_took = asked.elapsed();
    for flood in floods {
        flood.end();
    }
    let _ = notify_flood.kill();
    let _ = notify_flood.wait();
    let chatty_bytes = output.load(Ordering::Relaxed);

    println!("| source flooded for 3 s | got through (requests, connections, MiB) | `rinit status`, slowest of | crasher runs | slowest start-to-start |");
    println!("|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {} | {:.1} ms ({} asks) | {} | {:.0} ms |",
            f.source,
            f.got_through,
            f.status_slowest.as_secs_f64() * 1000.0,
            f.statuses,
            f.runs,
            f.restart_gap_slowest.as_secs_f64() * 1000.0
        );
    }
    println!("SIGTERM with every flood going: rinit exited in {sigterm_took:?}; chatty output {chatty_bytes} bytes");

    for f in &figures {
        assert!(f.got_through > 0, "{}: the flood got nothing through", f.source);
        assert!(
            f.status_slowest < Duration::from_millis(100),
            "{}: status took {:?}",
            f.source,
            f.status_slowest
        );
        // A run is 200 ms and the restart immediate: a start every ~210 ms.
        assert!(f.runs >= 10, "{}: only {} crasher runs in 3 s", f.source, f.runs);
        assert!(
            f.restart_gap_slowest < RUN + Duration::from_millis(150),
            "{}: {:?} between two starts of the crasher",
            f.source,
            f.restart_gap_slowest
        );
    }
    assert!(
        chatty_bytes > 10 << 20,
        "the chatty program wrote only {chatty_bytes} bytes"
    );
    assert!(
        sigterm_took < Duration::from_secs(1),
        "SIGTERM took {sigterm_took:?}"
    );
    assert!(status.success(), "rinit ended with {status:?}");
}
