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
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::schema::{RawFile, RawGroup, RawProgram, RawRinit};

/// The keys of the file's top level, as serde lists them.
const FILE_KEYS: &str = "`rinit`, `env`, `program`, `group`";

/// The file as read, less what could not be read.
pub(super) struct Parsed {
    pub(super) raw: RawFile,
    /// For each program, the keys that could not be read (left out of `raw`).
    pub(super) refused: HashMap<String, Vec<String>>,
    /// Every variable of `[env]` could be read.
    pub(super) env_complete: bool,
}

/// The file at `base` in `source` as a TOML tree, its spans in the file's
/// range of offsets; None, with the error pushed, after a syntax error.
fn tree<'s>(source: &Source, text: &'s str, base: usize, errors: &mut ConfigError) -> Option<DeTable<'s>> {
    match DeTable::parse(text) {
        Ok(root) => Some(moved_table(root.into_inner(), base)),
        Err(err) => {
            let at = err.span().map(|span| span.start.saturating_add(base));
            errors.push(source.schema_error(at, err.message()));
            None
        }
    }
}

/// The `include` patterns of the main file's `[rinit]` and where each is,
/// read from its TOML tree before the schema (what is not a string is left
/// to the schema, which reports it).
fn include_patterns(root: &DeTable<'_>) -> Vec<(String, usize)> {
    let Some(DeValue::Table(rinit)) = root.get("rinit").map(Spanned::get_ref) else {
        return Vec::new();
    };
    let Some(DeValue::Array(patterns)) = rinit.get("include").map(Spanned::get_ref) else {
        return Vec::new();
    };
    let text = |value: &Spanned<DeValue<'_>>| match value.get_ref() {
        DeValue::String(pattern) => Some((pattern.to_string(), value.span().start)),
        _ => None,
    };
    patterns.iter().filter_map(text).collect()
}

/// The tables of an included file added to the main file's tree: its
/// `[program.*]`, `[group.*]` and `[env]` entries, each under a name not
/// defined yet (else an error naming both places); a `[rinit]` table is an
/// error (its settings belong to the main file).
fn merge<'s>(source: &Source, root: &mut DeTable<'s>, included: DeTable<'s>, errors: &mut ConfigError) {
    for (key, value) in included {
        if key.get_ref() == "rinit" {
            let message = format!(
                "[rinit] is read only from the main configuration file ({}); an included file holds \
                 [program.NAME], [group.NAME] and [env]",
                source.main_name()
            );
            errors.push(source.error(Some(key.span().start), None, None, message));
            continue;
        }
        let Some(existing) = root.get_mut(key.get_ref().as_ref()) else {
            root.insert(key, value);
            continue;
        };
        let (DeValue::Table(into), DeValue::Table(entries)) = (existing.get_mut(), value.into_inner()) else {
            let message = format!(
                "{} is defined twice: here and in {}",
                key.get_ref(),
                source.main_name()
            );
            errors.push(source.error(Some(key.span().start), None, None, message));
            continue;
        };
        let kind = match key.get_ref().as_ref() {
            "program" => "program",
            "group" => "group",
            _ => "variable",
        };
        for (name, entry) in entries {
            if let Some((first, _)) = into.get_key_value(name.get_ref().as_ref()) {
                let message = format!(
                    "{kind} {} is defined twice: here and at {}",
                    name.get_ref(),
                    source.place(first.span().start)
                );
                let key = (kind == "variable").then_some("env");
                errors.push(source.error(Some(name.span().start), None, key, message));
                continue;
            }
            into.insert(name, entry);
        }
    }
}

/// Reads the main file of `source`, then (with `includes`) the files its
/// `include` patterns match (added to `source`, include.rs), each merged
/// into its tree; pushes every error to `errors`; None after a syntax error
/// in the main file. Over 50 lines: the files, then the top level's four
/// tables, in one pass.
pub(super) fn parse(source: &mut Source, includes: bool, errors: &mut ConfigError) -> Option<Parsed> {
    let (main, _) = source.file(0);
    let mut root = tree(source, &main, 0, errors)?;
    if includes {
        super::include::read(source, include_patterns(&root), errors);
    }
    let included: Vec<(std::rc::Rc<str>, usize)> = (1..source.len()).map(|i| source.file(i)).collect();
    for (text, base) in &included {
        if let Some(tree) = tree(source, text, *base, errors) {
            merge(source, &mut root, tree, errors);
        }
    }
    let mut parsed = Parsed {
        raw: RawFile {
            rinit: RawRinit::default(),
            env: BTreeMap::new(),
            program: BTreeMap::new(),
            group: BTreeMap::new(),
        },
        refused: HashMap::new(),
        env_complete: true,
    };
    for (key, value) in root {
        match key.get_ref().as_ref() {
            "rinit" => {
                if let (Some(rinit), _) = read(source, value, errors) {
                    parsed.raw.rinit = rinit;
                }
            }
            "env" => {
                let (env, refused) = read(source, value, errors);
                parsed.env_complete = env.is_some() && refused.is_empty();
                parsed.raw.env = env.unwrap_or_default();
            }
            "program" | "group" if value.get_ref().is_table() => {
                named_tables(source, &key, value, &mut parsed, errors);
            }
            "program" | "group" => {
                let message = format!(
                    "invalid type: {}, expected a table: [{}.NAME]",
                    value.get_ref().type_str(),
                    key.get_ref()
                );
                errors.push(source.schema_error(Some(value.span().start), &message));
            }
            unknown => {
                let message = format!("unknown field `{unknown}`, expected one of {FILE_KEYS}");
                errors.push(source.schema_error(Some(key.span().start), &message));
            }
        }
    }
    Some(parsed)
}

