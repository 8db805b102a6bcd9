//! The HTTP server in supervisor mode: its descriptors in the event loop
//! (the listener, each connection, each connection's deadline), and the
//! snapshot of the instances its pages are made from. Nothing here changes
//! an instance: the pages only read.

use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::{InstanceId, Key, Supervisor};

/// The HTTP server's keys in the event loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpKey {
    /// A connection is waiting.
    Listener,
    /// A connection can be read or written.
    Connection(ConnectionId),
    /// A connection's time is out.
    Deadline(ConnectionId),
    /// A connection has a pipelined request read already: its turn.
    Again(ConnectionId),
}

/// The read-only HTTP server, when `http` is set and it could listen.
#[derive(Default)]
pub struct Http {
    server: Option<Server>,
    /// Whether running out of descriptors was said already.
    exhausted_said: bool,
}
use crate::http::pages::{self, InstanceView, RunsView, Snapshot};
use crate::http::{self, ConnectionId, Read, Server, Written};
use crate::pid1::reaper::ExitStatus;

impl Supervisor<'_> {
    /// Listens on `[rinit] http`; when it cannot, says so once and runs on.
    pub(super) fn open_http(&mut self) {
        let Some(address) = self.fleet.plan.http else {
            return;
        };
        match Server::bind(address) {
            Ok(server) => {
                self.events.watch(
                    server.listener_fd(),
                    PollFlags::POLLIN,
                    Key::Http(HttpKey::Listener),
                );
                self.http.server = Some(server);
            }
            Err(why) => warn!("http {address}: {why}; running without the status page"),
        }
    }

    pub(super) fn on_http(&mut self, key: HttpKey) {
        match key {
            HttpKey::Listener => self.on_http_listener(),
            HttpKey::Connection(id) | HttpKey::Again(id) => self.on_http_connection(id),
            HttpKey::Deadline(id) => self.on_http_deadline(id),
        }
    }

    /// Connections are waiting (or, after running out of descriptors, the
    /// pause is over and the listener is watched again).
    fn on_http_listener(&mut self) {
        let Some(server) = &mut self.http.server else {
            return;
        };
        let key = Key::Http(HttpKey::Listener);
        self.events.watch(server.listener_fd(), PollFlags::POLLIN, key);
        let (accepted, closed, exhausted) = server.accept();
        if exhausted {
            super::listener_exhausted(self.events, key, &mut self.http.exhausted_said, "http");
        }
        for id in closed {
            self.events.unwatch(Key::Http(HttpKey::Connection(id)));
            self.events.cancel_timer(Key::Http(HttpKey::Deadline(id)));
            self.events.cancel_timer(Key::Http(HttpKey::Again(id)));
        }
        for id in accepted {
            if let Some(fd) = server.fd(id) {
                self.events
                    .watch(fd, PollFlags::POLLIN, Key::Http(HttpKey::Connection(id)));
                self.events
                    .set_timer_after(Key::Http(HttpKey::Deadline(id)), http::DEADLINE);
            }
        }
    }

    /// Connection `id` is readable (a request) or writable (its answer), or
    /// has a request read already (`Again`). Over 50 lines: each kind of
    /// read with its answer, and what to watch next.
    fn on_http_connection(&mut self, id: ConnectionId) {
        let Some(server) = &mut self.http.server else {
            return;
        };
        let mut written = if server.answering(id) {
            let written = server.write(id);
            if written == Written::KeptAlive {
                // The answer is all out: the next request has its own time.
                self.events
                    .set_timer_after(Key::Http(HttpKey::Deadline(id)), http::DEADLINE);
            }
            written
        } else {
            Written::KeptAlive
        };
        // One request per wake-up: a pipelined one already read waits for
        // the loop's next turn (a zero timer), so one client cannot keep
        // rinit from everything else.
        if written == Written::KeptAlive {
            let read = match self.http.server.as_mut() {
                Some(server) => server.read(id),
                None => return,
            };
            let answer = match read {
                Read::Request(request) => {
                    let page = pages::page(&request.path, &self.snapshot());
                    let mut bytes = head(
                        page.status,
                        page.content_type,
                        page.body.len(),
                        request.keep_alive,
                    );
                    if !request.head_only {
                        bytes.extend_from_slice(page.body.as_bytes());
                    }
                    Some((bytes, request.keep_alive))
                }
                Read::Bad(status) => {
                    let body = format!("{status}\n");
                    let mut bytes = head(status, "text/plain; charset=utf-8", body.len(), false);
                    bytes.extend_from_slice(body.as_bytes());
                    Some((bytes, false))
                }
                Read::Pending => None,
                Read::Closed => {
                    written = Written::Closed;
                    None
                }
            };
            if let (Some((answer, keep_alive)), Some(server)) = (answer, self.http.server.as_mut()) {
                written = server.answer(id, answer, keep_alive);
                if written == Written::KeptAlive {
                    // A new request has its own time.
                    self.events
                        .set_timer_after(Key::Http(HttpKey::Deadline(id)), http::DEADLINE);
                    if server.has_input(id) {
                        self.events
                            .set_timer_after(Key::Http(HttpKey::Again(id)), Duration::ZERO);
                    }
                }
            }
        }
        let Some(server) = &mut self.http.server else {
            return;
        };
        match written {
            Written::Closed => {
                server.close(id);
                self.events.unwatch(Key::Http(HttpKey::Connection(id)));
                self.events.cancel_timer(Key::Http(HttpKey::Deadline(id)));
                self.events.cancel_timer(Key::Http(HttpKey::Again(id)));
            }
            Written::Pending => self.watch_http(id, PollFlags::POLLOUT),
            Written::KeptAlive => self.watch_http(id, PollFlags::POLLIN),
        }
    }

    fn watch_http(&mut self, id: ConnectionId, flags: PollFlags) {
        if let Some(fd) = self.http.server.as_ref().and_then(|server| server.fd(id)) {
            self.events.watch(fd, flags, Key::Http(HttpKey::Connection(id)));
        }
    }

    /// Connection `id` ran out of time: closed.
    fn on_http_deadline(&mut self, id: ConnectionId) {
        if let Some(server) = &mut self.http.server {
            server.close(id);
        }
        self.events.unwatch(Key::Http(HttpKey::Connection(id)));
        self.events.cancel_timer(Key::Http(HttpKey::Again(id)));
    }

    /// The instances as the pages show them, now.
    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let (number, loaded_at, reloads) = self.fleet.generation();
        let wall_now = crate::config::wall_now();
        let instances = self
            .fleet
            .live_members()
            .map(|(InstanceId(i), member)| InstanceView {
                status: self.fleet.status_of(InstanceId(i), now),
                program: self.fleet.plan.program(member.program).name.clone(),
                last_exit_code: member.instance.last_exit().map(|status| match status {
                    ExitStatus::Code(code) => code,
                    ExitStatus::Signal(signo) => signo.saturating_add(128),
                }),
                runs: member.instance.runs().map(|runs| {
                    // An instant of rinit's clock on the wall clock.
                    let wall = |instant: Instant| {
                        let ago = now.saturating_duration_since(instant).as_secs();
                        wall_now.saturating_sub(i64::try_from(ago).unwrap_or(i64::MAX))
                    };
                    RunsView {
                        next_run: self.fleet.next_run_wall(InstanceId(i), now),
                        last_success: wall(runs.last_success.unwrap_or(self.started)),
                        by_outcome: runs.by_outcome,
                    }
                }),
            })
            .collect();
        Snapshot {
            draining: self.fleet.draining(),
            instances,
            uptime: now.saturating_duration_since(self.started),
            reaped: self.reaped,
            forwarded: self.fleet.forwarded(),
            generation: crate::control::Generation { number, loaded_at },
            reloads,
        }
    }
}

/// An answer's head.
fn head(status: &str, content_type: &str, length: usize, keep_alive: bool) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{}{}\r\n",
        if status.starts_with("405") {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        },
        if keep_alive { "" } else { "Connection: close\r\n" },
    );
    head.into_bytes()
}
