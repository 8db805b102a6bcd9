//! systemd units given together: each `.service` becomes a program, each
//! `.target` a group of the given services it wants; `After=`, `Requires=`
//! and `Wants=` between the given units become `after`. Units outside the
//! given files, and `[Install]`, become comments.

use std::path::PathBuf;

use super::ini::{self, Entry, Section};
use super::systemd_values::{exec, span, specifiers, words, UnitName};
use super::{name, Import, Program};

struct Unit {
    file: String,
    /// The unit's name: the file name, `app.service`.
    full: String,
    /// The program or group it becomes.
    name: String,
    target: bool,
    sections: Vec<Section>,
}

impl Unit {
    /// The last value of `key` in any section.
    fn get(&self, key: &str) -> Option<&str> {
        self.sections.iter().rev().find_map(|s| s.get(key))
    }
}

pub fn import(files: &[(PathBuf, String)], import: &mut Import) -> Result<(), String> {
    let mut units = Vec::new();
    for (path, text) in files {
        let file = path.display().to_string();
        let full = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut notes = Vec::new();
        let stem = full
            .strip_suffix(".service")
            .or(full.strip_suffix(".target"))
            .unwrap_or(&full);
        let name = name(stem, &mut notes);
        let target = full.ends_with(".target");
        let sections = ini::parse(text, &file, true)?;
        if units.iter().any(|u: &Unit| u.name == name && u.target == target) {
            return Err(format!("{file}: a second unit named {name}"));
        }
        units.push(Unit {
            file,
            full,
            name,
            target,
            sections,
        });
        import.notes.extend(notes);
    }
    for unit in units.iter().filter(|u| !u.target) {
        let program = service(unit, &units)?;
        import.add(program, false, &unit.file)?;
    }
    for unit in units.iter().filter(|u| u.target) {
        let group = target(unit, &units, import);
        import.add(group, true, &unit.file)?;
    }
    Ok(())
}

/// A `.service` as a program, option by option.
fn service(unit: &Unit, units: &[Unit]) -> Result<Program, String> {
    let mut p = Program::new(unit.name.clone());
    for section in &unit.sections {
        for entry in &section.entries {
            let bad = |what: String| format!("{}:{}: {}: {what}", unit.file, entry.line, entry.key);
            match section.name.as_str() {
                "Unit" => unit_option(&mut p, entry, unit, units),
                "Service" => service_option(&mut p, entry, unit).map_err(bad)?,
                "Install" => p.note(&format!(
                    "{}={} dropped: rinit starts every program with the container (a target given to rinit import becomes a group)",
                    entry.key, entry.value
                )),
                other => p.note(&format!("[{other}] {}={} dropped: no rinit equivalent", entry.key, entry.value)),
            }
        }
    }
    if unit.get("ExecStart").is_none() {
        return Err(format!(
            "{}: no ExecStart=: rinit needs the command to run",
            unit.file
        ));
    }
    Ok(p)
}

/// `[Unit]`: dependencies on the given services become `after`.
fn unit_option(p: &mut Program, entry: &Entry, unit: &Unit, units: &[Unit]) {
    let (key, value) = (entry.key.as_str(), entry.value.as_str());
    match key {
        "Description" => p.lines.push(super::remark(value)),
        "After" | "Requires" | "Wants" | "BindsTo" | "Requisite" => {
            let mut outside = Vec::new();
            for other in value.split_whitespace() {
                match units.iter().find(|u| u.full == other && !u.target) {
                    Some(u) if !p.after.contains(&u.name) => p.after.push(u.name.clone()),
                    Some(_) => {}
                    None => outside.push(other),
                }
            }
            if !outside.is_empty() {
                p.note(&format!(
                    "{key}={} dropped: not among the imported services; a container starts its own (use ready checks to wait for another container)",
                    outside.join(" ")
                ));
            }
        }
        "StartLimitIntervalSec" | "StartLimitBurst" => start_limit(p, entry, unit),
        "PartOf" if units.iter().any(|u| u.full == value && u.target) => {}
        _ => p.note(&format!("{key}={value} dropped: no rinit equivalent")),
    }
}

