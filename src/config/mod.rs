//! The configuration: where it is found, and what it becomes. The TOML
//! text is read by serde into the raw schema (schema.rs), validated key by
//! key into a typed `Plan` (validate.rs), with the start order (order.rs),
//! before anything is started; errors name the file, line and column, the
//! program and the key (error.rs). `rinit check` prints the plan
//! (describe.rs). `${VAR}`s expand from each program's environment
//! (expand.rs). The readers of the pieces — durations, env files, shell
//! words, users, bounded input files — and the environment layers live here
//! too.

mod audit;
mod changes;
pub use changes::{difference, Difference};
mod checks;
mod choices;
pub use choices::{Kind, LogFormatJson, Output, Restart};
mod describe;
pub mod duration;
pub mod env_file;
mod env_keys;
pub mod environment;
mod error;
pub mod expand;
mod include;
pub mod input;
mod keys;
mod order;
mod parse;
mod resources;
pub use resources::needs;
mod scheduled;
pub use scheduled::{wall_now, Overlap, Scheduled};
mod schema;
pub mod shell_words;
mod suggest;
pub(crate) use suggest::edit_distance;
pub mod users;
mod validate;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::libc::c_int;

pub use audit::audit;
pub use describe::describe;
use environment::Env;
pub use error::ConfigError;
use error::Source;
use users::Account;

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

/// The defaults, in one place (docs/configuration.md lists them).
pub mod defaults {
    use std::time::Duration;

    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(9);
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(7);
    pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
    pub const RESTART_DELAY: Duration = Duration::from_millis(100);
    pub const RESTART_MAX_DELAY: Duration = Duration::from_secs(30);
    pub const START_LIMIT_BURST: u32 = 5;
    pub const START_LIMIT_INTERVAL: Duration = Duration::from_secs(10);
    pub const CONTROL_SOCKET: &str = "/run/rinit.sock";
    /// `health`: Docker HEALTHCHECK's defaults.
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
    pub const HEALTH_RETRIES: u32 = 3;
}

/// `[group.NAME] programs = [...]`.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    /// In start order.
    pub programs: Vec<ProgramId>,
}

/// A program's place in `Plan::programs` (start order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgramId(pub usize);

/// The validated configuration, ready to run.
#[derive(Debug)]
pub struct Plan {
    pub shutdown_timeout: Duration,
    /// `drain`: after SIGTERM, how long rinit reports not ready before it
    /// stops the programs (0: it stops them at once).
    pub drain: Duration,
    /// How rinit's own messages look (`log_format`, `timestamps`).
    pub log_format: crate::log::Format,
    /// None when turned off with `control_socket = ""`.
    pub control_socket: Option<PathBuf>,
    /// `http = "ADDR:PORT"`: where the read-only status page listens (None: off).
    pub http: Option<SocketAddr>,
    /// In start order: every program comes after the programs it waits for.
    pub programs: Vec<Program>,
    /// `[group.NAME]`: names for sets of programs, for the control commands.
    pub groups: Vec<Group>,
}

impl Plan {
    /// Program `id`.
    #[expect(
        clippy::indexing_slicing,
        reason = "a ProgramId is a place in this plan's programs (made by order.rs and validate.rs for it, or by enumerating them), which never change once the plan is made"
    )]
    pub fn program(&self, id: ProgramId) -> &Program {
        &self.programs[id.0]
    }
}

#[derive(Debug)]
pub struct Program {
    pub name: String,
    /// Some(N) when `instances` was given: the instances are NAME.0 … NAME.N-1.
    pub instances: Option<u32>,
    /// OsStrings: `main`'s arguments need not be UTF-8. Expanded (with
    /// RINIT_INSTANCE=0 where `command_template` is kept).
    pub command: Vec<OsString>,
    /// The command's words before expansion, when they use ${RINIT_INSTANCE}:
    /// expanded again for each instance at its start.
    pub command_template: Option<Vec<String>>,
    /// `command`, `user` and `directory` as the file wrote them, before
    /// `${VAR}` expansion: what `check` prints, so values never show; and
    /// whether `stop_timeout` was set.
    pub written: AsWritten,
    pub kind: Kind,
    /// The programs it comes after, all before it in `Plan::programs`.
    pub after: Vec<ProgramId>,
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
    /// The file mode creation mask the program starts with (None: rinit's).
    pub umask: Option<u32>,
    pub stop_timeout: Duration,
    pub critical: bool,
    pub ready: Option<Ready>,
    pub ready_timeout: Duration,
    pub output: Output,
    /// `timestamps`: prefixed lines start with the time (JSON lines always have it).
    pub timestamps: bool,
    /// The command given on rinit's command line: keeps rinit's stdin and
    /// takes the terminal's foreground.
    pub is_main: bool,
    /// false: declared, held down until `rinit start` (`autostart = false`).
    pub autostart: bool,
    /// `health`: checked while it runs; unhealthy means stopped and restarted.
    pub health: Option<Health>,
    /// `schedule`: it runs at these times, each run a oneshot.
    pub schedule: Option<Scheduled>,
    /// `limits`, `nice` and `oom_score_adj`.
    pub resources: crate::pid1::limits::Resources,
    /// The included file it is declared in (None: the main file).
    pub origin: Option<String>,
}

