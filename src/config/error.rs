//! Configuration errors: one line, `FILE:LINE:COL: program NAME: key KEY:
//! what is wrong`, with the parts that do not apply left out. `Source`
//! turns offsets into lines and columns, and reads the program and key of a
//! serde error back from the text around its position.

use std::fmt;

/// One configuration error: `FILE:LINE:COL: program NAME: key KEY: message`.
#[derive(Debug)]
pub struct ConfigError {
    file: String,
    /// 1-based line and column.
    at: Option<(usize, usize)>,
    /// The table it is in: "program NAME" or "group NAME".
    table: Option<String>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// Names the `[group.NAME]` the error is in.
    pub(super) fn set_group(&mut self, name: &str) {
        self.table = Some(format!("group {name}"));
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.at {
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

/// Builds errors that point into one file's text.
pub(super) struct Source<'a> {
    file: String,
    text: &'a str,
}

impl<'a> Source<'a> {
    pub(super) fn new(file: &str, text: &'a str) -> Source<'a> {
        Source {
            file: file.to_string(),
            text,
        }
    }

    /// The error for the file alone, before its text is known.
    pub(super) fn unreadable(file: &str, message: String) -> ConfigError {
        ConfigError {
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
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            at: offset.map(|offset| self.line_column(offset)),
            table: program.map(|name| format!("program {name}")),
            key: key.map(str::to_string),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// A serde error carries a position and a message, not the program or the
    /// key: they are read back from the text around the position.
    pub(super) fn toml_error(&self, err: toml::de::Error) -> ConfigError {
        let message = err.message().trim_end().replace('\n', " ");
        let Some(span) = err.span() else {
            return self.error(None, None, None, message);
        };
        let before = self.text.get(..span.start).unwrap_or("");
        let unquote = |name: &str| {
            name.trim_matches(|c| c == '"' || c == '\'' || c == ' ')
                .to_string()
        };
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self
            .text
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
        // supervisord's `[program:web]` or `[group:app]`: say what rinit's is.
        let table = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(':'));
        let message = match table {
            Some((kind @ ("program" | "group"), rest)) => {
                let name = rest.split(']').next().unwrap_or(rest);
                format!("{message} (supervisord's [{kind}:{name}] is [{kind}.{name}] here)")
            }
            _ => message,
        };
        self.error(Some(span.start), program.as_deref(), key.as_deref(), message)
    }
}
