//! A deterministic simulation of the supervisor: the real fleet (gates,
//! restart policy, ordering, control requests, health, shutdown) against a
//! fake kernel (processes, process groups, zombies, the reaper, signals)
//! and a fake clock, driven by seeded random events. After every step it
//! checks the invariants that make the supervisor impossible to wedge:
//!
//! - no instance stays stopping longer than its stop_timeout and the wait
//!   after SIGKILL; none waits to start while what it comes after is ready;
//!   none keeps running when it is to stop and nothing after it runs;
//! - every waiting client is answered exactly once, in time, truthfully;
//! - an instance is never started while its previous group has members;
//! - nothing is signalled once reaped (a pid, or a group with no member);
//! - a shutdown ends within shutdown_timeout and a small bound;
//! - a reload (a small change of the plan, or a new random one) never
//!   touches a program it keeps: no signal, no start, same state and pid;
//!   a changed program's new instances never start while the old ones run.
//!
//! A failure names its seed; `RINIT_SIM_SEED=N cargo test --bin rinit sim`
//! replays it alone, printing every step (docs/testing.md).

#![cfg(test)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::libc::{self, c_int, pid_t};

use super::fleet::{Effect, Fleet, FleetTimer, InstanceId, Kernel, Phase, KILL_OVER};
use super::instance::{Action, Event, State, Timer, Want, KILL_WAIT};
use super::schedules::NextRun;
use crate::config::{Group, Health, Kind, Overlap, Plan, Program, ProgramId, Ready, Restart};
use crate::control::server::ClientId;
use crate::control::Change;
use crate::pid1::reaper::ExitStatus;
use crate::pid1::spawn::Child;

/// splitmix64: small, seedable, good enough to pick events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn ms(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.next() % (max + 1))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Life {
    Alive,
    /// Exited, not reaped yet: still a member of its group.
    Zombie(ExitStatus),
}

struct Proc {
    pgid: pid_t,
    life: Life,
    ignores_term: bool,
    main_of: Option<InstanceId>,
}

/// The fake kernel and clock.
struct World {
    start: Instant,
    elapsed: Duration,
    procs: BTreeMap<pid_t, Proc>,
    next_pid: pid_t,
    timers: BTreeMap<FleetTimer, Duration>,
    pid1: bool,
    /// The wall clock at the start, and how far it has been set since.
    wall_start: i64,
    wall_set: i64,
}

impl World {
    fn wall_now(&self) -> i64 {
        self.wall_start + self.elapsed.as_secs() as i64 + self.wall_set
    }
}

impl World {
    fn group_alive(&self, pgid: pid_t) -> bool {
        self.procs.values().any(|p| p.pgid == pgid)
    }

    /// `signo` reaches `pid`: the deaths it causes (as zombies).
    fn deliver_signal(&mut self, pid: pid_t, signo: c_int) {
        let Some(proc) = self.procs.get_mut(&pid) else {
            return;
        };
        if proc.life != Life::Alive {
            return;
        }
        let dies = match signo {
            libc::SIGKILL => true,
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT | libc::SIGHUP => !proc.ignores_term,
            _ => false,
        };
        if dies {
            proc.life = Life::Zombie(ExitStatus::Signal(signo));
        }
    }
}

#[derive(Clone)]
struct SimKernel(Rc<RefCell<World>>);

impl Kernel for SimKernel {
    fn now(&self) -> Instant {
        let world = self.0.borrow();
        world.start + world.elapsed
    }

    fn group_alive(&self, pgid: pid_t) -> bool {
        self.0.borrow().group_alive(pgid)
    }

    fn children_remain(&self) -> bool {
        !self.0.borrow().procs.is_empty()
    }

    fn is_pid1(&self) -> bool {
        self.0.borrow().pid1
    }

    fn wall_now(&self) -> i64 {
        self.0.borrow().wall_now()
    }
}

/// A client of the control socket, as the simulation follows it.
struct Client {
    change: Change,
    /// A reload's: its old instances are to be down, the others up.
    reload: bool,
    /// When its answer is due at the latest.
    due: Duration,
    answered: bool,
    hung_up: bool,
}

