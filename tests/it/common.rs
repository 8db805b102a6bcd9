//! Shared by the integration tests: where the binaries are, how to start rinit
//! as a real PID 1 (a new PID namespace, or a runc container), and how to read
//! what the probe reports without ever waiting forever.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Longest any single expected line may take; a test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn rinit() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rinit"))
}

/// The test probe (examples/probe.rs), built by `cargo test` beside the binary.
pub fn probe() -> PathBuf {
    let path = rinit().parent().unwrap().join("examples/probe");
    assert!(
        path.exists(),
        "{} missing: run the tests with `cargo test`",
        path.display()
    );
    path
}

/// A TCP port nobody listens on, for a server a test starts. It lies below
/// the kernel's ephemeral range (32768 and up), so neither a port the kernel
/// hands to `bind(0)` nor the source port of the thousands of connections a
/// flood test opens can take it between this call and the server's bind;
/// each call in this process gets a new one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Processes that run at the same time start at different places.
    let base = 20000 + (std::process::id() % 60) as u16 * 200;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 200;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `rinit ARGS` as PID 1 of a new PID namespace (with its own /proc).
pub fn pid1(args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(rinit())
        .args(args);
    cmd
}

/// `rinit ARGS` as an ordinary process (not PID 1).
pub fn plain(args: &[&str]) -> Command {
    let mut cmd = Command::new(rinit());
    cmd.args(args);
    cmd
}

pub fn probe_str() -> String {
    probe().to_str().unwrap().to_string()
}

/// A started rinit whose stdout and stderr are read line by line in the background.
pub struct Running {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
    pub out_seen: Vec<String>,
    pub err_seen: Vec<String>,
}

fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start rinit");
        let out = lines_of(child.stdout.take().unwrap());
        let err = lines_of(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            out,
            err,
            out_seen: Vec::new(),
            err_seen: Vec::new(),
        }
    }

    /// Waits for the next stdout line that satisfies `want`; panics after PATIENCE.
    pub fn expect_out(&mut self, want: impl Fn(&str) -> bool, what: &str) -> String {
        match next_matching(&self.out, &mut self.out_seen, want) {
            Some(line) => line,
            None => {
                let err = self.drain_err();
                panic!(
                    "no stdout line {what}; stdout so far: {:?}; stderr: {err:?}",
                    self.out_seen
                )
            }
        }
    }

    pub fn expect_out_eq(&mut self, line: &str) {
        self.expect_out(|l| l == line, &format!("{line:?}"));
    }

    /// Waits until each of `lines` has been printed, in any order (they come
    /// from different processes), counting lines already seen.
    pub fn expect_out_all(&mut self, lines: &[&str]) {
        for line in lines {
            if !self.out_seen.iter().any(|l| l == line) {
                self.expect_out_eq(line);
            }
        }
    }

    pub fn expect_err(&mut self, want: impl Fn(&str) -> bool, what: &str) -> String {
        next_matching(&self.err, &mut self.err_seen, want)
            .unwrap_or_else(|| panic!("no stderr line {what}; stderr so far: {:?}", self.err_seen))
    }

    fn drain_err(&mut self) -> Vec<String> {
        while let Ok(line) = self.err.try_recv() {
            self.err_seen.push(line);
        }
        self.err_seen.clone()
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the exit (panics after PATIENCE), then collects all output.
    pub fn finish(mut self) -> Finished {
        self.stdin = None;
        let status = wait_timeout(&mut self.child, PATIENCE);
        // The reader threads end at EOF, which follows the exit of every writer.
        while let Ok(line) = self.out.recv_timeout(PATIENCE) {
            self.out_seen.push(line);
        }
        while let Ok(line) = self.err.recv_timeout(PATIENCE) {
            self.err_seen.push(line);
        }
        Finished {
            status,
            out: std::mem::take(&mut self.out_seen),
            err: std::mem::take(&mut self.err_seen),
        }
    }

    /// The pid (in our namespace) of rinit: for `pid1`, the child of unshare.
    pub fn rinit_pid(&self) -> i32 {
        let own = self.child.id() as i32;
        if std::fs::read_link(format!("/proc/{own}/exe"))
            .map(|p| p == rinit())
            .unwrap_or(false)
        {
            return own;
        }
        only_child(own)
    }
}

