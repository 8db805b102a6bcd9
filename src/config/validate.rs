//! From the raw schema to the typed plan: one function per key or group
//! of keys, each returning the value or the error that names the file, the
//! line and column, the program and the key. Shape checks (names, commands,
//! numbers) come first; host checks (users, directories, env files) read
//! the system.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::checks;
use super::env_keys;
use super::environment::Env;
use super::error::{ConfigError, Source};
use super::expand;
use super::schema::{InstancesValue, RawFile, RawGroup, RawProgram};
use super::users::{self, Account};
use super::{defaults, order, AsWritten, Group, Kind, Output, Plan, Program, ProgramId, Restart};
use super::{MAIN, MAX_INSTANCES, NAME_MAX};
use crate::log;

/// What every program's validation shares.
struct Shared<'a> {
    source: &'a Source<'a>,
    /// rinit's environment (less NOTIFY_SOCKET), then `[env]`.
    env: Env,
    /// The names `[env]` sets: HOME, USER and LOGNAME from `user` go under them.
    set_in_file_env: HashSet<String>,
    default_output: Output,
    own_uid: u32,
    current_dir: Option<PathBuf>,
    /// Where env files are found: the configuration's folder.
    base_dir: &'a Path,
    /// The name of each program, and its place in declaration order.
    index_of: HashMap<String, usize>,
    has_main: bool,
}