/// One run: a random plan, then random events, then a shutdown.
struct Sim {
    fleet: Fleet<SimKernel>,
    world: Rc<RefCell<World>>,
    rng: Rng,
    seed: u64,
    verbose: bool,
    readiness: HashSet<InstanceId>,
    health: HashSet<InstanceId>,
    clients: HashMap<ClientId, Client>,
    next_client: u64,
    /// The process groups each instance has had.
    groups: Vec<Vec<pid_t>>,
    /// Each instance's state name, and since when.
    since: Vec<(&'static str, Duration)>,
    shutdown_at: Option<Duration>,
    /// When the drain began (the first SIGTERM with `drain`).
    drain_at: Option<Duration>,
    /// The last request that named each instance (or brought it along).
    last_request: Vec<Option<Change>>,
    trace: Vec<String>,
    /// The state of the rng that made the first plan: made again, and
    /// changed a little, for reloads.
    plan_seed: u64,
    reloads: u64,
    /// While a reload's effects play: the instances it keeps, which nothing may touch.
    untouchable: HashSet<InstanceId>,
    /// The stop_timeout a stop began with, when a reload changed it since
    /// (in place: it holds from the next stop).
    stop_began_with: HashMap<InstanceId, Duration>,
}

/// A random plan of up to five programs: dependencies on earlier ones,
/// instances, oneshots, ready checks, health checks, stop groups, every
/// restart policy, short timeouts, critical and manual programs, groups,
/// and schedules (cron, @every, @reboot; each overlap policy; run_timeout).
fn random_plan(rng: &mut Rng) -> Plan {
    let count = 1 + rng.below(5);
    let mut programs = Vec::new();
    let scheduled: Vec<bool> = (0..count).map(|_| rng.chance(20)).collect();
    for p in 0..count {
        let mut program = Program::with_defaults(&format!("p{p}"));
        // Nothing comes after a scheduled program.
        program.after = (0..p)
            .filter(|&d| rng.chance(35) && !scheduled[d])
            .map(ProgramId)
            .collect();
        program.instances = rng.chance(25).then(|| 1 + rng.below(2) as u32);
        program.kind = if rng.chance(15) {
            Kind::Oneshot
        } else {
            Kind::Simple
        };
        program.restart = [
            Restart::No,
            Restart::OnSuccess,
            Restart::OnFailure,
            Restart::OnAbnormal,
            Restart::OnAbort,
            Restart::Always,
        ][rng.below(6)];
        if program.kind == Kind::Oneshot {
            program.restart = Restart::No;
        } else if rng.chance(40) {
            program.ready = Some(Ready::File("/nonexistent".into()));
            program.ready_timeout = Duration::from_millis(200) + rng.ms(3000);
        }
        if program.kind == Kind::Simple && rng.chance(25) {
            program.health = Some(Health {
                check: crate::config::Check::Command(vec!["true".into()]),
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                retries: 1 + rng.below(3) as u32,
                start_period: rng.ms(1000),
            });
        }
        program.stop_group = rng.chance(30);
        program.stop_timeout = rng.ms(3000);
        program.restart_delay = rng.ms(500);
        program.restart_max_delay = program.restart_delay + rng.ms(2000);
        program.start_limit_burst = rng.below(6) as u32;
        program.start_limit_interval = rng.ms(5000);
        program.critical = rng.chance(15);
        program.autostart = !rng.chance(10);
        if scheduled[p] {
            schedule(rng, &mut program);
        }
        programs.push(program);
    }
    let groups = if count > 1 && rng.chance(50) {
        vec![Group {
            name: "g".into(),
            programs: vec![ProgramId(0), ProgramId(count - 1)],
        }]
    } else {
        Vec::new()
    };
    Plan {
        shutdown_timeout: Duration::from_millis(500) + rng.ms(9000),
        drain: if rng.chance(30) {
            rng.ms(3000)
        } else {
            Duration::ZERO
        },
        log_format: crate::log::Format::Plain,
        control_socket: None,
        http: None,
        programs,
        groups,
    }
}

/// Makes `program` a scheduled one: a oneshot, never restarted, never
/// critical, with no checks and one instance.
fn schedule(rng: &mut Rng, program: &mut Program) {
    let text = ["* * * * *", "*/2 * * * *", "@every 1s", "@every 7s", "@reboot"][rng.below(5)];
    let Ok(when) = crate::schedule::When::parse(text) else {
        panic!("{text} is a schedule");
    };
    program.kind = Kind::Oneshot;
    program.restart = Restart::No;
    program.ready = None;
    program.health = None;
    program.critical = false;
    program.instances = None;
    program.schedule = Some(crate::config::Scheduled {
        when,
        zone: crate::schedule::Zone::utc(),
        overlap: [Overlap::Skip, Overlap::Queue, Overlap::Replace][rng.below(3)],
        run_timeout: rng.chance(50).then(|| Duration::from_millis(300) + rng.ms(5000)),
        written: text.into(),
    });
}

impl Sim {
    fn new(plan: Rc<Plan>, seed: u64, mut rng: Rng, verbose: bool, plan_seed: u64) -> Sim {
        let world = Rc::new(RefCell::new(World {
            start: Instant::now(),
            elapsed: Duration::ZERO,
            procs: BTreeMap::new(),
            next_pid: 100,
            timers: BTreeMap::new(),
            pid1: rng.chance(50),
            wall_start: 1_790_000_000 + rng.below(86_400) as i64,
            wall_set: 0,
        }));
        let fleet = Fleet::new(
            plan,
            SimKernel(world.clone()),
            Vec::new(),
            Duration::from_millis(300),
        );
        let count = fleet.members().len();
        Sim {
            fleet,
            world,
            rng,
            seed,
            verbose,
            readiness: HashSet::new(),
            health: HashSet::new(),
            clients: HashMap::new(),
            next_client: 1,
            groups: vec![Vec::new(); count],
            since: vec![("", Duration::ZERO); count],
            shutdown_at: None,
            drain_at: None,
            last_request: vec![None; count],
            trace: Vec::new(),
            plan_seed,
            reloads: 0,
            untouchable: HashSet::new(),
            stop_began_with: HashMap::new(),
        }
    }

