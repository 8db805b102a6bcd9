//! A real Celery worker under rinit: on `docker stop` (SIGTERM to rinit) the
//! worker's main process must get the stop signal alone, so that Celery's warm
//! shutdown lets the tasks its prefork pool is running finish. A SIGTERM sent
//! to the worker's whole process group reaches the pool's processes too: the
//! tasks die half done (WorkerLostError) and their work is lost.
//!
//! Each test runs redis-server and a Celery 5 worker (prefork pool,
//! concurrency 2) with rinit as PID 1 of a new PID namespace, enqueues two
//! tasks, waits until both are running, sends rinit SIGTERM, and checks that
//! both tasks finished and rinit exited 0. Once as a configured program
//! (`[program.worker]`), once as the main command (`rinit -c FILE -- celery …`).
//!
//! Needs redis-server (`apt-get install redis-server`) and Celery with its
//! redis transport for python3 (`python3 -m pip install 'celery[redis]'`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// The Celery app with the `nap` task; copied into each test's directory.
const TASKS_PY: &str = include_str!("celery/tasks.py");

/// How long each task sleeps, by form: 4 s as a program (stop_timeout 15 s).
/// As `main`, 3 s: Celery 5.7 takes about 1 s to act on SIGTERM and exits
/// about 2 s after its last task, and `main` gets SIGKILL 7 s after its
/// SIGTERM (its stop_timeout cannot be configured): 4 s would leave that form
/// well under a second of margin on a busy machine.
fn nap_seconds(form: &Form) -> &'static str {
    match form {
        Form::Program => "4",
        Form::Main => "3",
    }
}

/// Upper bound for rinit's exit after the SIGTERM.
const BOUND: Duration = Duration::from_secs(15);

/// The python3 interpreter that can run Celery's redis transport (the path
/// of its executable), or a panic that says what to install.
fn python_with_celery() -> String {
    let script = "import sys, celery, redis, kombu.transport.redis; print(sys.executable)";
    let how = "install Celery with its redis transport: python3 -m pip install 'celery[redis]'";
    match Command::new("python3").args(["-c", script]).output() {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap().trim().to_string(),
        Ok(out) => panic!(
            "tests/celery.rs needs Celery for python3, but `python3 -c {script:?}` failed ({}):\n{}\n{how}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("tests/celery.rs needs python3 with Celery, but python3 cannot be run ({e}); {how}"),
    }
}

/// Panics, saying what to install, unless `redis-server` can be run.
fn require_redis_server() {
    let how = "install it: apt-get install redis-server";
    match Command::new("redis-server").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "tests/celery.rs needs redis-server, but `redis-server --version` failed ({}): {}; {how}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("tests/celery.rs needs redis-server, which cannot be run ({e}); {how}"),
    }
}

/// Panics unless 127.0.0.1:PORT is free for the test's redis (the tests share
/// the host's network namespace).
fn require_free_port(port: u16) {
    if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
        panic!("127.0.0.1:{port}, the port of this test's redis, is taken ({e}): is a redis-server still running?");
    }
}

enum Form {
    /// The worker is `[program.worker]`, after redis.
    Program,
    /// The worker is the main command: `rinit -c FILE -- python3 -m celery …`.
    Main,
}

