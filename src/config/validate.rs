//! From the raw schema to the typed plan: one function per key or group
//! of keys, each returning the value or the error that names the file, the
//! line and column, the program and the key. Every error is kept (in a
//! `ConfigError`), and the checks go on: one program's errors do not hide
//! another's, nor one key's another key's. Shape checks (names, commands,
//! numbers) come first; host checks (users, directories, env files) read
//! the system.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::env_keys;
use super::environment::Env;
use super::error::{ConfigError, Problem, Source};
use super::expand;
use super::parse::Parsed;
use super::resources;
use super::scheduled;
use super::schema::{RawGroup, RawProgram};
use super::suggest;
use super::{defaults, keys, order, AsWritten, Group, Kind, Output, Plan, Program, ProgramId, Restart};
use super::{MAIN, NAME_MAX};

/// What every program's validation shares.
pub(super) struct Shared<'a> {
    pub(super) source: &'a Source,
    /// rinit's environment (less NOTIFY_SOCKET), then `[env]`.
    pub(super) env: Env,
    /// The names `[env]` sets: HOME, USER and LOGNAME from `user` go under them.
    pub(super) set_in_file_env: HashSet<String>,
    default_output: Output,
    /// `[rinit] timestamps`: each program's unless it sets its own.
    default_timestamps: bool,
    pub(super) own_uid: u32,
    pub(super) current_dir: Option<PathBuf>,
    /// `[env]` had no error: each program's environment can be made.
    pub(super) env_complete: bool,
    /// The name of each program, and its place in declaration order.
    index_of: HashMap<String, usize>,
    has_main: bool,
}

impl<'a> Shared<'a> {
    fn new(
        source: &'a Source,
        declared: &[(Spanned<String>, Spanned<RawProgram>)],
        mut inherited_env: Vec<(OsString, OsString)>,
        (file_env, files): (Vec<(String, String)>, super::environment::Files),
        has_main: bool,
    ) -> Shared<'a> {
        // rinit's own NOTIFY_SOCKET (from a manager above it) is not its programs'.
        inherited_env.retain(|(key, _)| key != "NOTIFY_SOCKET");
        Shared {
            source,
            set_in_file_env: file_env
                .iter()
                .map(|(key, _)| key.clone())
                .chain(files.iter().map(|(key, _)| key.clone()))
                .collect(),
            env: Env::shared(inherited_env, &file_env, files),
            default_output: Output::default(),
            default_timestamps: false,
            own_uid: nix::unistd::geteuid().as_raw(),
            current_dir: std::env::current_dir().ok(),
            env_complete: true,
            index_of: declared
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (name.get_ref().clone(), i))
                .collect(),
            has_main,
        }
    }
}

/// Builds an error at an offset in the text, for one program's key.
pub(super) type At<'a> = dyn Fn(usize, &str, String) -> Problem + 'a;

