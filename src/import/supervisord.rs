//! supervisord configurations: `[include]` followed, then `[program:x]`,
//! `[group:x]`, `[eventlistener:x]` and `[supervisord] environment` mapped
//! as docs/migrating-from-supervisord.md says; the rest becomes comments.

use std::path::{Path, PathBuf};

use super::ini::{self, Entry, Section};
use super::supervisord_values::{boolean, environment, expand, glob_match, Context};
use super::{comment, list, name, Import, Program};

/// One file read, with the folder its `%(here)s` and includes are relative to.
struct Source {
    file: String,
    here: PathBuf,
    sections: Vec<Section>,
}

/// The options whose `%(name)s` forms rinit import expands.
const EXPANDED: [&str; 6] = ["command", "directory", "user", "umask", "numprocs", "environment"];

/// What the programs need from each other: priorities and listeners.
struct Seen {
    name: String,
    priority: i64,
    autostart: bool,
}

const CONSOLE: [&str; 6] = [
    "/dev/stdout",
    "/dev/stderr",
    "/dev/fd/1",
    "/dev/fd/2",
    "/proc/self/fd/1",
    "/proc/self/fd/2",
];

pub fn import(path: &Path, text: &str, import: &mut Import) -> Result<(), String> {
    let mut sources = Vec::new();
    load(path, text, 0, &mut sources, import)?;
    let first = import.programs.len();
    let mut seen = Vec::new();
    let mut critical: Vec<(String, Vec<String>)> = Vec::new();
    let mut groups = Vec::new();
    for source in &sources {
        for section in &source.sections {
            let (kind, raw) = section.name.split_once(':').unwrap_or((&section.name, ""));
            match kind {
                "program" => seen.push(program(raw, section, source, &sources, import)?),
                "group" => groups.push((raw, section, &source.file)),
                "eventlistener" => listener(raw, section, import, &mut critical),
                "supervisord" => supervisord(section, source, import)?,
                "include" => {}
                "unix_http_server" | "inet_http_server" | "supervisorctl" | "rpcinterface" => import.note(
                    &format!("[{}] dropped: rinit's control socket ([rinit] control_socket, default /run/rinit.sock) serves rinit status, signal, start, stop and restart; [rinit] http = \"IP:PORT\" a read-only status page and metrics (no XML-RPC)", section.name),
                ),
                _ => import.note(&format!("[{}] dropped: no rinit equivalent", section.name)),
            }
        }
    }
    for (raw, section, file) in groups {
        group(raw, section, file, import)?;
    }
    // `first` was the length of `programs`, which only grows.
    let added = import.programs.get_mut(first..).unwrap_or_default();
    priorities(&seen, added, &mut import.notes);
    for (listener, watched) in critical {
        for program in import.programs.get_mut(first..).unwrap_or_default() {
            if watched.is_empty() || watched.contains(&program.name) {
                program.set("critical", "true".into());
                program.note(&format!("critical = true from [eventlistener:{listener}]: when this program fails for good, the container ends"));
            }
        }
    }
    Ok(())
}

/// `path` and, in order after it, the files its `[include] files` name.
fn load(
    path: &Path,
    text: &str,
    depth: u32,
    sources: &mut Vec<Source>,
    import: &mut Import,
) -> Result<(), String> {
    let file = path.display().to_string();
    let sections = ini::parse(text, &file, false)?;
    let here = folder(path);
    let patterns: Vec<String> = sections
        .iter()
        .filter(|s| s.name == "include")
        .filter_map(|s| s.get("files"))
        .flat_map(|f| {
            f.split_whitespace()
                .map(|p| p.replace("%(here)s", &here.to_string_lossy()))
        })
        .collect();
    sources.push(Source {
        file,
        here: here.clone(),
        sections,
    });
    if depth > 0 && !patterns.is_empty() {
        // supervisord follows [include] in its main file only: so does
        // rinit, which also keeps a file that includes its own folder
        // from fanning out.
        let message = format!(
            "{}: [include] in an included file is not followed (supervisord does not follow it either)",
            path.display()
        );
        warn!("{message}");
        import.note(&message);
        return Ok(());
    }
    for pattern in patterns {
        let found = matches(&here.join(&pattern));
        if found.is_empty() {
            warn!("{}: [include] files {pattern} matches no file", path.display());
            import.note(&format!(
                "{}: [include] files {pattern} matches no file",
                path.display()
            ));
        }
        for included in found {
            let text = super::read(&included)?;
            load(&included, &text, depth.saturating_add(1), sources, import)?;
        }
    }
    Ok(())
}