/// `table` with the spans in it (of keys and values, all the way down)
/// moved by `base`: into the file's range of offsets (error.rs).
fn moved_table(table: DeTable<'_>, base: usize) -> DeTable<'_> {
    if base == 0 {
        return table;
    }
    let mut moved = DeTable::new();
    for (key, value) in table {
        let span = key.span();
        let span = span.start.saturating_add(base)..span.end.saturating_add(base);
        moved.insert(Spanned::new(span, key.into_inner()), moved_value(value, base));
    }
    moved
}

/// `value` with its spans moved by `base` (`moved_table`).
fn moved_value(value: Spanned<DeValue<'_>>, base: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let span = span.start.saturating_add(base)..span.end.saturating_add(base);
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(moved_table(table, base)),
        DeValue::Array(mut array) => {
            for item in array.iter_mut() {
                let taken = std::mem::replace(item, Spanned::new(0..0, DeValue::Boolean(false)));
                *item = moved_value(taken, base);
            }
            DeValue::Array(array)
        }
        other => other,
    };
    Spanned::new(span, inner)
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
        let span = value.span();
        if kind.get_ref() == "group" {
            if let (Some(group), _) = read::<RawGroup>(source, value, errors) {
                parsed.raw.group.insert(name, Spanned::new(span, group));
            }
            continue;
        }
        let (program, refused) = read::<RawProgram>(source, value, errors);
        if !refused.is_empty() {
            parsed.refused.insert(name.get_ref().clone(), refused);
        }
        if let Some(program) = program {
            parsed.raw.program.insert(name, Spanned::new(span, program));
        }
    }
}

/// Reads a value as one type, or says why not.
type Attempt<'a, 'i> = dyn Fn(Spanned<DeValue<'i>>) -> Result<(), toml::de::Error> + 'a;

/// A `T` read from `value`; when it does not read, the keys of the table
/// that do not read alone are reported and left out (returned), and `T` is
/// read from the rest. None when even the rest does not read.
fn read<'i, T: DeserializeOwned>(
    source: &Source,
    value: Spanned<DeValue<'i>>,
    errors: &mut ConfigError,
) -> (Option<T>, Vec<String>) {
    let whole = match T::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(read) => return (Some(read), Vec::new()),
        Err(err) => err,
    };
    let found = errors.len();
    // The search is the same for every T: one copy of it in the binary.
    let attempt = |value: Spanned<DeValue<'i>>| T::deserialize(ValueDeserializer::from(value)).map(drop);
    let (rest, refused) = without_bad_keys(source, value, whole, &attempt, errors);
    let Some(rest) = rest else {
        return (None, refused);
    };
    match T::deserialize(ValueDeserializer::from(rest)) {
        Ok(read) => (Some(read), refused),
        Err(err) => {
            if errors.len() == found {
                errors.push(source.toml_error(err));
            }
            (None, refused)
        }
    }
}

/// `value`, a table that `attempt` refused with `whole`, less each key
/// that `attempt` refuses alone (reported to `errors`, and returned by
/// name); None, with `whole` reported, when it is not a table.
fn without_bad_keys<'i>(
    source: &Source,
    value: Spanned<DeValue<'i>>,
    whole: toml::de::Error,
    attempt: &Attempt<'_, 'i>,
    errors: &mut ConfigError,
) -> (Option<Spanned<DeValue<'i>>>, Vec<String>) {
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        errors.push(source.toml_error(whole));
        return (None, Vec::new());
    };
    let mut refused = Vec::new();
    for (key, inner) in &table {
        let in_table = |inner: Spanned<DeValue<'i>>| {
            let mut alone = DeTable::new();
            alone.insert(key.clone(), inner);
            attempt(Spanned::new(span.clone(), DeValue::Table(alone)))
        };
        let Err(err) = in_table(inner.clone()) else {
            continue;
        };
        refused.push(key.get_ref().to_string());
        let parts = inline_parts(inner, err.span(), &in_table);
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
    (Some(Spanned::new(span, DeValue::Table(table))), refused)
}

/// When a key's value is a table and its error is about a part of it (not
/// the table as a whole), the errors of each of its keys alone: `ready = {
/// tcp = 1, every = "1s" }` has two.
fn inline_parts<'i>(
    inner: &Spanned<DeValue<'i>>,
    error_at: Option<Range<usize>>,
    in_table: &Attempt<'_, 'i>,
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
    let mut source = Source::new("t.toml", text, std::path::Path::new("."));
    let mut errors = ConfigError::default();
    let _ = parse(&mut source, true, &mut errors);
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
        let mut source = Source::new("t.toml", text, std::path::Path::new("."));
        let mut errors = ConfigError::default();
        let parsed = parse(&mut source, true, &mut errors);
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
    fn the_top_level_has_four_tables() {
        assert_eq!(
            lines_of("program = 5\ngroup = \"x\"\nprogramz = 2\n"),
            [
                "t.toml:1:11: key program: invalid type: integer, expected a table: [program.NAME]",
                "t.toml:2:9: key group: invalid type: string, expected a table: [group.NAME]",
                "t.toml:3:1: key programz: unknown key `programz`: did you mean `program`?",
            ]
        );
    }

    #[test]
    fn a_syntax_error_is_the_only_one() {
        let lines = lines_of("[program.a]\ncommand = \"x\" \"y\"\nbogus = 1\n");
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
}