/// The whole scenario; `port` must differ between tests, which run in parallel.
fn tasks_survive_docker_stop(form: Form, port: u16, tag: &str) {
    let nap = nap_seconds(&form);
    let python = python_with_celery();
    require_redis_server();
    require_free_port(port);

    let dir = temp_dir(tag);
    std::fs::write(dir.join("tasks.py"), TASKS_PY).unwrap();
    let url = format!("redis://127.0.0.1:{port}/0");
    let worker = [
        python.as_str(),
        "-m",
        "celery",
        "-A",
        "tasks",
        "worker",
        "-P",
        "prefork",
        "--concurrency",
        "2",
        "-l",
        "info",
        // No waiting for other nodes at start-up, no chatter with them.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ];
    // PYTHONPATH: the worker imports `tasks` from the test's directory.
    let mut text = format!(
        "[rinit]\n\
         shutdown_timeout = \"20s\"\n\
         \n\
         [env]\n\
         CELERY_BROKER_URL = {url:?}\n\
         PYTHONPATH = {dir:?}\n\
         PYTHONUNBUFFERED = \"1\"\n\
         PYTHONDONTWRITEBYTECODE = \"1\"\n\
         C_FORCE_ROOT = \"1\"\n\
         \n\
         [program.redis]\n\
         command = [\"redis-server\", \"--port\", \"{port}\", \"--bind\", \"127.0.0.1\", \
                    \"--save\", \"\", \"--appendonly\", \"no\"]\n\
         directory = {dir:?}\n\
         ready = {{ tcp = \"127.0.0.1:{port}\" }}\n\
         output = \"prefix\"\n",
    );
    let config = dir.join("rinit.toml");
    let config_arg = config.to_str().unwrap();
    let mut args = vec!["-c", config_arg];
    match form {
        Form::Program => {
            text += &format!(
                "\n[program.worker]\n\
                 command = {worker:?}\n\
                 after = [\"redis\"]\n\
                 directory = {dir:?}\n\
                 stop_timeout = \"15s\"\n\
                 output = \"prefix\"\n"
            );
        }
        Form::Main => {
            args.push("--");
            args.extend(worker);
        }
    }
    std::fs::write(&config, text).unwrap();
    let mut cmd = pid1(&args);
    // main runs in the directory rinit was started in.
    cmd.current_dir(&dir);
    let mut running = Running::start(cmd);

    running.expect_err(|l| l == "rinit: redis is ready", "\"rinit: redis is ready\"");
    enqueue(&python, &dir, &url, nap);
    if !both_run_within_patience(&dir) {
        let _ = running.child.kill();
        let done = running.finish();
        panic!(
            "the two tasks were not both running within {PATIENCE:?} (started-a: {}, started-b: {});\n\
             rinit's stderr:\n{}\nrinit's stdout:\n{}",
            dir.join("started-a").exists(),
            dir.join("started-b").exists(),
            done.err.join("\n"),
            done.out.join("\n")
        );
    }
    // The scenario holds only if both tasks are still running when rinit is told to stop.
    for name in ["a", "b"] {
        assert!(
            !done_file(&dir, name).exists(),
            "task {name} finished before the test sent SIGTERM: the machine was too slow for a {nap} s task"
        );
    }

    let signalled = Instant::now();
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    let took = signalled.elapsed();

    let stderr = done.err.join("\n");
    let lost = if stderr.contains("WorkerLostError") {
        " (the worker reports WorkerLostError: its pool's processes got the stop signal too)"
    } else {
        ""
    };
    for name in ["a", "b"] {
        let file = done_file(&dir, name);
        assert!(
            file.exists(),
            "task {name} was lost in the shutdown: {} is missing{lost}; rinit: {}.\n\
             rinit's stderr:\n{stderr}",
            file.display(),
            done.status
        );
    }
    assert_eq!(
        done.status.code(),
        Some(0),
        "rinit's exit after the warm shutdown; stderr:\n{stderr}"
    );
    assert!(
        took < BOUND,
        "rinit took {took:?} (more than {BOUND:?}) to exit after SIGTERM; stderr:\n{stderr}"
    );
}

fn done_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("done-{name}"))
}

/// Sends tasks `nap("a", DIR, nap)` and `nap("b", …)` to the test's redis.
fn enqueue(python: &str, dir: &Path, url: &str, nap: &str) {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, tasks\nfor name in 'ab': tasks.nap.delay(name, sys.argv[1], float(sys.argv[2]))",
            dir.to_str().unwrap(),
            nap,
        ])
        .current_dir(dir)
        .env("PYTHONPATH", dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("CELERY_BROKER_URL", url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enqueueing the tasks failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until each task has written its started-NAME file, that is until
/// both run in the pool at once (concurrency 2); false after PATIENCE.
fn both_run_within_patience(dir: &Path) -> bool {
    let deadline = Instant::now() + PATIENCE;
    let started = |name: &str| dir.join(format!("started-{name}")).exists();
    while !(started("a") && started("b")) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_celery_worker_program_finishes_its_running_tasks_on_sigterm() {
    tasks_survive_docker_stop(Form::Program, 17391, "celery-program");
}

#[test]
fn celery_as_main_finishes_its_running_tasks_on_sigterm() {
    tasks_survive_docker_stop(Form::Main, 17392, "celery-main");
}
