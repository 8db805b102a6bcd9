//! A program's environment as layers: what every program shares (rinit's own
//! environment, then `[env]`) once, and each program's own settings on top
//! (HOME/USER/LOGNAME, `env_file`, `env`). They are merged, the later
//! setting of a name winning, in one linear pass when the program starts: a
//! configuration with 200,000 `[env]` keys or 30,000 programs costs neither
//! quadratic time nor a copy of the shared part per program.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::rc::Rc;

pub type Vars = Vec<(OsString, OsString)>;

#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Unique names, shared by every program.
    shared: Rc<Vars>,
    /// In the order set; a later setting of a name wins.
    own: Vars,
}

impl Env {
    /// `base`, then each of `layers` over it (unique names in the result).
    pub fn shared(base: Vars, layers: &[(String, String)]) -> Env {
        let mut merged = base;
        set_all(
            &mut merged,
            layers.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
        );
        Env {
            shared: Rc::new(merged),
            own: Vars::new(),
        }
    }

    /// Sets `key` for this program alone, over everything set before.
    pub fn set(&mut self, key: &str, value: &str) {
        self.own.push((key.into(), value.into()));
    }

    /// The value `key` will have (before `extra`), without merging.
    pub fn get(&self, key: &str) -> Option<&OsStr> {
        let own = self.own.iter().rev().find(|(k, _)| k == key);
        own.or_else(|| self.shared.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v.as_os_str())
    }

    /// The variables the program starts with: the shared ones, its own, then
    /// `extra` (RINIT_PROGRAM and the like), each name once.
    pub fn resolve(&self, extra: &[(&str, &str)]) -> Vars {
        let count = self.shared.len().saturating_add(self.own.len());
        let mut vars = Vars::with_capacity(count.saturating_add(extra.len()));
        vars.extend(self.shared.iter().cloned());
        let own = self.own.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
        let extra = extra.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v)));
        set_all(&mut vars, own.chain(extra));
        vars
    }
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
        );
        let mut env = shared.clone();
        env.set("B", "env_file");
        env.set("C", "env");
        env.set("B", "env");
        assert_eq!(
            env.resolve(&[("RINIT_PROGRAM", "web"), ("C", "rinit")]),
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
            shared.resolve(&[]),
            vars(&[("PATH", "/bin"), ("A", "file"), ("B", "file")])
        );
    }

    #[test]
    fn two_hundred_thousand_names_merge_in_linear_time() {
        let layer: Vec<(String, String)> = (0..200_000).map(|i| (format!("K{i}"), "v".into())).collect();
        let started = std::time::Instant::now();
        let mut env = Env::shared(vars(&[("K7", "old")]), &layer);
        for (key, _) in layer.iter().take(1000) {
            env.set(key, "own");
        }
        let resolved = env.resolve(&[]);
        assert_eq!(resolved.len(), 200_000);
        assert_eq!(resolved[0], ("K7".into(), "own".into()));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