    fn now(&self) -> Duration {
        self.world.borrow().elapsed
    }

    fn note(&mut self, what: String) {
        let line = format!("{:>8.3}s {what}", self.now().as_secs_f64());
        if self.verbose {
            eprintln!("{line}");
        }
        self.trace.push(line);
        if self.trace.len() > 60 {
            self.trace.remove(0);
        }
    }

    fn fail(&self, why: String) -> ! {
        let mut text = format!(
            "simulation seed {} failed: {why}\nreplay: RINIT_SIM_SEED={} cargo test --bin rinit sim\nlast steps:\n",
            self.seed, self.seed
        );
        for line in &self.trace {
            let _ = writeln!(text, "  {line}");
        }
        for member in self.fleet.members() {
            let i = &member.instance;
            let _ = writeln!(text, "  {} {:?} want {:?}", i.name(), i.state(), i.want());
        }
        panic!("{text}");
    }

    /// After an input: the fleet moves along (again while it spawned), its
    /// effects are played, and the invariants are checked.
    fn settle(&mut self) {
        self.play();
        for _ in 0..=self.since.len() {
            self.fleet.advance();
            if !self.play() {
                break;
            }
        }
        self.check();
    }

    /// Plays the fleet's effects on the fake kernel; whether one was a spawn.
    fn play(&mut self) -> bool {
        let mut spawned = false;
        while let Some(effect) = self.fleet.next_effect() {
            match effect {
                Effect::Do(i, action) => spawned |= self.act(i, action),
                Effect::Answer(client, answer) => self.answered(client, &answer),
                Effect::SetTimer(timer, delay) => {
                    let at = self.now().saturating_add(delay);
                    self.world.borrow_mut().timers.insert(timer, at);
                }
                Effect::CancelTimer(timer) => {
                    self.world.borrow_mut().timers.remove(&timer);
                }
                Effect::SignalEveryone(signo) => {
                    if !self.fleet.kernel().is_pid1() {
                        self.fail("kill(-1) when not PID 1".into());
                    }
                    let mut world = self.world.borrow_mut();
                    let pids: Vec<pid_t> = world.procs.keys().copied().collect();
                    for pid in pids {
                        world.deliver_signal(pid, signo);
                    }
                }
                Effect::Log(_, message) => self.note(format!("log: {message}")),
            }
        }
        spawned
    }
}

impl Sim {
    /// Plays one action of instance `i`'s gate; whether it was a spawn.
    fn act(&mut self, i: InstanceId, action: Action) -> bool {
        let touches = matches!(
            action,
            Action::Spawn | Action::SignalMain(_) | Action::SignalGroup(..)
        );
        if touches && self.untouchable.contains(&i) {
            self.fail(format!("the reload touched {i:?}, which it keeps: {action:?}"));
        }
        match action {
            Action::Spawn => {
                self.spawn(i);
                return true;
            }
            Action::SignalMain(signo) => {
                let Some(pid) = self.fleet.instance(i).state().child().map(Child::pid) else {
                    self.fail(format!(
                        "signal {signo} to instance {i:?}, which has no main process"
                    ));
                };
                if !self.world.borrow().procs.contains_key(&pid) {
                    self.fail(format!("signal {signo} to pid {pid}, already reaped"));
                }
                self.note(format!("signal {signo} to {pid}"));
                self.world.borrow_mut().deliver_signal(pid, signo);
            }
            Action::SignalGroup(pgid, signo) => {
                if !self.world.borrow().group_alive(pgid) {
                    self.fail(format!(
                        "signal {signo} to group {pgid}, which has no member left"
                    ));
                }
                self.note(format!("signal {signo} to group {pgid}"));
                let mut world = self.world.borrow_mut();
                let members: Vec<pid_t> = world
                    .procs
                    .iter()
                    .filter(|(_, p)| p.pgid == pgid)
                    .map(|(&pid, _)| pid)
                    .collect();
                for pid in members {
                    world.deliver_signal(pid, signo);
                }
            }
            Action::WatchReadiness => {
                self.readiness.insert(i);
            }
            Action::AbandonReadiness => {
                self.readiness.remove(&i);
            }
            Action::WatchHealth => {
                self.health.insert(i);
            }
            Action::AbandonHealth => {
                self.health.remove(&i);
            }
            _ => {}
        }
        false
    }

