//! The options of a `.service` unit, one at a time: `[Unit]` dependencies
//! and start limits, `[Service]` settings as rinit keys, and what is dropped
//! with its severity: sandboxing and the journal change nothing in a
//! container (one note), what changes behaviour is a warning, a forking
//! service an error.

use super::ini::Entry;
use super::model::Program;
use super::shell;
use super::systemd::Known;
use super::systemd_values::{resolve, span, span_ms, words, UnitName};

/// Sandboxing, credentials and logging settings: in a container they change
/// nothing rinit could carry over.
const INERT: [&str; 66] = [
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateNetwork",
    "PrivateUsers",
    "PrivateMounts",
    "PrivateIPC",
    "PrivatePIDs",
    "ProtectHostname",
    "ProtectClock",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectProc",
    "ProcSubset",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RestrictFileSystems",
    "RestrictNetworkInterfaces",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "SystemCallErrorNumber",
    "SystemCallLog",
    "RemoveIPC",
    "KeyringMode",
    "DevicePolicy",
    "DeviceAllow",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "TemporaryFileSystem",
    "IPAddressAllow",
    "IPAddressDeny",
    "SecureBits",
    "NotifyAccess",
    "SyslogIdentifier",
    "SyslogFacility",
    "SyslogLevel",
    "SyslogLevelPrefix",
    "StandardOutput",
    "StandardError",
    "StandardInput",
    "LogLevelMax",
    "LogExtraFields",
    "LogRateLimitIntervalSec",
    "LogRateLimitBurst",
    "LogNamespace",
    "Slice",
    "Delegate",
    "PAMName",
    "PassEnvironment",
    "MountAPIVFS",
    "ProtectKernelLogs",
    "OOMPolicy",
    "UtmpIdentifier",
    "IgnoreSIGPIPE",
];

/// Resource settings: the container's own limits apply instead.
const LIMITS: [&str; 18] = [
    "CPUQuota",
    "CPUWeight",
    "CPUShares",
    "CPUAffinity",
    "AllowedCPUs",
    "MemoryMax",
    "MemoryHigh",
    "MemoryLimit",
    "MemoryLow",
    "MemoryMin",
    "MemorySwapMax",
    "TasksMax",
    "IOWeight",
    "IOSchedulingClass",
    "IOSchedulingPriority",
    "CPUSchedulingPolicy",
    "CPUSchedulingPriority",
    "StartupCPUWeight",
];

/// `[Unit]` options rinit has no use for, in a container or anywhere.
const UNIT_INERT: [&str; 10] = [
    "Documentation",
    "DefaultDependencies",
    "IgnoreOnIsolate",
    "StopWhenUnneeded",
    "RefuseManualStart",
    "RefuseManualStop",
    "AllowIsolate",
    "CollectMode",
    "JobTimeoutSec",
    "RequiresMountsFor",
];

/// `[Unit]`: dependencies on the given services become `after`; those on
/// units not given are one note.
pub fn unit_option(p: &mut Program, entry: &Entry, known: &Known) {
    let (key, value) = (entry.key.as_str(), entry.value.as_str());
    match key {
        "Description" => p.remark(value),
        "After" | "Requires" | "Wants" | "BindsTo" | "Requisite" | "Before" | "Upholds" => {
            for other in value.split_whitespace() {
                match known.programs_of(other) {
                    Some(programs) if key != "Before" => {
                        for program in programs.iter().filter(|n| **n != p.name) {
                            if !p.after.contains(program) {
                                p.after.push(program.clone());
                            }
                        }
                    }
                    Some(_) => {}
                    None if other.ends_with(".socket") && !known.sockets.iter().any(|s| s == other) => {
                        p.warn(&format!(
                            "{key}={other}: socket activation is lost (the .socket unit was not given); the program must bind its address itself"
                        ));
                    }
                    None if known.given(other) => {}
                    None => p.outside(other),
                }
            }
        }
        "StartLimitIntervalSec" | "StartLimitBurst" => start_limit(p, entry),
        "PartOf" if known.targets.iter().any(|t| t == value) => {}
        "PartOf" => p.warn(&format!(
            "PartOf={value} dropped: rinit does not stop or restart this program with {value}"
        )),
        _ if UNIT_INERT.contains(&key) => p.inert(key),
        _ if key.starts_with("Condition") || key.starts_with("Assert") => p.warn(&format!(
            "{key}={value} dropped: rinit starts the program without checking it"
        )),
        _ => p.warn(&format!("{key}={value} dropped: no rinit equivalent")),
    }
}

