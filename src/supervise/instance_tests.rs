//! The gate's tests: its golden table (instance_table.txt) and the cases
//! one row cannot show.

#![cfg(test)]

use std::time::Duration;

use super::*;
use crate::config::{Ready, Restart};

const PID: pid_t = 4242;
const CLIENT: u64 = 9;

/// A simple program with a ready file check, the defaults otherwise.
fn config() -> Program {
    let mut config = Program::with_defaults("web");
    config.ready = Some(Ready::File("/nonexistent/ready".into()));
    config
}

/// A scheduled program (`@every 1s`, overlap queue, run_timeout 10s), as
/// validate.rs makes it: a oneshot, never restarted.
fn scheduled_config() -> Program {
    let mut config = Program::with_defaults("web");
    config.kind = crate::config::Kind::Oneshot;
    config.restart = Restart::No;
    config.schedule = Some(crate::config::Scheduled {
        when: crate::schedule::When::Every(Duration::from_secs(1)),
        zone: crate::schedule::Zone::utc(),
        overlap: crate::config::Overlap::Queue,
        run_timeout: Some(Duration::from_secs(10)),
        written: "@every 1s".into(),
    });
    config
}

fn client() -> RequestId {
    RequestId::for_tests(CLIENT)
}

/// Every state the gate knows, by the name the table uses, with the
/// wanted state that goes with it.
fn states() -> Vec<(&'static str, State, Want)> {
    let child = || Child::for_tests(PID);
    let running = |ready| {
        State::Running(Run {
            child: child(),
            since: Instant::now(),
            ready,
            forwarded: Signals::default(),
            health_failures: 0,
        })
    };
    let stopping = |why, killed| State::Stopping {
        child: child(),
        why,
        killed,
    };
    let draining = |killed, after| State::Draining {
        pgid: PID,
        killed,
        after,
    };
    let exit = After::Exit {
        outcome: Outcome::UncleanCode,
        since: Instant::now(),
    };
    vec![
        ("waiting", State::Waiting, Want::Up),
        ("spawning", State::Spawning, Want::Up),
        ("running", running(false), Want::Up),
        ("ready", running(true), Want::Up),
        ("ready-want-down", running(true), Want::Down),
        ("ready-want-restart", running(true), Want::Restart),
        ("backoff", State::Backoff, Want::Up),
        ("stopping", stopping(StopReason::Shutdown, false), Want::Up),
        (
            "stopping-late",
            stopping(StopReason::ReadyTimeout, false),
            Want::Up,
        ),
        ("stopping-killed", stopping(StopReason::Shutdown, true), Want::Up),
        ("stopping-wanted", stopping(StopReason::Wanted, false), Want::Down),
        (
            "stopping-restart",
            stopping(StopReason::Wanted, false),
            Want::Restart,
        ),
        (
            "stopping-unhealthy",
            stopping(StopReason::Unhealthy, false),
            Want::Up,
        ),
        (
            "draining",
            draining(false, After::Stop(StopReason::Shutdown)),
            Want::Up,
        ),
        (
            "draining-killed",
            draining(true, After::Stop(StopReason::Shutdown)),
            Want::Up,
        ),
        (
            "draining-wanted",
            draining(false, After::Stop(StopReason::Wanted)),
            Want::Down,
        ),
        ("draining-exit", draining(false, exit), Want::Up),
        ("held", State::Held, Want::Down),
        ("stopped", State::Stopped, Want::Up),
        ("exited", State::Exited, Want::Up),
        ("done", State::Done, Want::Up),
        ("failed", State::Failed, Want::Up),
        ("scheduled", State::Scheduled, Want::Up),
        (
            "stopping-run-timeout",
            stopping(StopReason::RunTimeout, false),
            Want::Up,
        ),
        (
            "stopping-replaced",
            stopping(StopReason::Replaced, false),
            Want::Up,
        ),
    ]
}

/// Makes one event (a `Child` cannot be copied).
type MakeEvent = Box<dyn Fn() -> Event>;

