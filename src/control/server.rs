//! The control socket's server side, none of it blocking: a unix stream
//! socket of mode 0600; each connection's peer checked (root or rinit's own
//! uid, by SO_PEERCRED); at most `CLIENTS_MAX` connections at once (more are
//! closed as they come), each with one request of at most `REQUEST_MAX`
//! bytes and an answer, within `DEADLINE` of its connect. The supervisor
//! watches the descriptors and answers the requests (supervise/control.rs).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;

use super::{Request, REQUEST_MAX, VERSION};
use crate::sink::{self, Sent};
use crate::sys;

/// The most connections served at once.
pub const CLIENTS_MAX: usize = 16;
/// How long a connection may take, from its connect to the end of its answer.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// A connection's id, for the event loop's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u64);

#[cfg(test)]
impl ClientId {
    /// A client that is only a number, for the supervisor's tests.
    pub fn for_tests(n: u64) -> ClientId {
        ClientId(n)
    }
}

struct Client {
    fd: OwnedFd,
    /// Another user's connection: whatever it asks, the answer is this
    /// refusal (given once its request is in, so that it is read).
    refusal: Option<String>,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
}

/// What a readable connection gave.
pub enum Read {
    /// Not a whole line yet.
    Pending,
    /// A request line, or why it is not one.
    Request(Result<Request, String>),
    /// It closed before a whole request: it is gone.
    Closed,
}

pub struct Server {
    listener: OwnedFd,
    path: PathBuf,
    /// The socket file's device and inode: removed at exit only if still ours.
    identity: (u64, u64),
    own_uid: u32,
    clients: BTreeMap<ClientId, Client>,
    next: u64,
}

