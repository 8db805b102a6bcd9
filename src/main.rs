//! rinit: a PID 1 for containers. This file wires the modules together: parse
//! the command line, take over the process state PID 1 needs (descriptors,
//! signals, subreaper, working directory), then hand over to a mode.
//!
//! `no_main`: rinit provides the C `main` itself and skips the Rust runtime's
//! start-up (stack-guard probing through /proc/self/maps, a signal stack, its
//! SIGPIPE ignore), which PID 1 has no use for and which costs start-up time.
//! Arguments and environment still come through std (glibc hands them over
//! before `main`).
#![cfg_attr(not(test), no_main)]
// Under `cargo test` the harness supplies `main`, so `run` and what only it uses are unused.
#![cfg_attr(test, allow(dead_code))]
// Every unsafe block says why it is sound; .ci/shape.py keeps them in sys.rs and pid1/.
#![deny(clippy::undocumented_unsafe_blocks)]
// PID 1 must not panic: outside tests, nothing that can. Each exception is an
// `#[expect(..., reason = "...")]` on the one line that needs it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
    )
)]

#[macro_use]
mod log;
mod cli;
mod config;
mod control;
mod help;
mod http;
mod import;
mod lines;
mod pid1;
mod schedule;
mod single;
mod sink;
mod supervise;
mod sys;
mod typo;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::Mode;

use cli::Invocation;
use pid1::event_loop::EventLoop;
use pid1::spawn::{Command, WorkDir};
use pid1::{reaper, signals};

/// Exit code for a bad command line (nothing was started).
const EXIT_USAGE: i32 = 2;
/// Exit code when rinit itself cannot set up or start the command.
const EXIT_INTERNAL: i32 = 1;

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let code = run();
    // What a slow reader has not taken yet gets a second at most.
    log::finish(pid1::event_loop::after(std::time::Duration::from_secs(1)));
    code
}