/// Every event, by the name the table uses.
fn events() -> Vec<(&'static str, MakeEvent)> {
    let request = |change| {
        Box::new(move || Event::Request {
            id: Some(client()),
            change,
        }) as MakeEvent
    };
    vec![
        ("may-start", Box::new(|| Event::MayStart)),
        (
            "dep-failed",
            Box::new(|| Event::DependencyFailed {
                name: "db".into(),
                state: "failed",
            }),
        ),
        ("may-stop", Box::new(|| Event::MayStop)),
        (
            "spawned",
            Box::new(|| Event::Spawned {
                child: Child::for_tests(7),
                exec_failed: false,
            }),
        ),
        (
            "exec-failed",
            Box::new(|| Event::Spawned {
                child: Child::for_tests(7),
                exec_failed: true,
            }),
        ),
        (
            "spawn-failed",
            Box::new(|| Event::SpawnFailed("no such file".into())),
        ),
        (
            "exited",
            Box::new(|| Event::Exited {
                status: ExitStatus::Code(1),
                group_left: false,
            }),
        ),
        (
            "exited-group",
            Box::new(|| Event::Exited {
                status: ExitStatus::Signal(libc::SIGTERM),
                group_left: true,
            }),
        ),
        ("group-empty", Box::new(|| Event::GroupEmpty)),
        ("ready", Box::new(|| Event::Ready)),
        ("ready-timeout", Box::new(|| Event::ReadyTimeout)),
        ("restart-due", Box::new(|| Event::RestartDue)),
        ("stop-timeout", Box::new(|| Event::StopTimeout)),
        ("health-failed", Box::new(|| Event::Health(false))),
        ("start", request(Change::Start)),
        ("stop", request(Change::Stop)),
        ("restart", request(Change::Restart)),
        ("withdraw", Box::new(|| Event::Withdraw(client()))),
        ("kill", Box::new(|| Event::Kill)),
        ("forward-hup", Box::new(|| Event::Forward(libc::SIGHUP))),
        ("shutdown", Box::new(|| Event::ShutdownBegun)),
        ("run-due", Box::new(|| Event::RunDue)),
        ("run-timeout", Box::new(|| Event::RunTimeout)),
    ]
}

/// "next-state[want]: action, action" for `event` in `state`, messages cut
/// to their start.
fn outcome_of(state: State, want: Want, event: Event, config: &Program, shutting_down: bool) -> String {
    let mut instance = Instance::new("web".into(), config);
    instance.state = state;
    instance.want = want;
    let context = Context {
        config,
        now: Instant::now(),
        shutting_down,
    };
    let actions = instance.on(event, &context);
    let actions: Vec<String> = actions
        .iter()
        .map(|action| match action {
            Action::Log(level, message) => {
                let words: Vec<&str> = message.split_whitespace().take(4).collect();
                format!("{level:?}({})", words.join(" "))
            }
            Action::SetTimer(timer, delay) => format!("SetTimer({timer:?}, {delay:?})"),
            Action::Answer(_, verdict) => format!("Answer({verdict:?})"),
            other => format!("{other:?}"),
        })
        .collect();
    let name = match &instance.state {
        State::Stopping { why, killed, .. } => format!("stopping({why:?}, killed {killed})"),
        State::Draining { killed, after, .. } => {
            let after = match after {
                After::Stop(why) => format!("{why:?}"),
                After::Exit { outcome, .. } => format!("exit {outcome:?}"),
            };
            format!("draining({after}, killed {killed})")
        }
        State::Held => "held".to_string(),
        other => other.name().to_string(),
    };
    format!("{name}[{}]: {}", instance.want.name(), actions.join(", "))
}

fn on(instance: &mut Instance, event: Event, config: &Program, shutting_down: bool) -> Vec<Action> {
    let context = Context {
        config,
        now: Instant::now(),
        shutting_down,
    };
    instance.on(event, &context)
}