    /// A start: never while a group this instance had still has members.
    /// The new main process may leave helpers in its group, some of which
    /// ignore SIGTERM; now and then the start fails outright.
    fn spawn(&mut self, i: InstanceId) {
        for &pgid in &self.groups[i.0] {
            if self.world.borrow().group_alive(pgid) {
                self.fail(format!(
                    "instance {i:?} started while its old group {pgid} has members"
                ));
            }
        }
        // Nor while an old version (retired by a reload) has members.
        let name = self.fleet.program_of(i).name.clone();
        for (j, member) in self.fleet.members().iter().enumerate() {
            let old =
                self.fleet.is_retired(member.program) && self.fleet.plan.program(member.program).name == name;
            for &pgid in self.groups[j].iter().filter(|_| old) {
                if self.world.borrow().group_alive(pgid) {
                    self.fail(format!(
                        "{name} started while its old version's group {pgid} has members"
                    ));
                }
            }
        }
        if self.rng.chance(5) {
            self.note(format!("spawn of {i:?} fails"));
            self.fleet.deliver(i, Event::SpawnFailed("no such file".into()));
            return;
        }
        let helpers = if self.rng.chance(40) {
            1 + self.rng.below(2)
        } else {
            0
        };
        let mut world = self.world.borrow_mut();
        let pid = world.next_pid;
        world.next_pid += 1 + helpers as pid_t;
        for n in 0..=helpers {
            let proc = Proc {
                pgid: pid,
                life: Life::Alive,
                ignores_term: self.rng.chance(if n == 0 { 15 } else { 30 }),
                main_of: (n == 0).then_some(i),
            };
            world.procs.insert(pid + n as pid_t, proc);
        }
        drop(world);
        self.groups[i.0].push(pid);
        self.note(format!("spawn {i:?}: pid {pid}, {helpers} helpers"));
        let child = Child::for_tests(pid);
        self.fleet.deliver(
            i,
            Event::Spawned {
                child,
                exec_failed: false,
            },
        );
    }

    /// A waiting client's answer: once, to a client still there, and true.
    fn answered(&mut self, id: ClientId, answer: &str) {
        self.note(format!(
            "answer to {id:?}: {}",
            answer.lines().next().unwrap_or("")
        ));
        let Some(client) = self.clients.get_mut(&id) else {
            self.fail(format!("an answer to {id:?}, who asked nothing"));
        };
        if client.answered || client.hung_up {
            let why = if client.answered {
                "a second answer"
            } else {
                "an answer after its hang-up"
            };
            self.fail(format!("{why} to {id:?}: {answer}"));
        }
        client.answered = true;
        let (change, reload) = (client.change, client.reload);
        if !answer.starts_with("rinit/1 ok") {
            return;
        }
        for line in answer.lines().skip(1).filter(|l| !l.starts_with("also ")) {
            let Some((_, state)) = line.split_once(": ") else {
                continue;
            };
            let state = state.split(' ').next().unwrap_or("");
            let down = change == Change::Stop || (reload && line.contains(" (previous): "));
            let truthful = if down {
                matches!(state, "stopped" | "exited" | "done" | "failed" | "held")
            } else {
                matches!(state, "ready" | "done" | "scheduled")
            };
            if !truthful {
                self.fail(format!("{} answered ok, but {line}", change.word()));
            }
        }
    }