/// Keys as the configuration file wrote them, `${VAR}`s unexpanded.
#[derive(Debug, Default)]
pub struct AsWritten {
    /// The command's words (a string command split by shell rules).
    pub command: Vec<String>,
    pub user: Option<String>,
    pub directory: Option<String>,
    /// None: left at the default (`check` warns only about set ones).
    pub stop_timeout: Option<Duration>,
}

impl AsWritten {
    /// `user`, `directory` and `stop_timeout` of `raw`, before expansion
    /// (the command is split first: expand.rs keeps its words).
    fn of(raw: &schema::RawProgram) -> AsWritten {
        let text = |value: &Option<toml::Spanned<String>>| value.as_ref().map(|v| v.get_ref().clone());
        AsWritten {
            command: Vec::new(),
            user: text(&raw.user),
            directory: text(&raw.directory),
            stop_timeout: raw.stop_timeout.as_ref().map(|d| d.0),
        }
    }
}

/// `ready`: a check, or a file that appears.
#[derive(Debug, PartialEq)]
pub enum Ready {
    Check(Check),
    File(PathBuf),
}

/// What `ready` and `health` can try: a connection, a GET, or a command.
/// (A file is only a `ready` check: the type rules it out for `health`.)
#[derive(Debug, PartialEq)]
pub enum Check {
    Tcp(SocketAddr),
    Http(HttpTarget),
    Command(Vec<String>),
}

/// `http = "IP:PORT/path"`: a GET to `path` on `address`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    pub address: SocketAddr,
    /// Starts with '/'.
    pub path: String,
}

