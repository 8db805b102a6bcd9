//! Starting a child. Everything the child needs — argv, environment, the PATH
//! candidates, its directory — is computed before the child exists. The child
//! is created as posix_spawn does it, with clone(CLONE_VM | CLONE_VFORK): it
//! borrows rinit's memory (no page tables copied) while rinit waits, and makes
//! only raw system calls on the prepared data: its own process group, the
//! terminal's foreground (when asked), no descriptor beyond 0-2, its directory,
//! an empty signal mask (dispositions are already default: see signals.rs),
//! then exec. An exec failure travels back over a close-on-exec pipe as an
//! errno, and the child exits 127 (not found) or 126 (found but not
//! runnable), as shells do.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc::{self, c_char, c_int};

pub use super::child::{group_alive, signal_group, Child};
use super::limits::Resources;
use super::signals;
pub use super::spawn_error::{Failure, SpawnError};

/// Where the child starts.
pub enum WorkDir {
    /// An open directory: rinit's starting directory, kept as an O_PATH descriptor.
    Fd(RawFd),
    /// A configured `directory`, entered after the switch to the program's user.
    Path(CString),
}

/// The identity the child switches to before exec.
pub struct Credentials {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Every group, the primary one included.
    pub groups: Vec<libc::gid_t>,
}

