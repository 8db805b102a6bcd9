//! The control socket's client side: `rinit status` and `rinit signal`. It
//! finds the socket as the server does (`-c`, `$RINIT_CONFIG`,
//! /etc/rinit.toml, else the default), sends one request, and prints the
//! answer for people (or as JSON). Exit codes: 0 done; 1 the request failed,
//! or (`status`) a critical program is not up; 3 no rinit reachable.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;

use super::{json, uptime, InstanceStatus, Request, VERSION};
use crate::config;
use crate::sys;

/// Exit code when the request failed, or a critical program is not up.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when no rinit answers on the socket.
pub const EXIT_UNREACHABLE: i32 = 3;
/// The longest answer the client reads.
const ANSWER_MAX: usize = 16 << 20;
/// How long the client waits for rinit.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the command line asked of the client.
#[derive(Debug)]
pub struct Options {
    /// `-c PATH` or `$RINIT_CONFIG`.
    pub config: Option<PathBuf>,
    pub request: Request,
    /// `status --json`.
    pub json: bool,
    /// `status -q`: the exit code only.
    pub quiet: bool,
}

/// Runs the request; rinit's exit code.
pub fn run(options: &Options) -> i32 {
    let path = match config::control_socket(options.config.as_deref()) {
        Ok(Some(path)) => path,
        Ok(None) => {
            error!("the control socket is turned off in the configuration (control_socket = \"\")");
            return EXIT_UNREACHABLE;
        }
        Err(why) => {
            error!("{why}");
            return EXIT_UNREACHABLE;
        }
    };
    // start, stop and restart wait as long as rinit gives them (their
    // ready_timeout and stop_timeout); the rest answers at once.
    let patience = match options.request {
        Request::Change { wait: true, .. } | Request::Reload { wait: true, .. } => Duration::from_secs(3600),
        _ => PATIENCE,
    };
    let answer = match exchange(&path, &options.request, patience) {
        Ok(answer) => answer,
        Err(why) => {
            error!("cannot reach rinit at {}: {why}", path.display());
            return EXIT_UNREACHABLE;
        }
    };
    let mut lines = answer.lines();
    let head = lines.next().unwrap_or("");
    if let Some(why) = head.strip_prefix(&format!("{VERSION} error ")) {
        // A reload's lines are the configuration's errors.
        let fd = if matches!(options.request, Request::Reload { .. }) {
            2
        } else {
            1
        };
        for line in lines {
            crate::log::write_all(fd, format!("{line}\n").as_bytes());
        }
        error!("{why}");
        return EXIT_FAILED;
    }
    if head != format!("{VERSION} ok") {
        error!("unexpected answer from rinit at {}: {head:?}", path.display());
        return EXIT_FAILED;
    }
    print_answer(options, lines)
}

/// Prints an `ok` answer's lines as the request wants them; the exit code.
fn print_answer<'a>(options: &Options, lines: impl Iterator<Item = &'a str>) -> i32 {
    match &options.request {
        Request::Status(_) => {
            let lines: Vec<&str> = lines.collect();
            let draining = lines.iter().find_map(|line| super::draining_left(line));
            let generation = lines.iter().find_map(|line| super::Generation::from_line(line));
            let statuses: Vec<InstanceStatus> =
                lines.into_iter().filter_map(InstanceStatus::from_line).collect();
            if !options.quiet {
                let text = if options.json {
                    json(&statuses, generation)
                } else {
                    table(&statuses)
                };
                crate::log::write_all(1, text.as_bytes());
            }
            if let Some(ms) = draining {
                if !options.quiet {
                    error!("rinit is draining: it stops the programs in {}", uptime(ms));
                }
                return EXIT_FAILED;
            }
            let down = statuses.iter().any(|s| s.critical && !s.ready);
            if down {
                EXIT_FAILED
            } else {
                0
            }
        }
        Request::Signal(..) | Request::Change { .. } | Request::Reload { .. } => {
            for line in lines {
                crate::log::write_all(1, format!("{line}\n").as_bytes());
            }
            0
        }
    }
}

