//! `rinit import FILE...`: turns a supervisord configuration, systemd units or
//! a Procfile into rinit TOML on stdout. This file owns the shared model (an
//! `Import` of programs, each a list of finished TOML lines), telling the
//! kinds of file apart, program names, and writing TOML strings and comments.
//! What cannot be carried over becomes a `# rinit import: ...` comment.

mod ini;
mod procfile;
mod supervisord;
mod supervisord_values;
mod systemd;
mod systemd_values;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::config::input;

/// One `[program.NAME]` or `[group.NAME]` table being built.
#[derive(Default)]
pub struct Program {
    pub name: String,
    /// `key = value` lines and comments, in the order the source gave them.
    lines: Vec<String>,
    env: Vec<(String, String)>,
    pub after: Vec<String>,
}

impl Program {
    pub fn new(name: String) -> Program {
        Program {
            name,
            ..Program::default()
        }
    }

    /// `key = value` with `value` already TOML; a key set again replaces it.
    pub fn set(&mut self, key: &str, value: String) {
        let line = format!("{key} = {value}");
        let prefix = format!("{key} = ");
        match self.lines.iter_mut().find(|l| l.starts_with(&prefix)) {
            Some(old) => *old = line,
            None => self.lines.push(line),
        }
    }

    pub fn text(&mut self, key: &str, value: &str) {
        self.set(key, quote(value));
    }

    pub fn note(&mut self, text: &str) {
        self.lines.push(comment(text));
    }

    /// `# rinit import: KEY=VALUE dropped: WHY`.
    #[inline(never)]
    pub fn dropped(&mut self, key: &str, value: &str, why: &str) {
        self.note(&format!("{key}={value} dropped: {why}"));
    }

    /// An `env` variable (supervisord and systemd: the later value wins).
    pub fn env(&mut self, key: &str, value: String) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value));
    }

    fn write(&self, kind: &str, out: &mut String) {
        let _ = writeln!(out, "\n[{kind}.{}]", self.name);
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        if !self.env.is_empty() {
            let pairs: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
                .collect();
            let _ = writeln!(out, "env = {{ {} }}", pairs.join(", "));
        }
        if !self.after.is_empty() {
            let _ = writeln!(out, "after = {}", list(&self.after));
        }
    }
}

/// Everything imported from the files given, written out in one piece.
#[derive(Default)]
pub struct Import {
    /// Comments for the whole file, after the header.
    pub notes: Vec<String>,
    /// The `[env]` table: supervisord's `[supervisord] environment`.
    pub env: Program,
    pub programs: Vec<Program>,
    pub groups: Vec<Program>,
}

impl Import {
    pub fn note(&mut self, text: &str) {
        self.notes.push(comment(text));
    }

    /// Adds a program (or, with `group`, a group) unless its name is taken:
    /// a TOML table may appear only once.
    pub fn add(&mut self, program: Program, group: bool, file: &str) -> Result<(), String> {
        if self
            .programs
            .iter()
            .chain(&self.groups)
            .any(|p| p.name == program.name)
        {
            return Err(format!(
                "{file}: a second program or group named {}",
                program.name
            ));
        }
        match group {
            true => self.groups.push(program),
            false => self.programs.push(program),
        }
        Ok(())
    }

    pub fn program(&mut self, name: &str) -> Option<&mut Program> {
        self.programs.iter_mut().find(|p| p.name == name)
    }

    fn write(&self, files: &[PathBuf]) -> String {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let mut out = remark(&names.join(" ")).replacen("# ", "# rinit import of ", 1);
        out.push('\n');
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        if !self.env.env.is_empty() {
            out.push_str("\n[env]\n");
            for (k, v) in &self.env.env {
                let _ = writeln!(out, "{} = {}", key(k), quote(v));
            }
        }
        for program in &self.programs {
            program.write("program", &mut out);
        }
        for group in &self.groups {
            group.write("group", &mut out);
        }
        out
    }
}

/// The kinds of file `rinit import` reads.
#[derive(PartialEq)]
enum Kind {
    Supervisord,
    Unit,
    Procfile,
}

/// `rinit import FILE...`: the TOML on stdout and 0, or one error line and 2.
pub fn run(files: &[PathBuf]) -> i32 {
    match import(files) {
        Ok(text) => {
            crate::log::write_all(1, text.as_bytes());
            0
        }
        Err(message) => {
            error!("{message}");
            2
        }
    }
}

/// The TOML for `files`, or the error naming the file (and line) at fault.
pub fn import(files: &[PathBuf]) -> Result<String, String> {
    let mut import = Import::default();
    let mut units = Vec::new();
    for path in files {
        let text = read(path)?;
        match kind(path, &text)? {
            Kind::Supervisord => supervisord::import(path, &text, &mut import)?,
            Kind::Procfile => procfile::import(path, &text, &mut import)?,
            Kind::Unit => units.push((path.clone(), text)),
        }
    }
    systemd::import(&units, &mut import)?;
    Ok(import.write(files))
}

/// The text of `path`, or an error that names it.
pub fn read(path: &Path) -> Result<String, String> {
    input::read_text(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))
}

