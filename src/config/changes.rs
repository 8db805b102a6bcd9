//! What a reload changes in a program: the program of the new plan
//! compared with the one of the same name in the running plan, key by key.
//! A change of a key that reaches the process (its command, environment,
//! user, output, limits, checks, schedule) or of its place in the order
//! (`after`) restarts it; a change of only the keys the supervisor reads
//! when it decides (the restart policy and its timing, how it is stopped,
//! `ready_timeout`, `critical`) applies in place. docs/control.md lists both.

use super::{Plan, Program, ProgramId};

/// How a program of the new plan differs from the running one.
#[derive(Debug, PartialEq, Eq)]
pub enum Difference {
    Same,
    /// Only these keys, which apply without a restart.
    InPlace(Vec<&'static str>),
    /// These keys reach the process: it restarts.
    Restart(Vec<&'static str>),
}

/// How `new` (of `new_plan`) differs from `old` (of `old_plan`). Over 50
/// lines: the two tables of keys, side by side, each key in one place.
pub fn difference(old: &Program, old_plan: &Plan, new: &Program, new_plan: &Plan) -> Difference {
    let names = |plan: &Plan, ids: &[ProgramId]| -> Vec<String> {
        ids.iter().map(|&p| plan.program(p).name.clone()).collect()
    };
    let schedule = |program: &Program| {
        program.schedule.as_ref().map(|s| {
            (
                s.written.clone(),
                s.zone.name().to_string(),
                s.overlap,
                s.run_timeout,
            )
        })
    };
    // `main` comes after every other program: what it comes after changes
    // with them, and it is never restarted for that.
    let after = old.is_main || names(old_plan, &old.after) == names(new_plan, &new.after);
    let restart = [
        (
            "command",
            old.command == new.command && old.command_template == new.command_template,
        ),
        ("type", old.kind == new.kind),
        ("instances", old.instances == new.instances),
        ("after", after),
        ("user", old.user == new.user),
        ("directory", old.directory == new.directory),
        ("env", old.env == new.env),
        ("umask", old.umask == new.umask),
        (
            "output",
            old.output == new.output && old.timestamps == new.timestamps,
        ),
        ("limits", old.resources == new.resources),
        ("ready", old.ready == new.ready),
        ("health", old.health == new.health),
        ("schedule", schedule(old) == schedule(new)),
        ("autostart", old.autostart == new.autostart),
    ];
    let in_place = [
        ("restart", old.restart == new.restart),
        ("restart_delay", old.restart_delay == new.restart_delay),
        (
            "restart_max_delay",
            old.restart_max_delay == new.restart_max_delay,
        ),
        (
            "start_limit_burst",
            old.start_limit_burst == new.start_limit_burst,
        ),
        (
            "start_limit_interval",
            old.start_limit_interval == new.start_limit_interval,
        ),
        (
            "success_exit_codes",
            old.success_exit_codes == new.success_exit_codes,
        ),
        ("stop_signal", old.stop_signal == new.stop_signal),
        ("stop_group", old.stop_group == new.stop_group),
        ("stop_timeout", old.stop_timeout == new.stop_timeout),
        ("ready_timeout", old.ready_timeout == new.ready_timeout),
        ("critical", old.critical == new.critical),
    ];
    let changed = |keys: &[(&'static str, bool)]| -> Vec<&'static str> {
        keys.iter()
            .filter(|(_, same)| !same)
            .map(|(key, _)| *key)
            .collect()
    };
    let (restart, in_place) = (changed(&restart), changed(&in_place));
    if !restart.is_empty() {
        Difference::Restart(restart)
    } else if !in_place.is_empty() {
        Difference::InPlace(in_place)
    } else {
        Difference::Same
    }
}
