//! One program's keys that take more checking than their type: the
//! environment (`env_file`, `user` and `group`, `env`), the expansion of
//! variables, and `command`, `directory`, `ready`, `health`, `instances` and
//! `umask`. Each key is checked on its own and every error kept, but a key
//! whose value comes from one that failed is not checked.

use std::path::PathBuf;
use std::time::Duration;

use super::checks;
use super::env_keys;
use super::environment::Env;
use super::error::{ConfigError, Problem};
use super::expand;
use super::schema::{InstancesValue, RawProgram};
use super::users::{self, Account};
use super::validate::{At, Shared};
use super::{AsWritten, Health, Ready, MAX_INSTANCES};
use crate::log;

/// The keys that make a program's environment: when one of them could not
/// be read, expanding the program's variables would report some as not set.
const ENVIRONMENT_KEYS: [&str; 4] = ["env", "env_file", "user", "instances"];

/// What checking one program's keys needs.
pub(super) struct Keys<'a> {
    pub(super) shared: &'a Shared<'a>,
    pub(super) name: &'a str,
    /// The keys that could not be read.
    pub(super) refused: &'a [String],
    pub(super) substituted: &'a expand::Substituted,
    pub(super) at: &'a At<'a>,
}

/// The values of a program's keys that take checking beyond their type.
pub(super) struct Checked {
    pub(super) command: Vec<String>,
    pub(super) per_instance: bool,
    pub(super) written: AsWritten,
    pub(super) user: Option<Account>,
    pub(super) directory: Option<PathBuf>,
    pub(super) env: Env,
    pub(super) ready: Option<Ready>,
    pub(super) ready_timeout: Duration,
    pub(super) health: Option<Health>,
    pub(super) instances: Option<u32>,
    pub(super) umask: Option<u32>,
}

impl Keys<'_> {
    fn refused(&self, key: &str) -> bool {
        self.refused.iter().any(|refused| refused == key)
    }

    /// The program's keys, each checked on its own, with every error pushed
    /// to `errors`; None when there was one. The environment comes first
    /// (`[env]`, env_file, user, env): when it has an error, the keys that
    /// expand variables from it are not checked (they would report its
    /// variables as not set). Over 50 lines: the keys in the order their
    /// values depend on each other.
    pub(super) fn checked(&self, raw: &mut RawProgram, errors: &mut ConfigError) -> Option<Checked> {
        let (shared, at) = (self.shared, self.at);
        let found = errors.len();
        let umask = errors.kept(umask(raw, at)).flatten();
        let mut written = AsWritten::of(raw);
        let file_vars = errors.kept(env_keys::env_file(shared.source, raw, at));
        let vars = file_vars.as_deref().unwrap_or_default();
        let user_expanded = errors
            .kept(env_keys::expand_user(
                raw,
                &shared.env,
                vars,
                self.substituted,
                at,
            ))
            .is_some();
        let user = if user_expanded && !self.refused("user") {
            errors.kept(account(shared, raw, at)).flatten()
        } else {
            None
        };
        let layers = env_keys::Layers {
            source: shared.source,
            shared: &shared.env,
            set_in_file_env: &shared.set_in_file_env,
        };
        let env_errors = errors.len();
        let vars = file_vars.clone().unwrap_or_default();
        let env = env_keys::environment(&layers, self.name, raw, user.as_ref(), vars, errors);
        let complete = shared.env_complete
            && file_vars.is_some()
            && errors.len() == env_errors
            && !ENVIRONMENT_KEYS.iter().any(|key| self.refused(key));
        if !complete {
            return None;
        }
        let lookup = env_keys::lookup(&env, self.name);
        let expanded = expand::program_keys(raw, &lookup, self.substituted, &mut written, at, errors);
        drop(lookup);
        // A key that did not expand has its error; its value is not checked.
        let expanded_ok = |key: &str| !expanded.failed.contains(&key);
        let command = match (&raw.command, expanded_ok("command")) {
            (Some(command), true) => {
                let words = command.get_ref().words();
                errors.kept(words.map_err(|e| at(command.span().start, "command", e)))
            }
            _ => None,
        };
        let directory = expanded_ok("directory")
            .then(|| errors.kept(directory(shared, raw, at)))
            .flatten()
            .flatten();
        // A relative ready file is the program's: in its directory.
        let program_dir = directory.clone().or_else(|| shared.current_dir.clone());
        let ready = expanded_ok("ready")
            .then(|| errors.kept(checks::ready_check(raw, program_dir.as_deref(), at)))
            .flatten();
        let health = expanded_ok("health")
            .then(|| errors.kept(checks::health_check(raw, at)))
            .flatten();
        let instances = expanded_ok("instances")
            .then(|| errors.kept(instances(raw, at)))
            .flatten();
        if errors.len() > found {
            return None;
        }
        let (ready, ready_timeout) = ready?;
        Some(Checked {
            command: command?,
            per_instance: expanded.per_instance,
            written,
            user,
            directory,
            env,
            ready,
            ready_timeout,
            health: health?,
            instances: instances?,
            umask,
        })
    }
}