/// The files `pattern` names: `*` and `?` in its last part, sorted.
fn matches(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(wanted)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let wanted = wanted.as_encoded_bytes();
    let matching = entries
        .flatten()
        .filter(|e| glob_match(wanted, e.file_name().as_encoded_bytes()) && e.path().is_file())
        .map(|e| e.path());
    // Insertion sort: a folder of config files is short, and it costs no code.
    let mut found: Vec<PathBuf> = Vec::new();
    for path in matching {
        let place = found.partition_point(|p| p.as_os_str() <= path.as_os_str());
        found.insert(place, path);
    }
    found
}

/// The folder of `path`, absolute where it can be.
fn folder(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// `[program:x]` → `[program.x]`, one option at a time. Over 50 lines: the
/// expansion context and what priorities need are gathered on the way.
fn program(
    raw: &str,
    section: &Section,
    source: &Source,
    all: &[Source],
    import: &mut Import,
) -> Result<Seen, String> {
    let mut notes = Vec::new();
    let mut p = Program::new(name(raw, &mut notes));
    p.lines = notes;
    let numprocs = section.get("numprocs").unwrap_or("1");
    let here = source.here.to_string_lossy();
    let ctx = Context {
        program: raw,
        group: group_of(raw, all),
        here: &here,
        numprocs,
        instances: numprocs != "1",
        command: false,
    };
    let mut seen = Seen {
        name: p.name.clone(),
        priority: 999,
        autostart: true,
    };
    for entry in &section.entries {
        let value = match EXPANDED.contains(&entry.key.as_str()) {
            true => {
                let ctx = Context {
                    command: entry.key == "command",
                    ..ctx
                };
                expand(&entry.value, &ctx, &mut p.lines)
            }
            false => entry.value.clone(),
        };
        let bad = |what: &str| {
            format!(
                "{}:{}: {}: {what}, not {:?}",
                source.file, entry.line, entry.key, entry.value
            )
        };
        match entry.key.as_str() {
            "priority" => seen.priority = entry.value.parse().map_err(|_| bad("expected a number"))?,
            "autostart" => {
                seen.autostart = boolean(&entry.value).ok_or_else(|| bad("expected true or false"))?
            }
            _ => {}
        }
        option(&mut p, entry, &value, section).map_err(|e| bad(&e))?;
    }
    if section.get("command").is_none() {
        return Err(format!("{}: [program:{raw}] has no command=", source.file));
    }
    if !seen.autostart {
        p.set("autostart", "false".into());
    }
    import.add(p, false, &source.file)?;
    Ok(seen)
}

/// The name of the `[group:x]` that lists `program`, else its own.
fn group_of<'a>(program: &'a str, all: &'a [Source]) -> &'a str {
    let groups = all
        .iter()
        .flat_map(|s| &s.sections)
        .filter_map(|s| Some((s.name.strip_prefix("group:")?, s.get("programs")?)));
    groups
        .filter(|(_, members)| members.split(',').any(|m| m.trim() == program))
        .map(|(group, _)| group)
        .next()
        .unwrap_or(program)
}

/// Over 50 lines: one arm per supervisord option, which reads best as a
/// single table. Err is what is wrong with the value.
fn option(p: &mut Program, entry: &Entry, value: &str, section: &Section) -> Result<(), String> {
    let (key, raw) = (entry.key.as_str(), entry.value.as_str());
    let drop = |p: &mut Program, why: &str| p.dropped(key, raw, why);
    let flag = || boolean(raw).ok_or("expected true or false");
    match key {
        "command" => p.text("command", value),
        "directory" | "user" | "umask" => p.text(key, value),
        "numprocs" if value.starts_with("${") => p.text("instances", value),
        "numprocs" => {
            let n: u32 = value.parse().map_err(|_| "expected a number")?;
            if n != 1 {
                p.set("instances", n.to_string());
            }
        }
        "process_name" => drop(
            p,
            "rinit names the copies NAME.0, NAME.1 ... (RINIT_INSTANCE holds the number)",
        ),
        "numprocs_start" if raw != "0" => {
            drop(p, "RINIT_INSTANCE counts from 0; add the offset in the command")
        }
        "numprocs_start" => {}
        "priority" | "autostart" => {}
        "autorestart" => {
            let restart = match raw.to_ascii_lowercase().as_str() {
                "unexpected" => "on-failure",
                _ if flag()? => "always",
                _ => "no",
            };
            p.text("restart", restart);
        }
        "exitcodes" => {
            let codes: Result<Vec<u8>, _> = raw.split(',').map(|c| c.trim().parse::<u8>()).collect();
            let codes = codes.map_err(|_| "expected numbers 0-255 separated by commas")?;
            p.set("success_exit_codes", super::codes(&codes));
        }
        "startsecs" | "startretries" if key == "startretries" && section.get("startsecs").is_some() => {}
        "startsecs" | "startretries" => start_limit(p, section)?,
        "stopsignal" => p.text("stop_signal", raw),
        "stopwaitsecs" => p.text(
            "stop_timeout",
            &format!("{}s", raw.parse::<u32>().map_err(|_| "expected seconds")?),
        ),
        "stopasgroup" if flag()? => p.set("stop_group", "true".into()),
        "killasgroup" if !flag()? => drop(p, "rinit always sends SIGKILL to the whole process group"),
        "stopasgroup" | "killasgroup" => {}
        "environment" => {
            for (k, v) in environment(value)? {
                p.env(&k, v);
            }
        }
        "redirect_stderr" if flag()? => drop(
            p,
            "rinit keeps stderr apart; to merge it: command = [\"sh\", \"-c\", \"exec ... 2>&1\"]",
        ),
        "redirect_stderr" => {}
        _ if key.ends_with("_logfile")
            || key.ends_with("_logfile_maxbytes")
            || key.ends_with("_logfile_backups") =>
        {
            if let Some(why) = log_option(key, raw, section) {
                drop(p, why);
            }
        }
        "serverurl" => drop(p, "rinit has no XML-RPC server"),
        _ => drop(p, "no rinit equivalent"),
    }
    Ok(())
}

/// Why a `*_logfile*` option is dropped; None where rinit does the same:
/// the log file is the container's stdout or stderr.
fn log_option(key: &str, raw: &str, section: &Section) -> Option<&'static str> {
    let log = key
        .strip_suffix("_maxbytes")
        .or(key.strip_suffix("_backups"))
        .unwrap_or(key);
    if CONSOLE.contains(&section.get(log).unwrap_or("")) {
        return None;
    }
    Some(match (log == key, raw) {
        (true, "NONE") => "output = \"null\" discards both streams, if that is what you want",
        (true, _) => {
            "rinit writes to the container's stdout and stderr; use output = \"prefix\" and docker logs"
        }
        _ => "no log files to rotate; use docker's --log-opt max-size and max-file",
    })
}