    /// The invariants, after every step.
    fn check(&mut self) {
        let now = self.now();
        let running = self.fleet.phase() == Phase::Running;
        if !running && self.shutdown_at.is_none() {
            self.shutdown_at = Some(now);
        }
        // A drain ends in the shutdown within its time, never later.
        if let Some(left) = self.fleet.draining() {
            let began = *self.drain_at.get_or_insert(now);
            let drain = self.fleet.plan.drain;
            if now.saturating_sub(began) > drain || left > drain {
                self.fail(format!(
                    "draining {:?} after it began, with {left:?} left",
                    now.saturating_sub(began)
                ));
            }
        }
        let alive_from = self.fleet.active_from();
        for (index, member) in self.fleet.members().iter().enumerate() {
            let instance = &member.instance;
            let config = &self.fleet.plan.programs[member.program.0];
            let name = instance.state().name();
            let since = &mut self.since[index];
            let stopping = matches!(instance.state(), State::Stopping { .. } | State::Draining { .. });
            let was_stopping = matches!(since.0, "stopping" | "unhealthy");
            if name != since.0 && !(stopping && was_stopping) {
                *since = (name, now);
                self.stop_began_with.remove(&InstanceId(index));
            }
            let took = now.saturating_sub(since.1);
            let began_with = self.stop_began_with.get(&InstanceId(index)).copied();
            let stop_timeout = config.stop_timeout.max(began_with.unwrap_or_default());
            if stopping && took > stop_timeout + KILL_WAIT {
                self.fail(format!("{} has been stopping for {took:?}", instance.name()));
            }
            let deps_ready = config
                .after
                .iter()
                .all(|d| self.fleet.as_dependency(d.0) == super::fleet::Dependency::Ready)
                && !self.fleet.replaced_active(member.program);
            if running && matches!(instance.state(), State::Waiting) && deps_ready {
                self.fail(format!(
                    "{} waits to start, though what it comes after is ready",
                    instance.name()
                ));
            }
            let to_stop = !running || instance.want() != Want::Up;
            let dependents_alive = self.fleet.dependents[member.program.0]
                .iter()
                .any(|d| alive_from[d.0]);
            if to_stop && matches!(instance.state(), State::Running(_)) && !dependents_alive {
                self.fail(format!(
                    "{} runs, though it is to stop and nothing after it runs",
                    instance.name()
                ));
            }
            if matches!(instance.state(), State::Spawning) {
                self.fail(format!(
                    "{} was asked to spawn, and nothing came of it",
                    instance.name()
                ));
            }
            let wanted = match self.last_request[index] {
                Some(Change::Stop) => instance.want() == Want::Down,
                Some(_) => instance.want() != Want::Down,
                None => true,
            };
            if running && !wanted {
                self.fail(format!(
                    "{} is wanted {:?}, but the last request was {:?}",
                    instance.name(),
                    instance.want(),
                    self.last_request[index]
                ));
            }
            let consistent = match instance.state() {
                State::Held => instance.want() == Want::Down,
                State::Waiting | State::Scheduled => instance.want() == Want::Up,
                _ => true,
            };
            if !consistent {
                self.fail(format!(
                    "{} is {name} but wanted {:?}",
                    instance.name(),
                    instance.want()
                ));
            }
        }
        self.check_schedules();
        for (id, client) in &self.clients {
            let timer = self.world.borrow().timers.contains_key(&FleetTimer::Request(*id));
            if !client.answered && !client.hung_up && !timer {
                self.fail(format!("{id:?} waits with no answer coming"));
            }
            if !client.answered && !client.hung_up && now > client.due {
                self.fail(format!("{id:?} was not answered in time"));
            }
        }
        if let (Some(at), true) = (self.shutdown_at, self.fleet.phase() != Phase::Done) {
            let bound = self.fleet.plan.shutdown_timeout + KILL_OVER;
            if now.saturating_sub(at) > bound {
                self.fail(format!("the shutdown has lasted {:?}", now.saturating_sub(at)));
            }
        }
    }
}

impl Sim {
    /// A scheduled program always has its next run ahead while it is wanted
    /// up, on a timer that is set; no run outlasts its run_timeout.
    fn check_schedules(&mut self) {
        if self.fleet.phase() != Phase::Running {
            return;
        }
        let wall = self.world.borrow().wall_now();
        if let Some(at) = self.fleet.next_wall_run() {
            if at <= wall {
                self.fail(format!("a cron run due at {at} is still ahead at {wall}"));
            }
        }
        for (index, member) in self.fleet.members().iter().enumerate() {
            let i = InstanceId(index);
            let Some(schedule) = &self.fleet.plan.programs[member.program.0].schedule else {
                continue;
            };
            if member.instance.runs().is_none() {
                continue; // @reboot: a oneshot
            }
            let next = self.fleet.next_run(i);
            let timer = self
                .world
                .borrow()
                .timers
                .contains_key(&FleetTimer::Instance(i, Timer::RunDue));
            let ok = match (next, &schedule.when) {
                (Some(NextRun::Wall(_)), crate::schedule::When::Cron(_)) => true,
                (Some(NextRun::After(_)), crate::schedule::When::Every(_)) => timer,
                _ => false,
            };
            if !ok {
                self.fail(format!(
                    "{} has no next run coming: {next:?}",
                    member.instance.name()
                ));
            }
            if let (Some(limit), State::Running(run)) = (schedule.run_timeout, member.instance.state()) {
                if self.fleet.kernel().now().saturating_duration_since(run.since) > limit {
                    self.fail(format!("{} has run past its run_timeout", member.instance.name()));
                }
            }
        }
    }

    /// The scheduled instances between runs and wanted up whose next run
    /// passes `due`, with their starts and counted runs so far.
    fn idle_schedules(&self, due: impl Fn(NextRun) -> bool) -> Vec<(InstanceId, usize, u64)> {
        let mut idle = Vec::new();
        for (index, member) in self.fleet.members().iter().enumerate() {
            let i = InstanceId(index);
            let (Some(runs), Some(next)) = (member.instance.runs(), self.fleet.next_run(i)) else {
                continue;
            };
            let waiting =
                matches!(member.instance.state(), State::Scheduled) && member.instance.want() == Want::Up;
            if waiting && due(next) {
                idle.push((i, self.groups[index].len(), runs.by_outcome.iter().sum()));
            }
        }
        idle
    }

