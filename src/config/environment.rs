//! A program's environment as layers: what every program shares (rinit's own
//! environment, then `[env]`) once, and each program's own settings on top
//! (HOME/USER/LOGNAME, `env_file`, `env`). They are merged, the later
//! setting of a name winning, in one linear pass when the program starts: a
//! configuration with 200,000 `[env]` keys or 30,000 programs costs neither
//! quadratic time nor a copy of the shared part per program. A value may
//! come from a file (`{ file = "/run/secrets/x" }`, a secret as Docker and
//! Kubernetes mount them): it is read at each start, and never known before.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub type Vars = Vec<(OsString, OsString)>;

/// Values read from files at each start: (name, path).
pub type Files = Vec<(String, PathBuf)>;

/// The largest file a value is read from.
pub const FILE_MAX: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env {
    /// Unique names, shared by every program.
    shared: Rc<Vars>,
    /// `[env]`'s values from files, over `shared`.
    shared_files: Rc<Files>,
    /// In the order set; a later setting of a name wins.
    own: Vars,
    /// The program's own values from files, over everything else (a later
    /// plain setting of the name takes it out).
    own_files: Files,
}

impl Env {
    /// `base`, then each of `layers` over it (unique names in the result),
    /// then the values of `files`.
    pub fn shared(base: Vars, layers: &[(String, String)], files: Files) -> Env {
        let mut merged = base;
        set_all(
            &mut merged,
            layers.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
        );
        Env {
            shared: Rc::new(merged),
            shared_files: Rc::new(files),
            own: Vars::new(),
            own_files: Files::new(),
        }
    }

    /// Sets `key` for this program alone, over everything set before.
    pub fn set(&mut self, key: &str, value: &str) {
        self.own_files.retain(|(k, _)| k != key);
        self.own.push((key.into(), value.into()));
    }

    /// Sets `key` for this program alone to the content of `path`, read at
    /// each start.
    pub fn set_file(&mut self, key: &str, path: PathBuf) {
        self.own.retain(|(k, _)| k != key);
        self.own_files.retain(|(k, _)| k != key);
        self.own_files.push((key.to_string(), path));
    }

    /// Whether `key`'s value comes from a file (unknown until the start).
    pub fn is_read_from_file(&self, key: &str) -> bool {
        self.own_files.iter().any(|(k, _)| k == key)
            || (!self.own.iter().any(|(k, _)| k == key) && self.shared_files.iter().any(|(k, _)| k == key))
    }

    /// The value `key` will have (before `extra`), without merging; None
    /// for a value that comes from a file.
    pub fn get(&self, key: &str) -> Option<&OsStr> {
        if self.is_read_from_file(key) {
            return None;
        }
        let own = self.own.iter().rev().find(|(k, _)| k == key);
        own.or_else(|| self.shared.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v.as_os_str())
    }

    /// The variables the program starts with: the shared ones, its own, then
    /// `extra` (RINIT_PROGRAM and the like), each name once; the values
    /// from files read now. Err names the variable and the file, never what
    /// it holds.
    pub fn resolve(&self, extra: &[(&str, &str)]) -> Result<Vars, String> {
        let count = self.shared.len().saturating_add(self.own.len());
        let mut vars = Vars::with_capacity(count.saturating_add(extra.len()));
        vars.extend(self.shared.iter().cloned());
        let mut read = Vec::new();
        // `[env]`'s files, unless the program sets the name itself.
        let masked = |key: &str| {
            self.own.iter().any(|(k, _)| k == key) || self.own_files.iter().any(|(k, _)| k == key)
        };
        for (key, path) in self
            .shared_files
            .iter()
            .filter(|(k, _)| !masked(k))
            .chain(&self.own_files)
        {
            let value = read_value(path)
                .map_err(|why| format!("env {key}: cannot read {}: {why}", path.display()))?;
            read.push((OsString::from(key), value));
        }
        let files = read.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
        let own = self.own.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
        let extra = extra.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v)));
        set_all(&mut vars, own.chain(files).chain(extra));
        Ok(vars)
    }
}

/// The value in the file at `path`: a regular file of at most 64 KiB,
/// without a NUL, one trailing newline taken off (as `echo pw > secret`
/// and Kubernetes leave it). Opened without blocking (a FIFO there cannot
/// hold rinit up).
pub fn read_value(path: &Path) -> Result<OsString, String> {
    let mut bytes = super::input::read_file(path, FILE_MAX)?;
    if bytes.contains(&0) {
        return Err("it holds a NUL byte, which no environment variable can".into());
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(OsString::from_vec(bytes))
}

/// Sets `key` in the final `vars`, replacing an earlier value (once per
/// start: NOTIFY_SOCKET).
pub fn set(vars: &mut Vars, key: &str, value: &str) {
    match vars.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.into(),
        None => vars.push((key.into(), value.into())),
    }
}

/// Sets each pair in `vars`, whose names are unique, keeping them unique:
/// a name already there takes the new value in its place.
fn set_all<'a>(vars: &mut Vars, pairs: impl Iterator<Item = (&'a OsStr, &'a OsStr)>) {
    let mut index: HashMap<OsString, usize> = HashMap::with_capacity(vars.len());
    for (position, (key, _)) in vars.iter().enumerate() {
        index.insert(key.clone(), position);
    }
    for (key, value) in pairs {
        // `index` holds places in `vars`.
        match index.get(key).and_then(|&position| vars.get_mut(position)) {
            Some(var) => var.1 = value.to_owned(),
            None => {
                index.insert(key.to_owned(), vars.len());
                vars.push((key.to_owned(), value.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn later_layers_win_and_each_name_appears_once() {
        let shared = Env::shared(
            vars(&[("PATH", "/bin"), ("A", "rinit")]),
            &[("A".into(), "file".into()), ("B".into(), "file".into())],
            Files::new(),
        );
        let mut env = shared.clone();
        env.set("B", "env_file");
        env.set("C", "env");
        env.set("B", "env");
        assert_eq!(
            env.resolve(&[("RINIT_PROGRAM", "web"), ("C", "rinit")]).unwrap(),
            vars(&[
                ("PATH", "/bin"),
                ("A", "file"),
                ("B", "env"),
                ("C", "rinit"),
                ("RINIT_PROGRAM", "web")
            ])
        );
        // The shared part is not changed by a program's own settings.
        assert_eq!(
            shared.resolve(&[]).unwrap(),
            vars(&[("PATH", "/bin"), ("A", "file"), ("B", "file")])
        );
    }

    #[test]
    fn two_hundred_thousand_names_merge_in_linear_time() {
        let layer: Vec<(String, String)> = (0..200_000).map(|i| (format!("K{i}"), "v".into())).collect();
        let started = std::time::Instant::now();
        let mut env = Env::shared(vars(&[("K7", "old")]), &layer, Files::new());
        for (key, _) in layer.iter().take(1000) {
            env.set(key, "own");
        }
        let resolved = env.resolve(&[]).unwrap();
        assert_eq!(resolved.len(), 200_000);
        assert_eq!(resolved[0], ("K7".into(), "own".into()));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
