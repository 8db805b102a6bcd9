//! `rinit import FILE...`: turns a supervisord configuration, systemd units, a
//! Procfile or a crontab into rinit TOML on stdout, and says on stderr what could not be
//! carried over, one finding a line (note, warning or error). This file owns
//! the entry points (the subcommand, and the in-memory import of a
//! supervisord configuration that `rinit -c` uses), the findings, and telling
//! the kinds of file apart.

mod crontab;
mod ini;
mod model;
mod procfile;
mod shell;
mod shutdown;
mod supervisord;
mod supervisord_sections;
mod supervisord_values;
mod systemd;
mod systemd_exec;
mod systemd_groups;
mod systemd_options;
mod systemd_values;
mod text;

use std::path::{Path, PathBuf};

use crate::config::input;
use model::Import;

/// How much a finding matters: a note changes nothing that runs, a warning
/// changes behaviour (and says how), an error is a program that cannot work
/// as written (`rinit import` then exits 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing rinit import found that could not be carried over as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The source file, as given (or as its `[include]` named it).
    pub file: String,
    /// The line of the file, where known.
    pub line: Option<usize>,
    /// The program it is about, if any.
    pub program: Option<String>,
    pub text: String,
}

impl Finding {
    /// The one stderr line, without the leading "rinit: ".
    pub fn line(&self) -> String {
        let mut out = String::new();
        if !self.file.is_empty() {
            out.push_str(&self.file);
            if let Some(line) = self.line {
                out.push(':');
                out.push_str(&line.to_string());
            }
            out.push_str(": ");
        }
        out.push_str(self.severity.word());
        out.push_str(": ");
        if let Some(program) = &self.program {
            out.push_str("program ");
            out.push_str(program);
            out.push_str(": ");
        }
        out.push_str(&self.text);
        crate::log::escape_controls(out)
    }
}

/// `rinit import FILE... [--root DIR] [--split DIR]`: the TOML on stdout
/// (with `--split`, the programs of each included file in a file of their
/// own in DIR) and the findings on stderr; 0, or 1 when a finding is an
/// error. One error line and 2 when a file cannot be read, imported or
/// written at all.
pub fn run(files: &[PathBuf], root: Option<&Path>, split: Option<&Path>) -> i32 {
    let imported = import_all(files, root).and_then(|(import, shown)| {
        let Some(dir) = split else {
            return Ok((import.write(&shown), import.findings()));
        };
        let (text, parts) = import.write_split(&shown, &dir.display().to_string());
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot make the folder: {e}", dir.display()))?;
        for (name, part) in parts {
            let path = dir.join(name);
            std::fs::write(&path, part).map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
        }
        Ok((text, import.findings()))
    });
    match imported {
        Ok((text, findings)) => {
            let mut lines = String::new();
            for finding in &findings {
                lines.push_str("rinit: ");
                lines.push_str(&finding.line());
                lines.push('\n');
            }
            crate::log::write_all(2, lines.as_bytes());
            crate::log::write_all(1, text.as_bytes());
            match findings.iter().any(|f| f.severity == Severity::Error) {
                true => 1,
                false => 0,
            }
        }
        Err(message) => {
            error!("{message}");
            2
        }
    }
}

/// The TOML for `files` (findings left out), or the error naming the file
/// (and line) at fault. The fuzz targets (fuzz/src/lib.rs) call it.
#[cfg_attr(not(test), allow(dead_code, reason = "the fuzz targets' entry point"))]
pub fn import(files: &[PathBuf]) -> Result<String, String> {
    import_all(files, None).map(|(import, shown)| import.write(&shown))
}

/// Whether `text` is a supervisord configuration (recognised by content, as
/// `import` does): its first line that is not blank or a comment is a
/// `[section]` other than a systemd unit's, and it is not rinit's TOML.
#[cfg_attr(not(test), allow(dead_code, reason = "for rinit -c supervisord.conf"))]
pub fn is_supervisord(text: &str) -> bool {
    let first = significant(text).next();
    let section = first.is_some_and(|l| l.starts_with('[') && !UNIT_SECTIONS.contains(&l));
    section && !is_rinit(text)
}

/// Imports one supervisord configuration in memory: the rinit TOML and what was found.
/// Err: the one-line message when it cannot be imported at all.
#[cfg_attr(not(test), allow(dead_code, reason = "for rinit -c supervisord.conf"))]
pub fn supervisord_in_memory(path: &Path, text: &str) -> Result<(String, Vec<Finding>), String> {
    let mut import = Import::default();
    supervisord::import(path, text, &mut import)?;
    shutdown::fit(&mut import);
    Ok((import.write(&[path.display().to_string()]), import.findings()))
}

/// What `files` import to, and their names as given, or the error that stops it.
fn import_all(files: &[PathBuf], root: Option<&Path>) -> Result<(Import, Vec<String>), String> {
    let mut import = Import::new(root);
    let mut units = Vec::new();
    let names: Vec<String> = files.iter().map(|f| file_name(f)).collect();
    for path in files {
        if systemd::is_instance_of_given(&file_name(path), &names) {
            // An instance of a template given too: named, not read.
            units.push((path.clone(), None));
            continue;
        }
        let text = read(path)?;
        match kind(path, &text)? {
            Kind::Supervisord => supervisord::import(path, &text, &mut import)?,
            Kind::Procfile => procfile::import(path, &text, &mut import)?,
            Kind::Crontab => crontab::import(path, &text, &mut import)?,
            Kind::Unit => units.push((path.clone(), Some(text))),
        }
    }
    systemd::import(&units, &mut import)?;
    shutdown::fit(&mut import);
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Ok((import, shown))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The text of `path`, or an error that names it.
pub fn read(path: &Path) -> Result<String, String> {
    input::read_text(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))
}

