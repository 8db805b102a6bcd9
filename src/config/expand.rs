//! `${NAME}`, `${NAME:-default}` and `${NAME:?message}` in the keys that
//! take them, from the program's environment; `$${` writes `${`. Only the
//! braced form expands, so `sh -c 'echo $HOME'` is left to the shell. A
//! value stays one argument: a command string is split into words first.
//! Messages name variables, never their values.

use std::cell::RefCell;

use toml::Spanned;

use super::error::{ConfigError, Problem};
use super::schema::{CommandValue, InstancesValue, RawProgram};
use super::shell_words;
use super::validate::At;
use super::AsWritten;

/// A variable's value in a program's environment.
pub(super) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The variable that differs per instance: only `command` may use it, and
/// it is expanded again at each instance's start.
pub const INSTANCE: &str = "RINIT_INSTANCE";

/// How deep `${...}` may nest in defaults (`${A:-${B:-...}}`): deeper is an
/// error, so neither rinit's stack nor its time grows with a hostile value.
pub const NESTING_MAX: usize = 16;

/// `text` with every `${...}` replaced; `lookup` gives a variable's value.
pub fn expand(text: &str, lookup: &mut dyn FnMut(&str) -> Option<String>) -> Result<String, String> {
    expand_nested(text, lookup, 0)
}

