//! From the TOML text to the raw schema (schema.rs), with every error that
//! reading it finds rather than serde's first. A syntax error stops there
//! (toml reports one). Otherwise each table (`[rinit]`, `[env]`, each
//! program, each group) is read on its own; one that does not read is read
//! again one key at a time (and, for an inline table such as `ready`, one
//! of its keys at a time), so that every unknown key and every bad value
//! gets its line. The keys that fail are left out of what is read, and
//! named, so that validation neither sees them nor calls them missing.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::schema::{RawFile, RawGroup, RawProgram, RawRinit};

/// The file as read, less what could not be read.
pub(super) struct Parsed {
    pub(super) raw: RawFile,
    /// For each program, the keys that could not be read (left out of `raw`).
    pub(super) refused: HashMap<String, Vec<String>>,
}

/// Reads `text`, pushing every error to `errors`; None after a syntax error.
pub(super) fn parse(source: &Source, text: &str, errors: &mut ConfigError) -> Option<Parsed> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(err) => {
            errors.push(source.toml_error(err));
            return None;
        }
    };
    let span = root.span();
    let mut parsed = Parsed {
        raw: RawFile {
            rinit: RawRinit::default(),
            env: BTreeMap::new(),
            program: BTreeMap::new(),
            group: BTreeMap::new(),
        },
        refused: HashMap::new(),
    };
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "rinit" => {
                if let (Some(rinit), _) = read(source, value, errors) {
                    parsed.raw.rinit = rinit;
                }
            }
            "env" => {
                if let (Some(env), _) = read(source, value, errors) {
                    parsed.raw.env = env;
                }
            }
            "program" | "group" if value.get_ref().is_table() => {
                named_tables(source, &key, value, &mut parsed, errors);
            }
            // Not a table, or an unknown key: the file's schema says what is wrong.
            _ => {
                let mut alone = DeTable::new();
                alone.insert(key, value);
                let file = Spanned::new(span.clone(), DeValue::Table(alone));
                if let Err(err) = RawFile::deserialize(ValueDeserializer::from(file)) {
                    errors.push(source.toml_error(err));
                }
            }
        }
    }
    Some(parsed)
}

/// The tables of `[program.NAME]` (or `[group.NAME]`), each read on its own.
fn named_tables(
    source: &Source,
    kind: &Spanned<std::borrow::Cow<'_, str>>,
    tables: Spanned<DeValue<'_>>,
    parsed: &mut Parsed,
    errors: &mut ConfigError,
) {
    let DeValue::Table(tables) = tables.into_inner() else {
        return;
    };
    for (name, value) in tables {
        let name = Spanned::new(name.span(), name.get_ref().to_string());
        if kind.get_ref() == "group" {
            if let (Some(group), _) = read::<Spanned<RawGroup>>(source, value, errors) {
                parsed.raw.group.insert(name, group);
            }
            continue;
        }
        let (program, refused) = read::<Spanned<RawProgram>>(source, value, errors);
        if !refused.is_empty() {
            parsed.refused.insert(name.get_ref().clone(), refused);
        }
        if let Some(program) = program {
            parsed.raw.program.insert(name, program);
        }
    }
}

