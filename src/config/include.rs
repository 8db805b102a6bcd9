//! `[rinit] include`: the files its globs match (relative to the main
//! file's folder, each pattern's matches in sorted order, a pattern that
//! matches nothing is fine), read, bounded, and added to the configuration's
//! files, each with its own range of offsets (error.rs). parse.rs merges
//! their tables into the main file's.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Source};
use super::{input, label};

/// Most files the patterns of one configuration may match.
pub const MAX_FILES: usize = 1000;
/// Most bytes all the included files together may hold.
pub const MAX_TOTAL: usize = 4 * input::MAX_SIZE;

/// Reads the files that the main file's `include` patterns (text and
/// offset) match and adds them to `source`, in order, each once; every
/// error goes to `errors`, at the pattern that matched.
pub(super) fn read(source: &mut Source, patterns: Vec<(String, usize)>, errors: &mut ConfigError) {
    let folder = source.folder(0).to_path_buf();
    let mut read: Vec<PathBuf> = Vec::new();
    let mut total = 0usize;
    for (pattern, at) in patterns {
        let paths = match matches(&folder, &pattern) {
            Ok(paths) => paths,
            Err(why) => {
                errors.push(error_at(source, at, why));
                continue;
            }
        };
        let paths: Vec<PathBuf> = paths.into_iter().filter(|path| !read.contains(path)).collect();
        if read.len().saturating_add(paths.len()) > MAX_FILES {
            let why = format!(
                "{pattern:?} matches {} files, more than the {MAX_FILES} that one configuration may include",
                paths.len()
            );
            errors.push(error_at(source, at, why));
            continue;
        }
        for path in paths {
            let text = match input::read_text(&path) {
                Ok(text) => text,
                Err(why) => {
                    errors.push(error_at(
                        source,
                        at,
                        format!("{}: cannot read it: {why}", label(&path)),
                    ));
                    continue;
                }
            };
            total = total.saturating_add(text.len());
            if total > MAX_TOTAL {
                let why = format!(
                    "the included files hold more than {} MiB together (stopped at {})",
                    MAX_TOTAL >> 20,
                    label(&path)
                );
                errors.push(error_at(source, at, why));
                return;
            }
            let folder = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            source.add(label(&path), &text, folder);
            read.push(path);
        }
    }
}

/// An error at the `include` pattern at offset `at`.
fn error_at(source: &Source, at: usize, why: String) -> super::error::Problem {
    source.error(Some(at), None, Some("include"), why)
}

/// The files `pattern` matches, relative to `folder` unless absolute: `*`,
/// `?` and `[...]` in any part of the path (a leading `.` is matched only
/// by a pattern that starts with one, as in the shell), sorted; none is
/// fine. Folders are left out of a wildcard's matches. Over 50 lines: one
/// walk over the pattern's parts, with its bounds.
fn matches(folder: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    if pattern.is_empty() || pattern.contains('\0') {
        return Err("an include pattern must not be empty or hold a NUL byte".into());
    }
    let start = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        folder.to_path_buf()
    };
    let parts: Vec<&str> = pattern.split('/').filter(|part| !part.is_empty()).collect();
    let mut found = vec![start];
    for (i, part) in parts.iter().enumerate() {
        let last = i.saturating_add(1) == parts.len();
        if !part.contains(['*', '?', '[']) {
            found = found.into_iter().map(|path| path.join(part)).collect();
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            // A folder that is not there (or not readable) matches nothing.
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.as_encoded_bytes();
                if name.starts_with(b".") && !part.starts_with('.') {
                    continue;
                }
                if !glob_match(part.as_bytes(), name) {
                    continue;
                }
                let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
                if is_dir != last {
                    // Kept sorted as found (a sort's code would cost kilobytes).
                    let path = entry.path();
                    if let Err(at) = next.binary_search(&path) {
                        next.insert(at, path);
                    }
                }
                if next.len() > MAX_FILES.saturating_mul(10) {
                    return Err(format!(
                        "{pattern:?} matches more than {} paths",
                        MAX_FILES.saturating_mul(10)
                    ));
                }
            }
        }
        found = next;
    }
    // A last part written without a wildcard is there or not (what a
    // wildcard matched was found in its folder).
    if parts.last().is_none_or(|part| !part.contains(['*', '?', '['])) {
        found.retain(|path| path.exists());
    }
    Ok(found)
}

