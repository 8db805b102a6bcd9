//! The network checks, never blocking: `tcp` (a connection is accepted)
//! and `http` (a GET with a Host header and `Connection: close`, answered
//! 2xx or 3xx; at most `RESPONSE_MAX` bytes read, the status line is all
//! that counts). Hand-written: one status line needs no parser crate. Each
//! step runs when the descriptor is ready; the caller bounds the time.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc;
use nix::poll::PollFlags;

use crate::config::Check;
use crate::sink::{self, Sent};

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
            // SAFETY: read(2) into a live buffer of its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match Errno::result(n) {
                Ok(0) => return verdict(&http.response),
                Ok(n) => http.response.extend_from_slice(&buf[..n as usize]),
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
    let (family, storage, len) = sockaddr(address);
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: socket just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `storage` holds a sockaddr of `len` bytes.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), (&raw const storage).cast(), len) };
    (rc == 0 || Errno::last() == Errno::EINPROGRESS).then_some(fd)
}

/// Whether the connect on `fd` succeeded (it is writable now).
fn connected(fd: &OwnedFd) -> bool {
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes an int into `error`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &mut len,
        )
    };
    rc == 0 && error == 0
}

fn sockaddr(address: &SocketAddr) -> (libc::c_int, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match address {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            (libc::AF_INET, storage, len)
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            (libc::AF_INET6, storage, len)
        }
    }
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
