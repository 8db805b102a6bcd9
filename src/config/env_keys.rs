//! The keys that make a program's environment, checked and expanded:
//! `[env]` (its values see rinit's environment), `env_file` (taken
//! literally), `env` (its values see the layers below), HOME, USER and
//! LOGNAME from `user`; and the expansion of `user` and `group`, which come
//! before HOME is known.

use std::collections::{BTreeMap, HashSet};

use toml::Spanned;

use super::env_file;
use super::environment::{Env, Files};
use super::error::{ConfigError, Problem, Source};
use super::expand::{self, Lookup};
use super::input;
use super::schema::{EnvValue, RawProgram};
use super::users::Account;
use super::validate::At;

/// Variables in the order they are set.
pub(super) type Vars = Vec<(String, String)>;

/// What every program's environment starts from.
pub(super) struct Layers<'a> {
    pub(super) source: &'a Source,
    /// rinit's environment (less NOTIFY_SOCKET), then `[env]`.
    pub(super) shared: &'a Env,
    /// The names `[env]` sets: HOME, USER and LOGNAME from `user` go under them.
    pub(super) set_in_file_env: &'a HashSet<String>,
}

/// Expands `user` and `group`, from rinit's environment, `[env]` (in
/// `shared`) and `env_file` (`env` may use HOME, which comes from `user`).
pub(super) fn expand_user(
    raw: &mut RawProgram,
    shared: &Env,
    file_vars: &[(String, String)],
    substituted: &expand::Substituted,
    at: &At,
) -> Result<(), Problem> {
    let below_user = |key: &str| {
        let from_file = file_vars.iter().rev().find(|(k, _)| k == key);
        from_file
            .map(|(_, value)| value.clone())
            .or_else(|| shared.get(key).map(|v| v.to_string_lossy().into_owned()))
    };
    for (value, key) in [(&mut raw.user, "user"), (&mut raw.group, "group")] {
        if let Some(value) = value {
            let offset = value.span().start;
            expand::key(value.get_mut(), offset, key, &substituted.noting(&below_user), at)?;
        }
    }
    Ok(())
}

/// `env_file`'s variables, in the file's order (taken literally, as
/// Docker's --env-file does).
pub(super) fn env_file(source: &Source, raw: &RawProgram, at: &At) -> Result<Vars, Problem> {
    let Some(env_file) = &raw.env_file else {
        return Ok(Vec::new());
    };
    let path = source.folder(env_file.span().start).join(env_file.get_ref());
    let offset = env_file.span().start;
    let text = input::read_text(&path).map_err(|why| {
        at(
            offset,
            "env_file",
            format!("cannot read {}: {why}", path.display()),
        )
    })?;
    env_file::parse(&text).map_err(|err| at(offset, "env_file", format!("{}: {err}", path.display())))
}

/// The program's environment. Lowest to highest: rinit's environment, the
/// user's HOME/USER/LOGNAME, [env] (those two shared), env_file, env.
/// `env` values see the layers below them; a bad one is pushed to `errors`
/// and left out.
pub(super) fn environment(
    shared: &Layers,
    name: &str,
    raw: &mut RawProgram,
    user: Option<&Account>,
    file_vars: Vars,
    errors: &mut ConfigError,
) -> Env {
    let mut env = shared.shared.clone();
    if let Some(account) = user {
        for (key, value) in [
            ("HOME", &account.user.home),
            ("USER", &account.user.name),
            ("LOGNAME", &account.user.name),
        ] {
            if !shared.set_in_file_env.contains(key) {
                env.set(key, value);
            }
        }
    }
    for (key, value) in &file_vars {
        env.set(key, value);
    }
    // Each value sees the layers below `env`.
    let (own, files) = checked_env(
        shared.source,
        Some(name),
        std::mem::take(&mut raw.env),
        &lookup(&env, name),
        errors,
    );
    for (key, value) in &own {
        env.set(key, value);
    }
    for (key, path) in files {
        env.set_file(&key, path);
    }
    env
}

/// Variables as program `name` sees them in `env`: its RINIT_PROGRAM, and
/// the rest from `env`.
pub(super) fn lookup<'a>(env: &'a Env, name: &'a str) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| match key {
        "RINIT_PROGRAM" => Some(name.to_string()),
        _ => env.get(key).map(|v| v.to_string_lossy().into_owned()),
    }
}

/// An `env` table with its names and values checked: what execve can pass,
/// and the values to read from files at each start (relative paths in
/// the folder of the file that sets them). Each bad entry is an error of
/// its own, pushed to `errors`, and left out.
pub(super) fn checked_env(
    source: &Source,
    program: Option<&str>,
    table: BTreeMap<Spanned<String>, EnvValue>,
    lookup: &Lookup,
    errors: &mut ConfigError,
) -> (Vars, Files) {
    let mut checked = Vec::with_capacity(table.len());
    let mut files = Files::new();
    for (key, value) in table {
        let problem = match &value {
            _ if key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']) => {
                Some(format!("invalid variable name {:?}", key.get_ref()))
            }
            EnvValue::Text(text) if text.contains('\0') => {
                Some(format!("the value of {} contains a NUL byte", key.get_ref()))
            }
            EnvValue::File(path) if path.is_empty() || path.contains('\0') => Some(format!(
                "{}: the file's path must not be empty or hold a NUL byte",
                key.get_ref()
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            errors.push(source.error(Some(key.span().start), program, Some("env"), problem));
            continue;
        }
        let mut value = match value {
            EnvValue::Text(text) => text,
            EnvValue::File(path) => {
                // Read at each start, after rinit has moved to /: made
                // absolute now, from where rinit started.
                let path = source.folder(key.span().start).join(path);
                files.push((key.into_inner(), std::path::absolute(&path).unwrap_or(path)));
                continue;
            }
        };
        let at = |offset: usize, name: &str, why: String| {
            source.error(
                Some(offset),
                program,
                Some(name),
                format!("{}: {why}", key.get_ref()),
            )
        };
        match expand::key(&mut value, key.span().start, "env", lookup, &at) {
            Ok(()) => checked.push((key.into_inner(), value)),
            Err(problem) => errors.push(problem),
        }
    }
    (checked, files)
}
