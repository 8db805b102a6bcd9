//! Configuration errors: one line each, `FILE:LINE:COL: program NAME: key
//! KEY: what is wrong`, with the parts that do not apply left out; and all
//! the errors of one configuration, shown in file order, at most
//! `MAX_SHOWN`. `Source` turns offsets into lines and columns, and reads the
//! program and key of a serde error back from the text around its position.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::suggest;

/// Most errors shown for one configuration; one more line counts the rest.
pub const MAX_SHOWN: usize = 50;

/// All the errors found in one configuration (validation goes on past the
/// first: four mistakes take one run, not four).
#[derive(Debug, Default)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    pub(super) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The value of a check, or None with its error pushed.
    pub(super) fn kept<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        result.map_err(|problem| self.push(problem)).ok()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// How many errors were found.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// The lines to print, one per error, in file order (by line, then
    /// column; errors about the file as a whole first): at most
    /// `MAX_SHOWN`, then one line that says how many more there were.
    pub fn lines(&self) -> Vec<String> {
        // The first MAX_SHOWN, picked one by one (no sort: a sort's code
        // would take kilobytes of the binary for 50 lines); errors at one
        // place keep the order they were found in.
        let mut shown = vec![false; self.problems.len()];
        let mut lines = Vec::with_capacity(MAX_SHOWN.saturating_add(1));
        while lines.len() < MAX_SHOWN {
            let next = self.problems.iter().zip(&shown).enumerate();
            let next = next.filter(|(_, (_, &shown))| !shown);
            let Some((i, (problem, _))) =
                next.min_by_key(|(i, (problem, _))| (problem.at.map(|at| at.offset), *i))
            else {
                break;
            };
            if let Some(slot) = shown.get_mut(i) {
                *slot = true;
            }
            lines.push(problem.to_string());
        }
        let more = self.problems.len().saturating_sub(MAX_SHOWN);
        if let (true, Some(first)) = (more > 0, self.problems.first()) {
            let errors = if more == 1 { "error" } else { "errors" };
            lines.push(format!("{}: and {more} more {errors}", first.file));
        }
        lines
    }
}

impl From<Problem> for ConfigError {
    fn from(problem: Problem) -> ConfigError {
        ConfigError {
            problems: vec![problem],
        }
    }
}

/// One line per error (`lines`), joined by newlines.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

/// One configuration error: `FILE:LINE:COL: program NAME: key KEY: message`.
#[derive(Debug)]
pub struct Problem {
    file: String,
    at: Option<Place>,
    /// The table it is in: "program NAME" or "group NAME".
    table: Option<String>,
    key: Option<String>,
    message: String,
}

/// Where an error is: its offset among all the files' (what orders the
/// errors), and its 1-based line and column in its own file.
#[derive(Debug, Clone, Copy)]
struct Place {
    offset: usize,
    line: u32,
    column: u32,
}