impl Server {
    /// Listens at `path`, replacing a stale socket file (one nobody accepts
    /// on); Err says why not, for the one warning.
    pub fn bind(path: &Path) -> Result<Server, String> {
        let address = sys::SocketAddress::unix(path)?;
        let listener = socket()?;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                // Never removed: it may be the configuration itself.
                return Err("a file that is not a socket is there; rinit leaves it alone".into());
            }
            if connects(path) {
                return Err("another process is listening on it".into());
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot replace it: {}", crate::log::io_error_text(&e)))?;
        }
        // Mode 0600 from the start: no moment when others could connect.
        sys::bind_with_umask(&listener, &address, 0o177).map_err(|e| e.desc().to_string())?;
        sys::listen(listener.as_raw_fd(), CLIENTS_MAX).map_err(|e| e.desc().to_string())?;
        let meta = std::fs::symlink_metadata(path).map_err(|e| crate::log::io_error_text(&e))?;
        use std::os::unix::fs::MetadataExt;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            own_uid: nix::unistd::geteuid().as_raw(),
            clients: BTreeMap::new(),
            next: 0,
        })
    }

    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    pub fn client_fd(&self, id: ClientId) -> Option<RawFd> {
        self.clients.get(&id).map(|client| client.fd.as_raw_fd())
    }

    /// Takes every waiting connection: the ones to serve, by id. Over
    /// `CLIENTS_MAX`, a connection is closed at once; another user's is
    /// served only its refusal.
    /// Also: whether rinit ran out of descriptors.
    pub fn accept(&mut self) -> (Vec<ClientId>, bool) {
        let mut accepted = Vec::new();
        for _ in 0..sink::ACCEPT_BATCH {
            let fd = match sink::accept(self.listener.as_raw_fd()) {
                sink::Accepted::Connection(fd) => fd,
                sink::Accepted::Nothing => break,
                sink::Accepted::Exhausted => return (accepted, true),
            };
            let refusal = match peer_uid(&fd) {
                Some(uid) if uid == 0 || uid == self.own_uid => None,
                uid => {
                    debug!("control socket: refusing a client of uid {uid:?}");
                    Some(format!(
                        "permission denied: only root and uid {} may use this socket",
                        self.own_uid
                    ))
                }
            };
            if self.clients.len() >= CLIENTS_MAX {
                send_now(
                    &fd,
                    format!("{VERSION} error busy: {CLIENTS_MAX} clients already\n").as_bytes(),
                );
                continue;
            }
            let id = ClientId(self.next);
            self.next = self.next.wrapping_add(1);
            self.clients.insert(
                id,
                Client {
                    fd,
                    refusal,
                    input: Vec::new(),
                    output: Vec::new(),
                    sent: 0,
                },
            );
            accepted.push(id);
        }
        (accepted, false)
    }

    /// Reads what connection `id` sent, up to its request line.
    pub fn read(&mut self, id: ClientId) -> Read {
        let Some(client) = self.clients.get_mut(&id) else {
            return Read::Closed;
        };
        let mut buf = [0u8; REQUEST_MAX];
        loop {
            let room = REQUEST_MAX.saturating_sub(client.input.len());
            let into = buf.get_mut(..room).unwrap_or_default();
            match sys::read(client.fd.as_raw_fd(), into) {
                Ok(0) => return Read::Closed,
                Ok(n) => client.input.extend_from_slice(into.get(..n).unwrap_or_default()),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Read::Pending,
                Err(_) => return Read::Closed,
            }
            let end = client.input.iter().position(|&b| b == b'\n');
            let whole = end.is_some() || client.input.len() >= REQUEST_MAX;
            if let (Some(refusal), true) = (&client.refusal, whole) {
                return Read::Request(Err(refusal.clone()));
            }
            if let Some(end) = end {
                let line = String::from_utf8_lossy(client.input.get(..end).unwrap_or_default()).into_owned();
                return Read::Request(Request::parse(line.strip_suffix('\r').unwrap_or(&line)));
            }
            if client.input.len() >= REQUEST_MAX {
                return Read::Request(Err(format!("the request is longer than {REQUEST_MAX} bytes")));
            }
        }
    }

    /// Sends `answer` to connection `id` as far as it takes it now; true
    /// once all of it is out (the connection is then closed).
    pub fn answer(&mut self, id: ClientId, answer: String) -> bool {
        if let Some(client) = self.clients.get_mut(&id) {
            client.output = answer.into_bytes();
            client.sent = 0;
        }
        self.write(id)
    }

    /// Connection `id` takes more: true once its answer is all out (the
    /// connection is then closed).
    pub fn write(&mut self, id: ClientId) -> bool {
        let Some(client) = self.clients.get_mut(&id) else {
            return true;
        };
        // Sent::Failed: the client has gone.
        if sink::send_rest(client.fd.as_raw_fd(), &client.output, &mut client.sent) == Sent::WouldBlock {
            return false;
        }
        self.clients.remove(&id);
        true
    }

    /// Whether connection `id` has an answer waiting to go out.
    pub fn answering(&self, id: ClientId) -> bool {
        self.clients
            .get(&id)
            .is_some_and(|client| !client.output.is_empty())
    }

    /// Whether the client of connection `id`, which waits for its answer,
    /// has hung up (or, against the protocol, sent more): it is then
    /// closed. Reads nothing it keeps.
    pub fn gone(&mut self, id: ClientId) -> bool {
        let Some(client) = self.clients.get(&id) else {
            return true;
        };
        let gone = sys::peer_closed(client.fd.as_raw_fd());
        if gone {
            self.clients.remove(&id);
        }
        gone
    }

    pub fn close(&mut self, id: ClientId) {
        self.clients.remove(&id);
    }
}

impl Drop for Server {
    /// Removes the socket file, if it is still ours.
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn socket() -> Result<OwnedFd, String> {
    sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, true).map_err(|e| e.desc().to_string())
}

/// Whether something accepts connections at `path` (a live server, not a
/// stale file).
fn connects(path: &Path) -> bool {
    let (Ok(address), Ok(probe)) = (sys::SocketAddress::unix(path), socket()) else {
        return false;
    };
    matches!(
        sys::connect(&probe, &address),
        Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS)
    )
}

/// The uid of the process at the other end of `fd`.
fn peer_uid(fd: &OwnedFd) -> Option<u32> {
    sys::peer_credentials(fd).ok().map(|credentials| credentials.uid)
}

/// One non-blocking send, whatever it takes, before a close.
fn send_now(fd: &OwnedFd, bytes: &[u8]) {
    let _ = sys::send_now(fd.as_raw_fd(), bytes);
}
