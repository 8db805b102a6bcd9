//! Crontabs: a user crontab (`m h dom mon dow command`) or the system
//! format of /etc/crontab and /etc/cron.d (a user column before the
//! command). Each line becomes a scheduled program whose command runs under
//! `sh -c` (or the crontab's SHELL) as cron runs it; `VAR=value` lines
//! become the environment of the lines after them, `CRON_TZ` their
//! `timezone`; MAILTO and the like are dropped with a note (output goes to
//! the container's log).

use std::path::Path;

use super::model::{Import, Program};
use super::text::{clip, list, literal, name};
use crate::schedule::When;

/// The crontab lines read so far that apply to the next entries.
#[derive(Default)]
struct Settings {
    env: Vec<(String, String)>,
    zone: Option<String>,
    shell: Option<String>,
}

/// Whether `line` (trimmed, not a comment) is a crontab entry or setting.
pub fn looks_like(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    let cron_field = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b"*/,-".contains(&b));
    first.starts_with('@') || cron_field(first) || assignment(line).is_some()
}

/// `NAME=value` (value optionally quoted), cron's environment setting.
fn assignment(line: &str) -> Option<(&str, String)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let value = value.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|&q| value.strip_prefix(q)?.strip_suffix(q));
    valid.then(|| (name, unquoted.unwrap_or(value).to_string()))
}

/// Whether `path` is in the system format (a user column): /etc/crontab,
/// or a file in a cron.d folder. (So is a file whose first entry's user
/// column is `root`.)
fn system_format(path: &Path) -> bool {
    let parent = path.parent().and_then(Path::file_name).and_then(|n| n.to_str());
    let file = path.file_name().and_then(|n| n.to_str());
    parent == Some("cron.d") || (file == Some("crontab") && parent == Some("etc"))
}