fn running() -> State {
    State::Running(Run {
        child: Child::for_tests(PID),
        since: Instant::now(),
        ready: false,
        forwarded: Signals::default(),
        health_failures: 0,
    })
}

#[test]
fn a_death_by_a_forwarded_signal_restarts_and_says_so() {
    let config = Program::with_defaults("web");
    let mut instance = Instance::new("web".into(), &config);
    instance.state = running();
    assert_eq!(
        on(&mut instance, Event::Forward(libc::SIGHUP), &config, false),
        [Action::SignalMain(libc::SIGHUP)]
    );
    let actions = on(
        &mut instance,
        Event::Exited {
            status: ExitStatus::Signal(libc::SIGHUP),
            group_left: false,
        },
        &config,
        false,
    );
    assert!(matches!(instance.state, State::Backoff));
    assert_eq!(instance.last_outcome, Some(Outcome::Forwarded));
    assert!(actions.contains(&Action::Log(
        Level::Warn,
        "web ended (SIGHUP, which rinit forwarded: counted as a failure); restarting in 100ms".into()
    )));
    assert_eq!(instance.restarts, 1);
}

#[test]
fn stop_group_sends_the_stop_signal_and_forwarded_ones_to_the_group() {
    let mut config = Program::with_defaults("web");
    config.stop_group = true;
    let mut instance = Instance::new("web".into(), &config);
    instance.state = running();
    assert_eq!(
        on(&mut instance, Event::Forward(libc::SIGUSR1), &config, false),
        [Action::SignalGroup(PID, libc::SIGUSR1)]
    );
    let actions = on(&mut instance, Event::MayStop, &config, true);
    assert!(
        actions.contains(&Action::SignalGroup(PID, libc::SIGTERM)),
        "{actions:?}"
    );
    assert!(
        actions.contains(&Action::SignalGroup(PID, libc::SIGCONT)),
        "{actions:?}"
    );
    // The main process has gone: the rest of the group still gets forwarded signals.
    on(
        &mut instance,
        Event::Exited {
            status: ExitStatus::Signal(libc::SIGTERM),
            group_left: true,
        },
        &config,
        false,
    );
    assert_eq!(
        on(&mut instance, Event::Forward(libc::SIGUSR1), &config, false),
        [Action::SignalGroup(PID, libc::SIGUSR1)]
    );
    assert_eq!(instance.last_outcome, Some(Outcome::Stopped));
    assert!(instance.ended_cleanly());
}

#[test]
fn stop_timeout_zero_kills_the_group_at_once_without_a_timer() {
    let mut config = Program::with_defaults("web");
    config.stop_timeout = Duration::ZERO;
    let mut instance = Instance::new("web".into(), &config);
    instance.state = running();
    let actions = on(&mut instance, Event::MayStop, &config, true);
    assert_eq!(
        actions,
        [
            Action::AbandonReadiness,
            Action::AbandonHealth,
            Action::SignalGroup(PID, libc::SIGKILL)
        ]
    );
    assert!(matches!(instance.state, State::Stopping { killed: true, .. }));
}

#[test]
fn a_oneshot_that_exits_cleanly_is_done_and_counts_as_ready() {
    let mut config = Program::with_defaults("migrate");
    config.kind = Kind::Oneshot;
    config.restart = Restart::No;
    let mut instance = Instance::new("migrate".into(), &config);
    instance.state = State::Spawning;
    let actions = on(
        &mut instance,
        Event::Spawned {
            child: Child::for_tests(PID),
            exec_failed: false,
        },
        &config,
        false,
    );
    assert!(!actions.contains(&Action::WatchReadiness));
    assert!(matches!(instance.state, State::Running(Run { ready: false, .. })));
    let actions = on(
        &mut instance,
        Event::Exited {
            status: ExitStatus::Code(0),
            group_left: false,
        },
        &config,
        false,
    );
    assert!(matches!(instance.state, State::Done));
    assert_eq!(instance.times_ready, 1);
    assert!(
        !actions.contains(&Action::EndedForGood),
        "a completed oneshot has not failed"
    );
    // A failed one is failed, and ends rinit if critical.
    let mut instance = Instance::new("migrate".into(), &config);
    instance.state = running();
    let actions = on(
        &mut instance,
        Event::Exited {
            status: ExitStatus::Code(2),
            group_left: false,
        },
        &config,
        false,
    );
    assert!(matches!(instance.state, State::Failed));
    assert!(actions.contains(&Action::EndedForGood));
}

