//! Procfiles (Heroku, foreman, honcho): one `name: command` line per
//! program. Procfile runners give each command to a shell; rinit runs it
//! directly unless it needs one (pipes, `&&`, redirections), and expands
//! `$PORT` itself as `${PORT}`.

use std::path::Path;

use super::{braces, clip, comment, literal, name, Import, Program};

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
                "{}:{}: expected a Procfile line name: command, found {:?}",
                path.display(),
                number,
                clip(line)
            ));
        };
        let mut program = self::program(raw, command);
        if raw == "release" {
            program.set("type", "\"oneshot\"".into());
            program
                .note("Heroku runs release once before the other processes start: a oneshot they come after");
            release = Some(program.name.clone());
        }
        import.add(program, false, &format!("{}:{}", path.display(), number))?;
    }
    if let Some(release) = release {
        // `first` was the length of `programs`, which only grows.
        let added = import.programs.get_mut(first..).unwrap_or_default();
        for program in added.iter_mut().filter(|p| p.name != release) {
            program.after.push(release.clone());
        }
    }
    if import.programs.len() == first {
        import
            .notes
            .push(comment(&format!("{}: no processes", path.display())));
    }
    Ok(())
}

/// The program for one line: the command as it is, or given to `sh -c`
/// where it needs a shell.
fn program(raw: &str, command: &str) -> Program {
    let mut lines = Vec::new();
    let mut program = Program::new(name(raw, &mut lines));
    program.lines = lines;
    if command.contains(['|', '&', ';', '<', '>', '`', '(']) {
        program.set(
            "command",
            super::list(&["sh".into(), "-c".into(), literal(command)]),
        );
        program.set("stop_group", "true".into());
        program.note(
            "run by sh, as Procfile runners do, since it needs a shell; stop_signal goes to the whole group",
        );
    } else {
        program.text("command", &braces(command, false));
    }
    if command.contains("$PORT") || command.contains("${PORT") {
        program
            .note("Heroku and foreman set PORT: set it in [env], in env, or in the container's environment");
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
