//! The start plan as `rinit check` prints it: each program in start
//! order with its command, then its type, dependencies, user, directory and
//! restart policy. Commands, users and directories are shown as written,
//! `${VAR}`s unexpanded, so no value (a secret) is ever printed. Control
//! characters in paths and commands are escaped: two lines per program,
//! then a schedule's next three runs, and the limits, nice and
//! oom_score_adj with the capabilities they need.

use std::path::Path;

use super::{label, Kind, Plan, Program};
use crate::log;

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
    let http = plan.http.map(|a| format!(", http {a}")).unwrap_or_default();
    let drain = if plan.drain.is_zero() {
        String::new()
    } else {
        format!(", drain {:?}", plan.drain)
    };
    let _ = writeln!(
        text,
        "(shutdown_timeout {:?}{drain}, control socket {socket}{http})",
        plan.shutdown_timeout
    );
    for program in &plan.programs {
        describe_program(&mut text, plan, program);
    }
    for group in &plan.groups {
        let members: Vec<&str> = group
            .programs
            .iter()
            .map(|&p| plan.program(p).name.as_str())
            .collect();
        let _ = writeln!(text, "group {}: {}", group.name, members.join(" "));
    }
    text
}

/// A program's two lines: its name and command, then the rest. Over 50
/// lines: each part of the second line, in the order it is printed.
fn describe_program(text: &mut String, plan: &Plan, program: &Program) {
    use std::fmt::Write as _;
    let name = &program.name;
    let name = match program.instances {
        Some(count) => format!(
            "{name} (instances {name}.0 to {name}.{})",
            count.saturating_sub(1)
        ),
        None => name.clone(),
    };
    let command: Vec<String> = program
        .written
        .command
        .iter()
        .map(|word| log::escape_controls(shell_quote(word)))
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
        .map(|&p| plan.program(p).name.as_str())
        .collect();
    let after = if after.is_empty() {
        "-".to_string()
    } else {
        after.join(" ")
    };
    let user = match &program.user {
        Some(account) => format!(
            "{} (uid {}, gid {})",
            log::escape_controls(program.written.user.clone().unwrap_or(account.user.name.clone())),
            account.user.uid,
            account.groups.first().copied().unwrap_or(account.user.gid)
        ),
        None => format!("rinit's (uid {})", nix::unistd::geteuid()),
    };
    let directory = match (&program.written.directory, &program.directory) {
        (Some(written), _) => log::escape_controls(written.clone()),
        (None, Some(dir)) => log::escape_controls(dir.display().to_string()),
        (None, None) => "rinit's starting directory".into(),
    };
    let critical = match (program.critical, program.autostart) {
        (true, true) => ", critical",
        (true, false) => ", critical, manual (autostart = false)",
        (false, true) => "",
        (false, false) => ", manual (autostart = false)",
    };
    let _ = writeln!(
        text,
        "    type {kind}, after {after}, user {user}, directory {directory}, restart {}{critical}",
        program.restart.name(),
    );
    if let Some(origin) = &program.origin {
        let _ = writeln!(text, "    from {}", log::escape_controls(origin.clone()));
    }
    if let Some(schedule) = &program.schedule {
        let _ = writeln!(text, "    {}", describe_schedule(schedule, super::wall_now()));
    }
    if !program.resources.is_empty() {
        let _ = writeln!(text, "    {}", describe_resources(&program.resources));
        for need in super::needs(&program.resources) {
            let _ = writeln!(text, "    needs: {need}");
        }
    }
}

/// `limits nofile 65536, core 0; nice 5; oom_score_adj 500`.
fn describe_resources(resources: &crate::pid1::limits::Resources) -> String {
    use crate::pid1::limits;
    let mut parts = Vec::new();
    if !resources.limits.is_empty() {
        let each: Vec<String> = resources
            .limits
            .iter()
            .map(|&(r, soft, hard)| format!("{} {}", limits::name(r), limits::shown(soft, hard)))
            .collect();
        parts.push(format!("limits {}", each.join(", ")));
    }
    parts.extend(resources.nice.map(|n| format!("nice {n}")));
    parts.extend(resources.oom_score_adj.map(|n| format!("oom_score_adj {n}")));
    parts.join("; ")
}

/// A schedule as `check` shows it: what it means, as its next three runs.
fn describe_schedule(schedule: &super::Scheduled, now: i64) -> String {
    use crate::schedule::{rfc3339, When};
    let written = log::escape_controls(format!("{:?}", schedule.written));
    let when = match &schedule.when {
        When::Cron(cron) => {
            let mut at = now;
            let next: Vec<String> = (0..3)
                .map_while(|_| {
                    at = cron.next_after(at, &schedule.zone)?;
                    Some(rfc3339(at, &schedule.zone))
                })
                .collect();
            format!("in {}: next {}", schedule.zone.name(), next.join(", "))
        }
        When::Every(every) => format!("every {every:?} from rinit's start"),
        When::Reboot => "once, when rinit starts".into(),
    };
    let timeout = schedule
        .run_timeout
        .map(|t| format!(", run_timeout {t:?}"))
        .unwrap_or_default();
    format!(
        "schedule {written} {when}; overlap {}{timeout}",
        schedule.overlap.name()
    )
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
