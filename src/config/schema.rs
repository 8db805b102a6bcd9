//! The configuration file's schema, as serde reads it: every table and key
//! rinit knows (unknown ones are refused), with the spans that errors point
//! at, and the small value types that parse themselves (durations, signals,
//! commands as a string or an array).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use nix::libc::c_int;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::{duration, shell_words, Kind, Output, Overlap, Restart};
use crate::pid1::signals;

/// The whole file: parse.rs reads each of its tables on its own (a table
/// left out is empty), and knows its four keys.
pub(super) struct RawFile {
    pub(super) rinit: RawRinit,
    pub(super) env: BTreeMap<Spanned<String>, EnvValue>,
    pub(super) program: BTreeMap<Spanned<String>, Spanned<RawProgram>>,
    pub(super) group: BTreeMap<Spanned<String>, Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table: programs = [\"web\", \"worker\"]")]
pub(super) struct RawGroup {
    pub(super) programs: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [rinit] shutdown_timeout = \"9s\" …"
)]
pub(super) struct RawRinit {
    pub(super) shutdown_timeout: Option<DurationValue>,
    pub(super) output: Option<Output>,
    pub(super) control_socket: Option<String>,
    pub(super) http: Option<Spanned<String>>,
    pub(super) drain: Option<DurationValue>,
    pub(super) timestamps: Option<bool>,
    pub(super) log_format: Option<super::LogFormatJson>,
    /// Globs of more files of programs, groups and `[env]`: read from the
    /// TOML tree before the schema (parse.rs); here so its type is checked.
    #[expect(dead_code, reason = "read by parse::include_patterns, checked here")]
    pub(super) include: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table: [program.NAME] command = \"…\" …")]
pub(super) struct RawProgram {
    pub(super) command: Option<Spanned<CommandValue>>,
    #[serde(rename = "type", default)]
    pub(super) kind: Kind,
    #[serde(default)]
    pub(super) after: Vec<Spanned<String>>,
    pub(super) user: Option<Spanned<String>>,
    pub(super) group: Option<Spanned<String>>,
    pub(super) directory: Option<Spanned<String>>,
    pub(super) umask: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) env: BTreeMap<Spanned<String>, EnvValue>,
    pub(super) env_file: Option<Spanned<String>>,
    pub(super) restart: Option<Restart>,
    pub(super) restart_delay: Option<DurationValue>,
    pub(super) restart_max_delay: Option<DurationValue>,
    pub(super) start_limit_burst: Option<u32>,
    pub(super) start_limit_interval: Option<DurationValue>,
    pub(super) success_exit_codes: Option<Vec<u8>>,
    pub(super) stop_signal: Option<SignalValue>,
    #[serde(default)]
    pub(super) stop_group: bool,
    pub(super) stop_timeout: Option<DurationValue>,
    #[serde(default)]
    pub(super) critical: bool,
    pub(super) ready: Option<Spanned<RawReady>>,
    pub(super) ready_timeout: Option<DurationValue>,
    pub(super) output: Option<Output>,
    pub(super) timestamps: Option<bool>,
    pub(super) instances: Option<Spanned<InstancesValue>>,
    pub(super) autostart: Option<bool>,
    pub(super) health: Option<Spanned<RawHealth>>,
    pub(super) schedule: Option<Spanned<String>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) overlap: Option<Overlap>,
    pub(super) run_timeout: Option<DurationValue>,
    pub(super) limits: Option<Spanned<super::resources::RawLimits>>,
    pub(super) nice: Option<Spanned<i64>>,
    pub(super) oom_score_adj: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: { http = \"127.0.0.1:8000/healthz\" }, { tcp = \"127.0.0.1:8000\" } or { command = [\"…\"] }, with interval, timeout, retries and start_period"
)]
pub(super) struct RawHealth {
    pub(super) tcp: Option<Spanned<String>>,
    pub(super) http: Option<Spanned<String>>,
    pub(super) command: Option<Spanned<CommandValue>>,
    pub(super) interval: Option<DurationValue>,
    pub(super) timeout: Option<DurationValue>,
    /// i64 as `nice` is (one copy of serde's reader for both), checked in checks.rs.
    pub(super) retries: Option<Spanned<i64>>,
    pub(super) start_period: Option<DurationValue>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: { tcp = \"127.0.0.1:8000\" }, { http = \"127.0.0.1:8000/healthz\" }, { command = [\"…\"] } or { file = \"/path\" }"
)]
pub(super) struct RawReady {
    pub(super) tcp: Option<Spanned<String>>,
    pub(super) command: Option<Spanned<CommandValue>>,
    pub(super) file: Option<Spanned<String>>,
    pub(super) http: Option<Spanned<String>>,
}

