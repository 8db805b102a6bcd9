//! The network checks, never blocking: `tcp` (a connection is accepted)
//! and `http` (a GET with a Host header and `Connection: close`, answered
//! 2xx or 3xx; at most `RESPONSE_MAX` bytes read, the status line is all
//! that counts). Hand-written: one status line needs no parser crate. Each
//! step runs when the descriptor is ready; the caller bounds the time.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc;
use nix::poll::PollFlags;

use crate::config::Check;
use crate::sink::{self, Sent};
use crate::sys;

/// The most of an answer read: its status line comes first.
const RESPONSE_MAX: usize = 8 * 1024;

/// A check under way.
pub struct Probe {
    fd: OwnedFd,
    /// The request of an http check; None for tcp.
    http: Option<Http>,
}

struct Http {
    request: Vec<u8>,
    sent: usize,
    response: Vec<u8>,
    connected: bool,
}

/// What a probe needs next, or how it ended.
pub enum Step {
    Wait(Probe, PollFlags),
    Passed,
    Failed,
}

impl Probe {
    /// Starts a tcp or http check (None for the other kinds).
    pub fn start(check: &Check) -> Option<Step> {
        let (address, http) = match check {
            Check::Tcp(address) => (*address, None),
            Check::Http(target) => {
                let request = format!(
                    "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rinit\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                    target.path, target.address
                );
                let http = Http {
                    request: request.into_bytes(),
                    sent: 0,
                    response: Vec::new(),
                    connected: false,
                };
                (target.address, Some(http))
            }
            Check::Command(_) => return None,
        };
        let Some(fd) = connect(&address) else {
            return Some(Step::Failed);
        };
        // Whether the connect finished at once or not, the socket turns
        // writable when it has: one path for both.
        Some(Step::Wait(Probe { fd, http }, PollFlags::POLLOUT))
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The descriptor is ready: the next step.
    pub fn step(mut self) -> Step {
        let Some(http) = &mut self.http else {
            return if connected(&self.fd) {
                Step::Passed
            } else {
                Step::Failed
            };
        };
        if !http.connected {
            if !connected(&self.fd) {
                return Step::Failed;
            }
            http.connected = true;
        }
        match sink::send_rest(self.fd.as_raw_fd(), &http.request, &mut http.sent) {
            Sent::All => {}
            Sent::WouldBlock => return Step::Wait(self, PollFlags::POLLOUT),
            Sent::Failed => return Step::Failed,
        }
        let mut buf = [0u8; 2048];
        loop {
            match sys::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => return verdict(&http.response),
                Ok(n) => http.response.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Step::Wait(self, PollFlags::POLLIN),
                Err(_) => return Step::Failed,
            }
            if http.response.windows(2).any(|w| w == b"\r\n") || http.response.len() >= RESPONSE_MAX {
                return verdict(&http.response);
            }
        }
    }
}

/// Passed for a status line `HTTP/1.x 2xx` or `3xx`.
fn verdict(response: &[u8]) -> Step {
    let line = response.split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut words = line.split(|&b| b == b' ');
    let version = words.next().unwrap_or(b"");
    let status = words
        .next()
        .and_then(|s| std::str::from_utf8(s).ok()?.trim().parse::<u16>().ok());
    match status {
        Some(200..=399) if version.starts_with(b"HTTP/1.") => Step::Passed,
        _ => Step::Failed,
    }
}

/// A non-blocking connect to `address` begun; None when it failed at once.
fn connect(address: &SocketAddr) -> Option<OwnedFd> {
    let address = sys::SocketAddress::ip(address);
    let fd = sys::socket(address.family(), libc::SOCK_STREAM, true).ok()?;
    matches!(sys::connect(&fd, &address), Ok(()) | Err(Errno::EINPROGRESS)).then_some(fd)
}

/// Whether the connect on `fd` succeeded (it is writable now).
fn connected(fd: &OwnedFd) -> bool {
    sys::socket_error(fd) == Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_2xx_and_3xx_pass() {
        let passed = |text: &[u8]| matches!(verdict(text), Step::Passed);
        assert!(passed(b"HTTP/1.1 200 OK\r\n"));
        assert!(passed(b"HTTP/1.0 302 Found\r\nLocation: /x\r\n"));
        assert!(!passed(b"HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(!passed(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(!passed(b"SSH-2.0-OpenSSH\r\n"));
        assert!(!passed(b""));
        assert!(!passed(b"HTTP/1.1 2000 OK\r\n"));
    }
}
