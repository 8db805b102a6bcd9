//! The status page (`http = "IP:PORT"`, `/`) in a real headless Chromium:
//! its screenshot, read back with tesseract, must show every instance's row
//! with its name and state, and the DOM after the page's script has run must
//! hold the rows of `/status` as the refresh fetched it, one state changed
//! since the first HTML. `RINIT_UPDATE_SCREENSHOT=1` also writes the same
//! page at scale 1 to docs/status-page.png.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::http::get;

/// The instances and the states they reach on their own; `cache` turns
/// `ready` when its file appears, which the proxy makes happen between the
/// page's first HTML and its script's first refresh.
const STATES: [(&str, &str); 7] = [
    ("web", "ready"),
    ("worker.0", "running"),
    ("worker.1", "running"),
    ("cache", "running"),
    ("migrate", "done"),
    ("mailer", "backoff"),
    ("cron", "failed"),
];

/// The window, in CSS pixels.
const WINDOW: &str = "--window-size=640,340";

/// A tool the test needs: a missing one fails the test, never skips it.
fn need(tool: &str, package: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} not found: this test needs it (apt-get install {package})"
    );
}

/// `/status`, polled until every name in `want` has its state there.
fn wait_for(port: u16, want: &[(&str, &str)]) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let connected = TcpStream::connect(("127.0.0.1", port)).is_ok();
        if connected {
            let answer = get(port, "/status");
            assert_eq!(answer.code, 200, "{answer:?}");
            let json: Value = serde_json::from_str(&answer.body).unwrap();
            let states: Vec<(&str, &str)> = json
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["name"].as_str().unwrap(), i["state"].as_str().unwrap()))
                .collect();
            if want.iter().all(|w| states.contains(w)) {
                return json;
            }
            assert!(Instant::now() < deadline, "never {want:?}: {states:?}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A proxy in front of rinit's HTTP server that records what it forwards
/// (path, body) and, before it forwards the first `/status` (the script's
/// first refresh, after `/` was loaded), creates `cache`'s ready file and
/// waits until rinit shows `cache` ready: the refresh must change that row.
struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(rinit: u16, ready_file: PathBuf) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let changed = Arc::new(Mutex::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (seen, changed, ready_file) = (seen2.clone(), changed.clone(), ready_file.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, rinit, &seen, &changed, &ready_file);
                });
            }
        });
        Proxy { port, seen, stop }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// One client connection: each request forwarded on a connection of its own.
fn serve(
    mut client: TcpStream,
    rinit: u16,
    seen: &Mutex<Vec<(String, String)>>,
    changed: &Mutex<bool>,
    ready_file: &Path,
) -> std::io::Result<()> {
    let mut input = Vec::new();
    loop {
        let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut buf = [0; 4096];
            let n = client.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            input.extend_from_slice(&buf[..n]);
            continue;
        };
        let head = String::from_utf8_lossy(&input[..end]).into_owned();
        input.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        if path == "/status" {
            let mut changed = changed.lock().unwrap();
            if !*changed {
                std::fs::write(ready_file, "").unwrap();
                wait_for(rinit, &[("cache", "ready")]);
                *changed = true;
            }
        }
        let mut forwarded: String = head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        forwarded += "Connection: close\r\n\r\n";
        let mut upstream = TcpStream::connect(("127.0.0.1", rinit))?;
        upstream.write_all(forwarded.as_bytes())?;
        let mut answer = Vec::new();
        upstream.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        seen.lock().unwrap().push((path, body));
        client.write_all(&answer)?;
    }
}

/// The page's `up()` for uptimes under a minute, all this test has.
fn up(ms: u64) -> String {
    assert!(ms < 60_000, "an uptime of {ms} ms: the test took too long");
    match ms < 1000 {
        true => format!("{ms}ms"),
        false => format!("{}s", ms / 1000),
    }
}