#[test]
fn a_simple_program_without_a_check_is_ready_once_started() {
    let config = Program::with_defaults("web");
    let mut instance = Instance::new("web".into(), &config);
    instance.state = State::Spawning;
    let actions = on(
        &mut instance,
        Event::Spawned {
            child: Child::for_tests(PID),
            exec_failed: false,
        },
        &config,
        false,
    );
    assert!(matches!(instance.state, State::Running(Run { ready: true, .. })));
    assert!(!actions.contains(&Action::WatchReadiness));
    assert_eq!(instance.times_ready, 1);
}

#[test]
fn during_a_shutdown_nothing_starts_and_an_exit_is_final() {
    let config = Program::with_defaults("web");
    let mut instance = Instance::new("web".into(), &config);
    assert!(on(&mut instance, Event::MayStart, &config, true).is_empty());
    instance.state = State::Backoff;
    assert!(on(&mut instance, Event::RestartDue, &config, true).is_empty());
    instance.state = running();
    on(
        &mut instance,
        Event::Exited {
            status: ExitStatus::Code(1),
            group_left: false,
        },
        &config,
        true,
    );
    assert!(matches!(instance.state, State::Stopped));
    assert!(!instance.ended_cleanly(), "its exit code 1 still counts");
}

#[test]
fn past_the_start_limit_it_gives_up() {
    let mut config = Program::with_defaults("web");
    config.start_limit_burst = 2;
    config.restart_delay = Duration::ZERO;
    let mut instance = Instance::new("web".into(), &config);
    for _ in 0..2 {
        instance.state = State::Spawning;
        on(
            &mut instance,
            Event::Spawned {
                child: Child::for_tests(PID),
                exec_failed: false,
            },
            &config,
            false,
        );
        on(
            &mut instance,
            Event::Exited {
                status: ExitStatus::Code(1),
                group_left: false,
            },
            &config,
            false,
        );
    }
    assert!(matches!(instance.state, State::Failed));
    assert_eq!(instance.restarts, 1);
}

/// The gate, state by state and event by event, running and shutting
/// down: every pair, the ignored ones ("same: " with no action) included.
const TABLE: &str = include_str!("instance_table.txt");

#[test]
fn every_state_and_event_pair_does_what_the_table_says() {
    let mut got = String::new();
    let programs = [
        ("simple, ready file", config()),
        (
            "scheduled @every 1s, overlap queue, run_timeout 10s",
            scheduled_config(),
        ),
    ];
    for (program, config) in programs {
        for shutting_down in [false, true] {
            got += &format!("# {program}; shutting down: {shutting_down}\n");
            for (state_name, _, _) in states() {
                for (event_name, event) in events() {
                    let (_, state, want) = states().into_iter().find(|(n, _, _)| *n == state_name).unwrap();
                    let outcome = outcome_of(state, want, event(), &config, shutting_down);
                    got += &format!("{state_name} + {event_name} -> {outcome}\n");
                }
            }
        }
    }
    if got != TABLE {
        let path = std::env::temp_dir().join("instance_table.txt");
        std::fs::write(&path, &got).unwrap();
        let diff: Vec<String> = got
            .lines()
            .zip(TABLE.lines().chain(std::iter::repeat("")))
            .filter(|(g, e)| g != e)
            .map(|(g, e)| format!("expected {e}\n     got {g}"))
            .collect();
        panic!(
            "the gate differs from its table (all of it in {}):\n{}",
            path.display(),
            diff.join("\n")
        );
    }
}