/// `health = { ... }`: a liveness check, Docker HEALTHCHECK's meanings.
#[derive(Debug, PartialEq)]
pub struct Health {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    /// Failures in a row that make it unhealthy.
    pub retries: u32,
    /// Failures this soon after a start do not count.
    pub start_period: Duration,
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

impl Program {
    /// A simple program named `name` running `true`, with every default.
    pub fn with_defaults(name: &str) -> Program {
        Program {
            name: name.into(),
            instances: None,
            command: vec!["true".into()],
            command_template: None,
            written: AsWritten::default(),
            kind: Kind::Simple,
            after: Vec::new(),
            user: None,
            directory: None,
            env: Env::default(),
            restart: Restart::OnFailure,
            restart_delay: defaults::RESTART_DELAY,
            restart_max_delay: defaults::RESTART_MAX_DELAY,
            start_limit_burst: defaults::START_LIMIT_BURST,
            start_limit_interval: defaults::START_LIMIT_INTERVAL,
            success_exit_codes: vec![0],
            stop_signal: nix::libc::SIGTERM,
            stop_group: false,
            umask: None,
            stop_timeout: defaults::STOP_TIMEOUT,
            critical: false,
            ready: None,
            ready_timeout: defaults::READY_TIMEOUT,
            output: Output::Inherit,
            timestamps: false,
            is_main: false,
            autostart: true,
            health: None,
            schedule: None,
            resources: crate::pid1::limits::Resources::default(),
            origin: None,
        }
    }
}

/// Reads and validates the configuration at `path`. `inherited_env` is
/// rinit's own environment; `main_command`, when given, becomes the program
/// `main` that starts after all the others. (Called at start and by a
/// reload: one copy of it in the binary, not one inlined into each.)
#[inline(never)]
pub fn load(
    path: &Path,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    let (file, text) = read(path, true)?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    from_text(file, &text, base_dir, inherited_env, main_command)
}

/// Whether `text` is a supervisord configuration rather than rinit TOML
/// written with a slip (`[program:web]` for `[program.web]` gets rinit's
/// hint): import's recognition, and either a `[supervisord]` section or a
/// value that is no TOML value (`command=gunicorn app`, not `"gunicorn app"`).
fn supervisords_format(text: &str) -> bool {
    let toml_value = |value: &str| {
        value.starts_with(['"', '\'', '[', '{', '+', '-'])
            || value.starts_with(|c: char| c.is_ascii_digit())
            || value == "true"
            || value == "false"
    };
    let lines = || {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
    };
    let ini_value = lines()
        .filter(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once('=').map(|(_, value)| value.trim()))
        .any(|value| !toml_value(value));
    crate::import::is_supervisord(text) && (ini_value || lines().any(|l| l == "[supervisord]"))
}

/// The configuration at `path` as rinit TOML, and how messages name it. A
/// supervisord configuration (recognised by its content, as `rinit import`
/// does) is imported in memory: with `say`, what import found goes to
/// stderr, one line each; any `error` among it refuses the file.
fn read(path: &Path, say: bool) -> Result<(String, String), ConfigError> {
    let file = label(path);
    let text = input::read_text(path)
        .map_err(|why| Source::unreadable(&file, format!("cannot read the configuration: {why}")))?;
    if !supervisords_format(&text) {
        return Ok((file, text));
    }
    let (toml, findings) =
        crate::import::supervisord_in_memory(path, &text).map_err(|why| Source::unreadable(&file, why))?;
    let errors = findings
        .iter()
        .filter(|finding| finding.severity == crate::import::Severity::Error)
        .count();
    if say {
        for finding in &findings {
            crate::log::write_all(2, format!("rinit: {}\n", finding.line()).as_bytes());
        }
    }
    if errors > 0 {
        let message = format!(
            "the supervisord configuration cannot run as written: {errors} error{} above \
             (rinit import {file} shows the rinit configuration it becomes)",
            if errors == 1 { "" } else { "s" }
        );
        return Err(Source::unreadable(&file, message).into());
    }
    Ok((format!("{file} (imported from supervisord's format)"), toml))
}

/// Validates the configuration `text`, read from the file messages call
/// `file`, with the files it includes; what it names (included files, env
/// files) is found relative to `base_dir`.
pub fn from_text(
    file: String,
    text: &str,
    base_dir: &Path,
    inherited_env: Vec<(OsString, OsString)>,
    main_command: Option<&[OsString]>,
) -> Result<Plan, ConfigError> {
    let mut source = Source::new(&file, text, base_dir);
    let mut errors = ConfigError::default();
    let plan = parse::parse(&mut source, true, &mut errors)
        .and_then(|parsed| validate::validate(&source, parsed, inherited_env, main_command, &mut errors));
    match plan {
        Some(plan) if errors.is_empty() => Ok(plan),
        _ => Err(errors),
    }
}

/// How messages name the configuration at `path`.
pub(crate) fn label(path: &Path) -> String {
    if path.as_os_str() == input::STDIN {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// The control socket as the configuration that applies names it (the
/// client finds it as the server does): None when turned off. The file is
/// read as rinit reads it, but only its schema is checked.
pub fn control_socket(explicit: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let Some(path) = find(explicit) else {
        return Ok(Some(PathBuf::from(defaults::CONTROL_SOCKET)));
    };
    let (file, text) = read(&path, false).map_err(|err| err.to_string())?;
    // The schema rinit itself reads (no second deserializer in the binary).
    let mut errors = ConfigError::default();
    // The main file only: `control_socket` is there, and an error elsewhere
    // must not keep a client (`rinit reload`, say) from reaching rinit.
    let parsed = parse::parse(&mut Source::new(&file, &text, Path::new(".")), false, &mut errors);
    let raw = match (parsed, errors.lines().into_iter().next()) {
        (Some(parsed), None) => parsed.raw,
        (_, first) => return Err(first.unwrap_or_default()),
    };
    Ok(match raw.rinit.control_socket.as_deref() {
        Some("") => None,
        path => Some(PathBuf::from(path.unwrap_or(defaults::CONTROL_SOCKET))),
    })
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