/// `umask = "022"`: one to four octal digits, at most 0777.
fn umask(raw: &RawProgram, at: &At) -> Result<Option<u32>, Problem> {
    let Some(text) = &raw.umask else { return Ok(None) };
    let digits = text.get_ref();
    match u32::from_str_radix(digits, 8) {
        Ok(mask)
            if (1..=4).contains(&digits.len())
                && mask <= 0o777
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(mask))
        }
        _ => Err(at(
            text.span().start,
            "umask",
            format!("{digits:?} is not a umask: expected octal digits up to \"0777\", as in \"022\""),
        )),
    }
}

/// `user` and `group`, from /etc/passwd and /etc/group; only root can switch.
fn account(shared: &Shared, raw: &RawProgram, at: &At) -> Result<Option<Account>, Problem> {
    let user = match (&raw.user, &raw.group) {
        (None, None) => return Ok(None),
        (None, Some(group)) => {
            return Err(at(
                group.span().start,
                "group",
                "`group` needs `user` beside it".into(),
            ))
        }
        (Some(user), _) => user,
    };
    let group = raw.group.as_ref();
    let account = users::lookup(user.get_ref(), group.map(|g| g.get_ref().as_str())).map_err(|e| {
        let message = format!("{e}{}", users::did_you_mean(&e));
        match group {
            Some(group) if e.is_about_group() => at(group.span().start, "group", message),
            _ => at(user.span().start, "user", message),
        }
    })?;
    let own_uid = shared.own_uid;
    if let (true, Some(group)) = (own_uid != 0, group) {
        let message = format!(
            "rinit runs as uid {own_uid}, not as root, so it cannot set the group; run rinit as root or remove `group`"
        );
        return Err(at(group.span().start, "group", message));
    }
    if own_uid != 0 && account.user.uid != own_uid {
        let message = format!(
            "rinit runs as uid {own_uid}, not as root, so it cannot switch to {:?} (uid {}); \
             run rinit as root or remove `user`",
            user.get_ref(),
            account.user.uid
        );
        return Err(at(user.span().start, "user", message));
    }
    Ok(Some(account))
}

/// `directory`: an existing directory, relative ones from rinit's starting directory.
fn directory(shared: &Shared, raw: &RawProgram, at: &At) -> Result<Option<PathBuf>, Problem> {
    let Some(dir) = &raw.directory else {
        return Ok(None);
    };
    let path = PathBuf::from(dir.get_ref());
    let path = match &shared.current_dir {
        Some(cwd) if path.is_relative() => cwd.join(&path),
        _ => path,
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(Some(path)),
        Ok(_) => Err(at(
            dir.span().start,
            "directory",
            format!("{path:?} is not a directory"),
        )),
        Err(err) => Err(at(
            dir.span().start,
            "directory",
            format!("{path:?}: {}", log::io_error_text(&err)),
        )),
    }
}

fn instances(raw: &RawProgram, at: &At) -> Result<Option<u32>, Problem> {
    match &raw.instances {
        None => Ok(None),
        Some(count) => match count.get_ref() {
            InstancesValue::Count(n) if (1..=i64::from(MAX_INSTANCES)).contains(n) => Ok(Some(*n as u32)),
            _ => Err(at(
                count.span().start,
                "instances",
                format!("must be from 1 to {MAX_INSTANCES}"),
            )),
        },
    }
}