/// Whether `name` matches the shell pattern `pattern` (`*`, `?`, `[abc]`,
/// `[a-z]`, `[!x]`; no `/` in either).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Where the last `*` was, and the name's place when it was taken.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match pattern.get(p) {
            None if n == name.len() => return true,
            None => None,
            Some(b'*') => {
                star = Some((p, n));
                p = p.saturating_add(1);
                continue;
            }
            Some(b'?') => name.get(n).map(|_| 1),
            Some(b'[') => name.get(n).and_then(|&c| class(pattern, p, c)),
            Some(&c) => (name.get(n) == Some(&c)).then_some(1),
        };
        match (step, star) {
            (Some(_), _) => {
                // A class spans its brackets; anything else is one byte.
                p = match pattern.get(p) {
                    Some(b'[') => class_end(pattern, p).unwrap_or(p).saturating_add(1),
                    _ => p.saturating_add(1),
                };
                n = n.saturating_add(1);
            }
            (None, Some((star_p, star_n))) if star_n < name.len() => {
                // Let the last `*` take one more byte, and try again.
                star = Some((star_p, star_n.saturating_add(1)));
                p = star_p.saturating_add(1);
                n = star_n.saturating_add(1);
            }
            (None, _) => return false,
        }
    }
}

/// Where the `[...]` class that opens at `open` closes (a `]` right after
/// `[` or `[!` is part of the class).
fn class_end(pattern: &[u8], open: usize) -> Option<usize> {
    let mut i = open.saturating_add(1);
    if matches!(pattern.get(i), Some(b'!' | b'^')) {
        i = i.saturating_add(1);
    }
    if pattern.get(i) == Some(&b']') {
        i = i.saturating_add(1);
    }
    while let Some(&c) = pattern.get(i) {
        if c == b']' {
            return Some(i);
        }
        i = i.saturating_add(1);
    }
    None
}

/// Some(1) when `c` is in the class that opens at `open`; an unclosed `[`
/// is a plain `[`.
fn class(pattern: &[u8], open: usize, c: u8) -> Option<usize> {
    let Some(end) = class_end(pattern, open) else {
        return (c == b'[').then_some(1);
    };
    let mut body = pattern.get(open.saturating_add(1)..end)?;
    let negated = matches!(body.first(), Some(b'!' | b'^'));
    if negated {
        body = body.get(1..)?;
    }
    let mut inside = false;
    let mut i = 0usize;
    while let Some(&first) = body.get(i) {
        match (body.get(i.saturating_add(1)), body.get(i.saturating_add(2))) {
            (Some(b'-'), Some(&last)) => {
                inside |= (first..=last).contains(&c);
                i = i.saturating_add(3);
            }
            _ => {
                inside |= first == c;
                i = i.saturating_add(1);
            }
        }
    }
    (inside != negated).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_patterns_match_as_the_shell_does() {
        let yes = |pattern: &str, name: &str| glob_match(pattern.as_bytes(), name.as_bytes());
        assert!(yes("*.toml", "worker.toml"));
        assert!(yes("*.toml", ".toml"));
        assert!(!yes("*.toml", "worker.toml.bak"));
        assert!(yes("*", ""));
        assert!(yes("a*b*c", "aXXbYYc"));
        assert!(!yes("a*b*c", "aXXbYY"));
        assert!(yes("??-*.toml", "10-web.toml"));
        assert!(!yes("??-*.toml", "1-web.toml"));
        assert!(yes("[0-9]*", "5x"));
        assert!(!yes("[!0-9]*", "5x"));
        assert!(yes("[]x]", "]"));
        assert!(yes("[ab", "[ab"));
        assert!(yes("web.toml", "web.toml"));
        assert!(!yes("web.toml", "web.tom"));
    }

    #[test]
    fn matches_are_sorted_and_hidden_files_and_folders_left_out() {
        let dir = std::env::temp_dir().join(format!("rinit-include-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for name in ["b.toml", "a.toml", ".hidden.toml", "c.txt"] {
            std::fs::create_dir_all(dir.join("d")).ok();
            std::fs::write(dir.join("d").join(name), "").ok();
        }
        std::fs::create_dir_all(dir.join("d").join("sub.toml")).ok();
        let found = matches(&dir, "d/*.toml");
        let names: Vec<String> = found
            .iter()
            .flatten()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        assert_eq!(matches(&dir, "nothing/*.toml").map(|m| m.len()), Ok(0));
        assert_eq!(matches(&dir, "d/none.toml").map(|m| m.len()), Ok(0));
        assert_eq!(matches(&dir, "*/a.toml").map(|m| m.len()), Ok(1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
