//! What rinit import builds before it writes anything: programs and groups
//! as finished TOML lines, and the findings about each (notes, warnings,
//! errors). Warnings and errors become one `# rinit import: ...` comment
//! each above the program's keys; a program's notes become one line on
//! stderr only.

use std::fmt::Write;

use super::text::{comment, key, list, quote, remark};
use super::{Finding, Severity};

/// One `[program.NAME]` or `[group.NAME]` table being built.
#[derive(Default)]
pub struct Program {
    pub name: String,
    /// The file it comes from, and the line being read, for findings.
    pub file: String,
    pub at: Option<usize>,
    /// Plain comments kept from the source (a description).
    remarks: Vec<String>,
    /// `key = value` lines, in the order the source gave them.
    lines: Vec<String>,
    env: Vec<(String, String)>,
    /// `env` variables read from a file at each start: (name, path).
    env_files: Vec<(String, String)>,
    pub after: Vec<String>,
    /// Warnings and errors, in the order found.
    said: Vec<Finding>,
    notes: Vec<String>,
    /// Settings dropped that change nothing in a container.
    inert: Vec<String>,
    /// Resource limits dropped, which belong on the container.
    limits: Vec<String>,
    /// Dependencies on units not imported.
    outside: Vec<String>,
    /// The source's command, to name a foreground command in an error.
    pub command_hint: Option<String>,
    /// systemd's start limit is off (`StartLimitIntervalSec=0`).
    pub limitless: bool,
    /// The stop_timeout carried over, in milliseconds.
    pub stop_ms: Option<u64>,
    pub oneshot: bool,
    /// `limits = { NAME = VALUE }`, each VALUE already TOML.
    resource_limits: Vec<(String, String)>,
    role: Role,
}

/// What a `Program` stands for, which decides how its findings read.
#[derive(Default, Clone, Copy, PartialEq)]
enum Role {
    #[default]
    Program,
    Group,
    /// A whole file: findings without a program.
    File,
}

impl Program {
    pub fn new(name: String, file: &str) -> Program {
        Program {
            name,
            file: file.to_string(),
            ..Program::default()
        }
    }

    pub fn group(name: String, file: &str) -> Program {
        Program {
            role: Role::Group,
            ..Program::new(name, file)
        }
    }

    fn about_file(file: &str) -> Program {
        Program {
            role: Role::File,
            ..Program::new(String::new(), file)
        }
    }

    /// A finding about this program, group or file.
    fn finding(&self, severity: Severity, line: Option<usize>, text: &str) -> Finding {
        Finding {
            severity,
            file: self.file.clone(),
            line,
            program: (self.role == Role::Program).then(|| self.name.clone()),
            text: match self.role {
                Role::Group => format!("group {}: {text}", self.name),
                _ => text.to_string(),
            },
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

    /// Whether `key` is set.
    pub fn has(&self, key: &str) -> bool {
        let prefix = format!("{key} = ");
        self.lines.iter().any(|l| l.starts_with(&prefix))
    }

    /// `stop_timeout`, remembered for `[rinit] shutdown_timeout`.
    pub fn stop_timeout(&mut self, text: &str, ms: u64) {
        self.text("stop_timeout", text);
        self.stop_ms = Some(ms);
    }

    /// The source line the next findings are about.
    pub fn at(&mut self, line: usize) -> &mut Program {
        self.at = Some(line);
        self
    }

    pub fn remark(&mut self, text: &str) {
        self.remarks.push(remark(text));
    }

    pub fn say(&mut self, severity: Severity, text: &str) {
        match severity {
            Severity::Note => self.notes.push(text.to_string()),
            _ => self.said.push(self.finding(severity, self.at, text)),
        }
    }

    pub fn note(&mut self, text: &str) {
        self.say(Severity::Note, text);
    }

    pub fn warn(&mut self, text: &str) {
        self.say(Severity::Warning, text);
    }

    pub fn error(&mut self, text: &str) {
        self.say(Severity::Error, text);
    }

    /// A setting dropped that changes nothing in a container (sandboxing,
    /// the journal, log rotation): named in the program's one note.
    pub fn inert(&mut self, setting: &str) {
        if !self.inert.iter().any(|s| s == setting) {
            self.inert.push(setting.to_string());
        }
    }

    /// A resource limit dropped: the container's limits apply instead.
    pub fn limit(&mut self, setting: &str) {
        if !self.limits.iter().any(|s| s == setting) {
            self.limits.push(setting.to_string());
        }
    }

    /// A dependency on a unit that was not imported (another container's).
    pub fn outside(&mut self, unit: &str) {
        if !self.outside.iter().any(|s| s == unit) {
            self.outside.push(unit.to_string());
        }
    }

    /// A resource limit, `value` already TOML (a later one replaces it).
    pub fn resource_limit(&mut self, name: &str, value: String) {
        self.resource_limits.retain(|(n, _)| n != name);
        self.resource_limits.push((name.to_string(), value));
    }

    /// An `env` variable whose value is the file at `path`, read at each start.
    pub fn env_file_value(&mut self, key: &str, path: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env_files.retain(|(k, _)| k != key);
        self.env_files.push((key.to_string(), path.to_string()));
    }

    /// An `env` variable (supervisord and systemd: the later value wins).
    pub fn env(&mut self, key: &str, value: String) {
        self.env_files.retain(|(k, _)| k != key);
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value));
    }