impl Problem {
    /// Names the `[group.NAME]` the error is in.
    pub(super) fn set_group(&mut self, name: &str) {
        self.table = Some(format!("group {name}"));
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(Place { line, column, .. }) = self.at {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(table) = &self.table {
            write!(f, ": {table}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Builds errors that point into the configuration's files: the main file
/// and the files it includes. Each file has its own range of one space of
/// offsets (the spans of its values are moved there when it is read), so
/// an offset says which file it is in, and offset order is file order.
pub(super) struct Source {
    files: Vec<SourceFile>,
}

struct SourceFile {
    name: String,
    /// Shared, so a TOML tree can borrow it while more files are added.
    text: Rc<str>,
    /// Where its range of offsets starts.
    base: usize,
    /// Where the paths it names (`env_file`, `{ file = ... }`) are found.
    folder: PathBuf,
}

impl Source {
    /// The main file, read from `folder`.
    pub(super) fn new(file: &str, text: &str, folder: &Path) -> Source {
        Source {
            files: vec![SourceFile {
                name: file.to_string(),
                text: Rc::from(text),
                base: 0,
                folder: folder.to_path_buf(),
            }],
        }
    }

    /// Adds an included file after the others; returns where its offsets start.
    pub(super) fn add(&mut self, name: String, text: &str, folder: PathBuf) -> usize {
        // One offset between files: a span at the end of one is not the next's start.
        let base = self.files.last().map_or(0, |last| {
            last.base.saturating_add(last.text.len()).saturating_add(1)
        });
        self.files.push(SourceFile {
            name,
            text: Rc::from(text),
            base,
            folder,
        });
        base
    }

    /// The text of file `index` (0: the main file), and where its offsets start.
    pub(super) fn file(&self, index: usize) -> (Rc<str>, usize) {
        self.files
            .get(index)
            .map_or((Rc::from(""), 0), |file| (Rc::clone(&file.text), file.base))
    }

    /// How many files: the main file and the included ones.
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }

    /// The main file's name.
    pub(super) fn main_name(&self) -> &str {
        self.files.first().map_or("", |file| file.name.as_str())
    }

    /// The file that `offset` is in, and the offset within its text.
    fn locate(&self, offset: usize) -> Option<(&SourceFile, usize)> {
        let file = self.files.iter().rev().find(|file| file.base <= offset)?;
        Some((file, offset.saturating_sub(file.base)))
    }

    /// The name of the file that `offset` is in, when it is an included one.
    pub(super) fn included_name(&self, offset: usize) -> Option<String> {
        let (file, _) = self.locate(offset)?;
        (file.base > 0).then(|| file.name.clone())
    }

    /// The folder of the file that `offset` is in.
    pub(super) fn folder(&self, offset: usize) -> &Path {
        self.locate(offset)
            .map_or(Path::new("."), |(file, _)| file.folder.as_path())
    }

    /// `FILE:LINE:COL` of `offset`.
    pub(super) fn place(&self, offset: usize) -> String {
        let (line, column) = self.line_column(offset);
        let name = self.locate(offset).map_or("", |(file, _)| file.name.as_str());
        format!("{name}:{line}:{column}")
    }

    /// The error for the file alone, before its text is known.
    pub(super) fn unreadable(file: &str, message: String) -> Problem {
        Problem {
            file: file.to_string(),
            at: None,
            table: None,
            key: None,
            message,
        }
    }

    pub(super) fn error(
        &self,
        offset: Option<usize>,
        program: Option<&str>,
        key: Option<&str>,
        message: String,
    ) -> Problem {
        let file = offset
            .and_then(|offset| self.locate(offset))
            .map(|(file, _)| file);
        let file = file.or(self.files.first());
        Problem {
            file: file.map_or_else(String::new, |file| file.name.clone()),
            at: offset.map(|offset| {
                let (line, column) = self.line_column(offset);
                // A file is at most 4 MiB: its lines and columns fit.
                let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                Place {
                    offset,
                    line: narrow(line),
                    column: narrow(column),
                }
            }),
            table: program.map(|name| format!("program {name}")),
            key: key.map(str::to_string),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let Some((file, offset)) = self.locate(offset) else {
            return (1, 1);
        };
        let before = file.text.get(..offset).unwrap_or(&*file.text);
        let line = before.matches('\n').count().saturating_add(1);
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
        let column = column.saturating_add(1);
        (line, column)
    }

    /// A serde error carries a position and a message, not the program or the
    /// key: they are read back from the text around the position.
    pub(super) fn toml_error(&self, err: toml::de::Error) -> Problem {
        self.schema_error(err.span().map(|span| span.start), err.message())
    }

    /// An error in serde's or toml's words (`unknown field`, `invalid
    /// type`), at `offset`, as `toml_error` words it. Over 50 lines: the
    /// program and the key, read back from the line and the table header.
    pub(super) fn schema_error(&self, offset: Option<usize>, message: &str) -> Problem {
        let message = in_users_words(message.trim_end().replace('\n', " "));
        let Some(offset) = offset else {
            return self.error(None, None, None, message);
        };
        let (message, start) = self.real_cause(message, offset);
        let (text, local) = self
            .locate(start)
            .map_or(("", 0), |(file, local)| (&*file.text, local));
        let before = text.get(..local).unwrap_or("");
        let unquote = |name: &str| {
            name.trim_matches(|c| c == '"' || c == '\'' || c == ' ')
                .to_string()
        };
        let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        let line = text
            .get(line_start..)
            .and_then(|l| l.lines().next())
            .unwrap_or("");
        let full_key = line.split_once('=').map(|(key, _)| key.trim()).filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        });
        // The table the line is in: `[program.web]` (or `[program.web.env]`) ...
        let header = before.lines().rev().find(|l| l.trim_start().starts_with('['));
        let program = match header {
            Some(header) => header
                .trim()
                .strip_prefix("[program.")
                .and_then(|rest| rest.split([']', '.']).next())
                .map(unquote),
            // ... or a dotted key at the top: `program.web.command = 5`.
            None => full_key
                .and_then(|key| key.strip_prefix("program."))
                .and_then(|rest| rest.split('.').next())
                .map(unquote),
        };
        // The key is the last dotted part.
        let key = full_key.map(|k| unquote(k.rsplit('.').next().unwrap_or(k)));
        let message = supervisord_table(line).unwrap_or(message);
        self.error(Some(start), program.as_deref(), key.as_deref(), message)
    }

    /// toml reports a string left open where it gives up, further on
    /// ("unclosed inline table"): the message and offset for the string.
    fn real_cause(&self, message: String, offset: usize) -> (String, usize) {
        let misplaced = [
            "unclosed",
            "missing comma",
            "invalid basic string",
            "invalid literal string",
            "expected newline",
        ];
        if !misplaced.iter().any(|m| message.contains(m)) {
            return (message, offset);
        }
        match self.open_string_before(offset) {
            Some(start) => (
                "this string is not closed: a `\"` is missing before the end of the line".to_string(),
                start,
            ),
            None => (message, offset),
        }
    }

    /// Where a basic or literal string opens and is not closed, on the line
    /// of `offset` or the line before it.
    fn open_string_before(&self, offset: usize) -> Option<usize> {
        let (file, local) = self.locate(offset)?;
        let before = file.text.get(..local)?;
        let this_line = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        let previous_line = before
            .get(..this_line.saturating_sub(1))
            .and_then(|text| text.rfind('\n'))
            .map_or(0, |i| i.saturating_add(1));
        [previous_line, this_line].into_iter().find_map(|start| {
            let line = file.text.get(start..)?.lines().next().unwrap_or("");
            open_string(line).map(|at| start.saturating_add(at).saturating_add(file.base))
        })
    }
}

/// supervisord's `[program:web]` or `[group:app]` on `line`: what rinit's is.
fn supervisord_table(line: &str) -> Option<String> {
    let (kind, rest) = line.trim_start().strip_prefix('[')?.split_once(':')?;
    let name = rest.split(']').next().unwrap_or(rest);
    matches!(kind, "program" | "group")
        .then(|| format!("TOML tables use a dot: [{kind}.{name}] (supervisord's [{kind}:{name}])"))
}

/// Where an unclosed string starts in one line (not a multi-line string).
fn open_string(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'#' => return None,
            quote @ (b'"' | b'\'') => {
                let rest = bytes.get(i..).unwrap_or_default();
                if rest.starts_with(b"\"\"\"") || rest.starts_with(b"\'\'\'") {
                    return None;
                }
                let start = i;
                i = i.saturating_add(1);
                loop {
                    match bytes.get(i) {
                        None => return Some(start),
                        Some(b'\\') if quote == b'"' => i = i.saturating_add(2),
                        Some(&b) if b == quote => break,
                        Some(_) => i = i.saturating_add(1),
                    }
                }
            }
            _ => {}
        }
        i = i.saturating_add(1);
    }
    None
}

/// serde's and toml's wording, made the configuration's: key names for
/// fields, with a guess at a misspelt one or rinit's word for supervisord's;
/// no Rust type names.
fn in_users_words(message: String) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        if let Some(hint) = suggest::supervisord_key(key, &known) {
            return format!("unknown key `{key}`: {hint}");
        }
        return match suggest::closest(key, known.iter().copied()) {
            Some(name) => format!("unknown key `{key}`: did you mean `{name}`?"),
            None => format!(
                "unknown key `{key}`{}",
                expected.replacen(", expected", ": expected", 1)
            ),
        };
    }
    let mut message = message;
    for (rust, user) in [
        ("expected u8", "expected a number from 0 to 255"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
    ] {
        message = message.replace(rust, user);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_gets_the_closest_name() {
        let message = |m: &str| in_users_words(m.to_string());
        assert_eq!(
            message("unknown field `stop_timout`, expected one of `stop_signal`, `stop_timeout`"),
            "unknown key `stop_timout`: did you mean `stop_timeout`?"
        );
        assert_eq!(
            message("unknown field `zzz`, expected one of `rinit`, `env`"),
            "unknown key `zzz`: expected one of `rinit`, `env`"
        );
        assert_eq!(
            message("unknown field `program`, expected `programs`"),
            "unknown key `program`: did you mean `programs`?"
        );
        assert_eq!(
            message("unknown field `numprocs`, expected one of `command`, `instances`"),
            "unknown key `numprocs`: did you mean `instances`? (supervisord's numprocs)"
        );
    }

    #[test]
    fn errors_show_in_file_order_and_at_most_50() {
        let source = Source::new("t.toml", "a\nb\nc\n", Path::new("."));
        let mut errors = ConfigError::default();
        for (offset, message) in [
            (Some(4), "third"),
            (Some(0), "first"),
            (None, "file"),
            (Some(2), "second"),
        ] {
            errors.push(source.error(offset, None, None, message.into()));
        }
        assert_eq!(
            errors.lines(),
            [
                "t.toml: file",
                "t.toml:1:1: first",
                "t.toml:2:1: second",
                "t.toml:3:1: third"
            ]
        );
        assert_eq!(errors.to_string(), errors.lines().join("\n"));
        for _ in 0..57 {
            errors.push(source.error(Some(5), None, None, "last".into()));
        }
        let lines = errors.lines();
        assert_eq!(lines.len(), 51);
        assert_eq!(lines.get(49).map(String::as_str), Some("t.toml:3:2: last"));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("t.toml: and 11 more errors")
        );
    }

    #[test]
    fn an_open_string_is_found_and_closed_ones_are_not() {
        assert_eq!(open_string(r#"ready = { tcp = "127.0.0.1:80 }"#), Some(16));
        assert_eq!(open_string(r#"a = "x\" # "b"#), None);
        assert_eq!(open_string(r#"a = "say \"hi\"""#), None);
        assert_eq!(open_string("a = 'it\\'"), None);
        assert_eq!(open_string("a = \"\"\"start of many lines"), None);
        assert_eq!(open_string("a = ['x', 'y]"), Some(10));
    }
}
