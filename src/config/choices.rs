//! The keys whose values are names from a list — `type`, `restart`,
//! `output`, `log_format` — as enums, with the names as written and the
//! hints for other tools' words (supervisord's `unexpected`, a `true`).

use serde::Deserialize;

use super::schema;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// Ready once exec'd (or when its `ready` check passes).
    #[default]
    Simple,
    /// Ready when it sends READY=1 to $NOTIFY_SOCKET.
    Notify,
    /// Runs to completion; ready ("done") when it exited cleanly.
    Oneshot,
}

/// systemd's Restart= values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    No,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    Always,
}

impl Restart {
    /// As written in the configuration.
    pub fn name(self) -> &'static str {
        RESTARTS
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("?", |(name, _)| name)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// The program writes to rinit's own stdout and stderr.
    #[default]
    Inherit,
    /// rinit reads the program's output and writes it as "NAME | line".
    Prefix,
    /// /dev/null.
    Null,
    /// rinit reads the program's output and writes each line as a JSON
    /// object: time, program, instance, stream, line.
    Json,
}

impl Output {
    /// Whether rinit reads the program's output through pipes.
    pub fn is_read(self) -> bool {
        matches!(self, Output::Prefix | Output::Json)
    }
}

/// The values of `type`, `restart` and `output`, as written.
const KINDS: &[(&str, Kind)] = &[
    ("simple", Kind::Simple),
    ("notify", Kind::Notify),
    ("oneshot", Kind::Oneshot),
];
const RESTARTS: &[(&str, Restart)] = &[
    ("no", Restart::No),
    ("on-success", Restart::OnSuccess),
    ("on-failure", Restart::OnFailure),
    ("on-abnormal", Restart::OnAbnormal),
    ("on-abort", Restart::OnAbort),
    ("always", Restart::Always),
];
/// supervisord's autorestart values, and booleans, as `restart` names them.
const RESTART_HINTS: &[(&str, &str)] = &[("unexpected", "on-failure"), ("true", "always"), ("false", "no")];
const OUTPUTS: &[(&str, Output)] = &[
    ("inherit", Output::Inherit),
    ("prefix", Output::Prefix),
    ("null", Output::Null),
    ("json", Output::Json),
];
const LOG_FORMATS: &[(&str, bool)] = &[("plain", false), ("json", true)];

/// `[rinit] log_format`: whether rinit's own messages are JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogFormatJson(pub bool);

impl<'de> Deserialize<'de> for LogFormatJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        schema::one_of(deserializer, LOG_FORMATS, &[]).map(LogFormatJson)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        schema::one_of(deserializer, KINDS, &[])
    }
}

impl<'de> Deserialize<'de> for Restart {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        schema::one_of(deserializer, RESTARTS, RESTART_HINTS)
    }
}

impl<'de> Deserialize<'de> for Output {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        schema::one_of(deserializer, OUTPUTS, &[])
    }
}
