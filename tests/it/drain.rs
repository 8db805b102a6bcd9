//! `[rinit] drain` with rinit as PID 1: after SIGTERM, rinit says it is not
//! ready (`rinit status` exits 1, `/readyz` answers 503) while its programs
//! keep serving, then stops them; a second SIGTERM skips the rest; `check`
//! warns when drain and shutdown_timeout outlast `docker stop`.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::control::client;

#[test]
fn a_drain_reports_not_ready_while_the_programs_serve_then_stops_them() {
    let port = free_port();
    let (_dir, config, _socket) = crate::control::setup(
        "drain",
        &format!(
            "drain = \"2s\"\nhttp = \"127.0.0.1:{port}\"\n\
             [program.web]\ncommand = [\"sh\", \"-c\", \"echo serving; exec sleep 1000\"]\ncritical = true\n"
        ),
    );
    let mut running = Running::start(pid1(&["-c", config.to_str().unwrap()]));
    running.expect_out_eq("serving");
    crate::http::wait_for_state(port, "web", "ready");
    assert_eq!(client(&config, &["status", "-q"]).code(), 0);
    let web = only_child(running.rinit_pid());
    let signalled = Instant::now();
    send(running.rinit_pid(), libc::SIGTERM);
    running.expect_err(
        |l| l == "rinit: SIGTERM: draining for 2s (rinit status and /readyz say not ready), then stopping the programs",
        "the drain",
    );
    // Not ready at once, while web still runs, the same process.
    let status = client(&config, &["status"]);
    assert_eq!(status.code(), 1, "{:?}", status.out);
    assert!(
        status
            .err
            .iter()
            .any(|l| l.starts_with("rinit: rinit is draining: it stops the programs in ")),
        "{:?}",
        status.err
    );
    let row: Vec<&str> = status.out[1].split_whitespace().collect();
    assert_eq!(row[..2], ["web", "ready"], "{:?}", status.out);
    let readyz = crate::http::get(port, "/readyz");
    assert_eq!(readyz.code, 503);
    assert!(
        readyz.body.starts_with("draining: rinit stops the programs in "),
        "{}",
        readyz.body
    );
    assert_eq!(crate::http::get(port, "/livez").code, 200);
    assert!(crate::http::get(port, "/metrics")
        .body
        .contains("\nrinit_draining 1\n"));
    assert_eq!(only_child(running.rinit_pid()), web);
    // After the drain, the orderly shutdown.
    running.expect_err(
        |l| l == "rinit: the drain (2s) is over: stopping the programs",
        "the drain's end",
    );
    let done = running.finish();
    let took = signalled.elapsed();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn a_second_sigterm_skips_the_rest_of_the_drain() {
    let (_dir, config, _socket) = crate::control::setup(
        "drain-twice",
        "drain = \"60s\"\n[program.web]\ncommand = [\"sh\", \"-c\", \"echo serving; exec sleep 1000\"]\n",
    );
    let mut running = Running::start(pid1(&["-c", config.to_str().unwrap()]));
    running.expect_out_eq("serving");
    send(running.rinit_pid(), libc::SIGTERM);
    running.expect_err(|l| l.starts_with("rinit: SIGTERM: draining for 60s"), "the drain");
    let again = Instant::now();
    send(running.rinit_pid(), libc::SIGINT);
    running.expect_err(
        |l| l == "rinit: SIGINT during the drain: stopping the programs now",
        "the skip",
    );
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(again.elapsed() < Duration::from_secs(2), "{:?}", again.elapsed());
}

#[test]
fn check_warns_when_drain_and_shutdown_outlast_docker_stop() {
    let dir = temp_dir("drain-check");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        "[rinit]\ndrain = \"5s\"\n[program.web]\ncommand = \"true\"\n",
    )
    .unwrap();
    let done = run(plain(&["check", "-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}: drain (5s) and shutdown_timeout (9s) add up to 14s, more than docker stop's 10s: \
             give the container 15s to stop (docker stop -t 15, Compose stop_grace_period: 15s, \
             Kubernetes terminationGracePeriodSeconds: 15) or the runtime kills it first",
            file.display()
        )]
    );
    assert!(
        done.out[1].starts_with("(shutdown_timeout 9s, drain 5s, control socket"),
        "{:?}",
        done.out
    );
    std::fs::write(
        &file,
        "[rinit]\ndrain = \"1s\"\n[program.web]\ncommand = \"true\"\n",
    )
    .unwrap();
    assert!(run(plain(&["check", "-c", file.to_str().unwrap()]))
        .err
        .is_empty());
}
