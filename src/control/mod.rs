//! The control socket's protocol, version 1, shared by the server (in
//! supervisor mode) and the client (`rinit status`, `rinit signal`): one
//! request line, `rinit/1 COMMAND ARG...`, at most `REQUEST_MAX` bytes; the
//! answer is lines, the first `rinit/1 ok` or `rinit/1 error MESSAGE`, and
//! the end of the answer is the end of the connection. docs/control.md
//! describes it for people.

pub mod client;
pub mod server;

/// What every request starts with, and every answer's first line.
pub const VERSION: &str = "rinit/1";
/// The longest request line, newline included.
pub const REQUEST_MAX: usize = 4096;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `status [NAME...]`: every instance, or those of the names given.
    Status(Vec<String>),
    /// `signal SIG NAME...`
    Signal(String, Vec<String>),
    /// `start|stop|restart [--no-wait] NAME...`: with `wait`, the answer
    /// comes once the targets are up (or down), or their time is out.
    Change {
        change: Change,
        names: Vec<String>,
        wait: bool,
    },
    /// `reload [--check] [--no-wait]`: read the configuration again and
    /// apply the difference (with `check`, only say what it would do).
    Reload { check: bool, wait: bool },
}

/// What `start`, `stop` and `restart` ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Start,
    Stop,
    Restart,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Start => "start",
            Change::Stop => "stop",
            Change::Restart => "restart",
        }
    }

    fn parse(word: &str) -> Option<Change> {
        [Change::Start, Change::Stop, Change::Restart]
            .into_iter()
            .find(|c| c.word() == word)
    }
}

impl Request {
    /// The names it targets.
    pub fn names(&self) -> &[String] {
        match self {
            Request::Status(names) | Request::Signal(_, names) | Request::Change { names, .. } => names,
            Request::Reload { .. } => &[],
        }
    }

    /// The request line, newline included.
    pub fn line(&self) -> String {
        let words = match self {
            Request::Status(names) => std::iter::once("status")
                .chain(names.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            Request::Signal(signal, names) => ["signal", signal.as_str()]
                .into_iter()
                .chain(names.iter().map(String::as_str))
                .collect(),
            Request::Change { change, names, wait } => std::iter::once(change.word())
                .chain((!wait).then_some("--no-wait"))
                .chain(names.iter().map(String::as_str))
                .collect(),
            Request::Reload { check, wait } => std::iter::once("reload")
                .chain(check.then_some("--check"))
                .chain((!wait).then_some("--no-wait"))
                .collect(),
        };
        format!("{VERSION} {}\n", words.join(" "))
    }

    /// Parses a request line (without its newline). Names and signals are
    /// words of printable ASCII without spaces. Over 50 lines: one match
    /// over the commands and their arguments.
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split(' ');
        match words.next() {
            Some(VERSION) => {}
            Some(other) if other.starts_with("rinit/") => {
                return Err(format!(
                    "protocol {} is not spoken here: this rinit speaks {VERSION}",
                    quoted(other)
                ))
            }
            _ => return Err(format!("a request starts with {VERSION}")),
        }
        let command = words.next().unwrap_or("");
        let args: Vec<String> = words.map(str::to_string).collect();
        if let Some(bad) = args
            .iter()
            .find(|w| w.is_empty() || !w.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(format!("{} is not a name", quoted(bad)));
        }
        match command {
            "status" => Ok(Request::Status(args)),
            "reload" => {
                let (check, no_wait) = (Some("--check"), Some("--no-wait"));
                match (
                    args.first().map(String::as_str),
                    args.get(1).map(String::as_str),
                    args.len(),
                ) {
                    (_, _, 0) => Ok(Request::Reload {
                        check: false,
                        wait: true,
                    }),
                    (first, _, 1) if first == check => Ok(Request::Reload {
                        check: true,
                        wait: true,
                    }),
                    (first, _, 1) if first == no_wait => Ok(Request::Reload {
                        check: false,
                        wait: false,
                    }),
                    (first, second, 2) if first == check && second == no_wait => Ok(Request::Reload {
                        check: true,
                        wait: false,
                    }),
                    _ => Err("reload takes --check and --no-wait, in that order, and no name".into()),
                }
            }
            "signal" => match args.split_first() {
                Some((signal, names)) if !names.is_empty() => {
                    Ok(Request::Signal(signal.clone(), names.to_vec()))
                }
                _ => Err("signal needs a signal and at least one name".into()),
            },
            word => match Change::parse(word) {
                Some(change) => {
                    let wait = args.first().map(String::as_str) != Some("--no-wait");
                    let names = args.get(usize::from(!wait)..).unwrap_or_default().to_vec();
                    if names.is_empty() {
                        return Err(format!("{word} needs at least one name"));
                    }
                    Ok(Request::Change { change, names, wait })
                }
                None => Err(format!("unknown command {}", quoted(word))),
            },
        }
    }
}