    /// Each of `due` (from `idle_schedules`) has started a run, or counted one.
    fn check_started(&mut self, due: Vec<(InstanceId, usize, u64)>) {
        for (i, starts, counted) in due {
            let instance = self.fleet.instance(i);
            let now_counted: u64 = instance.runs().map_or(0, |r| r.by_outcome.iter().sum());
            let spawned = self.groups[i.0].len() > starts
                || matches!(instance.state(), State::Running(_) | State::Waiting);
            if !spawned && now_counted == counted && self.fleet.phase() == Phase::Running {
                self.fail(format!("{}'s run was due and did not start", instance.name()));
            }
        }
    }

    /// The wall clock is set (NTP, a resumed VM), by up to four hours
    /// either way.
    fn set_clock(&mut self) {
        let by = self.rng.below(8 * 3600) as i64 - 4 * 3600;
        self.note(format!("the wall clock is set by {by}s"));
        self.world.borrow_mut().wall_set += by;
        self.fleet.on_wall_clock(true);
        self.settle();
    }

    fn has_zombies(&self) -> bool {
        self.world.borrow().procs.values().any(|p| p.life != Life::Alive)
    }

    /// SIGCHLD: every zombie reaped in one batch, then their exits handled.
    fn reap(&mut self) {
        let mut exits = Vec::new();
        {
            let mut world = self.world.borrow_mut();
            let zombies: Vec<pid_t> = world
                .procs
                .iter()
                .filter(|(_, p)| p.life != Life::Alive)
                .map(|(&pid, _)| pid)
                .collect();
            for pid in zombies {
                if let Some(Proc {
                    life: Life::Zombie(status),
                    main_of,
                    ..
                }) = world.procs.remove(&pid)
                {
                    exits.extend(main_of.map(|i| (i, pid, status)));
                }
            }
        }
        for (i, pid, status) in exits {
            self.note(format!("reaped main {pid} of {i:?}: {status}"));
            if self.fleet.instance(i).state().child().map(Child::pid) == Some(pid) {
                self.fleet.exited(i, status);
            } else {
                self.fail(format!(
                    "reaped main {pid} of {i:?}, which the gate no longer holds"
                ));
            }
        }
        self.settle();
    }

    /// Time moves to the next timer (at most `max` on), which fires.
    fn pass_time(&mut self, max: Duration) {
        let next = self
            .world
            .borrow()
            .timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(t, at)| (*t, *at));
        let limit = self.now().saturating_add(max);
        // The wall timer, as the time from now it fires at.
        let wall = self.fleet.next_wall_run().map(|at| {
            let world = self.world.borrow();
            let ahead = Duration::from_secs((at - world.wall_now()).max(0) as u64);
            // Seconds of the wall clock start at whole seconds of elapsed time.
            Duration::from_secs(world.elapsed.as_secs()) + ahead
        });
        if let Some(at) = wall.filter(|at| *at <= limit && next.is_none_or(|(_, t)| *at <= t)) {
            {
                let mut world = self.world.borrow_mut();
                world.elapsed = world.elapsed.max(at);
            }
            self.note("the wall timer fires".into());
            let wall = self.world.borrow().wall_now();
            let due = self.idle_schedules(|next| matches!(next, NextRun::Wall(t) if t <= wall));
            self.fleet.on_wall_clock(false);
            self.settle();
            self.check_started(due);
            return;
        }
        match next {
            Some((timer, at)) if at <= limit => {
                {
                    let mut world = self.world.borrow_mut();
                    world.elapsed = world.elapsed.max(at);
                    world.timers.remove(&timer);
                }
                self.note(format!("timer {timer:?}"));
                let due = match timer {
                    FleetTimer::Instance(i, Timer::RunDue) => self
                        .idle_schedules(|_| true)
                        .into_iter()
                        .filter(|d| d.0 == i)
                        .collect(),
                    _ => Vec::new(),
                };
                self.fleet.on_timer(timer);
                self.settle();
                self.check_started(due);
            }
            _ => {
                self.world.borrow_mut().elapsed = limit;
                self.settle();
            }
        }
    }

    /// One random event. The kernel reaps before time moves on.
    fn step(&mut self) {
        if self.has_zombies() && self.rng.chance(70) {
            return self.reap();
        }
        match self.rng.below(100) {
            0..=29 if !self.has_zombies() => self.pass_time(Duration::from_secs(3600)),
            30..=44 => self.some_process_exits(),
            45..=54 => self.request(),
            55..=57 => self.hang_up(),
            58..=69 => self.check_result(true),
            70..=75 => self.check_result(false),
            76 => self.set_clock(),
            77..=79 => {
                let signo = [libc::SIGHUP, libc::SIGUSR1][self.rng.below(2)];
                self.note(format!("rinit gets signal {signo}"));
                self.fleet.on_signal(signo);
                self.settle();
            }
            80 => {
                self.note("rinit gets SIGTERM".into());
                self.fleet.on_signal(libc::SIGTERM);
                self.settle();
            }
            81..=89 if !self.has_zombies() => {
                let max = self.rng.ms(800);
                self.pass_time(max);
            }
            90 => self.reload(),
            _ => self.reap(),
        }
    }