/// The rows of `/status` as the page shows them: class, then the cells.
fn rows_of(json: &Value) -> Vec<Vec<String>> {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    json.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let uptime = i["uptime_ms"].as_u64().map_or("-".into(), up);
            let state = text(&i["state"]);
            vec![
                state.clone(),
                text(&i["name"]),
                state,
                text(&i["pid"]),
                uptime,
                text(&i["restarts"]),
                text(&i["last_exit"]),
                // Empty for a program without a schedule.
                i["next_run"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect()
}

/// The rows of the table in `html`: each row's class, then its cells.
fn table_rows(html: &str) -> Vec<Vec<String>> {
    let start = html.find("<tbody id=\"rows\">").expect("the rows' tbody") + 17;
    let body = &html[start..start + html[start..].find("</tbody>").expect("</tbody>")];
    body.split("<tr class=\"")
        .skip(1)
        .map(|row| {
            let (class, rest) = row.split_once('"').unwrap();
            let mut cells = vec![class.to_string()];
            cells.extend(
                rest.split("<td>")
                    .skip(1)
                    .map(|c| c.split("</td>").next().unwrap().to_string()),
            );
            cells
        })
        .collect()
}

/// Headless Chromium on `http://127.0.0.1:PORT/` with a profile in `dir`:
/// one refresh (at 2 s of virtual time), then the screenshot at device scale
/// `scale` and the DOM on stdout. As PID 1 of its own PID namespace, it takes
/// all its helpers with it (the kernel kills them when it exits); none may be
/// left.
fn chromium(dir: &Path, shot: &Path, scale: u8, port: u16) -> Finished {
    let profile = dir.join("chromium");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args(["chromium", "--headless", "--no-sandbox", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([WINDOW, "--hide-scrollbars", "--virtual-time-budget=3000"])
        .arg(format!("--force-device-scale-factor={scale}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--dump-dom")
        .arg(format!("http://127.0.0.1:{port}/"));
    let running = Running::start(cmd);
    let ns = namespace_of_child(running.child.id());
    let done = running.finish();
    assert_eq!(done.code(), 0, "chromium: {:?}", done.err);
    assert_none_left_in(&ns);
    done
}

/// The PID namespace of `unshare`'s child (`pid:[INODE]`), once it is there.
fn namespace_of_child(unshare: u32) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"));
        if let Some(child) = children.unwrap_or_default().split_whitespace().next() {
            if let Ok(ns) = std::fs::read_link(format!("/proc/{child}/ns/pid")) {
                let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
                assert_ne!(ns, own, "chromium in the test's own PID namespace");
                return ns.to_string_lossy().into_owned();
            }
        }
        assert!(Instant::now() < deadline, "unshare {unshare} started no chromium");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// No process is left in the PID namespace `ns`.
fn assert_none_left_in(ns: &str) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(link) = std::fs::read_link(entry.path().join("ns/pid")) else {
            continue;
        };
        if link.to_string_lossy() == ns {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            panic!(
                "left running in chromium's PID namespace: {:?} {}",
                entry.file_name(),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            );
        }
    }
}

#[test]
fn the_status_page_in_chromium_shows_every_instance_and_its_state() {
    need("chromium", "chromium");
    need("tesseract", "tesseract-ocr");
    let dir = temp_dir("page");
    let port = free_port();
    let config = dir.join("rinit.toml");
    let sleep = "command = \"sleep 1000\"";
    let text = format!(
        "[rinit]\ncontrol_socket = {:?}\nhttp = \"127.0.0.1:{port}\"\n\
         [program.web]\n{sleep}\nready = {{ file = \"web.ready\" }}\n\
         [program.worker]\n{sleep}\ninstances = 2\nready = {{ file = \"never\" }}\n\
         [program.cache]\n{sleep}\nready = {{ file = \"cache.ready\" }}\n\
         [program.migrate]\ntype = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"exit 0\"]\n\
         [program.mailer]\ncommand = [\"sh\", \"-c\", \"exit 1\"]\nrestart_delay = \"60s\"\n\
         [program.cron]\ntype = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"exit 2\"]\n",
        dir.join("rinit.sock").to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    std::fs::write(dir.join("web.ready"), "").unwrap();
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.current_dir(&dir);
    let rinit = Running::start(cmd);
    wait_for(port, &STATES);

    // At device scale 3 (1920×1020 pixels), which tesseract reads without a
    // mistake; at 2 it reads worker.0 as worker.0O or worker.1 as worker.l now
    // and then.
    let proxy = Proxy::start(port, dir.join("cache.ready"));
    let shot = dir.join("page.png");
    let done = chromium(&dir, &shot, 3, proxy.port);
    let seen = proxy.seen();
    drop(proxy);

    // The DOM: the first HTML had cache running; after the refresh the rows
    // are those of the /status the script fetched, cache ready.
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths[0] == "/" && paths.contains(&"/status"), "{paths:?}");
    let first = table_rows(&seen[0].1);
    let states: Vec<(&str, &str)> = first.iter().map(|r| (&r[1][..], &r[2][..])).collect();
    assert_eq!(states, STATES, "the first HTML");
    let status: Value =
        serde_json::from_str(&seen.iter().rev().find(|(p, _)| p == "/status").unwrap().1).unwrap();
    let dom = done.out.join("\n");
    let rows = table_rows(&dom);
    assert_eq!(rows, rows_of(&status), "the DOM after the refresh: {dom}");
    assert_eq!(rows[3][..3], ["ready", "cache", "ready"], "cache's row refreshed");
    // The server's rows and the script's say the same in the same form: all
    // but the uptime (and cache's state) are as they were.
    for (before, after) in first.iter().zip(&rows) {
        let same = |r: &[String]| (r[1].clone(), r[3].clone(), r[5].clone(), r[6].clone());
        assert_eq!(
            same(before),
            same(after),
            "first HTML {before:?}, refreshed {after:?}"
        );
        if before[1] != "cache" {
            assert_eq!(before[..3], after[..3]);
        }
    }

    // The screenshot: every instance's row, in order, its name first and its
    // state (and its last exit, when it has one) on the same line.
    let ocr = Command::new("tesseract")
        .arg(&shot)
        .args(["stdout", "--psm", "6"])
        .output()
        .unwrap();
    assert!(
        ocr.status.success(),
        "tesseract: {}",
        String::from_utf8_lossy(&ocr.stderr)
    );
    let text = String::from_utf8(ocr.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let mut after = lines
        .iter()
        .position(|l| l.starts_with(&["NAME", "STATE"]))
        .unwrap_or_else(|| panic!("no header row in the screenshot's text:\n{text}"));
    for row in &rows {
        let (name, state, last_exit) = (&row[1], &row[2], &row[6]);
        let at = lines
            .iter()
            .position(|l| l.first() == Some(&name.as_str()))
            .unwrap_or_else(|| panic!("no row {name} in the screenshot's text:\n{text}"));
        let line = lines[at].join(" ");
        assert!(
            at > after,
            "{name} out of order in the screenshot's text:\n{text}"
        );
        assert!(
            lines[at].contains(&state.as_str()),
            "{name}'s row without {state}: {line:?}\n{text}"
        );
        assert!(
            last_exit == "-" || line.ends_with(last_exit.as_str()),
            "{name}'s row without {last_exit}: {line:?}"
        );
        after = at;
    }
    // The picture in the docs: the same page at scale 1 (640×340, small).
    if std::env::var_os("RINIT_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png");
        chromium(&dir, &docs, 1, port);
    }

    send(rinit.rinit_pid(), libc::SIGTERM);
    let done = rinit.finish();
    // 1: a program (cron) failed, as configuration.md says.
    assert_eq!(done.code(), 1, "rinit: {:?}", done.err);
    std::fs::remove_dir_all(&dir).unwrap();
}