/// The kinds of file `rinit import` reads.
#[derive(PartialEq, Debug)]
enum Kind {
    Supervisord,
    Unit,
    Procfile,
    Crontab,
}

/// The first lines of a systemd unit.
const UNIT_SECTIONS: [&str; 4] = ["[Unit]", "[Service]", "[Socket]", "[Install]"];

/// The lines of `text` that are not blank or comments, trimmed.
fn significant(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
}

/// Whether `text` is rinit's own TOML: `[rinit]`, `[env]`, `[program.x]` or
/// `[group.x]` tables (supervisord's are `[program:x]`).
fn is_rinit(text: &str) -> bool {
    significant(text).any(|l| {
        let header = l.split('#').next().unwrap_or(l).trim_end();
        matches!(header, "[rinit]" | "[env]")
            || header.starts_with("[program.")
            || header.starts_with("[group.")
            || header.starts_with("[[")
    })
}

/// What kind of file `path` is: by its name, else by its first line that is
/// not blank or a comment.
fn kind(path: &Path, text: &str) -> Result<Kind, String> {
    let file = file_name(path);
    let unit_ext = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    if matches!(unit_ext, "service" | "target" | "socket") {
        return Ok(Kind::Unit);
    }
    if file == "Procfile" || file.starts_with("Procfile.") {
        return Ok(Kind::Procfile);
    }
    let in_cron_d = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "cron.d");
    if file == "crontab" || file.ends_with(".crontab") || file.ends_with(".cron") || in_cron_d {
        return Ok(Kind::Crontab);
    }
    if is_rinit(text) {
        return Err(format!(
            "{}: already rinit's format ([program.NAME] or [rinit] tables): nothing to import; check it with rinit check -c {}",
            path.display(),
            path.display()
        ));
    }
    match significant(text).next() {
        Some(first) if UNIT_SECTIONS.contains(&first) => Ok(Kind::Unit),
        Some(first) if first.starts_with('[') => Ok(Kind::Supervisord),
        Some(first) if procfile::entry(first).is_some() => Ok(Kind::Procfile),
        Some(first) if crontab::looks_like(first) => Ok(Kind::Crontab),
        _ => Err(format!(
            "{}: not a file rinit import reads: expected a supervisord configuration \
             ([program:x] sections), a systemd .service or .target unit, a Procfile (name: command lines) \
             or a crontab (five fields or @daily, then a command)",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_tells_kinds_apart() {
        let k = |file: &str, text: &str| kind(Path::new(file), text).map_err(|e| e.len());
        assert!(k("a/web.service", "") == Ok(Kind::Unit));
        assert!(k("a/web.socket", "") == Ok(Kind::Unit));
        assert!(k("Procfile", "") == Ok(Kind::Procfile));
        assert!(k("x.conf", "; c\n[program:web]\n") == Ok(Kind::Supervisord));
        assert!(k("x", "# c\nweb: gunicorn app\n") == Ok(Kind::Procfile));
        assert!(k("x", "\n[Service]\nExecStart=/bin/true\n") == Ok(Kind::Unit));
        assert!(k("x", "hello world\n").is_err());
        assert!(k("crontab", "") == Ok(Kind::Crontab));
        assert!(k("etc/cron.d/backup", "") == Ok(Kind::Crontab));
        assert!(k("jobs", "# m h dom mon dow\nMAILTO=\"\"\n*/5 * * * * x\n") == Ok(Kind::Crontab));
        assert!(k("jobs", "@daily x\n") == Ok(Kind::Crontab));
        let rinit = kind(Path::new("r.toml"), "# mine\n[program.web]\ncommand = \"x\"\n");
        assert!(rinit.unwrap_err().contains("already rinit's format"));
        assert!(kind(Path::new("r"), "[rinit]\n").is_err());
    }

    #[test]
    fn import_recognises_supervisord_by_content() {
        assert!(is_supervisord(
            "; x\n[supervisord]\nnodaemon=true\n[program:a]\ncommand=b\n"
        ));
        assert!(is_supervisord("[program:a]\ncommand=b\n"));
        assert!(!is_supervisord("[rinit]\n[program.a]\ncommand = \"b\"\n"));
        assert!(!is_supervisord("[program.a]\ncommand = \"b\"\n"));
        assert!(!is_supervisord("[Unit]\n[Service]\nExecStart=/bin/x\n"));
        assert!(!is_supervisord("web: gunicorn\n"));
    }

    #[test]
    fn import_finding_lines() {
        let finding = Finding {
            severity: Severity::Warning,
            file: "s.conf".into(),
            line: Some(3),
            program: Some("web".into()),
            text: "two\nlines".into(),
        };
        assert_eq!(finding.line(), "s.conf:3: warning: program web: two\\nlines");
        let bare = Finding {
            severity: Severity::Note,
            line: None,
            program: None,
            ..finding
        };
        assert_eq!(bare.line(), "s.conf: note: two\\nlines");
    }

    #[test]
    fn import_in_memory_gives_toml_and_findings() {
        let text = "[program:web]\ncommand=sleep 1\nstopwaitsecs=%(ENV_WAIT)s\n[fcgi-program:f]\ncommand=x\n";
        let (toml, findings) = supervisord_in_memory(Path::new("s.conf"), text).unwrap();
        assert!(toml.contains("[program.web]\n"), "{toml}");
        let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
        assert!(severities.contains(&Severity::Error), "{findings:?}");
        assert!(severities.contains(&Severity::Warning), "{findings:?}");
        assert!(supervisord_in_memory(Path::new("s.conf"), "[program:web]\n").is_err());
    }
}
