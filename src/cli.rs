//! The command line and the environment variables that stand in for flags:
//! turns `rinit [OPTIONS] [--] COMMAND [ARGS...]` into a typed `Options`, or
//! a one-line error for the user. Nothing here touches the system.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::duration;
use crate::control::{Change, Request};
use crate::log::Level;
use crate::pid1::signals;
use crate::typo;

use crate::help::usage_of;
pub use crate::help::USAGE;

#[derive(Debug)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub subreaper: bool,
    pub group: bool,
    /// Exit codes reported as 0.
    pub success_codes: Vec<u8>,
    pub grace: Duration,
    pub parent_death_signal: Option<i32>,
    pub log_level: Level,
    /// `-w`: a warning for each process reaped that rinit did not start.
    pub warn_reaped: bool,
    pub command: Vec<OsString>,
}

#[derive(Debug)]
pub enum Invocation {
    /// Single-command mode, supervisor mode or both, by whether a command and
    /// a configuration file are given.
    Run(Options),
    /// `rinit check [-c PATH]`.
    Check(Options),
    /// `rinit status` or `rinit signal`: a request on the control socket.
    Control(crate::control::client::Options),
    /// `rinit import [--root DIR] [--split DIR] FILE...`: other supervisors'
    /// configurations as rinit TOML (the files, `--root`, `--split`).
    Import(Vec<PathBuf>, Option<PathBuf>, Option<PathBuf>),
    /// `--help`, `rinit help` (USAGE), `rinit help SUBCOMMAND` or `rinit
    /// SUBCOMMAND --help`: the text to print.
    Help(&'static str),
    Version,
    /// `-l`: the license.
    License,
}

/// What the environment says, before flags override it: rinit's own
/// variables, and tini's, honoured so that rinit drops in where tini was
/// (rinit's win when both are set).
#[derive(Default)]
pub struct Environment {
    pub subreaper: Option<OsString>,
    pub grace: Option<OsString>,
    pub log: Option<OsString>,
    pub config: Option<OsString>,
    /// TINI_SUBREAPER: any value, as tini reads it.
    pub tini_subreaper: Option<OsString>,
    /// TINI_KILL_PROCESS_GROUP: any value means -g.
    pub tini_group: Option<OsString>,
    /// TINI_VERBOSITY: 0 to 3.
    pub tini_verbosity: Option<OsString>,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            subreaper: std::env::var_os("RINIT_SUBREAPER"),
            grace: std::env::var_os("RINIT_GRACE"),
            log: std::env::var_os("RINIT_LOG"),
            config: std::env::var_os("RINIT_CONFIG"),
            tini_subreaper: std::env::var_os("TINI_SUBREAPER"),
            tini_group: std::env::var_os("TINI_KILL_PROCESS_GROUP"),
            tini_verbosity: std::env::var_os("TINI_VERBOSITY"),
        }
    }
}

const SUBCOMMANDS: [&str; 8] = [
    "check", "status", "start", "stop", "restart", "signal", "reload", "import",
];

/// Parses everything after argv[0].
pub fn parse(args: Vec<OsString>, env: Environment) -> Result<Invocation, String> {
    let mut options = from_environment(&env)?;
    let mut verbosity = 0;
    let mut args = args.into_iter();
    let mut after_dashes = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            after_dashes = true;
            break;
        }
        let parsed = if let Some(long) = text.strip_prefix("--") {
            long_option(long, &mut args, &mut options)?
        } else if !text.starts_with('-') || text == "-" {
            options.command.push(arg);
            break;
        } else {
            let letters = text.strip_prefix('-').unwrap_or(&text);
            short_options(letters, &mut args, &mut options, &mut verbosity)?
        };
        if let Some(invocation) = parsed {
            return Ok(invocation);
        }
    }
    options.command.extend(args);
    options.log_level = options.log_level.shifted(verbosity);
    if !after_dashes {
        if let Some(invocation) = subcommand(&mut options, verbosity)? {
            return Ok(invocation);
        }
    }
    match options.command.first() {
        Some(name) if name.is_empty() => Err("the command name is empty".into()),
        _ => Ok(Invocation::Run(options)),
    }
}