/// One instance as `status` reports it: one tab-separated line on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub name: String,
    pub state: String,
    /// What the last control request wants of it: "up", "down" or "restart".
    pub want: String,
    pub pid: Option<i32>,
    /// How long its current run has lasted, in milliseconds.
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    /// "exit code 1", "SIGKILL", or None before its first exit.
    pub last_exit: Option<String>,
    pub critical: bool,
    /// Whether `status` counts it as up: ready, or (a oneshot) done.
    pub ready: bool,
    /// A scheduled program's next run, RFC 3339 in its zone (None when it
    /// has no schedule, or it is held).
    pub next_run: Option<String>,
}

impl InstanceStatus {
    /// The state as people read it: with what it is wanted to be when that
    /// is not where it is or heads ("stopping (want up)", "ready (want down)").
    pub fn shown_state(&self) -> String {
        let agrees = match self.want.as_str() {
            "up" => !matches!(self.state.as_str(), "stopping" | "stopped"),
            "down" => matches!(
                self.state.as_str(),
                "stopping" | "stopped" | "exited" | "done" | "failed"
            ),
            _ => false,
        };
        if agrees {
            self.state.clone()
        } else {
            format!("{} (want {})", self.state, self.want)
        }
    }

    pub fn to_line(&self) -> String {
        let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name,
            self.state,
            self.want,
            or_dash(self.pid.map(|p| p.to_string())),
            or_dash(self.uptime_ms.map(|u| u.to_string())),
            self.restarts,
            or_dash(self.last_exit.clone()),
            if self.critical { "critical" } else { "-" },
            if self.ready { "up" } else { "down" },
            or_dash(self.next_run.clone()),
        )
    }

    pub fn from_line(line: &str) -> Option<InstanceStatus> {
        let fields: Vec<&str> = line.split('\t').collect();
        // NEXT RUN came with schedules: a line without it has none.
        let (nine, next_run) = match fields[..] {
            [ref nine @ .., next_run] if nine.len() == 9 => (nine, next_run),
            ref nine => (nine, "-"),
        };
        let [name, state, want, pid, uptime, restarts, last_exit, critical, ready] = *nine else {
            return None;
        };
        let dash = |text: &str| (text != "-").then(|| text.to_string());
        Some(InstanceStatus {
            name: name.into(),
            state: state.into(),
            want: want.into(),
            pid: dash(pid).and_then(|p| p.parse().ok()),
            uptime_ms: dash(uptime).and_then(|u| u.parse().ok()),
            restarts: restarts.parse().ok()?,
            last_exit: dash(last_exit),
            critical: critical == "critical",
            ready: ready == "up",
            next_run: dash(next_run),
        })
    }
}

/// The line of a `status` answer that says rinit drains: `draining` and
/// the milliseconds until it stops the programs.
pub fn draining_line(left: std::time::Duration) -> String {
    format!("draining\t{}\n", left.as_millis())
}

/// The time left of a drain, from its `status` line.
pub fn draining_left(line: &str) -> Option<u64> {
    line.strip_prefix("draining\t")?.parse().ok()
}

/// The reloads counted by outcome: applied, refused for errors in the
/// configuration, refused for the moment (shutdown, drain, another reload).
pub const RELOAD_OUTCOMES: [&str; 3] = ["applied", "invalid", "refused"];

/// The configuration rinit runs: its generation (1 at start, one more for
/// each reload applied) and when it was loaded (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    pub loaded_at: i64,
}

impl Generation {
    /// Its line in a `status` answer.
    pub fn line(&self) -> String {
        format!("generation\t{}\t{}\n", self.number, self.loaded_at)
    }

    pub fn from_line(line: &str) -> Option<Generation> {
        let (number, loaded_at) = line.strip_prefix("generation\t")?.split_once('\t')?;
        Some(Generation {
            number: number.parse().ok()?,
            loaded_at: loaded_at.parse().ok()?,
        })
    }

    /// When it was loaded, RFC 3339 in UTC.
    pub fn loaded(&self) -> String {
        crate::schedule::rfc3339(self.loaded_at, &crate::schedule::Zone::utc())
    }
}