/// What kind of file `path` is: by its name, else by its first line that is
/// not blank or a comment.
fn kind(path: &Path, text: &str) -> Result<Kind, String> {
    let file = path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
    let unit_ext = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    if unit_ext == "service" || unit_ext == "target" {
        return Ok(Kind::Unit);
    }
    if file == "Procfile" || file.starts_with("Procfile.") {
        return Ok(Kind::Procfile);
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']));
    match lines.next() {
        Some("[Unit]" | "[Service]") => Ok(Kind::Unit),
        Some(first) if first.starts_with('[') => Ok(Kind::Supervisord),
        Some(first) if procfile::entry(first).is_some() => Ok(Kind::Procfile),
        _ => Err(format!(
            "{}: not a file rinit import reads: expected a supervisord configuration \
             ([program:x] sections), a systemd .service or .target unit, or a Procfile (name: command lines)",
            path.display()
        )),
    }
}

/// A program or group name rinit accepts (1 to 64 ASCII letters, digits, `_`
/// and `-`): anything else becomes `_`, with a note when it changed.
pub fn name(raw: &str, notes: &mut Vec<String>) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push('_');
    }
    if name != raw {
        notes.push(comment(&format!(
            "name {raw:?} became {name:?}: rinit names have 1 to 64 letters, digits, '_' and '-'"
        )));
    }
    name
}

/// `# rinit import: TEXT`, one line whatever TEXT holds.
pub fn comment(text: &str) -> String {
    let mut line = String::from("# rinit import: ");
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(line, "\\u{{{:x}}}", c as u32);
        } else {
            line.push(c);
        }
    }
    line
}

/// `# TEXT`: a plain comment, kept from the source (a description).
pub fn remark(text: &str) -> String {
    comment(text).replacen("# rinit import: ", "# ", 1)
}

/// A TOML basic string: `"`, `\` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(2));
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, else quoted.
fn key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        text.to_string()
    } else {
        quote(text)
    }
}

/// At most the first 60 characters of `text`, for a message.
pub fn clip(text: &str) -> &str {
    text.char_indices().nth(60).map_or(text, |(i, _)| &text[..i])
}

/// A TOML array of exit codes.
pub fn codes(codes: &[u8]) -> String {
    let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
    format!("[{}]", codes.join(", "))
}

/// A TOML array of strings.
pub fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Text that rinit expands (`${NAME}`) taken literally: `${` becomes `$${`.
pub fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

/// `$NAME` as rinit writes it, `${NAME}`; `${NAME}` stays. For systemd
/// (`dollars`), `$$` is a literal `$` (kept as `$$` before `{`).
pub fn braces(text: &str, dollars: bool) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(8));
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = after;
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if rest.starts_with('$') {
            out.push_str(if !dollars || rest[1..].starts_with('{') {
                "$$"
            } else {
                "$"
            });
            rest = &rest[1..];
        } else if name_len > 0 && !rest.starts_with(|c: char| c.is_ascii_digit()) {
            let _ = write!(out, "${{{}}}", &rest[..name_len]);
            rest = &rest[name_len..];
        } else {
            out.push('$');
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_quotes_toml_strings() {
        assert_eq!(quote(r#"say "hi" \ now"#), r#""say \"hi\" \\ now""#);
        assert_eq!(quote("a\nb\tc\u{1b}d\u{7f}"), r#""a\nb\tc\u001Bd\u007F""#);
        assert_eq!(quote("héllo"), "\"héllo\"");
        assert_eq!(key("A_B-1"), "A_B-1");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(comment("two\nlines"), "# rinit import: two\\u{a}lines");
        assert_eq!(literal("echo ${HOME} $$x"), "echo $${HOME} $$x");
        assert_eq!(
            braces("a $PORT ${X} $1 $ $$ $$HOME", false),
            "a ${PORT} ${X} $1 $ $$ $$HOME"
        );
        assert_eq!(braces("a $$ $${X} $A_1.b", true), "a $ $${X} ${A_1}.b");
    }

    #[test]
    fn import_names_become_rinit_names() {
        let mut notes = Vec::new();
        assert_eq!(name("web-1_a", &mut notes), "web-1_a");
        assert!(notes.is_empty());
        assert_eq!(name("my.app@2", &mut notes), "my_app_2");
        assert_eq!(
            notes,
            ["# rinit import: name \"my.app@2\" became \"my_app_2\": rinit names have 1 to 64 letters, digits, '_' and '-'"]
        );
    }

    #[test]
    fn import_tells_kinds_apart() {
        let k = |file: &str, text: &str| kind(Path::new(file), text).map_err(|e| e.len());
        assert!(k("a/web.service", "") == Ok(Kind::Unit));
        assert!(k("Procfile", "") == Ok(Kind::Procfile));
        assert!(k("x.conf", "; c\n[program:web]\n") == Ok(Kind::Supervisord));
        assert!(k("x", "# c\nweb: gunicorn app\n") == Ok(Kind::Procfile));
        assert!(k("x", "\n[Service]\nExecStart=/bin/true\n") == Ok(Kind::Unit));
        assert!(k("x", "hello world\n").is_err());
    }
}
