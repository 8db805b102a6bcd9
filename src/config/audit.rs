//! What `rinit check` finds beyond a valid file, looking at the machine it
//! runs on: a command that cannot be found or run, a `stop_signal` that
//! stops nothing (errors), and a `stop_timeout` longer than
//! `shutdown_timeout` (a warning). rinit itself reports a missing command
//! per program when it starts it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::libc;

use super::{label, Plan, Program};
use crate::pid1::signals;

/// Signals that stop no process: a `stop_signal` of these only waits for
/// the SIGKILL.
const STOP_NOTHING: [libc::c_int; 8] = [
    libc::SIGSTOP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCONT,
    libc::SIGCHLD,
    libc::SIGWINCH,
    libc::SIGURG,
];

/// The errors and the warnings, one line each (without "rinit: ").
pub fn audit(path: &Path, plan: &Plan) -> (Vec<String>, Vec<String>) {
    let file = label(path);
    let mut errors = Vec::new();
    let mut looked_up = HashMap::new();
    for program in plan.programs.iter().filter(|p| !p.is_main) {
        let at =
            |key: &str, message: String| format!("{file}: program {}: key {key}: {message}", program.name);
        // Thousands of programs often run the same few commands.
        let key = (
            program.command[0].clone(),
            program.directory.clone(),
            program.env.get("PATH").map(ToOwned::to_owned),
        );
        if let Err(why) = looked_up.entry(key).or_insert_with(|| runnable(program)) {
            errors.push(at("command", why.clone()));
        }
        if STOP_NOTHING.contains(&program.stop_signal) {
            let name = signals::name(program.stop_signal);
            errors.push(at(
                "stop_signal",
                format!("{name} stops nothing: the program would only get SIGKILL at stop_timeout"),
            ));
        }
    }
    let warnings = plan
        .programs
        .iter()
        .filter(|p| p.stop_timeout > plan.shutdown_timeout)
        .map(|p| {
            format!(
                "{file}: program {}: key stop_timeout: {:?} is longer than shutdown_timeout ({:?}): \
                 a shutdown sends SIGKILL before it runs out",
                p.name, p.stop_timeout, plan.shutdown_timeout
            )
        })
        .collect();
    (errors, warnings)
}

/// Whether the program's command can be run: an executable file, found
/// through the program's own PATH when the name has no slash.
fn runnable(program: &Program) -> Result<(), String> {
    let name = program.command[0].to_string_lossy().into_owned();
    if name.contains('/') {
        let path = match (&program.directory, Path::new(&name).is_relative()) {
            (Some(dir), true) => dir.join(&name),
            _ => PathBuf::from(&name),
        };
        return executable(&path).map_err(|why| format!("{name:?}: {why}"));
    }
    let path_value = program.env.get("PATH").map_or_else(
        || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        |v| v.to_string_lossy().into_owned(),
    );
    let found = path_value
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(&name));
    if found.clone().any(|candidate| executable(&candidate).is_ok()) {
        return Ok(());
    }
    Err(format!("{name:?}: command not found in PATH ({path_value})"))
}

/// An existing file with an execute bit.
fn executable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err("is a directory".into()),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => Err("is not executable".into()),
        Ok(_) => Ok(()),
        Err(err) => Err(crate::log::io_error_text(&err)),
    }
}