/// A run's length as people read it: 450ms, 12s, 5m07s, 3h04m, 2d03h.
pub fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// The statuses as a JSON array, for tools; each object also says the
/// configuration's generation and when it was loaded, when known.
pub fn json(statuses: &[InstanceStatus], generation: Option<Generation>) -> String {
    let string = |text: &str| {
        let mut quoted = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => quoted += "\\\"",
                '\\' => quoted += "\\\\",
                c if (c as u32) < 0x20 => quoted += &format!("\\u{:04x}", c as u32),
                c => quoted.push(c),
            }
        }
        quoted + "\""
    };
    let number = |value: Option<String>| value.unwrap_or_else(|| "null".into());
    let configuration = generation.map_or(String::new(), |g| {
        format!(",\"generation\":{},\"loaded\":\"{}\"", g.number, g.loaded())
    });
    let objects: Vec<String> = statuses
        .iter()
        .map(|s| {
            format!(
                "{{\"name\":{},\"state\":{},\"want\":{},\"pid\":{},\"uptime_ms\":{},\"restarts\":{},\"last_exit\":{},\"critical\":{},\"ready\":{},\"next_run\":{}{configuration}}}",
                string(&s.name),
                string(&s.state),
                string(&s.want),
                number(s.pid.map(|p| p.to_string())),
                number(s.uptime_ms.map(|u| u.to_string())),
                s.restarts,
                s.last_exit.as_deref().map_or("null".into(), string),
                s.critical,
                s.ready,
                s.next_run.as_deref().map_or("null".into(), string),
            )
        })
        .collect();
    format!("[{}]\n", objects.join(","))
}

/// `text` quoted for a message, control characters escaped.
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_say_why() {
        for request in [
            Request::Status(vec![]),
            Request::Status(vec!["web".into(), "worker.1".into()]),
            Request::Signal("HUP".into(), vec!["web".into()]),
            Request::Change {
                change: Change::Restart,
                names: vec!["web".into()],
                wait: true,
            },
            Request::Change {
                change: Change::Stop,
                names: vec!["a".into(), "b".into()],
                wait: false,
            },
            Request::Reload {
                check: false,
                wait: true,
            },
            Request::Reload {
                check: true,
                wait: true,
            },
            Request::Reload {
                check: false,
                wait: false,
            },
            Request::Reload {
                check: true,
                wait: false,
            },
        ] {
            let line = request.line();
            assert_eq!(Request::parse(line.trim_end_matches('\n')), Ok(request));
        }
        assert_eq!(
            Request::parse("status"),
            Err("a request starts with rinit/1".into())
        );
        assert_eq!(
            Request::parse("rinit/9 status"),
            Err("protocol \"rinit/9\" is not spoken here: this rinit speaks rinit/1".into())
        );
        assert_eq!(
            Request::parse("rinit/1 start --no-wait"),
            Err("start needs at least one name".into())
        );
        assert_eq!(
            Request::parse("rinit/1 reboot"),
            Err("unknown command \"reboot\"".into())
        );
        assert_eq!(
            Request::parse("rinit/1 status a  b"),
            Err("\"\" is not a name".into())
        );
        assert_eq!(
            Request::parse("rinit/1 status \u{1b}[2J"),
            Err("\"\\u{1b}[2J\" is not a name".into())
        );
        assert_eq!(
            Request::parse("rinit/1 reload web"),
            Err("reload takes --check and --no-wait, in that order, and no name".into())
        );
        assert_eq!(
            Request::parse("rinit/1 signal HUP"),
            Err("signal needs a signal and at least one name".into())
        );
    }

    #[test]
    fn a_status_line_round_trips() {
        let status = InstanceStatus {
            name: "web".into(),
            state: "ready".into(),
            want: "up".into(),
            pid: Some(12),
            uptime_ms: Some(3400),
            restarts: 2,
            last_exit: Some("exit code 1".into()),
            critical: true,
            ready: true,
            next_run: Some("2026-12-05T17:00:00+01:00".into()),
        };
        let line = status.to_line();
        assert_eq!(
            line,
            "web\tready\tup\t12\t3400\t2\texit code 1\tcritical\tup\t2026-12-05T17:00:00+01:00\n"
        );
        assert_eq!(InstanceStatus::from_line(line.trim_end()), Some(status.clone()));
        assert_eq!(InstanceStatus::from_line("web\tready"), None);
        let generation = Generation {
            number: 3,
            loaded_at: 1_796_000_000,
        };
        assert_eq!(generation.line(), "generation\t3\t1796000000\n");
        assert_eq!(
            Generation::from_line(generation.line().trim_end()),
            Some(generation)
        );
        assert_eq!(InstanceStatus::from_line(generation.line().trim_end()), None);
        assert!(json(std::slice::from_ref(&status), Some(generation))
            .ends_with(",\"generation\":3,\"loaded\":\"2026-11-30T00:53:20+00:00\"}]\n"));
        let without_next_run = line.rsplit_once('\t').unwrap().0;
        let before = InstanceStatus::from_line(without_next_run).unwrap();
        assert_eq!(before.next_run, None);
    }
}