pub fn import(path: &Path, text: &str, import: &mut Import) -> Result<(), String> {
    let file = path.display().to_string();
    let mut system = system_format(path);
    let first = import.programs.len();
    let mut settings = Settings::default();
    for (i, line) in text.lines().enumerate() {
        let number = i.saturating_add(1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| format!("{file}:{number}: {why}");
        if let Some((key, value)) = assignment(line).filter(|_| !line.starts_with('@')) {
            setting(key, value, &mut settings, import.file(&file).at(number));
            continue;
        }
        let (schedule, rest) = split_schedule(line).ok_or_else(|| {
            at(format!(
                "expected a crontab line (five fields or @daily, then the command), found {:?}",
                clip(line)
            ))
        })?;
        When::parse(&schedule).map_err(|why| at(format!("schedule {schedule:?}: {why}")))?;
        // A first entry whose command starts with `root` is the system format.
        system |= import.programs.len() == first && rest.split_whitespace().next() == Some("root");
        let (user, command) = match system {
            true => rest
                .split_once(char::is_whitespace)
                .map(|(u, c)| (Some(u), c.trim()))
                .unwrap_or((Some(rest), "")),
            false => (None, rest),
        };
        if command.is_empty() {
            return Err(at("no command after the schedule".into()));
        }
        let program = entry(&schedule, user, command, &settings, &file, number, import);
        import.add(program, false, &format!("{file}:{number}"))?;
    }
    if import.programs.len() == first {
        import.file(&file).warn("no entries");
        return Ok(());
    }
    let notes = import.file(&file);
    if !system {
        notes.note("a user crontab runs as its owner: set user if that is not rinit's user");
    }
    notes.note(
        "cron starts a run even while the last still runs; rinit skips that time (overlap = \"skip\"): \
         set overlap = \"queue\" to keep every run",
    );
    Ok(())
}

/// A `NAME=value` line: the environment of the entries after it.
fn setting(key: &str, value: String, settings: &mut Settings, file: &mut Program) {
    match key {
        "CRON_TZ" => settings.zone = Some(value),
        "SHELL" => settings.shell = Some(value),
        "MAILTO" | "MAILFROM" | "CONTENT_TYPE" | "CONTENT_TRANSFER_ENCODING" => file.note(&format!(
            "dropped {key}: rinit mails nothing, the runs' output goes to the container's log"
        )),
        _ => {
            settings.env.retain(|(k, _)| k != key);
            settings.env.push((key.to_string(), value));
        }
    }
}

/// The schedule (five fields, or an `@` word) and the rest of the line.
fn split_schedule(line: &str) -> Option<(String, &str)> {
    let fields = if line.starts_with('@') { 1 } else { 5 };
    let mut rest = line;
    let mut words = Vec::with_capacity(fields);
    for _ in 0..fields {
        let trimmed = rest.trim_start();
        let end = trimmed.find(char::is_whitespace)?;
        let (word, after) = trimmed.split_at_checked(end)?;
        words.push(word);
        rest = after;
    }
    Some((words.join(" "), rest.trim()))
}

/// The program for one entry.
fn entry(
    schedule: &str,
    user: Option<&str>,
    command: &str,
    settings: &Settings,
    file: &str,
    number: usize,
    import: &Import,
) -> Program {
    let mut program = Program::new(program_name(command, import), file);
    program.at(number);
    program.text("schedule", schedule);
    if let Some(zone) = &settings.zone {
        program.text("timezone", zone);
    }
    match user {
        Some("root") | None => {}
        Some(user) => program.text("user", user),
    }
    // cron: `\%` is a %, an unescaped % ends the command (the rest is its stdin).
    let unescaped = command.replace("\\%", "");
    if unescaped.contains('%') {
        program.error(
            "cron turns the text after an unescaped % into the command's standard input, which rinit cannot give: \
             write it as printf '...' | command, or escape the % as \\%",
        );
    }
    let script = command.replace("\\%", "%");
    let shell = settings.shell.as_deref().unwrap_or("sh");
    program.set(
        "command",
        list(&[shell.to_string(), "-c".into(), literal(&script)]),
    );
    for (key, value) in &settings.env {
        program.env(key, literal(value));
    }
    program
}

/// A name for the program that runs `command`: the command's first word,
/// or the script an interpreter runs (`python3 manage.py` is manage),
/// without its folder and extension; unique among what is imported
/// (backup, backup_2, ...).
fn program_name(command: &str, import: &Import) -> String {
    let words = command
        .split_whitespace()
        .filter(|w| !w.contains('=') && !w.starts_with('-'));
    let words: Vec<&str> = words.map(|w| w.rsplit('/').next().unwrap_or(w)).collect();
    let interpreter = |w: &&str| {
        let w = w.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        [
            "python", "php", "node", "ruby", "perl", "sh", "bash", "nice", "ionice", "flock", "timeout",
            "env",
        ]
        .contains(&w)
    };
    let first_word = words
        .iter()
        .find(|w| !interpreter(w))
        .or(words.first())
        .copied()
        .unwrap_or("job");
    let stem = first_word.split_once('.').map_or(first_word, |(stem, _)| stem);
    let (base, _) = name(if stem.is_empty() { "job" } else { stem });
    let mut candidate = base.clone();
    let mut n: u32 = 1;
    while import.programs.iter().any(|p| p.name == candidate) {
        n = n.saturating_add(1);
        candidate = format!("{base}_{n}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_crontab_lines() {
        assert!(looks_like("*/5 * * * * /usr/bin/backup"));
        assert!(looks_like("@daily backup"));
        assert!(looks_like("MAILTO=\"\""));
        assert!(!looks_like("web: gunicorn app"));
        assert_eq!(assignment("A = 'x y'"), Some(("A", "x y".to_string())));
        assert_eq!(assignment("bad name=x"), None);
        assert_eq!(
            split_schedule("*/5  *  * * 1-5  run it now"),
            Some(("*/5 * * * 1-5".to_string(), "run it now"))
        );
        assert_eq!(
            split_schedule("@reboot  x y"),
            Some(("@reboot".to_string(), "x y"))
        );
        assert_eq!(split_schedule("* * *"), None);
        assert!(system_format(Path::new("/etc/crontab")));
        assert!(system_format(Path::new("/etc/cron.d/backup")));
        assert!(!system_format(Path::new("crontab")));
    }
}
