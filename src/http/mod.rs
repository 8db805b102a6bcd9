//! The read-only HTTP server (`[rinit] http = "ADDR:PORT"`), none of it
//! blocking: a non-blocking listener, at most `CONNECTIONS_MAX` connections
//! (a new one closes the idlest), requests of at most `REQUEST_MAX` bytes
//! without a body, each connection closed when it has not sent a whole
//! request (or taken its answer) within `DEADLINE`. HTTP/1.1 keep-alive, and
//! HTTP/1.0. What is served is in pages.rs; the supervisor watches the
//! descriptors and asks pages.rs for the answers (supervise/http.rs).

pub mod pages;
mod request;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

pub use request::{parse, Parsed, Request};

use crate::sink::{self, Sent};

/// The most connections served at once; one more closes the oldest.
pub const CONNECTIONS_MAX: usize = 64;
/// Connections the kernel queues for rinit to accept.
const BACKLOG: usize = 4096;
/// The longest request head (request line and headers).
pub const REQUEST_MAX: usize = 8 * 1024;
/// How long a connection has for a whole request (from its connect, or its
/// last answer) and then for taking its answer.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A connection's id, for the event loop's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnectionId(u64);

struct Connection {
    fd: OwnedFd,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    /// Close once `output` is out (no keep-alive).
    close_after: bool,
    /// When it last sent or took something.
    active: Instant,
}

/// What a readable connection gave.
pub enum Read {
    /// Not a whole request yet.
    Pending,
    /// A request (its answer is due), or a bad one's answer.
    Request(Request),
    Bad(&'static str),
    /// It closed: it is gone.
    Closed,
}

/// How far an answer got.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// All out; the connection stays for its next request.
    KeptAlive,
    /// All out (or the peer is gone); the connection is closed.
    Closed,
    /// The socket is full: wait until it is writable.
    Pending,
}

pub struct Server {
    listener: OwnedFd,
    /// Oldest first (ids grow); a few dozen at most, so a Vec.
    connections: Vec<(ConnectionId, Connection)>,
    next: u64,
}