/// startsecs and startretries as a start limit: supervisord gives up after
/// startretries+1 starts that each ended within startsecs.
fn start_limit(p: &mut Program, section: &Section) -> Result<(), String> {
    let secs: u64 = section
        .get("startsecs")
        .unwrap_or("1")
        .parse()
        .map_err(|_| "expected seconds")?;
    let retries: u64 = section
        .get("startretries")
        .unwrap_or("3")
        .parse()
        .map_err(|_| "expected a number")?;
    if secs == 0 {
        p.set("start_limit_burst", "0".into());
        p.note("startsecs=0: supervisord never counts a start as failed, so no start limit");
        return Ok(());
    }
    let burst = retries.saturating_add(1);
    p.set("start_limit_burst", burst.to_string());
    p.text(
        "start_limit_interval",
        &format!("{}s", secs.saturating_mul(burst)),
    );
    p.note(&format!(
        "startsecs={secs}, startretries={retries} became at most {burst} starts in {}s: supervisord gives up after \
         {burst} starts that each ended within {secs}s; to wait until the program is up, use ready = {{ tcp = ... }} \
         or type = \"notify\"",
        secs.saturating_mul(burst)
    ));
    Ok(())
}

/// `priority` → `after`: each autostarted program after those of the next
/// lower priority, when there is more than one level.
fn priorities(seen: &[Seen], programs: &mut [Program], notes: &mut Vec<String>) {
    let started = || seen.iter().filter(|s| s.autostart);
    let mut ordered = false;
    for (program, me) in programs.iter_mut().zip(seen).filter(|(_, s)| s.autostart) {
        let Some(lower) = started().map(|s| s.priority).filter(|&l| l < me.priority).max() else {
            continue;
        };
        program
            .after
            .extend(started().filter(|s| s.priority == lower).map(|s| s.name.clone()));
        ordered = true;
    }
    if ordered {
        notes.push(comment(
            "priority became after: each program waits for those of the next lower priority to be ready",
        ));
    }
}