/// The options as the environment variables set them, before the flags.
fn from_environment(env: &Environment) -> Result<Options, String> {
    let grace = match &env.grace {
        Some(text) => duration::parse(&text.to_string_lossy()).map_err(|e| format!("RINIT_GRACE: {e}"))?,
        None => Duration::from_secs(5),
    };
    let log_level = match (&env.log, &env.tini_verbosity) {
        (Some(text), _) => Level::parse(&text.to_string_lossy()).ok_or_else(|| {
            format!(
                "RINIT_LOG: unknown level {:?}: expected debug, info, warn or error",
                text.to_string_lossy()
            )
        })?,
        // tini's levels 0-3 onto rinit's error, warn, info, debug.
        (None, Some(text)) => match text.to_str().and_then(|t| t.parse::<i32>().ok()) {
            Some(level @ 0..=3) => Level::Error.shifted(level),
            _ => {
                return Err(format!(
                    "TINI_VERBOSITY: {:?} is not a level: expected 0, 1, 2 or 3",
                    text.to_string_lossy()
                ))
            }
        },
        (None, None) => Level::Info,
    };
    Ok(Options {
        config: env.config.clone().filter(|c| !c.is_empty()).map(PathBuf::from),
        subreaper: env.subreaper.as_ref().is_some_and(|v| !v.is_empty()) || env.tini_subreaper.is_some(),
        group: env.tini_group.is_some(),
        success_codes: Vec::new(),
        grace,
        parent_death_signal: None,
        log_level,
        warn_reaped: false,
        command: Vec::new(),
    })
}

/// `--NAME` or `--NAME=VALUE`; an invocation when it decides one (help, version).
fn long_option(
    long: &str,
    args: &mut std::vec::IntoIter<OsString>,
    options: &mut Options,
) -> Result<Option<Invocation>, String> {
    let (name, inline) = match long.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (long, None),
    };
    match name {
        "help" => return Ok(Some(Invocation::Help(USAGE))),
        "version" => return Ok(Some(Invocation::Version)),
        "config" => {
            let value = match inline {
                Some(v) => v,
                None => value_of(args, "--config")?,
            };
            options.config = Some(PathBuf::from(value));
        }
        _ => return Err(format!("unknown option '--{name}' (see rinit --help)")),
    }
    Ok(None)
}

/// A cluster of short flags: "-sg", "-vv", "-e143", "-t 5s".
fn short_options(
    cluster: &str,
    args: &mut std::vec::IntoIter<OsString>,
    options: &mut Options,
    verbosity: &mut i32,
) -> Result<Option<Invocation>, String> {
    let mut flags = cluster.chars();
    while let Some(flag) = flags.next() {
        let mut take_value = |args: &mut std::vec::IntoIter<OsString>| -> Result<String, String> {
            // The rest of the cluster is the value, if there is a rest.
            let rest: String = flags.by_ref().collect();
            if rest.is_empty() {
                value_of(args, &format!("-{flag}"))
            } else {
                Ok(rest)
            }
        };
        match flag {
            'h' => return Ok(Some(Invocation::Help(USAGE))),
            'V' => return Ok(Some(Invocation::Version)),
            'l' => return Ok(Some(Invocation::License)),
            'w' => options.warn_reaped = true,
            's' => options.subreaper = true,
            'g' => options.group = true,
            'v' => *verbosity = verbosity.saturating_add(1),
            'q' => *verbosity = verbosity.saturating_sub(1),
            'c' => options.config = Some(PathBuf::from(take_value(args)?)),
            'e' => {
                let value = take_value(args)?;
                let code = value.parse::<u8>().map_err(|_| {
                    format!("-e: invalid exit code {value:?}: expected a number from 0 to 255")
                })?;
                options.success_codes.push(code);
            }
            't' => {
                let value = take_value(args)?;
                options.grace = duration::parse(&value).map_err(|e| format!("-t: {e}"))?;
            }
            'p' => {
                let value = take_value(args)?;
                options.parent_death_signal = Some(signals::parse(&value).map_err(|e| format!("-p: {e}"))?);
            }
            other => return Err(format!("unknown option '-{other}' (see rinit --help)")),
        }
    }
    Ok(None)
}