/// One of the names in `choices` (`restart`, `type`, `output`), or an
/// error that lists them, with a guess at a misspelt one or, from `hints`,
/// the name for another tool's word (supervisord's `unexpected`, a `true`).
/// One visitor type for all of them: each visitor type costs a copy of
/// toml's deserializer in the binary.
pub(super) fn one_of<'de, D: Deserializer<'de>, T: Copy + 'static>(
    deserializer: D,
    choices: &'static [(&'static str, T)],
    hints: &'static [(&'static str, &'static str)],
) -> Result<T, D::Error> {
    let names = choices.iter().map(|(name, _)| *name).collect();
    let index = deserializer.deserialize_any(NameVisitor { names, hints })?;
    // A place in `names`, which are the choices' names in order.
    let choice = choices.get(index).map(|&(_, value)| value);
    choice.ok_or_else(|| de::Error::custom("not one of the names"))
}

/// A name from a list: its index in the list.
struct NameVisitor {
    names: Vec<&'static str>,
    /// Other words, each with the name it means.
    hints: &'static [(&'static str, &'static str)],
}

impl NameVisitor {
    fn names(&self) -> String {
        let names: Vec<String> = self.names.iter().map(|name| format!("{name:?}")).collect();
        names.join(", ")
    }

    /// ": did you mean `"NAME"`?" for `word`, or nothing.
    fn hint(&self, word: &str) -> String {
        let hinted = self.hints.iter().find(|(other, _)| *other == word);
        let name = hinted
            .map(|&(_, name)| name)
            .or_else(|| super::suggest::closest(word, self.names.iter().copied()));
        name.map_or_else(String::new, |name| format!(": did you mean `{name:?}`?"))
    }
}

impl Visitor<'_> for NameVisitor {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {}", self.names())
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<usize, E> {
        match self.names.iter().position(|name| *name == text) {
            Some(index) => Ok(index),
            None => Err(E::custom(format!(
                "{text:?} is not one of {}{}",
                self.names(),
                self.hint(text)
            ))),
        }
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<usize, E> {
        Err(E::custom(format!(
            "invalid type: boolean `{value}`, expected one of {}{}",
            self.names(),
            self.hint(if value { "true" } else { "false" })
        )))
    }
}

/// An `env` value: a string, or `{ file = "PATH" }`, the content of a file
/// read at each start (a mounted secret).
pub(super) enum EnvValue {
    Text(String),
    File(String),
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or { file = \"/run/secrets/NAME\" }")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<EnvValue, E> {
                Ok(EnvValue::Text(text.to_string()))
            }
            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<EnvValue, M::Error> {
                let mut file = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "file" if file.is_none() => file = Some(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown field `{other}`, expected `file`: {{ file = \"/run/secrets/NAME\" }}"
                            )))
                        }
                    }
                }
                file.map(EnvValue::File).ok_or_else(|| {
                    de::Error::custom("missing field `file`: { file = \"/run/secrets/NAME\" }")
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `instances`: a number, or a string that expands to one.
pub(super) enum InstancesValue {
    Count(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for InstancesValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = InstancesValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of instances, or a string such as \"${WORKERS:-2}\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<InstancesValue, E> {
                Ok(InstancesValue::Count(n))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<InstancesValue, E> {
                Ok(InstancesValue::Text(text.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// "250ms", "1m30s", or a number of seconds (integer or float).
pub(super) struct DurationValue(pub(super) Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"10s\", \"1m30s\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationValue, E> {
                duration::parse(text).map(DurationValue).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DurationValue, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DurationValue, E> {
                self.visit_str(&n.to_string())
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// "TERM", "SIGTERM" or a number.
pub(super) struct SignalValue(pub(super) c_int);

impl<'de> Deserialize<'de> for SignalValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignalValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signal name such as \"TERM\" or \"SIGTERM\", or a number")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SignalValue, E> {
                signals::parse(text).map(SignalValue).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<SignalValue, E> {
                self.visit_str(&n.to_string())
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A command as a string (split by shell quoting rules, no expansion) or an
/// array of arguments.
pub(super) enum CommandValue {
    Line(String),
    Words(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command: a string, or an array of strings")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandValue, E> {
                Ok(CommandValue::Line(text.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandValue, A::Error> {
                let mut words = Vec::new();
                while let Some(word) = seq.next_element::<String>()? {
                    words.push(word);
                }
                Ok(CommandValue::Words(words))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl CommandValue {
    pub(super) fn words(&self) -> Result<Vec<String>, String> {
        let words = match self {
            CommandValue::Line(line) => shell_words::split(line)?,
            CommandValue::Words(words) => words.clone(),
        };
        if words.iter().any(|word| word.contains('\0')) {
            return Err("the command contains a NUL byte".into());
        }
        match words.first() {
            None => Err("the command is empty".into()),
            Some(first) if first.is_empty() => Err("the command name is empty".into()),
            Some(_) => Ok(words),
        }
    }
}