    /// `rinit reload` with a new plan: the first plan again with a few
    /// changes (a command, an in-place key, a program more or less), or a
    /// new random one. Checks that nothing it keeps is touched.
    fn reload(&mut self) {
        self.reloads += 1;
        let mut plan = random_plan(&mut Rng(self.plan_seed));
        if self.rng.chance(25) {
            plan = random_plan(&mut self.rng);
        } else {
            for program in plan.programs.iter_mut() {
                if self.rng.chance(20) {
                    program.command = vec![format!("v{}", self.reloads).into()];
                }
                if self.rng.chance(20) {
                    program.restart_delay = self.rng.ms(500);
                    program.restart_max_delay = program.restart_delay + self.rng.ms(2000);
                }
            }
            if plan.programs.len() > 1 && self.rng.chance(30) {
                // The last program: nothing comes after it; groups go with it.
                plan.programs.pop();
                plan.groups.clear();
            }
            if self.rng.chance(30) {
                let mut program = Program::with_defaults(&format!("n{}", self.reloads % 3));
                let count = plan.programs.len();
                program.after = (0..count)
                    .filter(|&d| self.rng.chance(35) && plan.programs[d].schedule.is_none())
                    .map(ProgramId)
                    .collect();
                program.stop_timeout = self.rng.ms(3000);
                program.start_limit_burst = self.rng.below(6) as u32;
                plan.programs.push(program);
            }
        }
        let outline = self.fleet.outline(&plan);
        let kept: HashSet<ProgramId> = outline.kept().iter().flatten().copied().collect();
        let before: Vec<(InstanceId, &'static str, Option<pid_t>)> = self
            .fleet
            .live_members()
            .filter(|(_, m)| kept.contains(&m.program))
            .map(|(i, m)| {
                (
                    i,
                    m.instance.state().name(),
                    m.instance.state().child().map(Child::pid),
                )
            })
            .collect();
        for &(i, ..) in &before {
            let stop_timeout = self.fleet.program_of(i).stop_timeout;
            let began_with = self.stop_began_with.entry(i).or_insert(stop_timeout);
            *began_with = (*began_with).max(stop_timeout);
        }
        let wait = self.rng.chance(70);
        let id = self.new_client(Change::Start, true);
        self.note(format!("{id:?}: reload ({}) (wait {wait})", outline.summary()));
        let answer = self.fleet.reload(id, plan, wait);
        let count = self.fleet.members().len();
        self.groups.resize(count, Vec::new());
        self.since.resize(count, ("", Duration::ZERO));
        self.last_request.resize(count, None);
        if answer.is_ok() {
            for &p in outline.retired() {
                for i in self.fleet.instances_of(p) {
                    self.last_request[i.0] = Some(Change::Stop);
                }
            }
        }
        let at_once = match answer {
            Err(why) => Some(format!("refused: {why}")),
            Ok(Some(answer)) => Some(format!(
                "answered at once: {}",
                answer.lines().next().unwrap_or("")
            )),
            // Answered later, or already among the effects.
            Ok(None) => None,
        };
        if let Some(note) = at_once {
            self.note(note);
            if let Some(client) = self.clients.get_mut(&id) {
                client.answered = true;
            }
        }
        self.untouchable = before.iter().map(|b| b.0).collect();
        self.play();
        self.untouchable.clear();
        for (i, state, pid) in before {
            let instance = self.fleet.instance(i);
            let now = (instance.state().name(), instance.state().child().map(Child::pid));
            if now != (state, pid) {
                self.fail(format!(
                    "the reload changed {}, which it keeps: {now:?}, was {:?}",
                    instance.name(),
                    (state, pid)
                ));
            }
        }
        self.settle();
    }

    fn some_process_exits(&mut self) {
        let alive: Vec<pid_t> = {
            let world = self.world.borrow();
            world
                .procs
                .iter()
                .filter(|(_, p)| p.life == Life::Alive)
                .map(|(&pid, _)| pid)
                .collect()
        };
        if alive.is_empty() {
            return;
        }
        let pid = alive[self.rng.below(alive.len())];
        let status = [
            ExitStatus::Code(0),
            ExitStatus::Code(1),
            ExitStatus::Signal(libc::SIGSEGV),
        ][self.rng.below(3)];
        self.note(format!("pid {pid} exits: {status}"));
        if let Some(proc) = self.world.borrow_mut().procs.get_mut(&pid) {
            proc.life = Life::Zombie(status);
        }
    }

    /// A new client of the control socket, its answer due within the longest wait.
    fn new_client(&mut self, change: Change, reload: bool) -> ClientId {
        let id = ClientId::for_tests(self.next_client);
        self.next_client += 1;
        let client = Client {
            change,
            reload,
            due: self.now() + Duration::from_secs(3601),
            answered: false,
            hung_up: false,
        };
        self.clients.insert(id, client);
        id
    }

    /// A control request from a new client, on a random name.
    fn request(&mut self) {
        let change = [Change::Start, Change::Stop, Change::Restart][self.rng.below(3)];
        let mut names: Vec<String> = self
            .fleet
            .members()
            .iter()
            .map(|m| m.instance.name().to_string())
            .collect();
        names.extend(self.fleet.plan.programs.iter().map(|p| p.name.clone()));
        names.extend(self.fleet.plan.groups.iter().map(|g| g.name.clone()));
        let name = names[self.rng.below(names.len())].clone();
        let wait = self.rng.chance(80);
        let id = self.new_client(change, false);
        self.note(format!("{id:?}: {} {name} (wait {wait})", change.word()));
        let names = [name];
        if self.fleet.phase() == Phase::Running {
            if let Ok(targets) = self.fleet.targets(&names) {
                for i in self.fleet.with_what_comes_along(change, &targets).0 {
                    self.last_request[i.0] = Some(change);
                }
            }
        }
        if let Some(answer) = self.fleet.change(id, change, &names, wait) {
            self.note(format!(
                "answered at once: {}",
                answer.lines().next().unwrap_or("")
            ));
            if let Some(client) = self.clients.get_mut(&id) {
                client.answered = true;
            }
        }
        self.settle();
    }

    fn hang_up(&mut self) {
        let waiting: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.answered && !c.hung_up)
            .map(|(&id, _)| id)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let mut waiting = waiting;
        waiting.sort();
        let id = waiting[self.rng.below(waiting.len())];
        self.note(format!("{id:?} hangs up"));
        if let Some(client) = self.clients.get_mut(&id) {
            client.hung_up = true;
        }
        self.fleet.client_gone(id);
        self.settle();
    }

