//! `docker run -it image bash`: with a terminal on stdin, the command gets the
//! terminal's foreground, so it can read the terminal and Ctrl-C reaches it
//! (and not rinit) directly.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc::{channel, Receiver};
use std::time::Instant;

use crate::common::*;

struct Terminal {
    master: std::fs::File,
    output: Receiver<String>,
    seen: String,
}

/// Starts `rinit ARGS` as PID 1 whose stdin/stdout/stderr are a new pty that
/// is the session's controlling terminal, as `docker run -it` sets it up.
fn start_on_terminal(args: &[&str]) -> (Terminal, KillOnDrop) {
    let (mut master, mut slave) = (0, 0);
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let master_file = unsafe { std::fs::File::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut cmd = pid1(args);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(slave);
    let child = KillOnDrop(child);
    let mut reader = master_file.try_clone().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once every holder of the slave side is gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                break;
            }
        }
    });
    (
        Terminal {
            master: master_file,
            output: rx,
            seen: String::new(),
        },
        child,
    )
}

/// A failed test must not leave its PID namespace behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Terminal {
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.contains(text) {
            match self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!("terminal never showed {text:?}; it showed {:?}", self.seen),
            }
        }
    }

    fn type_in(&mut self, text: &str) {
        std::io::Write::write_all(&mut self.master, text.as_bytes()).unwrap();
    }

    fn rest(mut self) -> String {
        while let Ok(chunk) = self.output.recv_timeout(PATIENCE) {
            self.seen.push_str(&chunk);
        }
        self.seen
    }
}

#[test]
fn the_command_owns_the_terminal_foreground_and_can_read_it() {
    let probe = probe_str();
    let (mut term, mut child) = start_on_terminal(&["--", &probe, "tty"]);
    term.expect("tpgid: ");
    let line = term
        .seen
        .lines()
        .find(|l| l.starts_with("pgrp: "))
        .unwrap()
        .trim()
        .to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1], fields[3],
        "the command's group is not the foreground: {line}"
    );
    // A background reader would be stopped by SIGTTIN and never answer.
    term.type_in("hello\n");
    term.expect("read hello");
    assert_eq!(wait_timeout(&mut child.0, PATIENCE).code(), Some(0));
}

#[test]
fn ctrl_c_reaches_the_command_not_rinit() {
    let probe = probe_str();
    let (mut term, mut child) = start_on_terminal(&["-v", "--", &probe, "signals"]);
    term.expect("ready");
    // rinit -v logs to the terminal too (so the absence of its "forwarded"
    // line below means something). Read it before Ctrl-C: the terminal
    // discards output not yet read when it sees ^C.
    term.expect("rinit: started");
    term.type_in("\x03");
    term.expect("got SIGINT");
    term.type_in("\x04"); // end of input: the probe exits 0
    assert_eq!(wait_timeout(&mut child.0, PATIENCE).code(), Some(0));
    let all = term.rest();
    assert!(
        !all.contains("forwarded SIGINT"),
        "rinit received the Ctrl-C itself: {all:?}"
    );
}