/// Over 50 lines: the whole sequence, from the raw file to the plan, in the
/// order the errors are found. Every error goes to `errors`; the plan is
/// None when there is one.
pub(super) fn validate(
    source: &Source,
    parsed: Parsed,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
    errors: &mut ConfigError,
) -> Option<Plan> {
    let Parsed {
        raw,
        refused,
        env_complete,
    } = parsed;
    if raw.program.is_empty() && main_command.is_none() && errors.is_empty() {
        let message =
            "no [program.NAME] is declared: there is nothing to run (or give a command: rinit -- COMMAND)";
        errors.push(source.error(None, None, None, message.into()));
    }
    let control_socket = match raw.rinit.control_socket.as_deref() {
        Some("") => None,
        Some(path) if !path.starts_with('/') => {
            let message = format!(
                "{:?} is not an absolute path: rinit runs in / and clients look for the socket by this name (e.g. \"/run/rinit.sock\", or \"\" for no socket)",
                path
            );
            errors.push(source.error(None, None, Some("control_socket"), message));
            None
        }
        path => Some(PathBuf::from(path.unwrap_or(defaults::CONTROL_SOCKET))),
    };
    let http = errors
        .kept(http_address(source, raw.rinit.http.as_ref()))
        .flatten();
    // Declaration order, for start-order ties (the table itself is sorted by name).
    let mut declared: Vec<_> = raw.program.into_iter().collect();
    declared.sort_by_key(|(name, _)| name.span().start);
    // `[env]` values see rinit's own environment.
    let inherited = |name: &str| {
        let value = inherited_env.iter().find(|(key, _)| key == name);
        value.map(|(_, value)| value.to_string_lossy().into_owned())
    };
    let found = errors.len();
    let file_env = env_keys::checked_env(source, None, raw.env, &inherited, errors);
    let env_complete = env_complete && errors.len() == found;
    let mut shared = Shared::new(source, &declared, inherited_env, file_env, main_command.is_some());
    shared.default_output = raw.rinit.output.unwrap_or_default();
    shared.default_timestamps = raw.rinit.timestamps.unwrap_or(false);
    shared.env_complete = env_complete;
    let mut programs = Vec::with_capacity(declared.len().saturating_add(1));
    let mut after_of = Vec::with_capacity(declared.len());
    for (name, spanned) in declared {
        let refused = refused.get(name.get_ref()).map_or(&[][..], Vec::as_slice);
        let (program, after) = program(&shared, name, spanned, refused, errors);
        programs.push(program);
        after_of.push(after);
    }
    nothing_after_a_schedule(source, &programs, &after_of, errors);
    let mut programs = order::in_start_order(source, programs, &after_of, errors);
    let groups = groups(source, raw.group, &programs, errors);
    if !errors.is_empty() {
        return None;
    }
    if let Some(command) = main_command {
        let after = (0..programs.len()).map(ProgramId).collect();
        programs.push(main_program(command, shared.env, after));
    }
    let log_format = log_format(&raw.rinit);
    Some(Plan {
        shutdown_timeout: raw
            .rinit
            .shutdown_timeout
            .map_or(defaults::SHUTDOWN_TIMEOUT, |d| d.0),
        log_format,
        drain: raw.rinit.drain.map_or(Duration::ZERO, |d| d.0),
        control_socket,
        http,
        programs,
        groups,
    })
}

/// How rinit's own messages look: `log_format`, then `timestamps`.
fn log_format(rinit: &super::schema::RawRinit) -> crate::log::Format {
    match (rinit.log_format, rinit.timestamps) {
        (Some(super::LogFormatJson(true)), _) => crate::log::Format::Json,
        (_, Some(true)) => crate::log::Format::Timestamped,
        _ => crate::log::Format::Plain,
    }
}

/// A program that comes `after` a scheduled one would wait for a run that
/// comes and goes: an error at its `after`.
fn nothing_after_a_schedule(
    source: &Source,
    programs: &[Program],
    after_of: &[(Vec<usize>, usize)],
    errors: &mut ConfigError,
) {
    for (program, (after, offset)) in programs.iter().zip(after_of) {
        for dependency in after.iter().filter_map(|&d| programs.get(d)) {
            if let Some(schedule) = &dependency.schedule {
                let message = format!(
                    "{} has a schedule ({:?}): nothing can come after a scheduled program, \
                     whose runs come and go (put the two in one script, or schedule both)",
                    dependency.name, schedule.written
                );
                errors.push(source.error(Some(*offset), Some(&program.name), Some("after"), message));
            }
        }
    }
}

/// `[rinit] http = "IP:PORT"` (or `localhost:PORT`); `""` is off.
fn http_address(source: &Source, http: Option<&Spanned<String>>) -> Result<Option<SocketAddr>, Problem> {
    let Some(text) = http.filter(|t| !t.get_ref().is_empty()) else {
        return Ok(None);
    };
    let address = match text.get_ref().strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
        None => text.get_ref().parse::<SocketAddr>(),
    };
    address.map(Some).map_err(|_| {
        let message = format!(
            "{:?} is not IP:PORT: expected e.g. \"127.0.0.1:9001\", \"0.0.0.0:9001\" or \"[::]:9001\" \
             (no host names: rinit has no DNS), or \"\" for off",
            text.get_ref()
        );
        source.error(Some(text.span().start), None, Some("http"), message)
    })
}

