//! Supervisor mode, and main command + programs. The decisions are the
//! fleet's (fleet.rs, pure: gates, ordering, requests, shutdown); this file
//! is the side that touches the system: `run` drives the event loop,
//! `handle` turns each loop event into a fleet input, and `apply` carries
//! out the fleet's effects. The satellites each own their part of the
//! system: spawning (launch.rs), `ready` and `health` checks (checks.rs,
//! one runner for both), the notify sockets (ready.rs), prefixed output
//! (output.rs), the control socket (control.rs) and the HTTP server
//! (http.rs).

mod checks;
mod control;
mod fleet;
mod http;
mod instance;
mod launch;
mod output;
mod policy;
mod probe;
mod ready;
mod reload;
mod requests;
mod schedules;
mod shutdown;
#[cfg(test)]
mod sim;
mod state;
mod wall_clock;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::libc::{self, c_int, pid_t};
use nix::sys::stat::Mode;

use crate::config::Plan;
use crate::log::{self, Level};
use crate::pid1::event_loop::{Event as LoopEvent, EventLoop};
use crate::pid1::{reaper, signals, spawn};
use checks::{Checks, Purpose};
use fleet::{Effect, Fleet, FleetTimer, InstanceId, Kernel, Phase};
use instance::{Action, Event};
use output::{Output, StreamId, Watch};
use ready::NotifySocket;

/// The event loop's keys, by the satellite that owns them: each handles
/// its own, timers and descriptors alike, with no catch-all between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// The fleet's timers: instances' restarts and stops, requests, shutdown.
    Fleet(FleetTimer),
    /// A check's timer: its next try, or the end of the try under way.
    Check(InstanceId, Purpose),
    /// A tcp or http try of a check can take its next step.
    CheckIo(InstanceId, Purpose),
    Notify(InstanceId),
    Output(Watch),
    Control(control::ControlKey),
    Http(http::HttpKey),
    /// The wall-clock timer of cron schedules.
    Clock,
}

/// What rinit takes from its command line and start-up into this mode.
pub struct Settings {
    /// rinit's starting directory (Docker's WORKDIR), where programs start.
    pub start_dir: Option<std::os::fd::RawFd>,
    /// Whether `main` gets the terminal's foreground.
    pub foreground: bool,
    /// `-t`: how long leftover processes get after SIGTERM.
    pub grace: Duration,
    /// `-e`: main's exit codes reported as 0.
    pub success_codes: Vec<u8>,
    /// The open-files limit rinit started with, when it raised its own.
    pub open_files: Option<libc::rlimit64>,
    /// `-w`: a warning, not a debug line, for each pid reaped that rinit did not start.
    pub warn_reaped: bool,
    /// Where `rinit reload` reads the configuration again.
    pub config: Option<ConfigSource>,
}

/// What the configuration was loaded from, to load it again the same way.
pub struct ConfigSource {
    pub path: std::path::PathBuf,
    /// rinit's environment at start (`${VAR}`s expand from it).
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// The command given on rinit's command line (the program `main`).
    pub main_command: Option<Vec<std::ffi::OsString>>,
}

/// The real kernel, as the fleet asks it.
struct Host;

impl Kernel for Host {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn group_alive(&self, pgid: pid_t) -> bool {
        spawn::group_alive(pgid)
    }

    fn children_remain(&self) -> bool {
        reaper::children_remain()
    }

    fn is_pid1(&self) -> bool {
        reaper::is_pid1()
    }

    fn wall_now(&self) -> i64 {
        crate::config::wall_now()
    }
}

/// Who a reaped pid was.
enum Owner {
    Program(InstanceId),
    /// A `ready` or `health` command.
    Check(InstanceId, Purpose),
}

/// What the supervisor holds for an instance's processes, made at its first
/// start and kept for all its runs: its notify socket (`type = "notify"`)
/// and its output pipes (`output = "prefix"` or `"json"`).
#[derive(Default)]
struct InstanceIo {
    notify: Option<NotifySocket>,
    streams: Option<[StreamId; 2]>,
}

struct Supervisor<'a> {
    settings: &'a Settings,
    events: &'a mut EventLoop<Key>,
    fleet: Fleet<Host>,
    io: Vec<InstanceIo>,
    owners: HashMap<pid_t, Owner>,
    checks: Checks,
    output: Option<Output>,
    control: control::Control,
    http: http::Http,
    null: OwnedFd,
    own_uid: u32,
    /// The wall clock, when a program has a cron schedule.
    clock: Option<wall_clock::WallClock>,
    /// Processes reaped (for /metrics).
    reaped: u64,
    started: Instant,
}