    /// Its warnings and errors, then its notes in one line.
    pub fn findings(&self) -> Vec<Finding> {
        let mut all = self.said.clone();
        let mut parts = Vec::new();
        if !self.inert.is_empty() {
            parts.push(format!(
                "dropped {} that change{} nothing in a container: {}",
                match self.inert.len() {
                    1 => "1 setting".to_string(),
                    n => format!("{n} settings"),
                },
                if self.inert.len() == 1 { "s" } else { "" },
                self.inert.join(", ")
            ));
        }
        if !self.limits.is_empty() {
            parts.push(format!(
                "dropped limits, which the container sets (docker run --ulimit, --memory, --cpus): {}",
                self.limits.join(", ")
            ));
        }
        if !self.outside.is_empty() {
            parts.push(format!(
                "dropped dependencies on units not imported (in a container, wait for another container's service with a ready check): {}",
                self.outside.join(", ")
            ));
        }
        parts.extend(self.notes.iter().cloned());
        if !parts.is_empty() {
            all.push(self.finding(Severity::Note, None, &parts.join("; ")));
        }
        all
    }

    /// The `# rinit import: SEVERITY: TEXT` comments for its warnings and errors.
    fn comments(&self) -> impl Iterator<Item = String> + '_ {
        self.said
            .iter()
            .map(|f| comment(&format!("{}: {}", f.severity.word(), f.text)))
    }

    fn write(&self, kind: &str, out: &mut String) {
        let _ = writeln!(out, "\n[{kind}.{}]", self.name);
        for line in self.remarks.iter().cloned().chain(self.comments()) {
            out.push_str(&line);
            out.push('\n');
        }
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        if !self.resource_limits.is_empty() {
            let pairs: Vec<String> = self
                .resource_limits
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let _ = writeln!(out, "limits = {{ {} }}", pairs.join(", "));
        }
        if !self.env.is_empty() || !self.env_files.is_empty() {
            let values = self.env.iter().map(|(k, v)| format!("{} = {}", key(k), quote(v)));
            let files = self
                .env_files
                .iter()
                .map(|(k, p)| format!("{} = {{ file = {} }}", key(k), quote(p)));
            let pairs: Vec<String> = values.chain(files).collect();
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
    /// About a whole file, one `Program` (unnamed) per file.
    files: Vec<Program>,
    /// The `[env]` table: supervisord's `[supervisord] environment`.
    pub env: Program,
    pub programs: Vec<Program>,
    pub groups: Vec<Program>,
    /// `[rinit] shutdown_timeout` in seconds, when the import raises it.
    pub shutdown: Option<u64>,
    /// `--root DIR`: where absolute paths of the image are found.
    pub root: Option<std::path::PathBuf>,
    /// `[supervisord] minfds` and `minprocs`: (limit, value, setting), for
    /// every program of the file.
    pub minimum_limits: Vec<(&'static str, String, String)>,
}

impl Import {
    pub fn new(root: Option<&std::path::Path>) -> Import {
        Import {
            root: root.map(std::path::Path::to_path_buf),
            ..Import::default()
        }
    }

    /// What is said about `file` as a whole (its findings have no program,
    /// and no line unless `at` gives one).
    pub fn file(&mut self, file: &str) -> &mut Program {
        if !self.files.iter().any(|f| f.file == file) {
            self.files.push(Program::about_file(file));
        }
        // Found: it was there or has just been pushed.
        let found = self.files.iter_mut().find(|f| f.file == file);
        let program = found.unwrap_or(&mut self.env);
        program.at = None;
        program
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

    /// Every finding: those about whole files first, then each program's
    /// and each group's.
    pub fn findings(&self) -> Vec<Finding> {
        let all = self.files.iter().chain(&self.programs).chain(&self.groups);
        all.flat_map(Program::findings).collect()
    }

    pub fn write(&self, names: &[String]) -> String {
        self.write_main(names, None, |_| true)
    }

    /// `--split DIR`: the TOML of the files given, which includes DIR's
    /// (`include = ["DIR/*.toml"]`), and one TOML for each file they
    /// included, named after it (conf.d/worker.conf: worker.toml), with its
    /// programs: the layout of the source survives.
    pub fn write_split(&self, names: &[String], dir: &str) -> (String, Vec<(String, String)>) {
        let given = |program: &Program| names.contains(&program.file);
        let mut parts: Vec<(String, String, String)> = Vec::new();
        for program in self.programs.iter().filter(|p| !given(p)) {
            if !parts.iter().any(|(file, ..)| *file == program.file) {
                let stem = std::path::Path::new(&program.file)
                    .file_stem()
                    .map_or("included".into(), |s| s.to_string_lossy().into_owned());
                let taken = |name: &String| parts.iter().any(|(_, n, _)| n == name);
                let mut name = format!("{stem}.toml");
                let mut n = 1usize;
                while taken(&name) {
                    n = n.saturating_add(1);
                    name = format!("{stem}-{n}.toml");
                }
                let head = remark(&program.file).replacen("# ", "# rinit import of ", 1) + "\n";
                parts.push((program.file.clone(), name, head));
            }
            if let Some((.., text)) = parts.iter_mut().find(|(file, ..)| *file == program.file) {
                program.write("program", text);
            }
        }
        let pattern = format!("{}/*.toml", dir.trim_end_matches('/'));
        let main = self.write_main(names, Some(&pattern), given);
        (
            main,
            parts.into_iter().map(|(_, name, text)| (name, text)).collect(),
        )
    }

    /// The main TOML: `[rinit]` (with `include` when split), `[env]`, the
    /// programs `here` keeps, the groups.
    fn write_main(&self, names: &[String], include: Option<&str>, here: impl Fn(&Program) -> bool) -> String {
        let mut out = remark(&names.join(" ")).replacen("# ", "# rinit import of ", 1);
        out.push('\n');
        for line in self.files.iter().flat_map(Program::comments) {
            out.push_str(&line);
            out.push('\n');
        }
        if self.shutdown.is_some() || include.is_some() {
            out.push_str("\n[rinit]\n");
        }
        if let Some(secs) = self.shutdown {
            let _ = writeln!(out, "shutdown_timeout = \"{secs}s\"");
        }
        if let Some(pattern) = include {
            let _ = writeln!(out, "include = [{}]", quote(pattern));
        }
        if !self.env.env.is_empty() {
            out.push_str("\n[env]\n");
            for (k, v) in &self.env.env {
                let _ = writeln!(out, "{} = {}", key(k), quote(v));
            }
        }
        for program in self.programs.iter().filter(|p| here(p)) {
            program.write("program", &mut out);
        }
        for group in &self.groups {
            group.write("group", &mut out);
        }
        out
    }
}