/// A first word that names a subcommand (not after `--`). Over 50 lines:
/// one branch per subcommand, in the order they are tried.
fn subcommand(options: &mut Options, verbosity: i32) -> Result<Option<Invocation>, String> {
    let Some(first) = options.command.first() else {
        return Ok(None);
    };
    let first = first.to_string_lossy().into_owned();
    if first == "help" {
        return match options.command.get(1).map(|s| s.to_string_lossy()) {
            None => Ok(Some(Invocation::Help(USAGE))),
            Some(name) => match usage_of(&name) {
                Some(usage) => Ok(Some(Invocation::Help(usage))),
                None => Err(format!("rinit help: no subcommand {name:?} (see rinit --help)")),
            },
        };
    }
    let asks_help = options
        .command
        .iter()
        .skip(1)
        .take_while(|arg| *arg != "--")
        .any(|arg| arg == "--help" || arg == "-h");
    if let (true, Some(usage)) = (asks_help, usage_of(&first)) {
        return Ok(Some(Invocation::Help(usage)));
    }
    if first == "check" {
        let rest = options.command.split_off(1);
        let Invocation::Run(mut checked) = parse(rest, env_after_flags(options))? else {
            return Err("rinit check takes only -c PATH".into());
        };
        if let Some(extra) = checked.command.first() {
            return Err(format!(
                "rinit check: unexpected argument {:?} (usage: rinit check [-c PATH])",
                extra.to_string_lossy()
            ));
        }
        checked.log_level = checked.log_level.shifted(verbosity);
        return Ok(Some(Invocation::Check(checked)));
    }
    if ["status", "signal", "start", "stop", "restart", "reload"].contains(&first.as_str()) {
        let rest = options.command.split_off(1);
        return control(&first, rest, options.config.clone()).map(|o| Some(Invocation::Control(o)));
    }
    if first == "import" {
        return import(options.command.split_off(1)).map(Some);
    }
    if SUBCOMMANDS.contains(&first.as_ref()) {
        return Err(format!(
            "'rinit {first}' is not in this version yet (rinit status and rinit signal are); \
             to run a program called {first:?}, write: rinit -- {first}"
        ));
    }
    typo::mistyped_subcommand(&first, &SUBCOMMANDS)?;
    Ok(None)
}

/// `import [--root DIR] [--split DIR] FILE...`: at least one file.
fn import(args: Vec<OsString>) -> Result<Invocation, String> {
    let (mut files, mut root, mut split, mut args) = (Vec::new(), None, None, args.into_iter());
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--root" {
            root = Some(args.next().ok_or("rinit import: --root needs a folder")?);
        } else if text == "--split" {
            split = Some(args.next().ok_or("rinit import: --split needs a folder")?);
        } else if text.starts_with('-') && text.len() > 1 {
            return Err(format!(
                "rinit import: unknown option '{text}' (usage: rinit import [--root DIR] [--split DIR] FILE...)"
            ));
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    if files.is_empty() {
        return Err(
            "usage: rinit import [--root DIR] [--split DIR] FILE... (a supervisord.conf, systemd units, a Procfile or a crontab)"
                .into(),
        );
    }
    Ok(Invocation::Import(
        files,
        root.map(PathBuf::from),
        split.map(PathBuf::from),
    ))
}