/// Sends `request` to the socket at `path`; the whole answer. (Raw calls,
/// not std's UnixStream: they cost the static binary far less.)
fn exchange(path: &Path, request: &Request, patience: Duration) -> Result<String, String> {
    let address = sys::SocketAddress::unix(path)?;
    let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, false).map_err(|e| e.desc().to_string())?;
    // Without them a stalled rinit would hold the client forever.
    sys::set_timeouts(&fd, patience).map_err(|e| e.desc().to_string())?;
    sys::connect(&fd, &address).map_err(|e| e.desc().to_string())?;
    // rinit may answer (and close) before it reads the request: its answer
    // counts, not the broken write.
    let written = send_all(&fd, request.line().as_bytes());
    let mut answer = Vec::new();
    let read = receive_all(&fd, &mut answer);
    if answer.is_empty() {
        written?;
        read?;
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn send_all(fd: &OwnedFd, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        match sys::send(fd.as_raw_fd(), bytes) {
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.desc().to_string()),
        }
    }
    Ok(())
}

/// Reads until the end of the connection, at most ANSWER_MAX bytes.
fn receive_all(fd: &OwnedFd, answer: &mut Vec<u8>) -> Result<(), String> {
    let mut buf = [0u8; 16 * 1024];
    while answer.len() < ANSWER_MAX {
        match sys::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => answer.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Err("no answer in time".into()),
            Err(errno) => return Err(errno.desc().to_string()),
        }
    }
    Ok(())
}

/// The statuses as an aligned table for people.
fn table(statuses: &[InstanceStatus]) -> String {
    let rows: Vec<[String; 7]> = statuses
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.shown_state(),
                s.pid.map_or("-".into(), |p| p.to_string()),
                s.uptime_ms.map_or("-".into(), uptime),
                s.restarts.to_string(),
                s.last_exit.clone().unwrap_or_else(|| "-".into()),
                s.next_run.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut header = [
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT",
        "NEXT RUN",
    ]
    .map(String::from);
    // The next-run column only when a program has a schedule.
    let scheduled = statuses.iter().any(|s| s.next_run.is_some());
    if !scheduled {
        header[6].clear();
    }
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        text += cells.join("  ").trim_end();
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, state: &str, pid: Option<i32>, uptime_ms: Option<u64>) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            state: state.into(),
            want: if state == "stopped" { "down" } else { "up" }.into(),
            pid,
            uptime_ms,
            restarts: 0,
            last_exit: None,
            critical: false,
            ready: state == "ready",
            next_run: None,
        }
    }

    #[test]
    fn the_table_is_aligned_and_uptimes_read_easily() {
        let statuses = [
            status("web", "ready", Some(12), Some(3_725_000)),
            status("worker.10", "backoff", None, None),
        ];
        assert_eq!(
            table(&statuses),
            "NAME       STATE    PID  UPTIME  RESTARTS  LAST EXIT\n\
             web        ready    12   1h02m   0         -\n\
             worker.10  backoff  -    -       0         -\n"
        );
        assert_eq!(
            [450, 12_000, 307_000, 90_061_000].map(uptime),
            ["450ms", "12s", "5m07s", "1d01h"]
        );
    }

    #[test]
    fn json_is_one_array_with_nulls_for_what_is_missing() {
        let mut web = status("web", "ready", Some(12), Some(5));
        web.last_exit = Some("exit code 1".into());
        web.critical = true;
        web.next_run = Some("2026-12-05T17:00:00+01:00".into());
        assert_eq!(
            json(&[web, status("a\"b", "stopped", None, None)], None),
            "[{\"name\":\"web\",\"state\":\"ready\",\"want\":\"up\",\"pid\":12,\"uptime_ms\":5,\"restarts\":0,\
             \"last_exit\":\"exit code 1\",\"critical\":true,\"ready\":true,\"next_run\":\"2026-12-05T17:00:00+01:00\"},\
             {\"name\":\"a\\\"b\",\"state\":\"stopped\",\"want\":\"down\",\"pid\":null,\"uptime_ms\":null,\"restarts\":0,\
             \"last_exit\":null,\"critical\":false,\"ready\":false,\"next_run\":null}]\n"
        );
    }
}
