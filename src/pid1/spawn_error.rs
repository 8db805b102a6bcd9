//! Why a child could not be started: `Failure`, what the child reports over
//! its close-on-exec pipe before exiting 127 or 126, and `SpawnError`, the
//! message rinit prints for it (naming the command and, for "not found", the
//! PATH that was searched).

use std::fmt;

use nix::errno::Errno;
use nix::libc::c_int;

/// What went wrong in the child before the command could run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// execve failed.
    Exec = 0,
    /// The file exists but its "#!" interpreter does not.
    Interpreter = 1,
    /// The starting directory could not be entered.
    Directory = 2,
    /// The switch to the configured user failed.
    User = 3,
    /// After the switch, the ids the kernel reports are not the configured ones.
    Identity = 4,
}

impl Failure {
    pub(super) fn from_raw(raw: i32) -> Failure {
        match raw {
            1 => Failure::Interpreter,
            2 => Failure::Directory,
            3 => Failure::User,
            4 => Failure::Identity,
            _ => Failure::Exec,
        }
    }
}

#[derive(Debug)]
pub enum SpawnError {
    /// The command line cannot be turned into an exec call.
    Invalid(String),
    /// A system call rinit needed failed.
    Os(&'static str, Errno),
    /// The child could not run the command; it exited 127 or 126.
    Exec {
        program: String,
        failure: Failure,
        errno: Errno,
        searched_path: Option<String>,
    },
}

impl SpawnError {
    /// rinit's exit code when this stops it from starting the command: 2 for
    /// a command line that cannot be run, 1 for a failed system call. (A child
    /// that could not exec reports 127/126 through its own exit status.)
    pub fn exit_code(&self) -> c_int {
        match self {
            SpawnError::Invalid(_) => 2,
            SpawnError::Os(..) | SpawnError::Exec { .. } => 1,
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            SpawnError::Invalid(what) => write!(f, "cannot run the command: {what}"),
            SpawnError::Os(call, errno) => {
                write!(f, "cannot start the command: {call} failed: {}", errno.desc())
            }
            SpawnError::Exec {
                program,
                failure,
                errno,
                searched_path,
            } => match (failure, errno, searched_path) {
                (Failure::Exec, Errno::ENOENT, Some(path)) => {
                    write!(f, "cannot run {program:?}: command not found in PATH ({path})")
                }
                (Failure::Exec, _, _) => write!(f, "cannot run {program:?}: {}", errno.desc()),
                (Failure::Interpreter, _, _) => write!(
                    f,
                    "cannot run {program:?}: the interpreter on its \"#!\" line was not found \
                     (a CRLF line ending can cause this too)"
                ),
                (Failure::Directory, _, _) => write!(
                    f,
                    "cannot run {program:?}: cannot enter the starting directory: {}",
                    errno.desc()
                ),
                (Failure::User, _, _) => write!(
                    f,
                    "cannot run {program:?}: cannot switch to the configured user: {}",
                    errno.desc()
                ),
                (Failure::Identity, _, _) => write!(
                    f,
                    "cannot run {program:?}: after the switch to the configured user, its real, \
                     effective and saved uid and gid or its groups are not the configured ones; \
                     not running it"
                ),
            },
        }
    }
}