impl Server {
    /// Listens on `address`; Err says why not, for the one warning.
    pub fn bind(address: SocketAddr) -> Result<Server, String> {
        let listener = TcpListener::bind(address).map_err(|e| crate::log::io_error_text(&e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| crate::log::io_error_text(&e))?;
        // std listens with a backlog of 128: in a flood of connections, a
        // full queue drops the newest client's SYN, which retries 1 s later.
        // A longer queue keeps it, and one wake-up accepts the whole queue
        // (the oldest connections closing to make room). listen(2) again
        // only sets the new length, capped by net.core.somaxconn.
        let _ = crate::sys::listen(listener.as_raw_fd(), BACKLOG);
        Ok(Server {
            listener: listener.into(),
            connections: Vec::new(),
            next: 0,
        })
    }

    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    pub fn fd(&self, id: ConnectionId) -> Option<RawFd> {
        self.get(id).map(|c| c.fd.as_raw_fd())
    }

    fn get(&self, id: ConnectionId) -> Option<&Connection> {
        self.connections.iter().find(|(i, _)| *i == id).map(|(_, c)| c)
    }

    fn get_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.connections
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, c)| c)
    }

    /// Takes every waiting connection: the new ones, and the old ones closed
    /// to make room for them.
    /// Also: whether rinit ran out of descriptors. Past `CONNECTIONS_MAX`,
    /// the idlest connection (nothing read, nothing waiting to be read,
    /// nothing to send, quiet the longest) makes room, after every connection
    /// whose client has gone; a request already
    /// sent is always answered, so when every connection is busy the new
    /// one is closed instead.
    pub fn accept(&mut self) -> (Vec<ConnectionId>, Vec<ConnectionId>, bool) {
        let (mut accepted, mut closed) = (Vec::new(), Vec::new());
        for _ in 0..sink::ACCEPT_BATCH {
            let fd = match sink::accept(self.listener.as_raw_fd()) {
                sink::Accepted::Connection(fd) => fd,
                sink::Accepted::Nothing => break,
                sink::Accepted::Exhausted => return (accepted, closed, true),
            };
            if self.connections.len() >= CONNECTIONS_MAX {
                self.drop_gone(&mut closed);
                accepted.retain(|id| !closed.contains(id));
            }
            if self.connections.len() >= CONNECTIONS_MAX {
                let idlest = self
                    .connections
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, c))| c.input.is_empty() && c.output.is_empty())
                    // A request in its socket, not read yet, is served first.
                    .filter(|(_, (_, c))| !crate::sys::has_input(c.fd.as_raw_fd()))
                    .min_by_key(|(_, (_, c))| c.active)
                    .map(|(at, _)| at);
                let Some(at) = idlest else {
                    continue; // every one busy: the newcomer goes (its fd closes)
                };
                let (idle, _) = self.connections.remove(at);
                accepted.retain(|id| *id != idle);
                closed.push(idle);
            }
            let id = ConnectionId(self.next);
            self.next = self.next.wrapping_add(1);
            let connection = Connection {
                fd,
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                close_after: false,
                active: Instant::now(),
            };
            self.connections.push((id, connection));
            accepted.push(id);
        }
        (accepted, closed, false)
    }

    /// Closes the connections whose clients have gone, all at once (one
    /// look at each), adding them to `closed`: a flood that opens and drops
    /// connections never costs a live one its slot.
    fn drop_gone(&mut self, closed: &mut Vec<ConnectionId>) {
        self.connections.retain(|(id, c)| {
            let gone = c.input.is_empty() && c.output.is_empty() && crate::sys::peer_gone(c.fd.as_raw_fd());
            if gone {
                closed.push(*id);
            }
            !gone
        });
    }

    /// Reads what connection `id` sent, up to a whole request.
    pub fn read(&mut self, id: ConnectionId) -> Read {
        let Some(connection) = self.get_mut(id) else {
            return Read::Closed;
        };
        let mut buf = [0u8; 4096];
        loop {
            if let Some(parsed) = take_request(&mut connection.input) {
                return parsed;
            }
            let room = (REQUEST_MAX + 1)
                .saturating_sub(connection.input.len())
                .min(buf.len());
            let into = buf.get_mut(..room).unwrap_or_default();
            match crate::sys::read(connection.fd.as_raw_fd(), into) {
                Ok(0) => return Read::Closed,
                Ok(n) => {
                    connection
                        .input
                        .extend_from_slice(into.get(..n).unwrap_or_default());
                    connection.active = Instant::now();
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Read::Pending,
                Err(_) => return Read::Closed,
            }
        }
    }

    /// Whether connection `id` has bytes read and not yet taken (a
    /// pipelined request).
    pub fn has_input(&self, id: ConnectionId) -> bool {
        self.get(id).is_some_and(|c| !c.input.is_empty())
    }

    /// Whether connection `id` has an answer going out.
    pub fn answering(&self, id: ConnectionId) -> bool {
        self.get(id).is_some_and(|c| !c.output.is_empty())
    }

    /// Sends `answer` on connection `id`, as far as it takes it now.
    pub fn answer(&mut self, id: ConnectionId, answer: Vec<u8>, keep_alive: bool) -> Written {
        if let Some(connection) = self.get_mut(id) {
            connection.output = answer;
            connection.sent = 0;
            connection.close_after = !keep_alive;
        }
        self.write(id)
    }

    /// Connection `id` takes more of its answer.
    pub fn write(&mut self, id: ConnectionId) -> Written {
        let Some(connection) = self.get_mut(id) else {
            return Written::Closed;
        };
        match sink::send_rest(
            connection.fd.as_raw_fd(),
            &connection.output,
            &mut connection.sent,
        ) {
            Sent::WouldBlock => Written::Pending,
            Sent::All if !connection.close_after => {
                connection.output = Vec::new();
                connection.sent = 0;
                Written::KeptAlive
            }
            Sent::All | Sent::Failed => {
                self.close(id);
                Written::Closed
            }
        }
    }

    pub fn close(&mut self, id: ConnectionId) {
        self.connections.retain(|(i, _)| *i != id);
    }
}

/// The first request in `input`, taken out of it; None until there is one.
fn take_request(input: &mut Vec<u8>) -> Option<Read> {
    match parse(input) {
        Parsed::Incomplete if input.len() > REQUEST_MAX => {
            Some(Read::Bad("431 Request Header Fields Too Large"))
        }
        Parsed::Incomplete => None,
        Parsed::Bad(status) => Some(Read::Bad(status)),
        Parsed::Request(request, length) => {
            input.drain(..length);
            Some(Read::Request(request))
        }
    }
}