/// A fully prepared command: nothing is left to compute once the child exists.
pub struct Command {
    /// The command as the user wrote it, for messages.
    program: String,
    argv: Vec<CString>,
    candidates: Vec<CString>,
    /// The PATH that was searched, for the "not found" message.
    searched_path: Option<String>,
    env: Vec<CString>,
    work_dir: Option<WorkDir>,
    /// Hand the controlling terminal's foreground to the child's process group.
    foreground: bool,
    credentials: Option<Credentials>,
    /// Descriptors to put on the child's 0, 1, 2 (None: keep rinit's).
    stdio: [Option<RawFd>; 3],
    /// The open-files limit to give the child back, when rinit raised its own.
    open_files: Option<libc::rlimit64>,
    /// The file mode creation mask the child gets (None: rinit's).
    umask: Option<libc::mode_t>,
    /// Its limits, nice value and oom_score_adj.
    resources: Resources,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Command {
    /// Messages name the command `name` (as the configuration wrote it,
    /// `${VAR}`s unexpanded) instead of `args[0]`, which may hold a value.
    pub fn shown_as(mut self, name: Option<&String>) -> Command {
        if let Some(name) = name {
            self.program.clone_from(name);
        }
        self
    }

    /// `args[0]` is looked up in the PATH of `env` when it has no slash.
    pub fn new(args: &[OsString], env: Vec<(OsString, OsString)>) -> Result<Command, SpawnError> {
        let program = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let argv = args.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;
        let path_value = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        let (candidates, searched_path) = match args.first() {
            None => return Err(SpawnError::Invalid("empty command".into())),
            Some(name) if name.is_empty() => return Err(SpawnError::Invalid("empty command name".into())),
            Some(name) if name.as_bytes().contains(&b'/') => (vec![c_string(name)?], None),
            Some(name) => {
                let path = path_value.unwrap_or_else(|| DEFAULT_PATH.into());
                let mut candidates = Vec::new();
                for dir in path.as_bytes().split(|b| *b == b':') {
                    let mut full = if dir.is_empty() {
                        b".".to_vec()
                    } else {
                        dir.to_vec()
                    };
                    full.push(b'/');
                    full.extend_from_slice(name.as_bytes());
                    candidates.push(c_string(OsStr::from_bytes(&full))?);
                }
                (candidates, Some(path.to_string_lossy().into_owned()))
            }
        };
        let env = env
            .iter()
            .map(|(k, v)| {
                let mut pair = k.clone();
                pair.push("=");
                pair.push(v);
                c_string(&pair)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Command {
            program,
            argv,
            candidates,
            searched_path,
            env,
            work_dir: None,
            foreground: false,
            credentials: None,
            stdio: [None; 3],
            open_files: None,
            umask: None,
            resources: Resources::default(),
        })
    }

    pub fn work_dir(mut self, dir: WorkDir) -> Command {
        self.work_dir = Some(dir);
        self
    }

    pub fn foreground(mut self, yes: bool) -> Command {
        self.foreground = yes;
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Command {
        self.credentials = Some(credentials);
        self
    }

    /// The RLIMIT_NOFILE the child gets (rinit's own was raised).
    pub fn open_files_limit(mut self, limit: Option<libc::rlimit64>) -> Command {
        self.open_files = limit;
        self
    }

    pub fn umask(mut self, mask: Option<libc::mode_t>) -> Command {
        self.umask = mask;
        self
    }

    /// The limits, nice value and oom_score_adj the child sets before it
    /// switches to its user.
    pub fn resources(mut self, resources: &Resources) -> Command {
        self.resources.clone_from(resources);
        self
    }

    /// The descriptors the child gets as 0, 1 and 2; the caller keeps them
    /// open until `spawn` returns.
    pub fn stdio(mut self, fds: [Option<RawFd>; 3]) -> Command {
        self.stdio = fds;
        self
    }

    /// Starts the command. Call with every signal blocked (signals::take_over):
    /// no SIGCHLD is lost, the child inherits nothing pending, and no handler
    /// can run on the child's borrowed stack. Whether the exec itself failed:
    /// `Child::exec_failure`.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        let argv = null_terminated(&self.argv);
        let envp = null_terminated(&self.env);
        let candidates: Vec<*const c_char> = self.candidates.iter().map(|c| c.as_ptr()).collect();
        let (report_read, report_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| SpawnError::Os("create a pipe", e))?;
        // Where the child reads its groups back after the switch (it cannot allocate).
        let mut groups_read_back: Vec<libc::gid_t> =
            vec![0; self.credentials.as_ref().map_or(0, |c| c.groups.len())];
        let limits = self.rlimits();
        // What the child writes to /proc/self/oom_score_adj (it cannot format).
        let oom_score_adj = self.resources.oom_score_adj.map(|v| v.to_string().into_bytes());
        let child_side = ChildSide {
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            candidates: &candidates,
            work_dir: self.work_dir.as_ref(),
            foreground: self.foreground,
            credentials: self.credentials.as_ref(),
            groups_read_back: groups_read_back.as_mut_ptr(),
            stdio: self.stdio,
            open_files: self.open_files.as_ref(),
            umask: self.umask,
            resources: &self.resources,
            limits: &limits,
            oom_score_adj: oom_score_adj.as_deref(),
            report: report_write.as_raw_fd(),
        };
        let stack = ChildStack::map()?;
        // SAFETY: the child's stack grows down from the top of `stack`, which
        // outlives the child's use of it: CLONE_VFORK suspends rinit until the
        // child has exec'd or exited. The child runs only `ChildSide::run` (raw
        // system calls on data prepared above, no allocation, never returns),
        // with every signal blocked.
        let pid = unsafe {
            libc::clone(
                child_entry,
                stack.top(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &child_side as *const ChildSide as *mut libc::c_void,
            )
        };
        // Read clone's errno before munmap can overwrite it.
        let clone_error = (pid < 0).then(Errno::last);
        drop(stack);
        if let Some(errno) = clone_error {
            return Err(SpawnError::Os("clone", errno));
        }
        drop(report_write);
        Ok(Child::adopt(pid, report_read))
    }

    /// `resources.limits` as the values prlimit64(2) takes, in its order.
    fn rlimits(&self) -> Vec<libc::rlimit64> {
        let limit = |&(_, soft, hard): &(_, u64, u64)| libc::rlimit64 {
            rlim_cur: soft,
            rlim_max: hard,
        };
        self.resources.limits.iter().map(limit).collect()
    }

    /// The message for a child of this command that could not run.
    pub fn exec_error(&self, failure: Failure, errno: Errno) -> SpawnError {
        SpawnError::Exec {
            program: self.program.clone(),
            failure,
            errno,
            searched_path: self.searched_path.clone(),
        }
    }
}

fn c_string(text: &OsStr) -> Result<CString, SpawnError> {
    CString::new(text.as_bytes())
        .map_err(|_| SpawnError::Invalid(format!("{:?} contains a NUL byte", text.to_string_lossy())))
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The child's stack between clone and exec, mapped for one spawn and
/// unmapped after it, so the pages the child touched do not stay in rinit's
/// resident memory.
struct ChildStack(*mut libc::c_void);

/// Ample for `ChildSide::run` (glibc's posix_spawn uses about as much).
const CHILD_STACK: usize = 64 * 1024;

impl ChildStack {
    fn map() -> Result<ChildStack, SpawnError> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choice.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CHILD_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SpawnError::Os("map a stack for the child", Errno::last()));
        }
        Ok(ChildStack(base))
    }

    /// The highest address: stacks grow down. Page-aligned, so 16-byte aligned.
    fn top(&self) -> *mut libc::c_void {
        self.0.wrapping_byte_add(CHILD_STACK)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map` made; nothing uses it any more.
        unsafe { libc::munmap(self.0, CHILD_STACK) };
    }
}

extern "C" fn child_entry(arg: *mut libc::c_void) -> c_int {
    // SAFETY: `arg` is the `ChildSide` that `spawn` passed to clone; it lives in
    // rinit's memory, which the child shares and rinit does not touch until
    // the child has exec'd or exited.
    let child_side = unsafe { &*(arg as *const ChildSide) };
    child_side.run()
}

/// What the child needs, as raw pointers prepared by the parent.
struct ChildSide<'a> {
    argv: *const *const c_char,
    envp: *const *const c_char,
    candidates: &'a [*const c_char],
    work_dir: Option<&'a WorkDir>,
    foreground: bool,
    credentials: Option<&'a Credentials>,
    /// Room for as many gids as `credentials` has groups.
    groups_read_back: *mut libc::gid_t,
    stdio: [Option<RawFd>; 3],
    open_files: Option<&'a libc::rlimit64>,
    umask: Option<libc::mode_t>,
    resources: &'a Resources,
    /// `resources.limits`' values, in its order.
    limits: &'a [libc::rlimit64],
    oom_score_adj: Option<&'a [u8]>,
    report: RawFd,
}

impl ChildSide<'_> {
    /// Runs in the child: raw system calls only, never returns. Over 50
    /// lines: the child's whole life between clone and exec, kept in one
    /// straight sequence so that it can be read (and audited for
    /// async-signal safety) top to bottom.
    fn run(&self) -> ! {
        // SAFETY: (the whole block) each call is a system call wrapper
        // taking plain integers or pointers to data the parent prepared,
        // which stays valid: the parent is suspended until we exec or _exit.
        unsafe {
            libc::setpgid(0, 0);
            if self.foreground {
                // Signals are still blocked here, so SIGTTOU cannot stop us.
                libc::tcsetpgrp(0, libc::getpid());
            }
            for (target, fd) in self.stdio.iter().enumerate() {
                // dup2 clears close-on-exec on the copy (our fds are all above 2).
                if let Some(fd) = fd {
                    libc::dup2(*fd, target as c_int);
                }
            }
            // The open-files limit rinit started with (it raised its own).
            if let Some(limit) = self.open_files {
                libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    libc::RLIMIT_NOFILE,
                    limit as *const libc::rlimit64,
                    std::ptr::null_mut::<libc::rlimit64>(),
                );
            }
            if let Some(mask) = self.umask {
                libc::umask(mask);
            }
            self.set_resources();
            // Raw system calls, not glibc's setuid family: those would try to
            // synchronise the credentials of rinit's threads, whose memory
            // this child shares.
            if let Some(creds) = self.credentials {
                if libc::syscall(libc::SYS_setgroups, creds.groups.len(), creds.groups.as_ptr()) != 0
                    || libc::syscall(libc::SYS_setresgid, creds.gid, creds.gid, creds.gid) != 0
                    || libc::syscall(libc::SYS_setresuid, creds.uid, creds.uid, creds.uid) != 0
                {
                    self.fail(Failure::User, Errno::last());
                }
                // Fail closed: exec only once the kernel confirms every id.
                if !self.identity_is(creds) {
                    self.fail(Failure::Identity, Errno::EPERM);
                }
            }
            let entered = match self.work_dir {
                Some(WorkDir::Fd(fd)) => libc::fchdir(*fd),
                Some(WorkDir::Path(path)) => libc::chdir(path.as_ptr()),
                None => 0,
            };
            if entered != 0 {
                self.fail(Failure::Directory, Errno::last());
            }
            // Anything rinit holds is close-on-exec already; this also covers
            // descriptors opened without it by a library.
            libc::syscall(
                libc::SYS_close_range,
                3 as c_int,
                c_int::MAX,
                libc::CLOSE_RANGE_CLOEXEC as c_int,
            );
            signals::set_mask(libc::SIG_SETMASK, 0);

            let mut denied = false;
            for path in self.candidates {
                libc::execve(*path, self.argv, self.envp);
                match Errno::last() {
                    Errno::EACCES => denied = true,
                    // The file is there, so the ENOENT is about its "#!" interpreter.
                    Errno::ENOENT if libc::access(*path, libc::F_OK) == 0 => {
                        self.fail(Failure::Interpreter, Errno::ENOENT)
                    }
                    Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV | Errno::ETIMEDOUT => {}
                    other => self.fail(Failure::Exec, other),
                }
            }
            self.fail(Failure::Exec, if denied { Errno::EACCES } else { Errno::ENOENT })
        }
    }

    /// `limits`, `nice` and `oom_score_adj`, while the child still has
    /// rinit's privileges; a refusal is its failure.
    fn set_resources(&self) {
        // SAFETY: raw system calls on integers, on the prepared `limits`
        // (one per resource limit) and `oom_score_adj` bytes, and on a
        // static path; nothing is allocated.
        unsafe {
            for (&(resource, _, _), limit) in self.resources.limits.iter().zip(self.limits) {
                let null = std::ptr::null_mut::<libc::rlimit64>();
                if libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    resource,
                    limit as *const libc::rlimit64,
                    null,
                ) != 0
                {
                    self.fail(Failure::Limit(resource), Errno::last());
                }
            }
            if let Some(nice) = self.resources.nice {
                if libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                    self.fail(Failure::Nice, Errno::last());
                }
            }
            if let Some(value) = self.oom_score_adj {
                let fd = libc::open(
                    c"/proc/self/oom_score_adj".as_ptr(),
                    libc::O_WRONLY | libc::O_CLOEXEC,
                );
                if fd < 0 || libc::write(fd, value.as_ptr().cast(), value.len()) < 0 {
                    self.fail(Failure::OomScoreAdj, Errno::last());
                }
                libc::close(fd);
            }
        }
    }

    /// Whether the real, effective and saved uid and gid and the
    /// supplementary groups are exactly `creds`' (raw system calls only).
    fn identity_is(&self, creds: &Credentials) -> bool {
        let (mut ruid, mut euid, mut suid) = (0, 0, 0);
        let (mut rgid, mut egid, mut sgid) = (0, 0, 0);
        // SAFETY: getresuid/getresgid write three ids into live locals;
        // getgroups writes at most `creds.groups.len()` gids into
        // `groups_read_back`, which has room for that many (see spawn).
        unsafe {
            if libc::syscall(libc::SYS_getresuid, &mut ruid, &mut euid, &mut suid) != 0
                || libc::syscall(libc::SYS_getresgid, &mut rgid, &mut egid, &mut sgid) != 0
            {
                return false;
            }
            let count = libc::syscall(libc::SYS_getgroups, creds.groups.len(), self.groups_read_back);
            if [ruid, euid, suid] != [creds.uid; 3]
                || [rgid, egid, sgid] != [creds.gid; 3]
                || count != creds.groups.len() as libc::c_long
            {
                return false;
            }
            // The kernel keeps them sorted; `creds.groups` has no duplicates.
            let read_back = std::slice::from_raw_parts(self.groups_read_back, creds.groups.len());
            creds.groups.iter().all(|gid| read_back.contains(gid))
        }
    }

    fn fail(&self, failure: Failure, errno: Errno) -> ! {
        let mut report = [0u8; 8];
        report[..4].copy_from_slice(&failure.to_raw().to_ne_bytes());
        report[4..].copy_from_slice(&(errno as i32).to_ne_bytes());
        let code = match (failure, errno) {
            (Failure::Exec, Errno::ENOENT | Errno::ENOTDIR) => 127,
            _ => 126,
        };
        // SAFETY: write(2) and _exit(2) are raw system calls; `report` is live.
        unsafe {
            libc::write(self.report, report.as_ptr().cast(), report.len());
            libc::_exit(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `/bin/true` as `credentials`; its exit code and reported failure.
    fn run_true_as(credentials: Credentials) -> (c_int, Option<(Failure, Errno)>) {
        assert_eq!(nix::unistd::geteuid().as_raw(), 0, "run the tests as root");
        let command = Command::new(&["/bin/true".into()], Vec::new())
            .unwrap()
            .credentials(credentials);
        let mut child = command.spawn().unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child into a live int.
        assert_eq!(unsafe { libc::waitpid(child.pid(), &mut status, 0) }, child.pid());
        (libc::WEXITSTATUS(status), child.exec_failure())
    }

    #[test]
    fn the_child_runs_only_once_the_kernel_confirms_every_id() {
        let nobody = Credentials {
            uid: 65534,
            gid: 65534,
            groups: vec![65534, 100],
        };
        assert_eq!(run_true_as(nobody), (0, None));
        // Past validation (which refuses it), 4294967295 would make
        // setresuid and setresgid leave root's ids: the child must refuse.
        let minus_one = Credentials {
            uid: u32::MAX,
            gid: u32::MAX,
            groups: Vec::new(),
        };
        assert_eq!(
            run_true_as(minus_one),
            (126, Some((Failure::Identity, Errno::EPERM)))
        );
    }
}