/// One `[program.NAME]` table, and what it comes `after` (declaration
/// indices, with the offset of the key for a cycle's message). Each key is
/// checked even when another is wrong, its errors pushed to `errors`; the
/// program is then a stand-in that only holds its place in the order.
/// Over 50 lines: the `Program` literal names every key once, with its default.
fn program(
    shared: &Shared,
    name: Spanned<String>,
    spanned: Spanned<RawProgram>,
    refused: &[String],
    errors: &mut ConfigError,
) -> (Program, (Vec<usize>, usize)) {
    let program_offset = spanned.span().start;
    errors.kept(check_name(shared, &name));
    let name = name.into_inner();
    let substituted = expand::Substituted::default();
    let at = |offset: usize, key: &str, message: String| {
        let message = substituted.redact(message);
        shared.source.error(Some(offset), Some(&name), Some(key), message)
    };
    let mut raw = spanned.into_inner();
    let after = after_names(shared, &name, &raw, &at, errors);
    let after_offset = raw.after.first().map_or(program_offset, |a| a.span().start);
    let place = (after, after_offset);
    // Without a command, the rest is not worth checking; a command that is
    // there but could not be read has its own error, and the rest is checked.
    if raw.command.is_none() && !refused.iter().any(|key| key == "command") {
        let message = "missing: every program needs a command";
        errors.push(at(program_offset, "command", message.into()));
        return (Program::with_defaults(&name), place);
    }
    let keys = keys::Keys {
        shared,
        name: &name,
        refused,
        substituted: &substituted,
        at: &at,
    };
    let Some(checked) = keys.checked(&mut raw, errors) else {
        return (Program::with_defaults(&name), place);
    };
    let schedule = scheduled::scheduled(&raw, &checked.env, &at, errors);
    let resources = resources::resources(&raw, &at, errors);
    // A scheduled run is a oneshot, never restarted (scheduled.rs refuses
    // the keys that say otherwise).
    let kind = if schedule.is_some() {
        Kind::Oneshot
    } else {
        raw.kind
    };
    let program = Program {
        name,
        instances: checked.instances,
        command: checked.command.into_iter().map(OsString::from).collect(),
        command_template: checked.per_instance.then(|| checked.written.command.clone()),
        written: checked.written,
        kind,
        after: Vec::new(), // set once the order is known
        user: checked.user,
        directory: checked.directory,
        env: checked.env,
        restart: raw.restart.unwrap_or(match kind {
            Kind::Oneshot => Restart::No,
            Kind::Simple | Kind::Notify => Restart::OnFailure,
        }),
        restart_delay: raw.restart_delay.map_or(defaults::RESTART_DELAY, |d| d.0),
        restart_max_delay: raw.restart_max_delay.map_or(defaults::RESTART_MAX_DELAY, |d| d.0),
        start_limit_burst: raw.start_limit_burst.unwrap_or(defaults::START_LIMIT_BURST),
        start_limit_interval: raw
            .start_limit_interval
            .map_or(defaults::START_LIMIT_INTERVAL, |d| d.0),
        success_exit_codes: raw.success_exit_codes.unwrap_or_else(|| vec![0]),
        stop_signal: raw.stop_signal.map_or(nix::libc::SIGTERM, |s| s.0),
        stop_group: raw.stop_group,
        umask: checked.umask,
        stop_timeout: raw.stop_timeout.map_or(defaults::STOP_TIMEOUT, |d| d.0),
        critical: raw.critical,
        ready: checked.ready,
        ready_timeout: checked.ready_timeout,
        output: raw.output.unwrap_or(shared.default_output),
        timestamps: raw.timestamps.unwrap_or(shared.default_timestamps),
        is_main: false,
        autostart: raw.autostart.unwrap_or(true),
        health: checked.health,
        schedule,
        resources,
        origin: shared.source.included_name(program_offset),
    };
    (program, place)
}

