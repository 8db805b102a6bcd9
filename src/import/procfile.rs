//! Procfiles (Heroku, foreman, honcho): one `name: command` line per
//! program. Procfile runners give each line to `sh -c`; rinit runs a line
//! of plain words directly (it splits them as sh would), and any other under
//! `sh -c` too: with `exec` where it is one simple command, so that the
//! program stays the main process.

use std::path::Path;

use super::model::{Import, Program};
use super::shell::{self, Line};
use super::text::{clip, name, sh_command};

/// `name: command`, the shape of a Procfile line.
pub fn entry(line: &str) -> Option<(&str, &str)> {
    let (name, command) = line.split_once(':')?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (ok && !command.trim().is_empty()).then(|| (name, command.trim()))
}

pub fn import(path: &Path, text: &str, import: &mut Import) -> Result<(), String> {
    let file = path.display().to_string();
    let first = import.programs.len();
    let mut release = None;
    for (i, line) in text.lines().enumerate() {
        let number = i.saturating_add(1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((raw, command)) = entry(line) else {
            return Err(format!(
                "{file}:{number}: expected a Procfile line name: command, found {:?}",
                clip(line)
            ));
        };
        let mut program = self::program(raw, command, &file, number);
        if raw == "release" {
            program.set("type", "\"oneshot\"".into());
            program.oneshot = true;
            program
                .note("Heroku runs release once before the other processes start: a oneshot they come after");
            release = Some(program.name.clone());
        }
        import.add(program, false, &format!("{file}:{number}"))?;
    }
    if let Some(release) = release {
        // `first` was the length of `programs`, which only grows.
        let added = import.programs.get_mut(first..).unwrap_or_default();
        for program in added.iter_mut().filter(|p| p.name != release) {
            program.after.push(release.clone());
        }
    }
    if import.programs.len() == first {
        import.file(&file).warn("no processes");
    }
    Ok(())
}

/// The program for one line: the command as it is where it is plain words,
/// else given to `sh -c` as Procfile runners do.
fn program(raw: &str, command: &str, file: &str, number: usize) -> Program {
    let (name, renamed) = name(raw);
    let mut program = Program::new(name, file);
    program.at(number);
    if let Some(renamed) = renamed {
        program.note(&renamed);
    }
    match shell::procfile_line(command) {
        Line::Plain => program.text("command", command),
        Line::Simple(at) => {
            let (assignments, rest) = command.split_at_checked(at).unwrap_or(("", command));
            program.set("command", sh_command(&format!("{assignments}exec {rest}")));
            program.note("run by sh -c as Procfile runners run it, with exec so that the program stays the main process");
        }
        Line::Compound => {
            program.set("command", sh_command(command));
            program.set("stop_group", "true".into());
            program.note(
                "run by sh -c as Procfile runners run it; several commands, so stop_signal goes to the whole group",
            );
        }
    }
    if shell::celery_multi(command) {
        program.error(shell::CELERY_MULTI);
    }
    if command.contains("$PORT") || command.contains("${PORT") {
        program
            .warn("Heroku and foreman set PORT: set it in [env], in env, or in the container's environment");
    }
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_procfile_lines() {
        assert_eq!(entry("web: gunicorn app:app"), Some(("web", "gunicorn app:app")));
        assert_eq!(entry("web:"), None);
        assert_eq!(entry("my web: x"), None);
        let mut import = Import::default();
        let err = super::import(Path::new("Procfile"), "web: a\nbad line\n", &mut import).unwrap_err();
        assert_eq!(
            err,
            "Procfile:2: expected a Procfile line name: command, found \"bad line\""
        );
    }
}