/// `status [--json] [-q] [-c PATH] [NAME...]`, `signal [-c PATH] SIG NAME...`
/// or `start|stop|restart [--no-wait] [-c PATH] NAME...`. Over 50 lines: one
/// argument loop and one request for the five commands, side by side.
fn control(
    command: &str,
    args: Vec<OsString>,
    mut config: Option<PathBuf>,
) -> Result<crate::control::client::Options, String> {
    let (mut json, mut quiet, mut wait, mut words) = (false, false, true, Vec::new());
    let mut check = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        match text.as_str() {
            "--json" if command == "status" => json = true,
            "-q" if command == "status" => quiet = true,
            "--no-wait" if command != "status" && command != "signal" => wait = false,
            "--check" if command == "reload" => check = true,
            "-c" | "--config" => config = Some(PathBuf::from(value_of(&mut args, &text)?)),
            flag if flag.starts_with('-') && flag.len() > 1 && !words.is_empty() && command == "signal" => {
                words.push(text)
            }
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!(
                    "rinit {command}: unknown option '{flag}' (see rinit --help)"
                ))
            }
            _ => words.push(text),
        }
    }
    let request = match command {
        "status" => Request::Status(words),
        "reload" if words.is_empty() => Request::Reload { check, wait },
        "reload" => {
            return Err(format!(
                "rinit reload: unexpected argument {:?} (usage: rinit reload [--check] [--no-wait])",
                words.join(" ")
            ))
        }
        "start" | "stop" | "restart" if words.is_empty() => {
            return Err(format!(
                "usage: rinit {command} [--no-wait] NAME... (NAME: a program, NAME.I, or NAME:*)"
            ));
        }
        "start" => Request::Change {
            change: Change::Start,
            names: words,
            wait,
        },
        "stop" => Request::Change {
            change: Change::Stop,
            names: words,
            wait,
        },
        "restart" => Request::Change {
            change: Change::Restart,
            names: words,
            wait,
        },
        _ => match words.split_first() {
            Some((signal, names)) if !names.is_empty() => Request::Signal(signal.clone(), names.to_vec()),
            _ => {
                return Err("usage: rinit signal SIGNAL NAME... (NAME: a program, NAME.I, or NAME:*)".into())
            }
        },
    };
    if let Some(bad) = request
        .names()
        .iter()
        .find(|w| w.is_empty() || !w.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(format!("rinit {command}: {bad:?} is not a name"));
    }
    Ok(crate::control::client::Options {
        config,
        request,
        json,
        quiet,
    })
}

/// The environment as the flags before a subcommand left it, for parsing
/// the subcommand's own flags.
fn env_after_flags(options: &Options) -> Environment {
    Environment {
        config: options.config.as_ref().map(|path| path.clone().into_os_string()),
        ..Environment::default()
    }
}