fn check_name(shared: &Shared, name: &Spanned<String>) -> Result<(), Problem> {
    let (offset, text) = (name.span().start, name.get_ref());
    let error = |message: String| shared.source.error(Some(offset), Some(text), None, message);
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if text.is_empty() || text.len() > NAME_MAX || !text.chars().all(allowed) {
        return Err(error(format!(
            "a program name has 1 to {NAME_MAX} letters, digits, '_' and '-'"
        )));
    }
    if shared.has_main && text == MAIN {
        return Err(error(
            "\"main\" is the name of the command given on rinit's command line; rename this program".into(),
        ));
    }
    Ok(())
}

/// `after`: the declaration indices of the programs it waits for; each
/// name that is not a program's is an error (with the closest name).
fn after_names(
    shared: &Shared,
    name: &str,
    raw: &RawProgram,
    at: &At,
    errors: &mut ConfigError,
) -> Vec<usize> {
    let mut after = Vec::with_capacity(raw.after.len());
    for dependency in &raw.after {
        let offset = dependency.span().start;
        match shared.index_of.get(dependency.get_ref()) {
            Some(_) if dependency.get_ref() == name => {
                errors.push(at(offset, "after", "a program cannot wait for itself".into()));
            }
            Some(&index) => after.push(index),
            None => {
                let names = shared.index_of.keys().map(String::as_str);
                let message = format!(
                    "no program named {:?}{}",
                    dependency.get_ref(),
                    did_you_mean(dependency.get_ref(), names, errors)
                );
                errors.push(at(offset, "after", message));
            }
        }
    }
    after
}

/// ": did you mean `"NAME"`?" with the name in `known` closest to `word`,
/// or nothing. Only while the errors found are few enough to be shown: a
/// guess costs a look at every name.
fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>, errors: &ConfigError) -> String {
    if errors.len() >= super::error::MAX_SHOWN {
        return String::new();
    }
    suggest::closest(word, known).map_or_else(String::new, |name| format!(": did you mean `{name:?}`?"))
}

/// `[group.NAME]` tables: names unlike any program's, naming programs.
/// Each error names the group (and the program); all are pushed to `errors`.
fn groups(
    source: &Source,
    raw: BTreeMap<Spanned<String>, Spanned<RawGroup>>,
    programs: &[Program],
    errors: &mut ConfigError,
) -> Vec<Group> {
    let position: HashMap<&str, usize> = programs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut groups = Vec::with_capacity(raw.len());
    for (name, group) in raw {
        let (offset, name) = (name.span().start, name.into_inner());
        let at = |offset: usize, key: Option<&str>, message: String| {
            let mut error = source.error(Some(offset), None, key, message);
            error.set_group(&name);
            error
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if name.is_empty() || name.len() > NAME_MAX || !name.chars().all(allowed) {
            let message = format!("a group name has 1 to {NAME_MAX} letters, digits, '_' and '-'");
            errors.push(at(offset, None, message));
        }
        if position.contains_key(name.as_str()) {
            let message = format!(
                "the group and the program {name:?} share a name: groups and programs share one namespace"
            );
            errors.push(at(offset, None, message));
        }
        let mut members = Vec::new();
        for program in &group.get_ref().programs {
            match position.get(program.get_ref().as_str()) {
                Some(&p) => members.push(ProgramId(p)),
                None => {
                    let hint = did_you_mean(program.get_ref(), position.keys().copied(), errors);
                    let message = format!("no program named {:?} (group {name:?}){hint}", program.get_ref());
                    errors.push(at(program.span().start, Some("programs"), message));
                }
            }
        }
        members.sort();
        members.dedup();
        groups.push(Group {
            name,
            programs: members,
        });
    }
    groups
}

/// The command given on rinit's command line, as the critical program
/// `main`, after every configured program.
fn main_program(command: &[OsString], env: Env, after: Vec<ProgramId>) -> Program {
    Program {
        name: MAIN.into(),
        command: command.to_vec(),
        written: AsWritten {
            command: command
                .iter()
                .map(|word| word.to_string_lossy().into_owned())
                .collect(),
            ..AsWritten::default()
        },
        after,
        env,
        restart: Restart::No,
        restart_delay: Duration::ZERO,
        restart_max_delay: Duration::ZERO,
        start_limit_burst: 0,
        start_limit_interval: Duration::ZERO,
        critical: true,
        is_main: true,
        ..Program::with_defaults(MAIN)
    }
}
