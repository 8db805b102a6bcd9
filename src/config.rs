//! The configuration file: its serde schema (unknown keys rejected), and the
//! validation pass that turns it into a typed `Plan` — durations, signals,
//! users, environments, readiness checks and the dependency graph resolved
//! into a start order — before anything is started. Every error names the
//! file, line and column, the program and the key.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::libc::c_int;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::environment::Env;
use crate::users::Account;
use crate::{duration, env_file, input, log, shell_words, signals, users};

/// Where rinit looks when neither `-c` nor `$RINIT_CONFIG` names a file.
pub const DEFAULT_PATH: &str = "/etc/rinit.toml";
/// The name the command given on rinit's command line runs under, beside the
/// configured programs.
pub const MAIN: &str = "main";
/// The longest program name: with an instance number and " | ", a prefixed
/// line of LINE_MAX bytes still fits in one atomic PIPE_BUF write.
pub const NAME_MAX: usize = 64;
/// Most instances one program may have.
pub const MAX_INSTANCES: u32 = 1000;

// ---------------------------------------------------------------- the schema

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rinit: RawRinit,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    program: BTreeMap<Spanned<String>, Spanned<RawProgram>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRinit {
    shutdown_timeout: Option<DurationValue>,
    output: Option<Output>,
    control_socket: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    command: Option<Spanned<CommandValue>>,
    #[serde(rename = "type", default)]
    kind: Kind,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    directory: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, String>,
    env_file: Option<Spanned<String>>,
    restart: Option<Restart>,
    restart_delay: Option<DurationValue>,
    restart_max_delay: Option<DurationValue>,
    start_limit_burst: Option<u32>,
    start_limit_interval: Option<DurationValue>,
    success_exit_codes: Option<Vec<u8>>,
    stop_signal: Option<SignalValue>,
    #[serde(default)]
    stop_group: bool,
    stop_timeout: Option<DurationValue>,
    #[serde(default)]
    critical: bool,
    ready: Option<Spanned<RawReady>>,
    ready_timeout: Option<DurationValue>,
    output: Option<Output>,
    instances: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    tcp: Option<Spanned<String>>,
    command: Option<Spanned<CommandValue>>,
    file: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
        match self {
            Restart::No => "no",
            Restart::OnSuccess => "on-success",
            Restart::OnFailure => "on-failure",
            Restart::OnAbnormal => "on-abnormal",
            Restart::OnAbort => "on-abort",
            Restart::Always => "always",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// The program writes to rinit's own stdout and stderr.
    #[default]
    Inherit,
    /// rinit reads the program's output and writes it as "NAME | line".
    Prefix,
    /// /dev/null.
    Null,
}

/// "250ms", "1m30s", or a number of seconds (integer or float).
struct DurationValue(Duration);

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
struct SignalValue(c_int);

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
enum CommandValue {
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
    fn words(&self) -> Result<Vec<String>, String> {
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

// ------------------------------------------------------------------ the plan

/// The validated configuration, ready to run.
#[derive(Debug)]
pub struct Plan {
    pub shutdown_timeout: Duration,
    /// None when turned off with `control_socket = ""`.
    pub control_socket: Option<PathBuf>,
    /// In start order: every program comes after the programs it waits for.
    pub programs: Vec<Program>,
}

#[derive(Debug)]
pub struct Program {
    pub name: String,
    /// Some(N) when `instances` was given: the instances are NAME.0 … NAME.N-1.
    pub instances: Option<u32>,
    /// OsStrings: `main`'s arguments need not be UTF-8.
    pub command: Vec<OsString>,
    pub kind: Kind,
    /// Indices into `Plan::programs`, all smaller than this program's own.
    pub after: Vec<usize>,
    pub user: Option<Account>,
    /// None: rinit's starting directory.
    pub directory: Option<PathBuf>,
    /// The environment before RINIT_PROGRAM, RINIT_INSTANCE and NOTIFY_SOCKET.
    pub env: Env,
    pub restart: Restart,
    pub restart_delay: Duration,
    pub restart_max_delay: Duration,
    /// 0: no start limit.
    pub start_limit_burst: u32,
    pub start_limit_interval: Duration,
    pub success_exit_codes: Vec<u8>,
    pub stop_signal: c_int,
    /// The stop signal (and forwarded signals) go to the whole process
    /// group, not only the main process (supervisord's stopasgroup).
    pub stop_group: bool,
    pub stop_timeout: Duration,
    pub critical: bool,
    pub ready: Option<Ready>,
    pub ready_timeout: Duration,
    pub output: Output,
    /// The command given on rinit's command line: keeps rinit's stdin and
    /// takes the terminal's foreground.
    pub is_main: bool,
}

#[derive(Debug)]
pub enum Ready {
    Tcp(SocketAddr),
    Command(Vec<String>),
    File(PathBuf),
}

impl Program {
    /// Instance names: "NAME", or "NAME.0", "NAME.1", …
    pub fn instance_names(&self) -> Vec<String> {
        match self.instances {
            None => vec![self.name.clone()],
            Some(count) => (0..count).map(|i| format!("{}.{i}", self.name)).collect(),
        }
    }
}

// ---------------------------------------------------------------- the errors

/// One configuration error: `FILE:LINE:COL: program NAME: key KEY: message`.
#[derive(Debug)]
pub struct ConfigError {
    file: String,
    /// 1-based line and column.
    at: Option<(usize, usize)>,
    program: Option<String>,
    key: Option<String>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.at {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(program) = &self.program {
            write!(f, ": program {program}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Builds errors that point into one file's text.
struct Source<'a> {
    file: String,
    text: &'a str,
}

impl Source<'_> {
    fn error(
        &self,
        offset: Option<usize>,
        program: Option<&str>,
        key: Option<&str>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            at: offset.map(|offset| self.line_column(offset)),
            program: program.map(str::to_string),
            key: key.map(str::to_string),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// A serde error carries a position and a message, not the program or the
    /// key: they are read back from the text around the position.
    fn toml_error(&self, err: toml::de::Error) -> ConfigError {
        let message = err.message().trim_end().replace('\n', " ");
        let Some(span) = err.span() else {
            return self.error(None, None, None, message);
        };
        let before = self.text.get(..span.start).unwrap_or("");
        let unquote = |name: &str| {
            name.trim_matches(|c| c == '"' || c == '\'' || c == ' ')
                .to_string()
        };
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self
            .text
            .get(line_start..)
            .and_then(|l| l.lines().next())
            .unwrap_or("");
        let full_key = line.split_once('=').map(|(key, _)| key.trim()).filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        });
        // The table the line is in: `[program.web]` (or `[program.web.env]`) ...
        let header = before.lines().rev().find(|l| l.trim_start().starts_with('['));
        let program = match header {
            Some(header) => header
                .trim()
                .strip_prefix("[program.")
                .and_then(|rest| rest.split([']', '.']).next())
                .map(unquote),
            // ... or a dotted key at the top: `program.web.command = 5`.
            None => full_key
                .and_then(|key| key.strip_prefix("program."))
                .and_then(|rest| rest.split('.').next())
                .map(unquote),
        };
        // The key is the last dotted part.
        let key = full_key.map(|k| unquote(k.rsplit('.').next().unwrap_or(k)));
        self.error(Some(span.start), program.as_deref(), key.as_deref(), message)
    }
}

// ------------------------------------------------------------ the validation

/// Reads and validates the configuration at `path`. `inherited_env` is
/// rinit's own environment; `main_command`, when given, becomes the program
/// `main` that starts after all the others.
pub fn load(
    path: &Path,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    let file = label(path);
    let text = input::read_text(path).map_err(|why| ConfigError {
        file: file.clone(),
        at: None,
        program: None,
        key: None,
        message: format!("cannot read the configuration: {why}"),
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    from_text(file, &text, base_dir, inherited_env, main_command)
}

/// Validates the configuration `text`, read from the file messages call
/// `file`; env files are found relative to `base_dir`.
pub fn from_text(
    file: String,
    text: &str,
    base_dir: &Path,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    let source = Source { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|err| source.toml_error(err))?;
    validate(&source, raw, base_dir, inherited_env, main_command)
}

fn validate(
    source: &Source,
    raw: RawFile,
    base_dir: &Path,
    mut inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    if raw.program.is_empty() && main_command.is_none() {
        return Err(source.error(
            None,
            None,
            None,
            "no [program.NAME] is declared: there is nothing to run (or give a command: rinit -- COMMAND)"
                .into(),
        ));
    }
    let control_socket = match raw.rinit.control_socket.as_deref() {
        Some("") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => Some(PathBuf::from("/run/rinit.sock")),
    };
    let default_output = raw.rinit.output.unwrap_or_default();
    let file_env = checked_env(source, None, raw.env)?;
    // rinit's own NOTIFY_SOCKET (from a manager above it) is not its programs'.
    inherited_env.retain(|(key, _)| key != "NOTIFY_SOCKET");
    let shared_env = Env::shared(inherited_env, &file_env);
    let set_in_file_env: HashSet<&str> = file_env.iter().map(|(key, _)| key.as_str()).collect();
    let own_uid = nix::unistd::geteuid().as_raw();
    let current_dir = std::env::current_dir().ok();

    // Declaration order, for start-order ties (the table itself is sorted by name).
    let mut declared: Vec<_> = raw.program.into_iter().collect();
    declared.sort_by_key(|(name, _)| name.span().start);
    let index_of: HashMap<String, usize> = declared
        .iter()
        .enumerate()
        .map(|(index, (name, _))| (name.get_ref().clone(), index))
        .collect();

    let mut programs = Vec::with_capacity(declared.len() + 1);
    let mut after_of = Vec::with_capacity(declared.len());
    for (name, spanned) in declared {
        let program_offset = spanned.span().start;
        let name_offset = name.span().start;
        let name = name.into_inner();
        let label = name.clone();
        let at = |offset: usize, key: &str, message: String| {
            source.error(Some(offset), Some(&label), Some(key), message)
        };
        if name.is_empty()
            || name.len() > NAME_MAX
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(source.error(
                Some(name_offset),
                Some(&name),
                None,
                format!("a program name has 1 to {NAME_MAX} letters, digits, '_' and '-'"),
            ));
        }
        if main_command.is_some() && name == MAIN {
            return Err(source.error(
                Some(name_offset),
                Some(&name),
                None,
                "\"main\" is the name of the command given on rinit's command line; rename this program"
                    .into(),
            ));
        }
        let mut raw = spanned.into_inner();
        let command = match &raw.command {
            None => {
                return Err(at(
                    program_offset,
                    "command",
                    "missing: every program needs a command".into(),
                ))
            }
            Some(command) => command
                .get_ref()
                .words()
                .map_err(|e| at(command.span().start, "command", e))?,
        };
        let mut after = Vec::new();
        for dependency in &raw.after {
            match index_of.get(dependency.get_ref()).copied() {
                Some(_) if *dependency.get_ref() == name => {
                    return Err(at(
                        dependency.span().start,
                        "after",
                        "a program cannot wait for itself".into(),
                    ))
                }
                Some(index) => after.push(index),
                None => {
                    return Err(at(
                        dependency.span().start,
                        "after",
                        format!("no program named {:?}", dependency.get_ref()),
                    ))
                }
            }
        }
        after_of.push((
            after,
            raw.after.first().map_or(program_offset, |a| a.span().start),
        ));

        let user = match (&raw.user, &raw.group) {
            (None, None) => None,
            (None, Some(group)) => {
                return Err(at(
                    group.span().start,
                    "group",
                    "`group` needs `user` beside it".into(),
                ))
            }
            (Some(user), group) => {
                let account = users::lookup(user.get_ref(), group.as_ref().map(|g| g.get_ref().as_str()))
                    .map_err(|e| match group {
                        Some(group) if e.is_about_group() => at(group.span().start, "group", e.to_string()),
                        _ => at(user.span().start, "user", e.to_string()),
                    })?;
                if let (true, Some(group)) = (own_uid != 0, group) {
                    return Err(at(
                        group.span().start,
                        "group",
                        format!(
                            "rinit runs as uid {own_uid}, not as root, so it cannot set the group; \
                             run rinit as root or remove `group`"
                        ),
                    ));
                }
                if own_uid != 0 && account.user.uid != own_uid {
                    return Err(at(
                        user.span().start,
                        "user",
                        format!(
                            "rinit runs as uid {own_uid}, not as root, so it cannot switch to {:?} \
                             (uid {}); run rinit as root or remove `user`",
                            user.get_ref(),
                            account.user.uid
                        ),
                    ));
                }
                Some(account)
            }
        };
        let directory = match &raw.directory {
            None => None,
            Some(dir) => {
                let path = PathBuf::from(dir.get_ref());
                let path = match &current_dir {
                    Some(cwd) if path.is_relative() => cwd.join(&path),
                    _ => path,
                };
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_dir() => Some(path),
                    Ok(_) => {
                        return Err(at(
                            dir.span().start,
                            "directory",
                            format!("{path:?} is not a directory"),
                        ))
                    }
                    Err(err) => {
                        return Err(at(
                            dir.span().start,
                            "directory",
                            format!("{path:?}: {}", log::io_error_text(&err)),
                        ))
                    }
                }
            }
        };

        // Lowest to highest: rinit's environment, the user's
        // HOME/USER/LOGNAME, [env] (rinit's and [env] are shared), env_file,
        // the program's env.
        let mut env = shared_env.clone();
        if let Some(account) = &user {
            for (key, value) in [
                ("HOME", &account.user.home),
                ("USER", &account.user.name),
                ("LOGNAME", &account.user.name),
            ] {
                if !set_in_file_env.contains(key) {
                    env.set(key, value);
                }
            }
        }
        if let Some(env_file) = &raw.env_file {
            let path = base_dir.join(env_file.get_ref());
            let text = input::read_text(&path).map_err(|why| {
                at(
                    env_file.span().start,
                    "env_file",
                    format!("cannot read {}: {why}", path.display()),
                )
            })?;
            let pairs = env_file::parse(&text).map_err(|err| {
                at(
                    env_file.span().start,
                    "env_file",
                    format!("{}: {err}", path.display()),
                )
            })?;
            for (key, value) in &pairs {
                env.set(key, value);
            }
        }
        for (key, value) in &checked_env(source, Some(&name), std::mem::take(&mut raw.env))? {
            env.set(key, value);
        }

        // A relative ready file is the program's: in its directory.
        let program_dir = directory.clone().or_else(|| current_dir.clone());
        let (ready, ready_timeout) = ready_check(&raw, program_dir.as_deref(), &at)?;
        let kind = raw.kind;
        let instances = match raw.instances {
            None => None,
            Some(count) if (1..=MAX_INSTANCES).contains(count.get_ref()) => Some(*count.get_ref()),
            Some(count) => {
                return Err(at(
                    count.span().start,
                    "instances",
                    format!("must be from 1 to {MAX_INSTANCES}"),
                ))
            }
        };
        let restart_max_delay = raw.restart_max_delay.map_or(Duration::from_secs(30), |d| d.0);
        programs.push(Program {
            name,
            instances,
            command: command.into_iter().map(OsString::from).collect(),
            kind,
            after: Vec::new(), // set below, once the order is known
            user,
            directory,
            env,
            restart: raw.restart.unwrap_or(match kind {
                Kind::Oneshot => Restart::No,
                Kind::Simple | Kind::Notify => Restart::OnFailure,
            }),
            restart_delay: raw.restart_delay.map_or(Duration::from_millis(100), |d| d.0),
            restart_max_delay,
            start_limit_burst: raw.start_limit_burst.unwrap_or(5),
            start_limit_interval: raw.start_limit_interval.map_or(Duration::from_secs(10), |d| d.0),
            success_exit_codes: raw.success_exit_codes.unwrap_or_else(|| vec![0]),
            stop_signal: raw.stop_signal.map_or(nix::libc::SIGTERM, |s| s.0),
            stop_group: raw.stop_group,
            stop_timeout: raw.stop_timeout.map_or(Duration::from_secs(7), |d| d.0),
            critical: raw.critical,
            ready,
            ready_timeout,
            output: raw.output.unwrap_or(default_output),
            is_main: false,
        });
    }

    let order = start_order(source, &programs, &after_of)?;
    let mut plan_programs: Vec<Program> = Vec::with_capacity(programs.len() + 1);
    let mut slots: Vec<Option<Program>> = programs.into_iter().map(Some).collect();
    let position_of: Vec<usize> = {
        let mut position = vec![0; order.len()];
        for (position_in_order, &index) in order.iter().enumerate() {
            position[index] = position_in_order;
        }
        position
    };
    for &index in &order {
        if let Some(mut program) = slots[index].take() {
            program.after = after_of[index].0.iter().map(|&dep| position_of[dep]).collect();
            plan_programs.push(program);
        }
    }
    if let Some(command) = main_command {
        let env = shared_env;
        plan_programs.push(Program {
            name: MAIN.into(),
            instances: None,
            command: command.to_vec(),
            kind: Kind::Simple,
            after: (0..plan_programs.len()).collect(),
            user: None,
            directory: None,
            env,
            restart: Restart::No,
            restart_delay: Duration::ZERO,
            restart_max_delay: Duration::ZERO,
            start_limit_burst: 0,
            start_limit_interval: Duration::ZERO,
            success_exit_codes: vec![0],
            stop_signal: nix::libc::SIGTERM,
            stop_group: false,
            stop_timeout: Duration::from_secs(7),
            critical: true,
            ready: None,
            ready_timeout: Duration::from_secs(60),
            output: Output::Inherit,
            is_main: true,
        });
    }
    Ok(Plan {
        shutdown_timeout: raw.rinit.shutdown_timeout.map_or(Duration::from_secs(9), |d| d.0),
        control_socket,
        programs: plan_programs,
    })
}

type At<'a> = dyn Fn(usize, &str, String) -> ConfigError + 'a;

fn ready_check(
    raw: &RawProgram,
    dir: Option<&Path>,
    at: &At,
) -> Result<(Option<Ready>, Duration), ConfigError> {
    let ready_timeout = raw
        .ready_timeout
        .as_ref()
        .map_or(Duration::from_secs(60), |d| d.0);
    let Some(spanned) = &raw.ready else {
        return Ok((None, ready_timeout));
    };
    let offset = spanned.span().start;
    if raw.kind != Kind::Simple {
        let kind = if raw.kind == Kind::Notify {
            "notify"
        } else {
            "oneshot"
        };
        return Err(at(
            offset,
            "ready",
            format!("a {kind} program cannot have a ready check (type = \"{kind}\" says when it is ready)"),
        ));
    }
    let ready = spanned.get_ref();
    let check = match (&ready.tcp, &ready.command, &ready.file) {
        (Some(address), None, None) => {
            let text = address.get_ref();
            let parsed = match text.strip_prefix("localhost:") {
                Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
                None => text.parse::<SocketAddr>(),
            };
            Ready::Tcp(parsed.map_err(|_| {
                at(
                    address.span().start,
                    "ready",
                    format!("tcp: {text:?} is not an address: expected IP:PORT, e.g. \"127.0.0.1:8000\" or \"[::1]:8000\""),
                )
            })?)
        }
        (None, Some(command), None) => Ready::Command(
            command
                .get_ref()
                .words()
                .map_err(|e| at(command.span().start, "ready", format!("command: {e}")))?,
        ),
        (None, None, Some(file)) => Ready::File(match dir {
            Some(dir) => dir.join(file),
            None => PathBuf::from(file),
        }),
        _ => {
            return Err(at(
                offset,
                "ready",
                "expected exactly one of tcp, command or file, e.g. ready = { tcp = \"127.0.0.1:8000\" }"
                    .into(),
            ))
        }
    };
    Ok((Some(check), ready_timeout))
}

/// Orders the programs so that each comes after what it waits for (Kahn's
/// algorithm; ties go to declaration order), in O(n log n + edges). A cycle
/// is an error that names it.
fn start_order(
    source: &Source,
    programs: &[Program],
    after_of: &[(Vec<usize>, usize)],
) -> Result<Vec<usize>, ConfigError> {
    let count = programs.len();
    let mut waiting_for: Vec<usize> = after_of.iter().map(|(after, _)| after.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, (after, _)) in after_of.iter().enumerate() {
        for &dependency in after {
            dependents[dependency].push(index);
        }
    }
    let mut free: BinaryHeap<Reverse<usize>> =
        (0..count).filter(|&i| waiting_for[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(count);
    let mut placed = vec![false; count];
    while let Some(Reverse(next)) = free.pop() {
        placed[next] = true;
        order.push(next);
        for &dependent in &dependents[next] {
            waiting_for[dependent] -= 1;
            if waiting_for[dependent] == 0 {
                free.push(Reverse(dependent));
            }
        }
    }
    if order.len() < count {
        let cycle = find_cycle(after_of, &placed);
        let first = cycle.first().copied().unwrap_or(0);
        let path: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .map(|&i| programs[i].name.as_str())
            .collect();
        return Err(source.error(
            Some(after_of[first].1),
            Some(&programs[first].name),
            Some("after"),
            format!("dependency cycle: {}", path.join(" -> ")),
        ));
    }
    Ok(order)
}

/// A cycle among the programs not yet placed: follow `after` edges from any
/// of them until a program repeats.
fn find_cycle(after_of: &[(Vec<usize>, usize)], placed: &[bool]) -> Vec<usize> {
    let Some(mut current) = (0..placed.len()).find(|&i| !placed[i]) else {
        return Vec::new();
    };
    let mut path: Vec<usize> = Vec::new();
    let mut position_in_path: Vec<Option<usize>> = vec![None; placed.len()];
    loop {
        if let Some(start) = position_in_path[current] {
            return path.split_off(start);
        }
        position_in_path[current] = Some(path.len());
        path.push(current);
        match after_of[current].0.iter().find(|&&dep| !placed[dep]) {
            Some(&dep) => current = dep,
            None => return path,
        }
    }
}

/// An `env` table with its names and values checked: what execve can pass.
fn checked_env(
    source: &Source,
    program: Option<&str>,
    table: BTreeMap<Spanned<String>, String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut checked = Vec::with_capacity(table.len());
    for (key, value) in table {
        let problem = if key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']) {
            Some(format!("invalid variable name {:?}", key.get_ref()))
        } else if value.contains('\0') {
            Some(format!("the value of {} contains a NUL byte", key.get_ref()))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(source.error(Some(key.span().start), program, Some("env"), problem));
        }
        checked.push((key.into_inner(), value));
    }
    Ok(checked)
}

/// Sets `key` in `env`, replacing an earlier value.
pub fn set_env(env: &mut Vec<(OsString, OsString)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.into(),
        None => env.push((key.into(), value.into())),
    }
}

/// How messages name the configuration at `path`.
fn label(path: &Path) -> String {
    if path.as_os_str() == input::STDIN {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Which configuration file applies: `-c`/`$RINIT_CONFIG` (already in
/// `explicit`), else /etc/rinit.toml if it exists.
pub fn find(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => Path::new(DEFAULT_PATH)
            .exists()
            .then(|| PathBuf::from(DEFAULT_PATH)),
    }
}

/// The start plan as `rinit check` prints it: each program in start order
/// with its resolved command, then its type, dependencies, user and directory.
pub fn describe(path: &Path, plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut text = format!(
        "{}: {} program{}, in start order:\n",
        log::escape_controls(label(path)),
        plan.programs.len(),
        if plan.programs.len() == 1 { "" } else { "s" }
    );
    let socket = plan
        .control_socket
        .as_ref()
        .map_or("off".into(), |p| p.display().to_string());
    let _ = writeln!(
        text,
        "(shutdown_timeout {:?}, control socket {socket})",
        plan.shutdown_timeout
    );
    for program in &plan.programs {
        let name = match program.instances {
            Some(count) => format!(
                "{} (instances {}.0 to {}.{})",
                program.name,
                program.name,
                program.name,
                count - 1
            ),
            None => program.name.clone(),
        };
        let command: Vec<String> = program
            .command
            .iter()
            .map(|word| log::escape_controls(shell_quote(&word.to_string_lossy())))
            .collect();
        let _ = writeln!(text, "{name}: {}", command.join(" "));
        let kind = match program.kind {
            Kind::Simple => "simple",
            Kind::Notify => "notify",
            Kind::Oneshot => "oneshot",
        };
        let after: Vec<&str> = program
            .after
            .iter()
            .map(|&i| plan.programs[i].name.as_str())
            .collect();
        let user = match &program.user {
            Some(account) => format!(
                "{} (uid {}, gid {})",
                account.user.name,
                account.user.uid,
                account.groups.first().copied().unwrap_or(account.user.gid)
            ),
            None => format!("rinit's (uid {})", nix::unistd::geteuid()),
        };
        let directory = match &program.directory {
            Some(dir) => log::escape_controls(dir.display().to_string()),
            None => "rinit's starting directory".into(),
        };
        let _ = writeln!(
            text,
            "    type {kind}, after {}, user {user}, directory {directory}, restart {}{}",
            if after.is_empty() {
                "-".to_string()
            } else {
                after.join(" ")
            },
            program.restart.name(),
            if program.critical { ", critical" } else { "" },
        );
    }
    text
}

/// A word as a shell would need it written.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