    /// A `ready` try passes, or a `health` try passes or fails.
    fn check_result(&mut self, passed: bool) {
        let mut watched: Vec<(InstanceId, bool)> = Vec::new();
        if passed {
            watched.extend(self.readiness.iter().map(|&i| (i, true)));
        }
        watched.extend(self.health.iter().map(|&i| (i, false)));
        if watched.is_empty() {
            return;
        }
        watched.sort();
        let (i, ready) = watched[self.rng.below(watched.len())];
        let event = if ready {
            Event::Ready
        } else {
            Event::Health(passed)
        };
        self.note(format!("{i:?}: {event:?}"));
        self.fleet.deliver(i, event);
        self.settle();
    }

    /// The end of a run: SIGTERM (a second one now and then), then only
    /// what follows by itself, until rinit is done.
    fn shut_down(&mut self) {
        self.note("rinit gets SIGTERM (end of run)".into());
        self.fleet.on_signal(libc::SIGTERM);
        self.settle();
        let mut steps = 0;
        while self.fleet.phase() != Phase::Done {
            steps += 1;
            if steps > 100_000 {
                self.fail("the shutdown never ends".into());
            }
            if self.has_zombies() {
                self.reap();
            } else if self.world.borrow().timers.is_empty() {
                self.fail("the shutdown waits with nothing to wait for".into());
            } else if self.rng.chance(2) {
                self.fleet.on_signal(libc::SIGTERM);
                self.settle();
            } else {
                self.pass_time(Duration::from_secs(3600));
            }
        }
        if let Some((id, _)) = self.clients.iter().find(|(_, c)| !c.answered && !c.hung_up) {
            self.fail(format!("{id:?} was never answered"));
        }
    }
}

/// Runs seed `seed` for `steps` random steps; how many steps it took.
fn run_seed(seed: u64, steps: usize, verbose: bool) -> usize {
    let mut rng = Rng(seed);
    let plan_seed = rng.0;
    let plan = random_plan(&mut rng);
    let mut sim = Sim::new(Rc::new(plan), seed, rng, verbose, plan_seed);
    sim.settle();
    let mut done = 0;
    while done < steps && sim.fleet.phase() == Phase::Running {
        sim.step();
        done += 1;
    }
    sim.shut_down();
    done
}

#[test]
fn no_sequence_of_events_wedges_the_supervisor() {
    if let Some(seed) = std::env::var("RINIT_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        run_seed(seed, 2_000, true);
        return;
    }
    let seeds: u64 = std::env::var("RINIT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25_000);
    let mut total = 0;
    for seed in 0..seeds {
        total += run_seed(seed, 400, false);
    }
    eprintln!("simulation: {seeds} seeds, {total} steps");
}