/// Over 50 lines: the dispatch of each invocation, then supervisor or
/// single-command mode's start-up steps, in order.
fn run() -> i32 {
    // First: any descriptor rinit opens from here on (its own non-blocking
    // stderr, at the first message) stays its own.
    sanitize_descriptors();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let options = match cli::parse(args, cli::Environment::from_process()) {
        Ok(Invocation::Run(options)) => options,
        Ok(Invocation::Check(options)) => {
            log::set_level(options.log_level);
            return check(&options);
        }
        Ok(Invocation::Control(options)) => return control::client::run(&options),
        Ok(Invocation::Import(files, root, split)) => {
            return import::run(&files, root.as_deref(), split.as_deref())
        }
        Ok(Invocation::Help(usage)) => {
            log::write_all(1, usage.as_bytes());
            return 0;
        }
        Ok(Invocation::Version) => {
            log::write_all(1, concat!("rinit ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
            return 0;
        }
        Ok(Invocation::License) => {
            log::write_all(1, include_str!("../LICENSE").as_bytes());
            return 0;
        }
        Err(message) => {
            error!("{message}");
            return EXIT_USAGE;
        }
    };
    log::set_level(options.log_level);
    let blocked = signals::take_over();
    become_init(&options);
    // Before the move to "/": relative paths in and to the configuration
    // are the starting directory's.
    let plan = match plan(&options) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let start_dir = starting_directory();
    if start_dir.is_some() {
        if let Err(errno) = nix::unistd::chdir("/") {
            warn!("could not change to /: {}", errno.desc());
        }
    }
    let start_dir = start_dir.as_ref().map(AsRawFd::as_raw_fd);
    match plan {
        Some(plan) => run_supervisor(plan, &options, blocked, start_dir),
        None => run_single(&options, blocked, start_dir),
    }
}

/// The parent-death signal (`-p`), and a child subreaper when not PID 1.
fn become_init(options: &cli::Options) {
    if let Some(signo) = options.parent_death_signal {
        if let Err(errno) = reaper::set_parent_death_signal(signo) {
            warn!("could not set the parent-death signal: {}", errno.desc());
        }
    }
    if !reaper::is_pid1() {
        // Automatic when not PID 1 (so -s / RINIT_SUBREAPER change nothing).
        if let Err(errno) = reaper::become_subreaper() {
            warn!(
                "could not become a child subreaper ({}); orphans will go to the real init",
                errno.desc()
            );
        }
    }
}

/// The configuration's plan, None for single-command mode, or rinit's exit
/// code once the error is reported.
fn plan(options: &cli::Options) -> Result<Option<config::Plan>, i32> {
    let main_command = (!options.command.is_empty()).then_some(&options.command[..]);
    match config::find(options.config.as_deref()) {
        Some(path) => match config::load(&path, std::env::vars_os().collect(), main_command) {
            Ok(plan) => {
                // The file's text and its parse are freed: not resident from now on.
                sys::release_free_memory();
                log::set_format(plan.log_format);
                Ok(Some(plan))
            }
            Err(errors) => {
                for line in errors.lines() {
                    error!("{line}");
                }
                Err(EXIT_USAGE)
            }
        },
        None if main_command.is_none() => {
            error!(
                "no command given and no configuration ({} does not exist); \
                 usage: rinit [OPTIONS] -- COMMAND [ARGS...] (see rinit --help)",
                config::DEFAULT_PATH
            );
            Err(EXIT_USAGE)
        }
        None => Ok(None),
    }
}

fn run_supervisor(
    plan: config::Plan,
    options: &cli::Options,
    blocked: signals::Mask,
    start_dir: Option<RawFd>,
) -> i32 {
    let Some(mut events) = event_loop(blocked) else {
        return EXIT_INTERNAL;
    };
    let settings = supervise::Settings {
        start_dir,
        foreground: owns_terminal_foreground(),
        grace: options.grace,
        success_codes: options.success_codes.clone(),
        open_files: raise_open_files_limit(),
        warn_reaped: options.warn_reaped,
        config: config::find(options.config.as_deref()).map(|path| supervise::ConfigSource {
            path,
            env: std::env::vars_os().collect(),
            main_command: (!options.command.is_empty()).then(|| options.command.clone()),
        }),
    };
    supervise::run(plan, &settings, &mut events)
}

fn run_single(options: &cli::Options, blocked: signals::Mask, start_dir: Option<RawFd>) -> i32 {
    let Some(mut events) = event_loop(blocked) else {
        return EXIT_INTERNAL;
    };
    let command = match Command::new(&options.command, std::env::vars_os().collect()) {
        Ok(command) => command,
        Err(err) => {
            error!("{err}");
            return err.exit_code();
        }
    };
    let command = match start_dir {
        Some(dir) => command.work_dir(WorkDir::Fd(dir)),
        None => command,
    };
    single::run(
        options,
        &command.foreground(owns_terminal_foreground()),
        &mut events,
    )
}

/// The event loop for either mode, or None once the failure is reported.
fn event_loop<K: Ord + Copy>(blocked: signals::Mask) -> Option<EventLoop<K>> {
    EventLoop::new(blocked)
        .map_err(|errno| error!("cannot create the signalfd: {}", errno.desc()))
        .ok()
}

/// Supervisor mode holds several descriptors per program (pipes, a notify
/// socket, a pidfd): rinit raises its own soft RLIMIT_NOFILE to the hard
/// limit (no capability needed) and gives each program the original back.
/// Returns the original when it was raised.
fn raise_open_files_limit() -> Option<libc::rlimit64> {
    let (soft, hard) = sys::open_files_limit().ok()?;
    if soft >= hard {
        return None;
    }
    sys::set_open_files_limit(hard, hard).ok()?;
    Some(libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    })
}

/// `rinit check`: validates the configuration and prints the start plan.
fn check(options: &cli::Options) -> i32 {
    let Some(path) = config::find(options.config.as_deref()) else {
        error!(
            "no configuration to check: give -c PATH or $RINIT_CONFIG, or create {}",
            config::DEFAULT_PATH
        );
        return EXIT_USAGE;
    };
    match config::load(&path, std::env::vars_os().collect(), None) {
        Ok(plan) => {
            log::write_all(1, config::describe(&path, &plan).as_bytes());
            let (errors, warnings) = config::audit(&path, &plan);
            for warning in &warnings {
                warn!("{warning}");
            }
            for error in &errors {
                error!("{error}");
            }
            if errors.is_empty() {
                0
            } else {
                EXIT_USAGE
            }
        }
        Err(errors) => {
            for line in errors.lines() {
                error!("{line}");
            }
            EXIT_USAGE
        }
    }
}

/// Closes every descriptor rinit inherited beyond 0-2, so neither rinit nor
/// its child holds, say, the write end of someone's pipe; and opens /dev/null
/// on any of 0-2 that is missing, so no descriptor rinit opens later lands there.
fn sanitize_descriptors() {
    // Nothing in rinit holds a descriptor at this point.
    if sys::close_from(3).is_err() {
        close_inherited_one_by_one(); // kernels before 5.9
    }
    for fd in 0..3 {
        if !sys::is_open(fd) {
            match nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                Ok(null) => std::mem::forget(null), // lands on `fd`, the lowest free one; kept for the child
                Err(errno) => warn!(
                    "descriptor {fd} is closed and /dev/null cannot be opened: {}",
                    errno.desc()
                ),
            }
        }
    }
}

/// close_range's fallback: every descriptor from 3 up to the soft
/// RLIMIT_NOFILE (at most 65,536 of them: a container's limit can be a million).
fn close_inherited_one_by_one() {
    let highest = sys::open_files_limit().map_or(1024, |(soft, _)| soft.min(65_536));
    for fd in 3..libc::c_int::try_from(highest).unwrap_or(1024) {
        // Nothing in rinit holds a descriptor at this point.
        sys::close_unowned(fd);
    }
}

/// rinit's starting directory (Docker's WORKDIR), kept open so the command can
/// start there while rinit itself moves to `/`. When it cannot be opened (no
/// search permission on it), rinit stays in it and the command inherits it.
fn starting_directory() -> Option<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match nix::fcntl::open(".", flags, Mode::empty()) {
        Ok(fd) => Some(fd),
        Err(errno) => {
            warn!(
                "cannot open the starting directory ({}); staying in it rather than moving to /",
                errno.desc()
            );
            None
        }
    }
}

/// Whether stdin is rinit's controlling terminal and rinit's process group is
/// in its foreground: then the command should get the foreground, so that
/// `docker run -it image bash` has working job control and Ctrl-C.
fn owns_terminal_foreground() -> bool {
    // A closed or non-terminal descriptor gives an error, which means "no".
    // Both ids read 0 when the group lives outside rinit's PID namespace (rinit
    // started by `unshare --pid --fork` from a shell): still the same group.
    sys::foreground_group(0) == Ok(nix::unistd::getpgrp().as_raw())
}