impl Drop for Running {
    /// A failed test must not leave its namespace running: SIGKILL to unshare
    /// takes rinit (--kill-child) and with it the whole PID namespace.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The next line from `lines` that satisfies `want`, keeping every line read
/// in `seen`; None after PATIENCE.
fn next_matching(
    lines: &Receiver<String>,
    seen: &mut Vec<String>,
    want: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()?;
        seen.push(line.clone());
        if want(&line) {
            return Some(line);
        }
    }
}

/// Asserts that `line` is one of `lines`, showing them all when it is not.
#[track_caller]
pub fn assert_has_line(lines: &[String], line: &str) {
    assert!(lines.iter().any(|l| l == line), "no line {line:?} in {lines:?}");
}

pub fn only_child(pid: i32) -> i32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let mut children = children.split_whitespace().map(|p| p.parse::<i32>().unwrap());
    let first = children
        .next()
        .unwrap_or_else(|| panic!("pid {pid} has no child"));
    assert!(children.next().is_none(), "pid {pid} has more than one child");
    first
}

pub struct Finished {
    pub status: ExitStatus,
    pub out: Vec<String>,
    pub err: Vec<String>,
}

impl Finished {
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed: {:?}; stderr {:?}", self.status, self.err))
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    if let Ok(Some(status)) = child.try_wait() {
        return status; // already reaped
    }
    let deadline = Instant::now() + limit;
    // The child's exit cannot be polled through std without a pidfd; a pidfd it is.
    // SAFETY: pidfd_open takes a pid and flags; the child is unreaped, so its pid is its own.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as i32, 0) } as i32;
    assert!(pidfd >= 0, "pidfd_open");
    let left = deadline.saturating_duration_since(Instant::now());
    let mut fds = [libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one live pollfd and a timeout in milliseconds.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, left.as_millis() as i32) };
    // SAFETY: closes the pidfd opened above, used by nothing else.
    unsafe { libc::close(pidfd) };
    if ready != 1 {
        let _ = child.kill();
        let _ = child.wait();
        panic!("process {} did not exit within {limit:?}", child.id());
    }
    child.wait().unwrap()
}

/// Runs to the end with stdin closed; output collected.
pub fn run(cmd: Command) -> Finished {
    Running::start(cmd).finish()
}

pub fn send(pid: i32, signo: i32) {
    // SAFETY: kill(2) takes plain integers.
    assert_eq!(unsafe { libc::kill(pid, signo) }, 0, "kill({pid}, {signo})");
}

/// Fields of /proc/PID/status, e.g. "SigBlk".
pub fn proc_status(pid: i32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Copies rinit and the probe into `dir`, which any user can reach (the
/// checkout may be under a private home). `cp` does the writing: a file this
/// multi-threaded test process had open for writing could leak, for an
/// instant, into a child another test is forking, and exec'ing it would then
/// fail with ETXTBSY.
pub fn copy_binaries_to(dir: &std::path::Path) {
    let status = Command::new("cp")
        .arg(rinit())
        .arg(probe())
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "cp rinit probe {}", dir.display());
}

/// A fresh directory under /tmp, removed when the test binary exits.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static REGISTER: std::sync::Once = std::sync::Once::new();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rinit-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: atexit registers a function that takes no arguments and only
    // removes directories.
    REGISTER.call_once(|| unsafe {
        libc::atexit(remove_temp_dirs);
    });
    TEMP_DIRS.lock().unwrap().push(dir.clone());
    dir
}

static TEMP_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

extern "C" fn remove_temp_dirs() {
    if let Ok(dirs) = TEMP_DIRS.lock() {
        for dir in dirs.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