fn expand_nested(
    text: &str,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
    depth: usize,
) -> Result<String, String> {
    if depth > NESTING_MAX {
        return Err(format!(
            "`${{` is nested more than {NESTING_MAX} deep in a default"
        ));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = closing_brace(tail).ok_or_else(|| {
                format!(
                    "{:?} has a `${{` without its `}}` (write `$${{` for a literal `${{`)",
                    text
                )
            })?;
            let (inside, closing) = tail.split_at_checked(end).unwrap_or((tail, ""));
            out.push_str(&substitute(inside, lookup, depth)?);
            rest = closing.strip_prefix('}').unwrap_or(closing);
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `text` refers to `name` (in any form, defaults included).
pub fn refers_to(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some((_, after)) = rest.split_once('$') {
        if let Some(tail) = after.strip_prefix("${") {
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let named = tail
                .strip_prefix(name)
                .is_some_and(|end| !end.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
            if named {
                return true;
            }
            rest = tail;
        } else {
            rest = after;
        }
    }
    false
}

/// The values that `${...}`s in one program's keys were replaced with, so
/// that a message about an expanded key names the variable, not its value:
/// every message about the program passes through `redact`.
#[derive(Default)]
pub(super) struct Substituted(RefCell<Vec<(String, String)>>);

/// Values shorter than this are not redacted: they would match rinit's
/// own words and numbers ("from 1 to 1000"), and hide nothing.
const REDACT_MIN: usize = 4;

impl Substituted {
    /// `lookup`, noting each value it gives.
    pub(super) fn noting<'s, 'l>(
        &'s self,
        lookup: &'l Lookup<'l>,
    ) -> impl Fn(&str) -> Option<String> + use<'s, 'l> {
        move |name| {
            let value = lookup(name)?;
            if value.chars().count() >= REDACT_MIN {
                self.0.borrow_mut().push((name.to_string(), value.clone()));
            }
            Some(value)
        }
    }

    /// `message` with each noted value, as written or as `{:?}` escapes it,
    /// replaced by `${NAME}`; the longest values first.
    pub(super) fn redact(&self, mut message: String) -> String {
        let mut noted = self.0.borrow().clone();
        noted.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        for (name, value) in noted {
            let debug = format!("{value:?}");
            let escaped = debug.trim_start_matches('"').trim_end_matches('"');
            let variable = format!("${{{name}}}");
            message = message.replace(&value, &variable).replace(escaped, &variable);
        }
        message
    }
}

/// What expanding a program's keys found.
#[derive(Default)]
pub(super) struct Expanded {
    /// The command uses RINIT_INSTANCE: each instance's start expands it again.
    pub(super) per_instance: bool,
    /// The keys that did not expand (their errors are in `errors`): the
    /// checks of their values would be about text that is not the value.
    pub(super) failed: Vec<&'static str>,
}

/// Expands the keys of one program that take variables: `instances`, then
/// `command`, `directory`, and the targets of `ready` and `health` (`user`
/// and `group` are done before, with `key`), each on its own: an error in
/// one does not stop the others. A string command is split into words
/// first, kept in `written` as they were. `substituted` notes each value used.
pub(super) fn program_keys(
    raw: &mut RawProgram,
    lookup: &Lookup,
    substituted: &Substituted,
    written: &mut AsWritten,
    at: &At,
    errors: &mut ConfigError,
) -> Expanded {
    let lookup: &Lookup = &substituted.noting(lookup);
    let mut expanded = Expanded::default();
    let mut note = |name: &'static str, result: Result<(), Problem>| {
        if let Err(problem) = result {
            errors.push(problem);
            expanded.failed.push(name);
        }
    };
    if let Some(instances) = &mut raw.instances {
        note("instances", instance_count(instances, lookup, at));
    }
    let has_instances = raw.instances.is_some();
    if let Some(command) = &mut raw.command {
        let words = command_words(command, has_instances, lookup, at);
        note(
            "command",
            words.map(|(words, per_instance)| {
                written.command = words;
                expanded.per_instance = per_instance;
            }),
        );
    }
    let mut targets: Vec<(&mut Spanned<String>, &'static str)> = Vec::new();
    targets.extend(raw.directory.as_mut().map(|d| (d, "directory")));
    if let Some(ready) = &mut raw.ready {
        let ready = ready.get_mut();
        for target in [&mut ready.tcp, &mut ready.http, &mut ready.file]
            .into_iter()
            .flatten()
        {
            targets.push((target, "ready"));
        }
        if let Some(command) = &mut ready.command {
            note("ready", check_words(command, "ready", lookup, at));
        }
    }
    if let Some(health) = &mut raw.health {
        let health = health.get_mut();
        for target in [&mut health.tcp, &mut health.http].into_iter().flatten() {
            targets.push((target, "health"));
        }
        if let Some(command) = &mut health.command {
            note("health", check_words(command, "health", lookup, at));
        }
    }
    for (target, name) in targets {
        let offset = target.span().start;
        note(name, key(target.get_mut(), offset, name, lookup, at));
    }
    expanded
}

/// A string `instances`, expanded to its number.
fn instance_count(instances: &mut Spanned<InstancesValue>, lookup: &Lookup, at: &At) -> Result<(), Problem> {
    let offset = instances.span().start;
    if let InstancesValue::Text(template) = instances.get_mut() {
        let mut text = template.clone();
        key(&mut text, offset, "instances", lookup, at)?;
        let count = text.trim().parse::<i64>().map_err(|_| {
            let message = format!(
                "{template:?} does not expand to a whole number of instances (from 1 to {})",
                super::MAX_INSTANCES
            );
            at(offset, "instances", message)
        })?;
        *instances.get_mut() = InstancesValue::Count(count);
    }
    Ok(())
}

/// Expands one key's value in place.
pub(super) fn key(
    text: &mut String,
    offset: usize,
    name: &str,
    lookup: &Lookup,
    at: &At,
) -> Result<(), Problem> {
    if refers_to(text, INSTANCE) {
        let message = format!(
            "{INSTANCE} differs from one instance to the next: only `command` can use ${{{INSTANCE}}} \
             (the program also finds it in its environment)"
        );
        return Err(at(offset, name, message));
    }
    *text = expand(text, &mut |n| lookup(n)).map_err(|why| at(offset, name, why))?;
    Ok(())
}

/// A command's words, each expanded (a value stays one word); the words
/// before expansion, and whether they use RINIT_INSTANCE. `has_instances`:
/// it is "0" here, for `rinit check` and the plan.
fn command_words(
    command: &mut Spanned<CommandValue>,
    has_instances: bool,
    lookup: &Lookup,
    at: &At,
) -> Result<(Vec<String>, bool), Problem> {
    let offset = command.span().start;
    let words = split(command.get_ref()).map_err(|why| at(offset, "command", why))?;
    let per_instance = has_instances && words.iter().any(|word| refers_to(word, INSTANCE));
    let lookup = |name: &str| match name {
        INSTANCE if has_instances => Some("0".to_string()),
        _ => lookup(name),
    };
    let mut expanded = Vec::with_capacity(words.len());
    for word in &words {
        expanded.push(expand(word, &mut |n| lookup(n)).map_err(|why| at(offset, "command", why))?);
    }
    *command.get_mut() = CommandValue::Words(expanded);
    Ok((words, per_instance))
}

/// A `ready` or `health` command's words, each expanded.
fn check_words(
    command: &mut Spanned<CommandValue>,
    name: &str,
    lookup: &Lookup,
    at: &At,
) -> Result<(), Problem> {
    let offset = command.span().start;
    let mut words = split(command.get_ref()).map_err(|why| at(offset, name, format!("command: {why}")))?;
    for word in &mut words {
        key(word, offset, name, lookup, at)?;
    }
    *command.get_mut() = CommandValue::Words(words);
    Ok(())
}

fn split(command: &CommandValue) -> Result<Vec<String>, String> {
    match command {
        CommandValue::Line(line) => shell_words::split(line),
        CommandValue::Words(words) => Ok(words.clone()),
    }
}

/// Where the `}` that closes a `${` is in `tail` (after the `${`), counting
/// the `${`s nested in a default.
fn closing_brace(tail: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut bytes = tail.bytes().enumerate().peekable();
    while let Some((i, byte)) = bytes.next() {
        match byte {
            b'$' if bytes.peek().is_some_and(|&(_, next)| next == b'{') => {
                bytes.next();
                depth = depth.saturating_add(1);
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// One `${...}`'s value, from its inside.
fn substitute(
    inside: &str,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
    depth: usize,
) -> Result<String, String> {
    let name_end = inside
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inside.len());
    let (name, form) = inside.split_at(name_end);
    let known_form = form.is_empty() || form.starts_with(":-") || form.starts_with(":?");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || !known_form {
        return Err(not_a_variable(inside));
    }
    let value = lookup(name).filter(|value| !value.is_empty() || form.is_empty());
    match (value, form) {
        (Some(value), _) => Ok(value),
        (None, "") => Err(format!(
            "${{{name}}} is not set (rinit's environment, [env], env_file or env); \
             give it a default with ${{{name}:-value}}"
        )),
        (None, form) => match form.strip_prefix(":-") {
            Some(default) => expand_nested(default, lookup, depth.saturating_add(1)),
            None => Err(format!(
                "{name} is not set: {}",
                form.get(2..).unwrap_or_default()
            )),
        },
    }
}

fn not_a_variable(inside: &str) -> String {
    format!(
        "\"${{{inside}}}\" is not a variable: expected ${{NAME}}, ${{NAME:-default}} or ${{NAME:?message}} \
         (write $${{ for a literal ${{)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], text: &str) -> Result<String, String> {
        expand(text, &mut |name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn braced_forms_expand_and_the_rest_is_left_alone() {
        let vars = [("HOME", "/home/app"), ("EMPTY", ""), ("N", "4")];
        assert_eq!(with(&vars, "${HOME}/bin").unwrap(), "/home/app/bin");
        assert_eq!(with(&vars, "echo $HOME $ 5$").unwrap(), "echo $HOME $ 5$");
        assert_eq!(with(&vars, "${MISSING:-2}").unwrap(), "2");
        assert_eq!(
            with(&vars, "${EMPTY:-x}").unwrap(),
            "x",
            "empty counts as unset, as in sh"
        );
        assert_eq!(with(&vars, "${EMPTY}").unwrap(), "");
        assert_eq!(with(&vars, "${N:-2}").unwrap(), "4");
        assert_eq!(with(&vars, "${A:-${N}0}").unwrap(), "40", "a default may expand");
        assert_eq!(
            with(&vars, "${A:-{x}}").unwrap(),
            "{x}",
            "a lone {{ does not nest: the first }} closes"
        );
        assert_eq!(with(&vars, "$${HOME} $$").unwrap(), "${HOME} $$");
        assert_eq!(with(&vars, "${A:-$${B}}").unwrap(), "${B}");
        assert_eq!(with(&vars, "").unwrap(), "");
        assert_eq!(with(&vars, "é${N}ü").unwrap(), "é4ü");
    }

    #[test]
    fn what_cannot_expand_says_why_and_names_no_value() {
        let vars = [("SECRET", "hunter2")];
        assert_eq!(
            with(&vars, "${DATABASE_URL}").unwrap_err(),
            "${DATABASE_URL} is not set (rinit's environment, [env], env_file or env); \
             give it a default with ${DATABASE_URL:-value}"
        );
        assert_eq!(
            with(&vars, "${DB:?set DB to the database's address}").unwrap_err(),
            "DB is not set: set DB to the database's address"
        );
        assert_eq!(
            with(&vars, "a ${SECRET").unwrap_err(),
            "\"a ${SECRET\" has a `${` without its `}` (write `$${` for a literal `${`)"
        );
        for bad in ["${}", "${1X}", "${SECRET-x}", "${SECRET:x}", "${A B}"] {
            let message = with(&vars, bad).unwrap_err();
            assert!(
                message.contains("is not a variable: expected ${NAME}"),
                "{bad}: {message}"
            );
            assert!(!message.contains("hunter2"));
        }
    }

    #[test]
    fn defaults_nest_16_deep_and_no_deeper() {
        let nested = |n: usize| format!("{}x{}", "${A:-".repeat(n), "}".repeat(n));
        assert_eq!(with(&[], &nested(16)), Ok("x".into()));
        assert_eq!(
            with(&[], &nested(17)),
            Err("`${` is nested more than 16 deep in a default".into())
        );
        // 100,000 deep: an error at once, not a crash.
        let started = std::time::Instant::now();
        assert!(with(&[], &nested(100_000)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn references_are_found_in_defaults_too() {
        assert!(refers_to("--port 80${RINIT_INSTANCE}", INSTANCE));
        assert!(refers_to("${X:-${RINIT_INSTANCE}}", INSTANCE));
        assert!(refers_to("${X:?no} ${RINIT_INSTANCE:-0}", INSTANCE));
        assert!(!refers_to(
            "$RINIT_INSTANCE $${RINIT_INSTANCE} ${RINIT_INSTANCES}",
            INSTANCE
        ));
    }
}
