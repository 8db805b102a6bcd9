//! A supervisord.conf run directly: `rinit -c supervisord.conf` imports it
//! in memory, says on stderr what import says, and runs it; `rinit check -c`
//! validates it the same way; an `error` finding refuses to start (exit 2).
//! Replacing supervisord is then a one-line change of a Dockerfile's CMD.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

/// Two programs (one twice, numprocs), a group, %(ENV_X)s and priorities:
/// each writes what it was started with to `DIR/ran`.
fn supervisord_conf(dir: &Path) -> PathBuf {
    let path = dir.join("supervisord.conf");
    let text = format!(
        "[supervisord]\nnodaemon=true\nlogfile=/dev/null\n\n\
         [unix_http_server]\nfile={dir}/supervisor.sock\n\n\
         [program:web]\ncommand=/bin/sh -c 'echo \"web %(ENV_GREETING)s\" >> {dir}/ran; exec sleep 1000'\n\
         priority=10\nstopwaitsecs=3\n\n\
         [program:worker]\ncommand=/bin/sh -c 'echo \"worker $RINIT_INSTANCE\" >> {dir}/ran; exec sleep 1000'\n\
         process_name=%(program_name)s_%(process_num)s\nnumprocs=2\npriority=20\n\n\
         [group:app]\nprograms=web,worker\n",
        dir = dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_reads_a_supervisord_conf_and_prints_the_plan() {
    let dir = temp_dir("migrate-check");
    let conf = supervisord_conf(&dir);
    let mut cmd = plain(&["check", "-c", conf.to_str().unwrap()]);
    cmd.env("GREETING", "hello");
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // What import says, on stderr: the timeouts raised shutdown_timeout.
    assert!(
        done.err
            .iter()
            .any(|l| l.contains("warning: the stop timeouts of worker")),
        "{:?}",
        done.err
    );
    let web = done.out.iter().position(|l| l.starts_with("web: "));
    let worker = done.out.iter().position(|l| l.starts_with("worker"));
    assert!(
        matches!((web, worker), (Some(w), Some(k)) if w < k),
        "web must come first: {:?}",
        done.out
    );
    assert!(
        done.out.iter().any(|l| l.starts_with("group app: ")),
        "{:?}",
        done.out
    );
}

#[test]
fn rinit_runs_a_supervisord_conf_directly() {
    let dir = temp_dir("migrate-run");
    let conf = supervisord_conf(&dir);
    let mut cmd = pid1(&["-c", conf.to_str().unwrap()]);
    cmd.env("GREETING", "hello there");
    let running = Running::start(cmd);
    let ran = dir.join("ran");
    let deadline = Instant::now() + PATIENCE;
    let lines = loop {
        let text = std::fs::read_to_string(&ran).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        if lines.len() >= 3 {
            break lines;
        }
        assert!(Instant::now() < deadline, "only {lines:?} started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines, ["web hello there", "worker 0", "worker 1"]);
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn a_supervisord_conf_that_cannot_work_as_written_refuses_to_start() {
    let dir = temp_dir("migrate-error");
    let conf = dir.join("supervisord.conf");
    std::fs::write(
        &conf,
        "[program:web]\ncommand=sleep 1000\n\n\
         [fcgi-program:app]\nsocket=unix:///run/app.sock\ncommand=/srv/app.fcgi\n",
    )
    .unwrap();
    for args in [vec!["check", "-c"], vec!["-c"]] {
        let mut args = args;
        args.push(conf.to_str().unwrap());
        let done = if args[0] == "check" {
            run(plain(&args))
        } else {
            run(pid1(&args))
        };
        assert_eq!(done.code(), 2, "{args:?}: {:?}", done.err);
        assert!(
            done.err
                .iter()
                .any(|l| l.contains("error") && l.contains("fcgi-program")),
            "{args:?}: {:?}",
            done.err
        );
        assert!(done.out.is_empty(), "{args:?} started or planned: {:?}", done.out);
    }
}
