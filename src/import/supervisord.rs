//! supervisord configurations: `[include]` followed (absolute patterns under
//! `--root DIR` when given), then each `[program:x]` mapped option by option
//! as docs/import.md says. The other sections are supervisord_sections.rs's.

use std::path::{Path, PathBuf};

use super::ini::{self, Entry, Section};
use super::model::{Import, Program};
use super::shell::{self, Dialect};
use super::supervisord_sections as sections;
use super::supervisord_values::{boolean, environment, expand, glob_match, render, segments, Context};
use super::text::{name, sh_command};

/// One file read: its sections, the folder its includes are relative to,
/// and that folder as the image sees it (`%(here)s`).
pub struct Source {
    pub file: String,
    pub dir: PathBuf,
    pub here: String,
    pub sections: Vec<Section>,
}

/// The options whose `%(name)s` forms rinit import expands.
const EXPANDED: [&str; 4] = ["directory", "user", "numprocs", "environment"];

/// Options rinit cannot take a variable in: (option, rinit's key, the
/// default used when a `%(ENV_X)s` makes it unknown until the start).
const FIXED: [(&str, &str, &str); 13] = [
    ("autostart", "autostart", "autostart = true"),
    (
        "autorestart",
        "restart",
        "restart = \"on-failure\" (supervisord's default, unexpected)",
    ),
    (
        "priority",
        "after",
        "no start order (supervisord's default priority, 999)",
    ),
    (
        "startsecs",
        "start_limit_interval",
        "rinit's start limit, 5 starts in 10s",
    ),
    (
        "startretries",
        "start_limit_burst",
        "rinit's start limit, 5 starts in 10s",
    ),
    ("exitcodes", "success_exit_codes", "success_exit_codes = [0]"),
    ("stopsignal", "stop_signal", "stop_signal = \"TERM\""),
    ("stopwaitsecs", "stop_timeout", "stop_timeout = \"7s\""),
    ("stopasgroup", "stop_group", "stop_group = false"),
    ("killasgroup", "stop_group", "SIGKILL to the whole process group"),
    ("redirect_stderr", "output", "stderr kept apart from stdout"),
    ("umask", "umask", "rinit's own umask"),
    ("numprocs_start", "instances", "copies numbered from 0"),
];

/// What the programs need from each other: priorities.
pub struct Seen {
    pub name: String,
    pub priority: i64,
    pub autostart: bool,
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
    let mut user = None;
    let mut later = Vec::new();
    for source in &sources {
        for section in &source.sections {
            let (kind, raw) = section.name.split_once(':').unwrap_or((&section.name, ""));
            match kind {
                "program" => seen.push(program(raw, section, source, &sources, import)?),
                "group" | "eventlistener" => later.push((kind, raw, section, source)),
                "supervisord" => user = sections::supervisord(section, source, import)?,
                _ => sections::other(kind, section, source, import),
            }
        }
    }
    for (kind, raw, section, source) in later {
        match kind {
            "group" => sections::group(raw, section, source, import)?,
            _ => sections::listener(raw, section, source, import, first),
        }
    }
    // `first` was the length of `programs`, which only grows.
    let added = import.programs.get_mut(first..).unwrap_or_default();
    if let Some((user, file)) = user {
        for p in added.iter_mut().filter(|p| !p.has("user")) {
            p.text("user", &user);
            p.note(&format!(
                "user = {user:?} from {file}'s [supervisord] user, which ran every program"
            ));
        }
    }
    for (limit, value, setting) in std::mem::take(&mut import.minimum_limits) {
        for p in import.programs.get_mut(first..).unwrap_or_default() {
            p.resource_limit(limit, value.clone());
            p.note(&format!(
                "limits {limit} = {value} from {setting}, which supervisord's programs inherited"
            ));
        }
    }
    let added = import.programs.get_mut(first..).unwrap_or_default();
    if priorities(&seen, added) {
        import.file(&path.display().to_string()).note(
            "priority became after: each program waits until those of the next lower priority are ready",
        );
    }
    Ok(())
}