impl<'a> Shared<'a> {
    fn new(
        source: &'a Source<'a>,
        declared: &[(Spanned<String>, Spanned<RawProgram>)],
        mut inherited_env: Vec<(OsString, OsString)>,
        file_env: Vec<(String, String)>,
        base_dir: &'a Path,
        has_main: bool,
    ) -> Shared<'a> {
        // rinit's own NOTIFY_SOCKET (from a manager above it) is not its programs'.
        inherited_env.retain(|(key, _)| key != "NOTIFY_SOCKET");
        Shared {
            source,
            set_in_file_env: file_env.iter().map(|(key, _)| key.clone()).collect(),
            env: Env::shared(inherited_env, &file_env),
            default_output: Output::default(),
            own_uid: nix::unistd::geteuid().as_raw(),
            current_dir: std::env::current_dir().ok(),
            base_dir,
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
pub(super) type At<'a> = dyn Fn(usize, &str, String) -> ConfigError + 'a;

/// Over 50 lines: the whole sequence, from the raw file to the plan, in the
/// order the errors are found.
pub(super) fn validate(
    source: &Source,
    raw: RawFile,
    base_dir: &Path,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    if raw.program.is_empty() && main_command.is_none() {
        let message =
            "no [program.NAME] is declared: there is nothing to run (or give a command: rinit -- COMMAND)";
        return Err(source.error(None, None, None, message.into()));
    }
    let control_socket = match raw.rinit.control_socket.as_deref() {
        Some("") => None,
        Some(path) if !path.starts_with('/') => {
            let message = format!(
                "{:?} is not an absolute path: rinit runs in / and clients look for the socket by this name (e.g. \"/run/rinit.sock\", or \"\" for no socket)",
                path
            );
            return Err(source.error(None, None, Some("control_socket"), message));
        }
        path => Some(PathBuf::from(path.unwrap_or(defaults::CONTROL_SOCKET))),
    };
    let http = http_address(source, raw.rinit.http.as_ref())?;
    // Declaration order, for start-order ties (the table itself is sorted by name).
    let mut declared: Vec<_> = raw.program.into_iter().collect();
    declared.sort_by_key(|(name, _)| name.span().start);
    // `[env]` values see rinit's own environment.
    let inherited = |name: &str| {
        let value = inherited_env.iter().find(|(key, _)| key == name);
        value.map(|(_, value)| value.to_string_lossy().into_owned())
    };
    let file_env = env_keys::checked_env(source, None, raw.env, &inherited)?;
    let mut shared = Shared::new(
        source,
        &declared,
        inherited_env,
        file_env,
        base_dir,
        main_command.is_some(),
    );
    shared.default_output = raw.rinit.output.unwrap_or_default();
    let mut programs = Vec::with_capacity(declared.len().saturating_add(1));
    let mut after_of = Vec::with_capacity(declared.len());
    for (name, spanned) in declared {
        let (program, after) = program(&shared, name, spanned)?;
        programs.push(program);
        after_of.push(after);
    }
    let mut programs = order::in_start_order(source, programs, &after_of)?;
    let groups = groups(source, raw.group, &programs)?;
    if let Some(command) = main_command {
        let after = (0..programs.len()).map(ProgramId).collect();
        programs.push(main_program(command, shared.env, after));
    }
    Ok(Plan {
        shutdown_timeout: raw
            .rinit
            .shutdown_timeout
            .map_or(defaults::SHUTDOWN_TIMEOUT, |d| d.0),
        control_socket,
        http,
        programs,
        groups,
    })
}

/// `[rinit] http = "IP:PORT"` (or `localhost:PORT`); `""` is off.
fn http_address(source: &Source, http: Option<&Spanned<String>>) -> Result<Option<SocketAddr>, ConfigError> {
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
/// indices, with the offset of the key for a cycle's message). Over 50
/// lines: the `Program` literal names every key once, with its default.
fn program(
    shared: &Shared,
    name: Spanned<String>,
    spanned: Spanned<RawProgram>,
) -> Result<(Program, (Vec<usize>, usize)), ConfigError> {
    let program_offset = spanned.span().start;
    check_name(shared, &name)?;
    let name = name.into_inner();
    let substituted = expand::Substituted::default();
    let at = |offset: usize, key: &str, message: String| {
        let message = substituted.redact(message);
        shared.source.error(Some(offset), Some(&name), Some(key), message)
    };
    let mut raw = spanned.into_inner();
    let mut written = AsWritten::of(&raw);
    if raw.command.is_none() {
        let message = "missing: every program needs a command";
        return Err(at(program_offset, "command", message.into()));
    }
    let after = after_names(shared, &name, &raw, &at)?;
    let after_offset = raw.after.first().map_or(program_offset, |a| a.span().start);
    let file_vars = env_keys::env_file(shared.base_dir, &raw, &at)?;
    env_keys::expand_user(&mut raw, &shared.env, &file_vars, &substituted, &at)?;
    let user = account(shared, &raw, &at)?;
    let layers = env_keys::Layers {
        source: shared.source,
        shared: &shared.env,
        set_in_file_env: &shared.set_in_file_env,
    };
    let env = env_keys::environment(&layers, &name, &mut raw, user.as_ref(), file_vars)?;
    let lookup = env_keys::lookup(&env, &name);
    let per_instance = expand::program_keys(&mut raw, &lookup, &substituted, &mut written, &at)?;
    drop(lookup);
    let command = match &raw.command {
        Some(command) => command
            .get_ref()
            .words()
            .map_err(|e| at(command.span().start, "command", e))?,
        None => Vec::new(),
    };
    let directory = directory(shared, &raw, &at)?;
    // A relative ready file is the program's: in its directory.
    let program_dir = directory.clone().or_else(|| shared.current_dir.clone());
    let (ready, ready_timeout) = checks::ready_check(&raw, program_dir.as_deref(), &at)?;
    let health = checks::health_check(&raw, &at)?;
    let instances = instances(&raw, &at)?;
    let umask = umask(&raw, &at)?;
    let kind = raw.kind;
    let program = Program {
        name,
        instances,
        command: command.into_iter().map(OsString::from).collect(),
        command_template: per_instance.then(|| written.command.clone()),
        written,
        kind,
        after: Vec::new(), // set once the order is known
        user,
        directory,
        env,
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
        umask,
        stop_timeout: raw.stop_timeout.map_or(defaults::STOP_TIMEOUT, |d| d.0),
        critical: raw.critical,
        ready,
        ready_timeout,
        output: raw.output.unwrap_or(shared.default_output),
        is_main: false,
        autostart: raw.autostart.unwrap_or(true),
        health,
    };
    Ok((program, (after, after_offset)))
}

/// `umask = "022"`: one to four octal digits, at most 0777.
fn umask(raw: &RawProgram, at: &At) -> Result<Option<u32>, ConfigError> {
    let Some(text) = &raw.umask else { return Ok(None) };
    let digits = text.get_ref();
    match u32::from_str_radix(digits, 8) {
        Ok(mask)
            if (1..=4).contains(&digits.len())
                && mask <= 0o777
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(mask))
        }
        _ => Err(at(
            text.span().start,
            "umask",
            format!("{digits:?} is not a umask: expected octal digits up to \"0777\", as in \"022\""),
        )),
    }
}

fn check_name(shared: &Shared, name: &Spanned<String>) -> Result<(), ConfigError> {
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

/// `after`: the declaration indices of the programs it waits for.
fn after_names(shared: &Shared, name: &str, raw: &RawProgram, at: &At) -> Result<Vec<usize>, ConfigError> {
    let mut after = Vec::with_capacity(raw.after.len());
    for dependency in &raw.after {
        let offset = dependency.span().start;
        match shared.index_of.get(dependency.get_ref()) {
            Some(_) if dependency.get_ref() == name => {
                return Err(at(offset, "after", "a program cannot wait for itself".into()))
            }
            Some(&index) => after.push(index),
            None => {
                return Err(at(
                    offset,
                    "after",
                    format!("no program named {:?}", dependency.get_ref()),
                ))
            }
        }
    }
    Ok(after)
}

/// `user` and `group`, from /etc/passwd and /etc/group; only root can switch.
fn account(shared: &Shared, raw: &RawProgram, at: &At) -> Result<Option<Account>, ConfigError> {
    let user = match (&raw.user, &raw.group) {
        (None, None) => return Ok(None),
        (None, Some(group)) => {
            return Err(at(
                group.span().start,
                "group",
                "`group` needs `user` beside it".into(),
            ))
        }
        (Some(user), _) => user,
    };
    let group = raw.group.as_ref();
    let account =
        users::lookup(user.get_ref(), group.map(|g| g.get_ref().as_str())).map_err(|e| match group {
            Some(group) if e.is_about_group() => at(group.span().start, "group", e.to_string()),
            _ => at(user.span().start, "user", e.to_string()),
        })?;
    let own_uid = shared.own_uid;
    if let (true, Some(group)) = (own_uid != 0, group) {
        let message = format!(
            "rinit runs as uid {own_uid}, not as root, so it cannot set the group; run rinit as root or remove `group`"
        );
        return Err(at(group.span().start, "group", message));
    }
    if own_uid != 0 && account.user.uid != own_uid {
        let message = format!(
            "rinit runs as uid {own_uid}, not as root, so it cannot switch to {:?} (uid {}); \
             run rinit as root or remove `user`",
            user.get_ref(),
            account.user.uid
        );
        return Err(at(user.span().start, "user", message));
    }
    Ok(Some(account))
}

/// `directory`: an existing directory, relative ones from rinit's starting directory.
fn directory(shared: &Shared, raw: &RawProgram, at: &At) -> Result<Option<PathBuf>, ConfigError> {
    let Some(dir) = &raw.directory else {
        return Ok(None);
    };
    let path = PathBuf::from(dir.get_ref());
    let path = match &shared.current_dir {
        Some(cwd) if path.is_relative() => cwd.join(&path),
        _ => path,
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(Some(path)),
        Ok(_) => Err(at(
            dir.span().start,
            "directory",
            format!("{path:?} is not a directory"),
        )),
        Err(err) => Err(at(
            dir.span().start,
            "directory",
            format!("{path:?}: {}", log::io_error_text(&err)),
        )),
    }
}

fn instances(raw: &RawProgram, at: &At) -> Result<Option<u32>, ConfigError> {
    match &raw.instances {
        None => Ok(None),
        Some(count) => match count.get_ref() {
            InstancesValue::Count(n) if (1..=i64::from(MAX_INSTANCES)).contains(n) => Ok(Some(*n as u32)),
            _ => Err(at(
                count.span().start,
                "instances",
                format!("must be from 1 to {MAX_INSTANCES}"),
            )),
        },
    }
}

/// `[group.NAME]` tables: names unlike any program's, naming programs.
/// Over 50 lines: every error it can give, each naming the group and the
/// program.
fn groups(
    source: &Source,
    raw: BTreeMap<Spanned<String>, Spanned<RawGroup>>,
    programs: &[Program],
) -> Result<Vec<Group>, ConfigError> {
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
            return Err(at(
                offset,
                None,
                format!("a group name has 1 to {NAME_MAX} letters, digits, '_' and '-'"),
            ));
        }
        if position.contains_key(name.as_str()) {
            let message = format!(
                "the group and the program {name:?} share a name: groups and programs share one namespace"
            );
            return Err(at(offset, None, message));
        }
        let mut members = Vec::new();
        for program in &group.get_ref().programs {
            match position.get(program.get_ref().as_str()) {
                Some(&p) => members.push(ProgramId(p)),
                None => {
                    let message = format!("no program named {:?} (group {name:?})", program.get_ref());
                    return Err(at(program.span().start, Some("programs"), message));
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
    Ok(groups)
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