/// `[group:x] programs=a,b` → `[group.x] programs = [...]`.
fn group(raw: &str, section: &Section, file: &str, import: &mut Import) -> Result<(), String> {
    let mut notes = Vec::new();
    let mut g = Program::new(name(raw, &mut notes));
    g.lines = notes;
    let mut members = Vec::new();
    for entry in &section.entries {
        match entry.key.as_str() {
            "programs" => {
                for member in entry.value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                    let member = name(member, &mut Vec::new());
                    if import.program(&member).is_some() {
                        members.push(member);
                    } else {
                        g.note(&format!("{member} left out: no such program"));
                    }
                }
            }
            _ => g.note(&format!(
                "{}={} dropped: no rinit equivalent for groups",
                entry.key, entry.value
            )),
        }
    }
    g.set("programs", list(&members));
    import.add(g, true, file)
}

/// `[eventlistener:x]`: one that acts on PROCESS_STATE_FATAL (crashmail,
/// "kill supervisord on fatal") makes the programs it watches critical.
fn listener(raw: &str, section: &Section, import: &mut Import, critical: &mut Vec<(String, Vec<String>)>) {
    let events = section.get("events").unwrap_or("");
    let command = section.get("command").unwrap_or("");
    let fatal = events
        .split(',')
        .any(|e| matches!(e.trim(), "PROCESS_STATE_FATAL" | "PROCESS_STATE"));
    if !fatal {
        import.note(&format!(
            "[eventlistener:{raw}] dropped: rinit has no events; output relays are output = \"prefix\""
        ));
        return;
    }
    let words = crate::config::shell_words::split(command).unwrap_or_default();
    let watched = words
        .windows(2)
        .filter_map(|pair| match pair {
            [flag, program] if flag == "-p" || flag == "--program" => Some(name(program, &mut Vec::new())),
            _ => None,
        })
        .collect();
    import.note(&format!(
        "[eventlistener:{raw}] command={command} acts on PROCESS_STATE_FATAL: instead, the programs it watches are critical"
    ));
    critical.push((raw.to_string(), watched));
}

/// `[supervisord]`: `environment` → `[env]`; the rest is supervisord's own.
fn supervisord(section: &Section, source: &Source, import: &mut Import) -> Result<(), String> {
    let mut dropped = Vec::new();
    for entry in &section.entries {
        if entry.key != "environment" {
            dropped.push(format!("{}={}", entry.key, entry.value));
            continue;
        }
        let here = source.here.to_string_lossy();
        let ctx = Context {
            program: "supervisord",
            group: "supervisord",
            here: &here,
            numprocs: "1",
            instances: false,
            command: false,
        };
        let value = expand(&entry.value, &ctx, &mut import.notes);
        let pairs =
            environment(&value).map_err(|e| format!("{}:{}: environment: {e}", source.file, entry.line))?;
        for (k, v) in pairs {
            import.env.env(&k, v);
        }
    }
    if !dropped.is_empty() {
        import.note(&format!(
            "[supervisord] {} dropped: rinit stays in the foreground, logs to stderr and writes no pid file",
            dropped.join(", ")
        ));
    }
    Ok(())
}