/// A `T` read from `value`; when it does not read, the keys of the table
/// that do not read alone are reported and left out (returned), and `T` is
/// read from the rest. None when even the rest does not read.
fn read<T: DeserializeOwned>(
    source: &Source,
    value: Spanned<DeValue<'_>>,
    errors: &mut ConfigError,
) -> (Option<T>, Vec<String>) {
    let whole = match T::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(read) => return (Some(read), Vec::new()),
        Err(err) => err,
    };
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        errors.push(source.toml_error(whole));
        return (None, Vec::new());
    };
    let found = errors.len();
    let mut refused = Vec::new();
    for (key, inner) in &table {
        let in_table = |inner: Spanned<DeValue<'_>>| -> Result<T, toml::de::Error> {
            let mut alone = DeTable::new();
            alone.insert(key.clone(), inner);
            T::deserialize(ValueDeserializer::from(Spanned::new(
                span.clone(),
                DeValue::Table(alone),
            )))
        };
        let Err(err) = in_table(inner.clone()) else {
            continue;
        };
        refused.push(key.get_ref().to_string());
        let parts = inline_parts(inner, err.span(), in_table);
        if parts.is_empty() {
            errors.push(source.toml_error(err));
        }
        for err in parts {
            errors.push(source.toml_error(err));
        }
    }
    for name in &refused {
        table.remove(name.as_str());
    }
    match T::deserialize(ValueDeserializer::from(Spanned::new(span, DeValue::Table(table)))) {
        Ok(read) => (Some(read), refused),
        Err(err) => {
            if errors.len() == found {
                errors.push(source.toml_error(err));
            }
            (None, refused)
        }
    }
}

/// When a key's value is a table and its error is about a part of it (not
/// the table as a whole), the errors of each of its keys alone: `ready = {
/// tcp = 1, every = "1s" }` has two.
fn inline_parts<T>(
    inner: &Spanned<DeValue<'_>>,
    error_at: Option<Range<usize>>,
    in_table: impl Fn(Spanned<DeValue<'_>>) -> Result<T, toml::de::Error>,
) -> Vec<toml::de::Error> {
    let DeValue::Table(parts) = inner.get_ref() else {
        return Vec::new();
    };
    let within = |span: Range<usize>| error_at.as_ref().is_some_and(|at| span.contains(&at.start));
    if !parts
        .iter()
        .any(|(key, value)| within(key.span()) || within(value.span()))
    {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for (key, value) in parts {
        let mut alone = DeTable::new();
        alone.insert(key.clone(), value.clone());
        if let Err(err) = in_table(Spanned::new(inner.span(), DeValue::Table(alone))) {
            errors.push(err);
        }
    }
    errors
}

/// The lines `parse` reports for `text`.
#[cfg(test)]
fn lines_of(text: &str) -> Vec<String> {
    let source = Source::new("t.toml", text);
    let mut errors = ConfigError::default();
    let _ = parse(&source, text, &mut errors);
    errors.lines()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_key_of_every_table_is_reported() {
        let text = "bogus = 1\n[rinit]\nshutdown_timeout = \"x\"\noutput = \"y\"\n\
                    [program.a]\ncommand = 5\nstop_timeout = \"z\"\n\
                    ready = { tcp = 1, every = \"1s\" }\n\
                    [program.b]\nnumprocs = 2\n";
        let lines = lines_of(text);
        let places: Vec<&str> = lines
            .iter()
            .map(|line| line.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            places,
            [
                "t.toml:1:1",
                "t.toml:3:20",
                "t.toml:4:10",
                "t.toml:6:11",
                "t.toml:7:16",
                "t.toml:8:17",
                "t.toml:8:20",
                "t.toml:10:1"
            ],
            "{lines:#?}"
        );
    }

    #[test]
    fn the_keys_that_read_are_kept_and_the_others_named() {
        let text = "[program.a]\ncommand = \"x\"\nstop_timeout = \"z\"\ncritical = true\n";
        let source = Source::new("t.toml", text);
        let mut errors = ConfigError::default();
        let parsed = parse(&source, text, &mut errors);
        let parsed = parsed.as_ref();
        let program = parsed.and_then(|p| p.raw.program.get("a"));
        assert!(program.is_some_and(|p| p.get_ref().critical && p.get_ref().command.is_some()));
        assert!(program.is_some_and(|p| p.get_ref().stop_timeout.is_none()));
        assert_eq!(
            parsed.and_then(|p| p.refused.get("a")),
            Some(&vec!["stop_timeout".to_string()])
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn a_syntax_error_is_the_only_one() {
        let lines = lines_of("[program.a]\ncommand = \"x\" \"y\"\nbogus = 1\n");
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
}