/// `path` and, in order after it, the files its `[include] files` name.
/// Over 50 lines: the patterns, the rule for nested includes and `--root`
/// read best in one piece.
fn load(
    path: &Path,
    text: &str,
    depth: u32,
    sources: &mut Vec<Source>,
    import: &mut Import,
) -> Result<(), String> {
    let file = path.display().to_string();
    let sections = ini::parse(text, &file, false)?;
    let dir = folder(path);
    let here = image_path(&dir, import.root.as_deref());
    let real = dir.to_string_lossy().into_owned();
    let includes: Vec<(usize, String)> = sections
        .iter()
        .filter(|s| s.name == "include")
        .filter_map(|s| Some((s.line, s.get("files")?)))
        .flat_map(|(line, f)| f.split_whitespace().map(move |p| (line, p)))
        .map(|(line, p)| (line, p.replace("%(here)s", &real)))
        .collect();
    sources.push(Source {
        file: file.clone(),
        dir: dir.clone(),
        here,
        sections,
    });
    if depth > 0 && !includes.is_empty() {
        // supervisord follows [include] in its main file only: so does
        // rinit, which also keeps a file that includes its own folder
        // from fanning out.
        let line = includes.first().map_or(0, |i| i.0);
        import
            .file(&file)
            .at(line)
            .warn("[include] in an included file is not followed (supervisord does not follow it either)");
        return Ok(());
    }
    for (line, pattern) in includes {
        let root = import.root.clone();
        let under_root = root.as_ref().filter(|_| pattern.starts_with('/'));
        let full = match under_root {
            Some(root) => root.join(pattern.trim_start_matches('/')),
            None => dir.join(&pattern),
        };
        let found = matches(&full);
        if found.is_empty() {
            let hint = match (&under_root, pattern.starts_with('/')) {
                (Some(root), _) => format!(" under --root {}", root.display()),
                (None, true) => {
                    ": an absolute path is read on this machine; give the image's files with --root DIR"
                        .into()
                }
                (None, false) => String::new(),
            };
            import.file(&file).at(line).warn(&format!(
                "[include] files = {pattern} matches no file{hint}, so its programs are missing"
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

/// `dir` as the image sees it: under `--root DIR`, the path from DIR.
fn image_path(dir: &Path, root: Option<&Path>) -> String {
    let root = root.and_then(|r| std::fs::canonicalize(r).ok());
    match root.as_deref().and_then(|r| dir.strip_prefix(r).ok()) {
        Some(inside) => Path::new("/").join(inside).to_string_lossy().into_owned(),
        None => dir.to_string_lossy().into_owned(),
    }
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
    let (name, renamed) = name(raw);
    let mut p = Program::new(name, &source.file);
    p.at(section.line);
    if let Some(renamed) = renamed {
        p.note(&renamed);
    }
    let numprocs = section.get("numprocs").unwrap_or("1");
    let ctx = Context {
        program: raw,
        group: group_of(raw, all),
        here: &source.here,
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
        p.at(entry.line);
        let key = entry.key.as_str();
        if let Some((_, rinit_key, default)) = FIXED.iter().find(|f| f.0 == key) {
            if entry.value.contains("%(ENV_") {
                p.warn(&format!(
                    "{key}={} dropped: its value is known only when the container starts, and rinit's {rinit_key} takes no variables; the default is used: {default}",
                    entry.value
                ));
                continue;
            }
        }
        let bad = |what: &str| {
            format!(
                "{}:{}: {}: {what}, not {:?}",
                source.file, entry.line, entry.key, entry.value
            )
        };
        match key {
            "priority" => seen.priority = entry.value.parse().map_err(|_| bad("expected a number"))?,
            "autostart" => {
                seen.autostart = boolean(&entry.value).ok_or_else(|| bad("expected true or false"))?
            }
            "command" => {
                command(&mut p, &entry.value, &Context { command: true, ..ctx });
                continue;
            }
            _ => {}
        }
        let value = match EXPANDED.contains(&key) {
            true => expand(&entry.value, &ctx, &mut p),
            false => entry.value.clone(),
        };
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

/// `command`: as it is, or under `sh -c` where an unquoted `%(ENV_X)s`
/// must be split into words (supervisord substitutes the text, then splits
/// the command; rinit keeps a `${X}` one word).
fn command(p: &mut Program, raw: &str, ctx: &Context) {
    let segs = segments(raw, ctx, p);
    if shell::celery_multi(raw) {
        p.error(shell::CELERY_MULTI);
    }
    let words = shell::words(&segs, Dialect::Shlex).unwrap_or_default();
    if !shell::splits(&words) {
        p.text("command", &render(&segs));
        return;
    }
    p.set(
        "command",
        sh_command(&format!("set -f; exec {}", shell::sh_words(&words))),
    );
    let split: Vec<String> = words
        .iter()
        .flatten()
        .filter_map(|part| match part {
            shell::Part::Var { name, split: true } => Some(format!("%(ENV_{name})s")),
            _ => None,
        })
        .collect();
    p.note(&format!(
        "command runs under sh -c, so that sh splits {} into words as supervisord does (set -f: no globbing; exec: the program stays the main process)",
        split.join(", ")
    ));
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
    let flag = || boolean(raw).ok_or("expected true or false");
    match key {
        "directory" | "user" | "umask" => p.text(key, value),
        "numprocs" if value.starts_with("${") => p.text("instances", value),
        "numprocs" => {
            let n: u32 = value.parse().map_err(|_| "expected a number")?;
            if n != 1 {
                p.set("instances", n.to_string());
            }
        }
        "process_name" => p.inert(key),
        "numprocs_start" if raw != "0" => p.warn(&format!(
            "numprocs_start={raw} dropped: rinit numbers the copies from 0 (RINIT_INSTANCE); add {raw} in the command where the number matters"
        )),
        "numprocs_start" | "priority" | "autostart" => {}
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
            p.set("success_exit_codes", super::text::codes(&codes));
        }
        "startsecs" | "startretries" if key == "startretries" && section.get("startsecs").is_some() => {}
        "startsecs" | "startretries" => start_limit(p, section)?,
        "stopsignal" => p.text("stop_signal", raw),
        "stopwaitsecs" => {
            let secs = raw.parse::<u32>().map_err(|_| "expected seconds")?;
            p.stop_timeout(&format!("{secs}s"), u64::from(secs).saturating_mul(1000));
        }
        "stopasgroup" if flag()? => p.set("stop_group", "true".into()),
        "killasgroup" if !flag()? => p.inert("killasgroup=false"),
        "stopasgroup" | "killasgroup" => {}
        "environment" => {
            for (k, v) in environment(value)? {
                p.env(&k, v);
            }
        }
        "redirect_stderr" if flag()? => p.inert("redirect_stderr"),
        "redirect_stderr" => {}
        _ if key.ends_with("_logfile")
            || key.ends_with("_logfile_maxbytes")
            || key.ends_with("_logfile_backups") =>
        {
            if !to_console(key, section) {
                p.inert(key);
            }
        }
        _ if key.ends_with("_capture_maxbytes")
            || key.ends_with("_events_enabled")
            || key.ends_with("_syslog")
            || key == "serverurl" =>
        {
            p.inert(key)
        }
        _ => p.warn(&format!("{key}={raw} dropped: not an option rinit import knows")),
    }
    Ok(())
}

/// Whether a `*_logfile*` option is about the container's stdout or
/// stderr, which is what rinit does anyway.
fn to_console(key: &str, section: &Section) -> bool {
    let log = key
        .strip_suffix("_maxbytes")
        .or(key.strip_suffix("_backups"))
        .unwrap_or(key);
    CONSOLE.contains(&section.get(log).unwrap_or(""))
}

/// startsecs and startretries as a start limit: supervisord gives up after
/// startretries+1 starts that each ended within startsecs.
fn start_limit(p: &mut Program, section: &Section) -> Result<(), String> {
    // A value known only at the start was dropped with a warning: its default.
    let value = |key: &str, default: &'static str| {
        section
            .get(key)
            .filter(|v| !v.contains("%(ENV_"))
            .unwrap_or(default)
    };
    let secs: u64 = value("startsecs", "1").parse().map_err(|_| "expected seconds")?;
    let retries: u64 = value("startretries", "3")
        .parse()
        .map_err(|_| "expected a number")?;
    if secs == 0 {
        p.set("start_limit_burst", "0".into());
        p.note("startsecs=0: no start limit, as supervisord never counts a start as failed");
        return Ok(());
    }
    let burst = retries.saturating_add(1);
    let interval = secs.saturating_mul(burst);
    p.set("start_limit_burst", burst.to_string());
    p.text("start_limit_interval", &format!("{interval}s"));
    p.note(&format!(
        "startsecs={secs}, startretries={retries} became at most {burst} starts in {interval}s"
    ));
    Ok(())
}

/// `priority` → `after`: each autostarted program after those of the next
/// lower priority, when there is more than one level. True when it did.
fn priorities(seen: &[Seen], programs: &mut [Program]) -> bool {
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
    ordered
}
