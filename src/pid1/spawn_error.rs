//! Why a child could not be started: `Failure`, what the child reports over
//! its close-on-exec pipe before exiting 127 or 126, and `SpawnError`, the
//! message rinit prints for it (naming the command and, for "not found", the
//! PATH that was searched).

use std::fmt;

use nix::errno::Errno;
use nix::libc::c_int;

use super::limits::{self, Resource};

/// What went wrong in the child before the command could run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// execve failed.
    Exec,
    /// The file exists but its "#!" interpreter does not.
    Interpreter,
    /// The starting directory could not be entered.
    Directory,
    /// The switch to the configured user failed.
    User,
    /// After the switch, the ids the kernel reports are not the configured ones.
    Identity,
    /// The kernel refused this resource limit (`limits`).
    Limit(Resource),
    /// The kernel refused the `nice` value.
    Nice,
    /// The kernel refused the `oom_score_adj`.
    OomScoreAdj,
}

/// Where a `Limit` failure's resource starts in the raw report.
const LIMIT_BASE: i32 = 100;

impl Failure {
    /// The number the child writes to its report pipe.
    pub(super) fn to_raw(self) -> i32 {
        match self {
            Failure::Exec => 0,
            Failure::Interpreter => 1,
            Failure::Directory => 2,
            Failure::User => 3,
            Failure::Identity => 4,
            Failure::Nice => 5,
            Failure::OomScoreAdj => 6,
            Failure::Limit(resource) => LIMIT_BASE.saturating_add_unsigned(resource),
        }
    }

    pub(super) fn from_raw(raw: i32) -> Failure {
        match raw {
            1 => Failure::Interpreter,
            2 => Failure::Directory,
            3 => Failure::User,
            4 => Failure::Identity,
            5 => Failure::Nice,
            6 => Failure::OomScoreAdj,
            _ => match raw
                .checked_sub(LIMIT_BASE)
                .and_then(|r| Resource::try_from(r).ok())
            {
                Some(resource) => Failure::Limit(resource),
                None => Failure::Exec,
            },
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
    /// Over 50 lines: one arm per failure, each with its own message.
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
                (Failure::Limit(resource), _, _) => write!(
                    f,
                    "cannot run {program:?}: the kernel refused its {} limit (limits): {}{}",
                    limits::name(*resource),
                    errno.desc(),
                    if *errno == Errno::EPERM {
                        " (a hard limit above rinit's own needs CAP_SYS_RESOURCE)"
                    } else {
                        ""
                    }
                ),
                (Failure::Nice, _, _) => write!(
                    f,
                    "cannot run {program:?}: the kernel refused its nice value: {}{}",
                    errno.desc(),
                    if matches!(errno, Errno::EPERM | Errno::EACCES) {
                        " (a nice value below rinit's own needs CAP_SYS_NICE)"
                    } else {
                        ""
                    }
                ),
                (Failure::OomScoreAdj, _, _) => write!(
                    f,
                    "cannot run {program:?}: the kernel refused its oom_score_adj: {}{}",
                    errno.desc(),
                    if matches!(errno, Errno::EPERM | Errno::EACCES) {
                        " (a value below rinit's own needs CAP_SYS_RESOURCE)"
                    } else {
                        ""
                    }
                ),
            },
        }
    }
}
