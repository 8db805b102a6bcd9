//! What a program's process starts with beside its command: resource
//! limits (setrlimit(2)'s names, as systemd's LimitNOFILE= … spell them),
//! its nice value and its oom_score_adj. Prepared before the child exists;
//! the child sets them (spawn.rs) before it switches to the program's user,
//! and a refusal of the kernel is its reported failure.

use nix::libc;

/// A resource of setrlimit(2), as libc numbers them.
pub type Resource = libc::__rlimit_resource_t;

/// Every resource limit by its name (lower case, RLIMIT_ left out).
pub const NAMES: [(&str, Resource); 16] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// The name of `resource`.
pub fn name(resource: Resource) -> &'static str {
    NAMES
        .iter()
        .find(|(_, r)| *r == resource)
        .map_or("?", |(name, _)| name)
}

/// A limit's value: RLIM_INFINITY is "unlimited".
pub const UNLIMITED: u64 = libc::RLIM64_INFINITY;

/// What a program's processes start with, beyond rinit's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Each limit set: (resource, soft, hard).
    pub limits: Vec<(Resource, u64, u64)>,
    /// -20 to 19.
    pub nice: Option<i32>,
    /// -1000 to 1000.
    pub oom_score_adj: Option<i32>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.nice.is_none() && self.oom_score_adj.is_none()
    }
}

/// A limit as people write it: a number, "unlimited", or SOFT:HARD.
pub fn shown(soft: u64, hard: u64) -> String {
    let one = |v: u64| {
        if v == UNLIMITED {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    if soft == hard {
        one(soft)
    } else {
        format!("{}:{}", one(soft), one(hard))
    }
}