/// Over 50 lines: one arm per `[Service]` option, which reads best as a
/// single table. Err is what is wrong with the value.
pub fn service_option(p: &mut Program, entry: &Entry, unit: &UnitName, notify: bool) -> Result<(), String> {
    let (key, value) = (entry.key.as_str(), entry.value.as_str());
    match key {
        "ExecStart" | "ExecStartPre" | "Sockets" | "RemainAfterExit" | "PIDFile" | "GuessMainPID" => {}
        "Type" => service_type(p, value),
        "User" | "Group" => {
            let value = resolve(value, unit, p, true);
            p.text(&key.to_ascii_lowercase(), &value);
        }
        "UMask" => p.text("umask", value),
        "WorkingDirectory" => {
            if value.starts_with('-') {
                p.warn("WorkingDirectory=- made the folder optional; rinit needs it to exist");
            }
            let value = match value.trim_start_matches('-') {
                "~" => "${HOME}".to_string(),
                folder => resolve(folder, unit, p, true),
            };
            p.text("directory", &value);
        }
        "Environment" => {
            // systemd splits the line, then resolves specifiers in each word.
            for word in words(value)? {
                let word = resolve(&word, unit, p, true);
                let (k, v) = word.split_once('=').ok_or(format!("{word:?} is not NAME=value"))?;
                p.env(k, v.to_string());
            }
        }
        "EnvironmentFile" => env_file(p, value, unit),
        "LoadCredential" => load_credential(p, value),
        "Restart" if value == "on-watchdog" => p.warn("Restart=on-watchdog dropped: rinit has no watchdog; use health = { ... }"),
        "WatchdogSec" => p.warn(&format!("WatchdogSec={value} dropped: rinit has no watchdog; use health = {{ ... }}")),
        "Restart" => p.text("restart", value),
        "RestartSec" => match span(value) {
            Some(delay) => {
                p.text("restart_delay", &delay);
                p.text("restart_max_delay", &delay);
                p.note("restart_max_delay = restart_delay, since systemd waits the same each time");
            }
            None => return Err(format!("{value:?} is not a time span")),
        },
        "StartLimitInterval" | "StartLimitIntervalSec" | "StartLimitBurst" => start_limit(p, entry),
        "SuccessExitStatus" => {
            let mut codes = vec![0u8];
            for word in words(value)? {
                match word.parse::<u8>() {
                    Ok(code) if !codes.contains(&code) => codes.push(code),
                    Ok(_) => {}
                    Err(_) => p.warn(&format!("SuccessExitStatus {word} dropped: rinit takes exit codes only")),
                }
            }
            p.set("success_exit_codes", super::text::codes(&codes));
        }
        "KillSignal" => p.text("stop_signal", value),
        "KillMode" if value == "control-group" => p.set("stop_group", "true".into()),
        "KillMode" if value == "mixed" => {}
        "KillMode" => p.warn(&format!(
            "KillMode={value} dropped: rinit sends SIGKILL to the whole process group at stop_timeout"
        )),
        "TimeoutStopSec" | "TimeoutSec" | "TimeoutStartSec" => timeouts(p, key, value, notify),
        "ExecReload" => {
            let reload = reload_signal(value).unwrap_or("SIGNAL");
            let name = p.name.clone();
            p.note(&format!("ExecReload dropped: reload it with rinit signal {reload} {name}"));
        }
        "ExecStop" | "ExecStopPost" | "ExecStartPost" | "ExecCondition" => p.warn(&format!(
            "{key}={value} dropped: rinit does not run it{}",
            if key == "ExecStop" { "; it stops the program with stop_signal" } else { "" }
        )),
        "RuntimeDirectory" | "StateDirectory" | "CacheDirectory" | "LogsDirectory" | "ConfigurationDirectory" => {
            p.warn(&format!(
                "{key}={value} dropped: systemd made the folder (owned by User=) before the start; rinit does not: make it in the image"
            ))
        }
        "Nice" | "OOMScoreAdjust" => priority(p, key, value),
        _ if key.starts_with("Limit") => resource_limit(p, key, value),
        _ if LIMITS.contains(&key) => p.limit(key),
        _ if INERT.contains(&key) => p.inert(key),
        _ => p.warn(&format!("{key}={value} dropped: no rinit equivalent")),
    }
    Ok(())
}

/// `LoadCredential=ID:PATH`: the value of `ID` read from PATH at each start
/// (the program finds it in its environment, not in a credentials folder).
fn load_credential(p: &mut Program, value: &str) {
    match value.split_once(':') {
        Some((id, path)) if !id.is_empty() && path.starts_with('/') => {
            p.env_file_value(id, path);
            p.warn(&format!(
                "LoadCredential={value} became env {id} = {{ file = {path:?} }}: the program reads the secret \
                 from ${id}, not from $CREDENTIALS_DIRECTORY/{id}"
            ));
        }
        _ => p.warn(&format!(
            "LoadCredential={value} dropped: rinit takes ID:/absolute/path"
        )),
    }
}