/// Runs the plan until everything has ended or been stopped; returns rinit's
/// exit code.
pub fn run(plan: Plan, settings: &Settings, events: &mut EventLoop<Key>) -> c_int {
    let null = match nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(errno) => {
            error!("cannot open /dev/null: {}", errno.desc());
            return 1;
        }
    };
    let fleet = Fleet::new(
        Rc::new(plan),
        Host,
        settings.success_codes.clone(),
        settings.grace,
    );
    let mut supervisor = Supervisor {
        settings,
        events,
        fleet,
        io: Vec::new(),
        owners: HashMap::new(),
        checks: Checks::default(),
        output: None,
        control: control::Control::default(),
        http: http::Http::default(),
        clock: None,
        null,
        own_uid: nix::unistd::geteuid().as_raw(),
        reaped: 0,
        started: Instant::now(),
    };
    supervisor.make_what_the_plan_needs();
    supervisor.open_control_socket();
    supervisor.open_http();
    supervisor.advance();
    let mut batch = Vec::new();
    while supervisor.fleet.phase() != Phase::Done {
        if let Err(errno) = supervisor.events.wait(&mut batch) {
            error!("waiting for events failed: {}", errno.desc());
            return supervisor.fleet.final_code().max(1);
        }
        // A check reaped in this batch is let go of before anything else in
        // the batch could signal its group (its program's exit, say,
        // abandons its readiness): a reaped pid is never signalled.
        let owners = &supervisor.owners;
        batch.sort_by_key(|event| match event {
            LoopEvent::Exited(pid, _) => !matches!(owners.get(pid), Some(Owner::Check(..))),
            _ => true,
        });
        for event in batch.drain(..) {
            supervisor.handle(event);
        }
        batch.shrink_to(64);
        supervisor.advance();
    }
    if let Some(output) = &mut supervisor.output {
        output.finish(Duration::from_secs(1));
    }
    supervisor.fleet.final_code()
}