/// Over 50 lines: one arm per `[Service]` option, which reads best as a
/// single table. Err is what is wrong with the value.
fn service_option(p: &mut Program, entry: &Entry, unit: &Unit) -> Result<(), String> {
    let (key, value) = (entry.key.as_str(), entry.value.as_str());
    let names = UnitName { full: &unit.full };
    let drop = |p: &mut Program, why: &str| p.dropped(key, value, why);
    let notify = matches!(unit.get("Type"), Some("notify" | "notify-reload"));
    match key {
        "ExecStart" if value.is_empty() => {}
        "ExecStart" => {
            let mut notes = Vec::new();
            let command = exec(value, &names, &mut notes);
            p.lines.extend(notes);
            p.text("command", &command);
        }
        "ExecStartPre" => drop(p, "make it a program of type = \"oneshot\" and put it in this one's after"),
        "Type" => match value {
            "simple" | "exec" | "idle" => p.text("type", "simple"),
            "notify" | "notify-reload" => p.text("type", "notify"),
            "oneshot" => p.text("type", "oneshot"),
            _ => drop(p, "rinit needs the program in the foreground: run its command that does not fork (e.g. nginx -g 'daemon off;')"),
        },
        "User" | "Group" | "UMask" => {
            let value = specifiers(value, &names, &mut p.lines);
            p.text(&key.to_ascii_lowercase(), &value);
        }
        "WorkingDirectory" => {
            if value.starts_with('-') {
                p.note("WorkingDirectory=-: rinit needs the directory to exist");
            }
            let value = specifiers(value.trim_start_matches('-'), &names, &mut p.lines);
            p.text("directory", &value);
        }
        "Environment" => {
            for word in words(&specifiers(value, &names, &mut p.lines))? {
                let (k, v) = word.split_once('=').ok_or(format!("{word:?} is not NAME=value"))?;
                p.env(k, super::literal(v));
            }
        }
        "EnvironmentFile" if p.lines.iter().any(|l| l.starts_with("env_file = ")) => {
            drop(p, "rinit takes one env_file; merge the files")
        }
        "EnvironmentFile" => {
            if value.starts_with('-') {
                p.note("EnvironmentFile=-: optional in systemd, but rinit needs the file to exist");
            }
            p.text("env_file", value.trim_start_matches('-'));
        }
        "Restart" if value == "on-watchdog" => drop(p, "rinit has no watchdog; use health = { ... }"),
        "WatchdogSec" => drop(p, "rinit has no watchdog; use health = { ... }"),
        _ if key.starts_with("Limit") => drop(p, "set limits on the container: docker run --ulimit"),
        "Restart" => p.text("restart", value),
        "RestartSec" => match span(value) {
            Some(delay) => {
                p.text("restart_delay", &delay);
                p.text("restart_max_delay", &delay);
                p.note("restart_max_delay = restart_delay: systemd waits the same each time; rinit would double it");
            }
            None => return Err(format!("{value:?} is not a time span")),
        },
        "StartLimitInterval" | "StartLimitIntervalSec" | "StartLimitBurst" => start_limit(p, entry, unit),
        "SuccessExitStatus" => {
            let mut codes = vec![0u8];
            for word in words(value)? {
                match word.parse::<u8>() {
                    Ok(code) if !codes.contains(&code) => codes.push(code),
                    Ok(_) => {}
                    Err(_) => p.note(&format!("SuccessExitStatus {word} dropped: rinit takes exit codes only")),
                }
            }
            p.set("success_exit_codes", super::codes(&codes));
        }
        "KillSignal" => p.text("stop_signal", value),
        "KillMode" if value == "control-group" => p.set("stop_group", "true".into()),
        "KillMode" if value == "mixed" => {}
        "KillMode" => drop(p, "rinit sends SIGKILL to the whole process group at stop_timeout"),
        "TimeoutStopSec" | "TimeoutSec" | "TimeoutStartSec" => timeouts(p, key, value, notify),
        "RemainAfterExit" | "PIDFile" | "GuessMainPID" => {}
        _ => drop(p, "no rinit equivalent"),
    }
    Ok(())
}

/// `TimeoutStopSec` → `stop_timeout`, `TimeoutStartSec` → `ready_timeout`
/// (notify only), `TimeoutSec` → both.
fn timeouts(p: &mut Program, key: &str, value: &str, notify: bool) {
    let Some(span) = span(value) else {
        p.note(&format!("{key}={value} dropped: rinit needs a finite time"));
        return;
    };
    if key != "TimeoutStartSec" {
        p.text("stop_timeout", &span);
    }
    if key != "TimeoutStopSec" && notify {
        p.text("ready_timeout", &span);
    } else if key == "TimeoutStartSec" {
        p.note(&format!(
            "{key}={value} dropped: rinit times the start of notify programs and ready checks only"
        ));
    }
}

/// `StartLimitIntervalSec` (or the older `StartLimitInterval`) and
/// `StartLimitBurst`; an interval of 0 turns the limit off.
fn start_limit(p: &mut Program, entry: &Entry, unit: &Unit) {
    let interval = unit
        .get("StartLimitIntervalSec")
        .or(unit.get("StartLimitInterval"));
    if interval.is_some_and(|i| span(i).as_deref() == Some("0")) {
        p.set("start_limit_burst", "0".into());
        return;
    }
    let value = entry.value.as_str();
    let set = match entry.key.as_str() {
        "StartLimitBurst" => value
            .parse::<u32>()
            .ok()
            .map(|n| p.set("start_limit_burst", n.to_string())),
        _ => span(value).map(|s| p.text("start_limit_interval", &s)),
    };
    if set.is_none() {
        p.note(&format!(
            "{}={value} dropped: not a number or time span",
            entry.key
        ));
    }
}

/// A `.target` as a group of the given services it wants, requires, or
/// that name it in `PartOf=` or `WantedBy=`.
fn target(unit: &Unit, units: &[Unit], import: &mut Import) -> Program {
    let mut g = Program::new(unit.name.clone());
    if import.program(&g.name).is_some() {
        g.name.push_str("-target");
        g.note(&format!(
            "named {} since a program is named {}",
            g.name, unit.name
        ));
    }
    let mut members = Vec::new();
    for section in &unit.sections {
        for entry in &section.entries {
            match entry.key.as_str() {
                "Wants" | "Requires" | "BindsTo" => {
                    for other in entry.value.split_whitespace() {
                        match units.iter().find(|u| u.full == other && !u.target) {
                            Some(u) => members.push(u.name.clone()),
                            None => g.note(&format!(
                                "{}={other} dropped: not among the imported services",
                                entry.key
                            )),
                        }
                    }
                }
                "Description" => g.lines.push(super::remark(&entry.value)),
                _ => g.note(&format!(
                    "{}={} dropped: no rinit equivalent",
                    entry.key, entry.value
                )),
            }
        }
    }
    for other in units.iter().filter(|u| !u.target) {
        let names_it = ["PartOf", "WantedBy", "RequiredBy"].iter().any(|k| {
            other
                .get(k)
                .is_some_and(|v| v.split_whitespace().any(|t| t == unit.full))
        });
        if names_it && !members.contains(&other.name) {
            members.push(other.name.clone());
        }
    }
    g.set("programs", super::list(&members));
    g
}