/// `Nice=` and `OOMScoreAdjust=`: `nice` and `oom_score_adj`.
fn priority(p: &mut Program, key: &str, value: &str) {
    let (name, range) = if key == "Nice" {
        ("nice", -20..=19)
    } else {
        ("oom_score_adj", -1000..=1000)
    };
    match value.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => p.set(name, n.to_string()),
        _ => p.warn(&format!(
            "{key}={value} dropped: not a number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

/// `LimitNOFILE=65536`, `LimitNPROC=512:1024`, `LimitCORE=infinity`: the
/// rinit limit; a value with units (`4K`, `10min`) is dropped with a warning.
fn resource_limit(p: &mut Program, key: &str, value: &str) {
    let name = key.trim_start_matches("Limit").to_ascii_lowercase();
    let known = crate::pid1::limits::NAMES.iter().any(|(n, _)| *n == name);
    let one = |v: &str| match v.trim() {
        "infinity" => Some("unlimited".to_string()),
        v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some(v.to_string()),
        _ => None,
    };
    let toml = match value.split_once(':') {
        Some((soft, hard)) => one(soft).zip(one(hard)).map(|(s, h)| format!("\"{s}:{h}\"")),
        None => one(value).map(|v| {
            if v == "unlimited" {
                "\"unlimited\"".into()
            } else {
                v
            }
        }),
    };
    match (known, toml) {
        (true, Some(toml)) => p.resource_limit(&name, toml),
        _ => p.warn(&format!(
            "{key}={value} dropped: rinit takes numbers, infinity or SOFT:HARD (no units)"
        )),
    }
}

/// The signal of an `ExecReload=` that is `kill -SIG $MAINPID`.
fn reload_signal(value: &str) -> Option<&str> {
    let words: Vec<&str> = value
        .trim_start_matches(['-', '@', '+', '!', ':'])
        .split_whitespace()
        .collect();
    match words.as_slice() {
        [kill, "-s", signal, "$MAINPID" | "${MAINPID}"] if kill.ends_with("kill") => Some(signal),
        [kill, signal, "$MAINPID" | "${MAINPID}"] if kill.ends_with("kill") => signal.strip_prefix('-'),
        _ => None,
    }
}

/// `Type=`: forking cannot work as written (the command leaves the
/// foreground); the name of the foreground command where it is known.
fn service_type(p: &mut Program, value: &str) {
    match value {
        "simple" | "exec" | "idle" => p.text("type", "simple"),
        "notify" | "notify-reload" => p.text("type", "notify"),
        "oneshot" => {
            p.text("type", "oneshot");
            p.oneshot = true;
        }
        "dbus" => {
            p.text("type", "simple");
            p.warn(
                "Type=dbus became simple: rinit does not wait for its D-Bus name before what comes after it",
            );
        }
        "forking" => {
            let hint = p.command_hint.as_deref().and_then(shell::foreground_hint);
            p.error(&format!(
                "Type=forking: its command starts the program in the background and exits, which rinit takes for the \
                 program's end; {}",
                hint.unwrap_or("run the command that stays in the foreground (its no-daemon option)")
            ));
        }
        _ => p.warn(&format!("Type={value} dropped: not a type rinit import knows")),
    }
}

/// `EnvironmentFile=`: rinit takes one, which must exist, and expands no
/// variable in its path.
fn env_file(p: &mut Program, value: &str, unit: &UnitName) {
    if p.has("env_file") {
        p.warn(&format!(
            "EnvironmentFile={value} dropped: rinit takes one env_file; merge the files"
        ));
        return;
    }
    if value.starts_with('-') {
        p.warn("EnvironmentFile=- made the file optional; rinit needs it to exist");
    }
    let path = resolve(value.trim_start_matches('-'), unit, p, false);
    if path.contains("${") {
        p.warn(&format!(
            "EnvironmentFile={value} dropped: rinit expands no variable in env_file"
        ));
        return;
    }
    p.text("env_file", &path);
}

/// `TimeoutStopSec` → `stop_timeout`, `TimeoutStartSec` → `ready_timeout`
/// (notify only), `TimeoutSec` → both.
fn timeouts(p: &mut Program, key: &str, value: &str, notify: bool) {
    let (Some(text), Some(ms)) = (span(value), span_ms(value)) else {
        p.warn(&format!("{key}={value} dropped: rinit needs a finite time"));
        return;
    };
    if key != "TimeoutStartSec" {
        p.stop_timeout(&text, ms);
    }
    if key != "TimeoutStopSec" && notify {
        p.text("ready_timeout", &text);
    } else if key == "TimeoutStartSec" {
        p.note(&format!(
            "{key} dropped: rinit times the start of notify programs and ready checks only"
        ));
    }
}

/// `StartLimitIntervalSec` (or the older `StartLimitInterval`) and
/// `StartLimitBurst`; an interval of 0 turns the limit off.
fn start_limit(p: &mut Program, entry: &Entry) {
    let value = entry.value.as_str();
    let interval = entry.key.starts_with("StartLimitInterval");
    if interval && span(value).as_deref() == Some("0") {
        p.set("start_limit_burst", "0".into());
        p.limitless = true;
        return;
    }
    if p.limitless {
        return;
    }
    let set = match interval {
        false => value
            .parse::<u32>()
            .ok()
            .map(|n| p.set("start_limit_burst", n.to_string())),
        true => span(value).map(|s| p.text("start_limit_interval", &s)),
    };
    if set.is_none() {
        p.warn(&format!(
            "{}={value} dropped: not a number or time span",
            entry.key
        ));
    }
}