impl Supervisor<'_> {
    /// What the plan's programs need that is made once, at start or when a
    /// reload brings the first program that needs it: the output reader
    /// (`output = "prefix"` or `"json"`) and the wall clock (cron schedules);
    /// a place in `io` for each instance.
    fn make_what_the_plan_needs(&mut self) {
        self.io.resize_with(self.fleet.members().len(), Default::default);
        let plan = self.plan();
        if self.output.is_none() && plan.programs.iter().any(|p| p.output.is_read()) {
            self.output = Some(Output::new());
        }
        let mut schedules = plan.programs.iter().filter_map(|p| p.schedule.as_ref());
        if self.clock.is_none() && schedules.any(|s| matches!(s.when, crate::schedule::When::Cron(_))) {
            self.clock = wall_clock::WallClock::new(self.events);
        }
    }

    /// Turns one event of the loop into an input of whom it concerns.
    fn handle(&mut self, event: LoopEvent<Key>) {
        match event {
            LoopEvent::Signal(signal) => {
                if !signal.is_self_inflicted() {
                    self.fleet.on_signal(signal.signo);
                }
            }
            LoopEvent::Exited(pid, status) => {
                self.reaped = self.reaped.saturating_add(1);
                match self.owners.remove(&pid) {
                    Some(Owner::Program(i)) => {
                        self.output_run_ended(i);
                        self.fleet.exited(i, status);
                    }
                    Some(Owner::Check(i, purpose)) => self.on_check_exit(i, purpose, pid, status),
                    None => reaper::reaped_unknown(pid, status, self.settings.warn_reaped),
                }
            }
            LoopEvent::Timer(key) | LoopEvent::Ready(key) => match key {
                Key::Fleet(timer) => self.fleet.on_timer(timer),
                Key::Check(i, purpose) => self.on_check_timer(i, purpose),
                Key::CheckIo(i, purpose) => self.on_check_io(i, purpose),
                Key::Notify(i) => self.on_notify(i),
                Key::Output(watch) => {
                    if let Some(output) = &mut self.output {
                        output.on_ready(watch);
                        // What to watch next is settled once per batch, in `advance`.
                    }
                }
                Key::Control(key) => self.on_control(key),
                Key::Http(key) => self.on_http(key),
                Key::Clock => {
                    let stepped = self.clock.as_mut().is_some_and(wall_clock::WallClock::fired);
                    self.fleet.on_wall_clock(stepped);
                }
            },
        }
        self.apply_effects();
    }

    /// Moves every program along after a batch (fleet.rs), then settles
    /// which output pipes to watch.
    fn advance(&mut self) {
        // A start may let the programs after it start too (a simple program
        // is ready once spawned): again, while a pass spawned something.
        for _ in 0..=self.io.len() {
            self.fleet.advance();
            if !self.apply_effects() {
                break;
            }
        }
        if let Some(output) = &mut self.output {
            output.sync_watches(self.events, Key::Output);
        }
        if let Some(clock) = &mut self.clock {
            clock.arm(self.fleet.next_wall_run());
        }
    }

    /// Instance `i`'s main process has ended: what it left in its pipes is
    /// read (as the destination has room), and, once it is retired, its
    /// pipes let go of.
    fn output_run_ended(&mut self, i: InstanceId) {
        let retired = self.fleet.is_retired(self.fleet.member(i).program);
        // `io` has a place for each instance.
        let Some(io) = self.io.get_mut(i.0) else { return };
        let streams = if retired { io.streams.take() } else { io.streams };
        if let (Some(ids), Some(output)) = (streams, self.output.as_mut()) {
            for id in ids {
                output.run_ended(id);
                if retired {
                    output.release(id);
                }
            }
        }
    }

    /// After a reload: the pipes of retired instances with no process
    /// running are let go of (those running, when their run ends).
    fn release_retired_output(&mut self) {
        let mut running = vec![false; self.io.len()];
        for owner in self.owners.values() {
            if let Owner::Program(i) = owner {
                if let Some(mark) = running.get_mut(i.0) {
                    *mark = true;
                }
            }
        }
        for (n, (io, running)) in self.io.iter_mut().zip(running).enumerate() {
            let retired = self.fleet.is_retired(self.fleet.member(InstanceId(n)).program);
            if retired && !running {
                if let (Some(ids), Some(output)) = (io.streams.take(), self.output.as_mut()) {
                    ids.into_iter().for_each(|id| output.release(id));
                }
            }
        }
    }

    /// Carries out what the fleet wants done, oldest first (a spawn's
    /// outcome goes back to the fleet, which may want more); whether it
    /// spawned a program.
    fn apply_effects(&mut self) -> bool {
        let mut spawned = false;
        while let Some(effect) = self.fleet.next_effect() {
            spawned |= matches!(effect, Effect::Do(_, Action::Spawn));
            match effect {
                Effect::Do(i, action) => self.apply(i, action),
                Effect::Answer(client, answer) => self.answer_waiting(client, answer),
                Effect::SetTimer(timer, delay) => self.events.set_timer_after(Key::Fleet(timer), delay),
                Effect::CancelTimer(timer) => self.events.cancel_timer(Key::Fleet(timer)),
                Effect::SignalEveryone(signo) => reaper::signal_everyone(signo),
                Effect::Log(level, message) => log_at(level, &message),
            }
        }
        spawned
    }

    fn apply(&mut self, i: InstanceId, action: Action) {
        let name = self.fleet.instance(i).name();
        match action {
            Action::Spawn => self.spawn(i),
            Action::SignalMain(signo) => {
                // The main process as the gate holds it now: a reaped one
                // is gone from the state, so it is never signalled.
                let child = self.fleet.instance(i).state().child();
                if let Some(Err(errno)) = child.map(|c| c.signal(signo)) {
                    warn!(
                        "could not send {} to {name}: {}",
                        signals::name(signo),
                        errno.desc()
                    );
                }
            }
            Action::SignalGroup(pgid, signo) => {
                // SIGCONT and the like may find the group gone: no message.
                if let Err(errno) = spawn::signal_group(pgid, signo) {
                    debug!(
                        "could not send {} to {name}'s group: {}",
                        signals::name(signo),
                        errno.desc()
                    );
                }
            }
            Action::WatchReadiness => self.watch_check(i, Purpose::Ready),
            Action::AbandonReadiness => self.abandon_check(i, Purpose::Ready),
            Action::WatchHealth => self.watch_check(i, Purpose::Health),
            Action::AbandonHealth => self.abandon_check(i, Purpose::Health),
            // The fleet keeps these for itself.
            Action::SetTimer(..)
            | Action::CancelTimer(_)
            | Action::Log(..)
            | Action::EndedForGood
            | Action::Answer(..) => {}
        }
    }

    /// Passes `event` to instance `i`'s gate and carries out what follows.
    fn deliver(&mut self, i: InstanceId, event: Event) {
        self.fleet.deliver(i, event);
        self.apply_effects();
    }
}

/// A listener on which rinit ran out of descriptors: not watched for
/// `EXHAUSTED_PAUSE` (a readable listener with no descriptor free would
/// make the loop spin; its key's timer watches it again), said once.
fn listener_exhausted(events: &mut EventLoop<Key>, key: Key, said: &mut bool, what: &str) {
    events.unwatch(key);
    events.set_timer_after(key, crate::sink::EXHAUSTED_PAUSE);
    if !std::mem::replace(said, true) {
        warn!("{what}: out of file descriptors: new connections wait (this is said once)");
    }
}

fn log_at(level: Level, message: &str) {
    if log::enabled(level) {
        log::line_at(level, format_args!("{message}"));
    }
}
