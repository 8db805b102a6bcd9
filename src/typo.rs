//! Mistyped subcommands: `rinit chek` is a mistake to point out ("did you
//! mean `rinit check`?"), not a command to run and fail with 127. A word
//! one edit from a subcommand that names no file on PATH is refused;
//! `rinit -- chek` still runs a program called chek.

/// Err with the message when `first`, the first word of the command line,
/// looks like a mistyped one of `subcommands`.
pub fn mistyped_subcommand(first: &str, subcommands: &[&str]) -> Result<(), String> {
    let near = subcommands.iter().find(|name| one_edit_apart(first, name));
    match (near, first.contains('/') || on_path(first)) {
        (Some(name), false) => Err(format!(
            "no subcommand {first:?}: did you mean `rinit {name}`? \
             (to run a program called {first:?}, write: rinit -- {first})"
        )),
        _ => Ok(()),
    }
}

/// Whether `a` becomes `b` with one letter changed, added, removed, or two
/// neighbours swapped: the distance `check`'s suggestions measure, 1.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    crate::config::edit_distance(a, b) == 1
}

/// Whether a file named `name` is in one of rinit's own PATH's folders.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}
