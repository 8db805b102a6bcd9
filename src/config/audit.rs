//! What `rinit check` finds beyond a valid file, looking at the machine it
//! runs on: a command that cannot be found or run, a `stop_signal` that
//! stops nothing (errors), and `stop_timeout`s set in the file that, one
//! after another along the shutdown order, cannot fit in `shutdown_timeout`
//! (a warning). rinit itself reports a missing command per program when it
//! starts it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::libc;

use super::{label, Kind, Plan, Program};
use crate::pid1::signals;

/// The PATH a program without one gets, as spawn.rs searches it (config
/// stays free of the rest of pid1, so that fuzz/ can build it alone).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
            program.command.first().cloned(),
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
    let warnings = shutdown_warning(&file, plan)
        .into_iter()
        .chain(drain_warning(&file, plan))
        .collect();
    (errors, warnings)
}

/// The command's name as the configuration wrote it: `${VAR}`s unexpanded,
/// so a message never shows a value.
fn shown(program: &Program) -> String {
    match (program.written.command.first(), program.command.first()) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => name.to_string_lossy().into_owned(),
        (None, None) => String::new(),
    }
}

/// Whether the program's command can be run: an executable file, found
/// through the program's own PATH when the name has no slash.
fn runnable(program: &Program) -> Result<(), String> {
    // A command has a word (validate.rs): "" stands for none, found nowhere.
    let name = program
        .command
        .first()
        .map(|word| word.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    if name.contains('/') {
        let path = match (&program.directory, Path::new(&name).is_relative()) {
            (Some(dir), true) => dir.join(&name),
            _ => PathBuf::from(&name),
        };
        return executable(&path).map_err(|why| format!("{:?}: {why}", shown(program)));
    }
    let path_value = program
        .env
        .get("PATH")
        .map_or_else(|| DEFAULT_PATH.to_string(), |v| v.to_string_lossy().into_owned());
    let found = path_value
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(&name));
    if found.clone().any(|candidate| executable(&candidate).is_ok()) {
        return Ok(());
    }
    Err(format!(
        "{:?}: command not found in PATH ({path_value})",
        shown(program)
    ))
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

/// At most this many names of a chain in the warning.
const SHOWN: usize = 8;

/// The longest chain of `stop_timeout`s along the shutdown order (what comes
/// after a program stops before it), when it is longer than
/// `shutdown_timeout`. Only the `stop_timeout`s the file sets count: a
/// program left at the default adds nothing, so defaults alone never warn
/// (the defaults are meant to be cut short by `shutdown_timeout`), and the
/// warning names only the values someone chose. Oneshots are left out: by a
/// shutdown they have normally ended, and a program that has ended takes no
/// time to stop.
/// `drain` and `shutdown_timeout` together past Docker's default 10 s of
/// `docker stop`: the runtime's SIGKILL comes first.
fn drain_warning(file: &str, plan: &Plan) -> Option<String> {
    let total = plan.drain.saturating_add(plan.shutdown_timeout);
    if plan.drain.is_zero() || total <= DOCKER_STOP {
        return None;
    }
    let seconds = total
        .as_secs()
        .saturating_add(u64::from(total.subsec_nanos() > 0))
        .saturating_add(1);
    Some(format!(
        "{file}: drain ({:?}) and shutdown_timeout ({:?}) add up to {total:?}, more than docker stop's 10s: \
         give the container {seconds}s to stop (docker stop -t {seconds}, Compose stop_grace_period: {seconds}s, \
         Kubernetes terminationGracePeriodSeconds: {seconds}) or the runtime kills it first",
        plan.drain, plan.shutdown_timeout
    ))
}

/// How long `docker stop` waits before SIGKILL, by default.
const DOCKER_STOP: Duration = Duration::from_secs(10);

fn shutdown_warning(file: &str, plan: &Plan) -> Option<String> {
    // Dependencies come first in the plan: the longest chain ending at each
    // program, over what it comes after, as its total and its predecessor.
    let mut longest: Vec<(Duration, Option<usize>)> = Vec::with_capacity(plan.programs.len());
    for program in &plan.programs {
        let total_to = |d: usize| longest.get(d).map_or(Duration::ZERO, |&(total, _)| total);
        let before = program.after.iter().map(|d| d.0).max_by_key(|&d| total_to(d));
        let total = before.map_or(Duration::ZERO, total_to);
        let own = explicit_stop_timeout(program).unwrap_or(Duration::ZERO);
        longest.push((total.saturating_add(own), before));
    }
    let (last, &(total, _)) = longest.iter().enumerate().max_by_key(|&(_, &(total, _))| total)?;
    if total <= plan.shutdown_timeout {
        return None;
    }
    // In shutdown order: from the last to start back to the first.
    let mut chain = vec![last];
    let mut at = last;
    while let Some(&(_, Some(before))) = longest.get(at) {
        chain.push(before);
        at = before;
    }
    let chain: Vec<(&Program, Duration)> = chain
        .into_iter()
        .filter_map(|p| plan.programs.get(p))
        .filter_map(|p| Some((p, explicit_stop_timeout(p)?)))
        .collect();
    let mut names: Vec<String> = chain
        .iter()
        .take(SHOWN)
        .map(|(p, stop_timeout)| format!("{} {stop_timeout:?}", p.name))
        .collect();
    if chain.len() > SHOWN {
        names.push(format!("{} more", chain.len().saturating_sub(SHOWN)));
    }
    Some(format!(
        "{file}: the stop_timeouts of {}, stopped one after another, add up to {total:?}, more than \
         shutdown_timeout ({:?}): a slow stop there ends in SIGKILL to everything",
        names.join(", "),
        plan.shutdown_timeout
    ))
}

/// The `stop_timeout` the file sets for `program`, unless it is a oneshot.
fn explicit_stop_timeout(program: &Program) -> Option<Duration> {
    program
        .written
        .stop_timeout
        .filter(|_| program.kind != Kind::Oneshot)
}