fn value_of(args: &mut std::vec::IntoIter<OsString>, flag: &str) -> Result<String, String> {
    args.next()
        .map(|v| v.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{flag} needs a value (see rinit --help)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_one_edit_from_a_subcommand_is_a_mistake_not_a_command() {
        assert!(typo::one_edit_apart("chek", "check"));
        assert!(typo::one_edit_apart("stauts", "status"));
        assert!(typo::one_edit_apart("satrt", "start"));
        assert!(typo::one_edit_apart("stopp", "stop"));
        assert!(typo::one_edit_apart("imprt", "import"));
        assert!(!typo::one_edit_apart("check", "check"));
        assert!(!typo::one_edit_apart("sh", "start"));
        assert!(!typo::one_edit_apart("ckeh", "check"));
        let error = parse(["chek", "-c", "x"].map(OsString::from).to_vec(), no_env()).unwrap_err();
        assert_eq!(
            error,
            "no subcommand \"chek\": did you mean `rinit check`? (to run a program called \"chek\", write: rinit -- chek)"
        );
        // A real command one edit from a subcommand still runs: stat(1).
        assert!(
            matches!(parse(vec!["stat".into()], no_env()), Ok(Invocation::Run(_))) || !typo::on_path("stat")
        );
        assert!(matches!(
            parse(["--", "chek"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Run(_))
        ));
    }

    use std::path::Path;

    fn no_env() -> Environment {
        Environment::default()
    }

    #[test]
    fn dash_w_and_dash_l_as_tini_has_them() {
        assert!(run(&["-w", "true"]).unwrap().warn_reaped);
        assert!(!run(&["true"]).unwrap().warn_reaped);
        let license = parse(vec!["-l".into()], no_env());
        assert!(matches!(license, Ok(Invocation::License)), "{license:?}");
    }

    #[test]
    fn tinis_variables_stand_in_for_its_flags() {
        let tini = |name: &str, value: &str| {
            let mut env = no_env();
            let value = Some(OsString::from(value));
            match name {
                "TINI_SUBREAPER" => env.tini_subreaper = value,
                "TINI_KILL_PROCESS_GROUP" => env.tini_group = value,
                _ => env.tini_verbosity = value,
            }
            parse(vec!["true".into()], env)
        };
        let options = |invocation: Result<Invocation, String>| match invocation {
            Ok(Invocation::Run(options)) => options,
            other => panic!("{other:?}"),
        };
        assert!(
            options(tini("TINI_KILL_PROCESS_GROUP", "")).group,
            "any value, as tini"
        );
        assert!(options(tini("TINI_SUBREAPER", "1")).subreaper);
        assert_eq!(options(tini("TINI_VERBOSITY", "3")).log_level, Level::Debug);
        assert_eq!(options(tini("TINI_VERBOSITY", "0")).log_level, Level::Error);
        assert_eq!(
            tini("TINI_VERBOSITY", "loud").unwrap_err(),
            "TINI_VERBOSITY: \"loud\" is not a level: expected 0, 1, 2 or 3"
        );
        // rinit's own name wins.
        let mut env = no_env();
        env.tini_verbosity = Some("3".into());
        env.log = Some("error".into());
        assert_eq!(options(parse(vec!["true".into()], env)).log_level, Level::Error);
    }

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(OsString::from).collect(), no_env())? {
            Invocation::Run(options) => Ok(options),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags_and_command() {
        let o = run(&[
            "-sg", "-e", "143", "-e7", "-t", "1m30s", "-p", "SIGUSR1", "-vv", "--", "sh", "-c", "x",
        ])
        .unwrap();
        assert!(o.subreaper && o.group);
        assert_eq!(o.success_codes, vec![143, 7]);
        assert_eq!(o.grace, Duration::from_secs(90));
        assert_eq!(o.parent_death_signal, Some(nix::libc::SIGUSR1));
        assert_eq!(o.log_level, Level::Debug);
        assert_eq!(o.command, ["sh", "-c", "x"].map(OsString::from).to_vec());
    }

    #[test]
    fn command_options_are_not_rinits() {
        let o = run(&["ls", "-l", "--", "-x"]).unwrap();
        assert_eq!(o.command, ["ls", "-l", "--", "-x"].map(OsString::from).to_vec());
    }

    #[test]
    fn environment_is_overridden_by_flags() {
        let env = Environment {
            subreaper: Some("1".into()),
            grace: Some("2s".into()),
            log: Some("warn".into()),
            ..Environment::default()
        };
        let Ok(Invocation::Run(o)) = parse(["-t", "3s", "-v", "true"].map(OsString::from).to_vec(), env)
        else {
            panic!()
        };
        assert!(o.subreaper);
        assert_eq!(o.grace, Duration::from_secs(3));
        assert_eq!(o.log_level, Level::Info);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(
            run(&["-x", "true"]).unwrap_err(),
            "unknown option '-x' (see rinit --help)"
        );
        assert_eq!(
            run(&["--bogus"]).unwrap_err(),
            "unknown option '--bogus' (see rinit --help)"
        );
        assert!(run(&["-e", "256", "true"])
            .unwrap_err()
            .starts_with("-e: invalid exit code \"256\""));
        assert!(run(&["-e"]).unwrap_err().starts_with("-e needs a value"));
        assert!(run(&["-t", "soon", "true"])
            .unwrap_err()
            .starts_with("-t: invalid duration"));
        assert!(run(&["-p", "SIGNOPE", "true"])
            .unwrap_err()
            .starts_with("-p: unknown signal"));
        assert!(run(&[]).unwrap().command.is_empty());
        assert!(matches!(
            parse(["status", "--json", "web"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Control(crate::control::client::Options {
                json: true,
                ..
            }))
        ));
        assert_eq!(
            parse(["signal", "HUP"].map(OsString::from).to_vec(), no_env()).unwrap_err(),
            "usage: rinit signal SIGNAL NAME... (NAME: a program, NAME.I, or NAME:*)"
        );
        assert_eq!(
            parse(["status", "--bogus"].map(OsString::from).to_vec(), no_env()).unwrap_err(),
            "rinit status: unknown option '--bogus' (see rinit --help)"
        );
        assert!(matches!(
            parse(["check", "-c", "x.toml"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Check(Options { config: Some(path), .. })) if path == Path::new("x.toml")
        ));
        assert_eq!(
            parse(["check", "extra"].map(OsString::from).to_vec(), no_env()).unwrap_err(),
            "rinit check: unexpected argument \"extra\" (usage: rinit check [-c PATH])"
        );
        assert_eq!(
            run(&["--", "status"]).unwrap().command,
            [OsString::from("status")]
        );
        assert_eq!(run(&["--", ""]).unwrap_err(), "the command name is empty");
        assert!(matches!(
            parse(["import", "a.service", "b"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Import(files, None, None)) if files == [Path::new("a.service"), Path::new("b")]
        ));
        assert!(matches!(
            parse(["import", "--root", "/img", "s.conf"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Import(files, Some(root), None)) if files == [Path::new("s.conf")] && root == Path::new("/img")
        ));
        assert_eq!(
            parse(["import", "-x"].map(OsString::from).to_vec(), no_env()).unwrap_err(),
            "rinit import: unknown option '-x' (usage: rinit import [--root DIR] [--split DIR] FILE...)"
        );
        assert!(parse(["import", "--root"].map(OsString::from).to_vec(), no_env())
            .unwrap_err()
            .starts_with("rinit import: --root needs a folder"));
        assert!(
            parse(["import", "--split"].map(OsString::from).to_vec(), no_env())
                .unwrap_err()
                .starts_with("rinit import: --split needs a folder")
        );
        assert!(matches!(
            parse(["import", "--split", "d", "s.conf"].map(OsString::from).to_vec(), no_env()),
            Ok(Invocation::Import(files, None, Some(split))) if files == [Path::new("s.conf")] && split == Path::new("d")
        ));
        assert!(parse(vec!["import".into()], no_env())
            .unwrap_err()
            .starts_with("usage: rinit import [--root DIR] [--split DIR] FILE..."));
    }

    #[test]
    fn help_for_rinit_and_for_each_subcommand() {
        let parsed = |args: &[&str]| parse(args.iter().map(OsString::from).collect(), no_env());
        assert!(matches!(parsed(&["help"]), Ok(Invocation::Help(USAGE))));
        for name in [
            "check", "status", "start", "stop", "restart", "signal", "reload", "import",
        ] {
            for args in [
                vec!["help", name],
                vec![name, "--help"],
                vec![name, "-h"],
                vec![name, "-c", "x", "--help"],
            ] {
                match parsed(&args) {
                    Ok(Invocation::Help(usage)) => assert!(
                        usage.starts_with("usage: rinit ") && usage.contains(name),
                        "{args:?}: {usage}"
                    ),
                    other => panic!("{args:?}: {other:?}"),
                }
            }
        }
        assert_eq!(
            parsed(&["help", "frobnicate"]).unwrap_err(),
            "rinit help: no subcommand \"frobnicate\" (see rinit --help)"
        );
        // After `--`, and for a command that is not rinit's, --help is the command's.
        assert!(matches!(
            parsed(&["--", "check", "--help"]),
            Ok(Invocation::Run(_))
        ));
        assert!(matches!(parsed(&["ls", "--help"]), Ok(Invocation::Run(_))));
    }
}
