//! `rinit reload` with rinit as PID 1: the difference applied (new programs
//! start, removed ones stop, changed ones and what comes after them
//! restart, unchanged ones keep their pid, in-place keys update without a
//! restart), `--check`, and every fault that must change nothing: a
//! configuration with errors (half written, gone, unreadable, 10,000
//! matches), a reload during the drain or the shutdown, two at once.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::control::{client, setup, start, start_with};

/// `status --json` as (name, state, pid, restarts, generation) per instance.
fn statuses(config: &Path) -> Vec<(String, String, Option<i64>, u64, u64)> {
    let done = client(config, &["status", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&done.out.join("\n")).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
                s["pid"].as_i64(),
                s["restarts"].as_u64().unwrap(),
                s["generation"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pid(config: &Path, name: &str) -> Option<i64> {
    statuses(config)
        .into_iter()
        .find(|s| s.0 == name)
        .and_then(|s| s.2)
}

/// The host pids of the processes whose command line is `words`.
fn host_pids(words: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = words.iter().flat_map(|w| w.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<i32>().ok()?, e.path())))
        .filter(|(_, path)| std::fs::read(path.join("cmdline")).is_ok_and(|c| c == wanted))
        .map(|(pid, _)| pid)
        .collect()
}

fn processes(words: &[&str]) -> usize {
    host_pids(words).len()
}

/// The host pid of the one `sleep N`.
fn sleep_pid(n: u32) -> i32 {
    let n = n.to_string();
    let pids = host_pids(&["sleep", &n]);
    assert_eq!(pids.len(), 1, "sleep {n}: {pids:?}");
    pids[0]
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const SOCKET_LINE: &str = "[rinit]\ncontrol_socket = ";

/// The main file of `dir` with `body` after its [rinit] table.
fn rewrite(config: &Path, extra_rinit: &str, body: &str) {
    let socket = config.with_file_name("rinit.sock");
    write(
        config,
        &format!("{SOCKET_LINE}{:?}\n{extra_rinit}{body}", socket.to_str().unwrap()),
    );
}

#[test]
fn reload_applies_the_difference_and_leaves_unchanged_programs_untouched() {
    let body = "include = [\"rinit.d/*.toml\"]\n\
                [program.web]\ncommand = \"sleep 7101\"\n\
                [program.worker]\ncommand = \"sleep 7102\"\nafter = [\"web\"]\n\
                [program.old]\ncommand = \"sleep 7103\"\n\
                [program.cache]\ncommand = \"sleep 7104\"\n";
    let (dir, config, socket) = setup("reload-apply", body);
    std::fs::create_dir(dir.join("rinit.d")).unwrap();
    let running = start(&config, &socket);
    for name in ["web", "worker", "old", "cache"] {
        crate::control::wait_for_state(&config, name, "ready");
    }
    let cache = pid(&config, "cache");
    let web = pid(&config, "web");
    assert!(statuses(&config).iter().all(|s| s.4 == 1));

    // web's command changes, old goes, a derived image's file adds new.
    write(
        &dir.join("rinit.d/new.toml"),
        "[program.new]\ncommand = \"sleep 7105\"\n",
    );
    rewrite(
        &config,
        "include = [\"rinit.d/*.toml\"]\n",
        "[program.web]\ncommand = \"sleep 7106\"\n\
         [program.worker]\ncommand = \"sleep 7102\"\nafter = [\"web\"]\n\
         [program.cache]\ncommand = \"sleep 7104\"\n",
    );
    let checked = client(&config, &["reload", "--check"]);
    assert_eq!(checked.code(), 0, "{:?}", checked.err);
    assert_eq!(
        checked.out,
        [
            "would apply: started new, stopped old, restarted web (command changed), \
          restarted worker (it comes after web), unchanged 1 (generation 1 runs)"
        ]
    );
    assert_eq!(pid(&config, "web"), web, "--check changed nothing");

    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    for line in [
        "generation 2",
        "started new",
        "stopped old",
        "restarted web (command changed)",
        "restarted worker (it comes after web)",
        "unchanged 1",
        "old (previous): stopped",
    ] {
        assert_has_line(&done.out, line);
    }
    let now = statuses(&config);
    let names: Vec<&str> = now.iter().map(|s| s.0.as_str()).collect();
    // Kept programs keep their place; new instances come after them.
    assert_eq!(names, ["cache", "web", "worker", "new"], "{now:?}");
    assert!(now.iter().all(|s| s.1 == "ready" && s.4 == 2), "{now:?}");
    assert_eq!(pid(&config, "cache"), cache, "cache untouched");
    assert_ne!(pid(&config, "web"), web, "web restarted");
    assert_eq!(processes(&["sleep", "7103"]), 0, "old stopped");
    assert_eq!(processes(&["sleep", "7101"]), 0, "web's old command stopped");
    assert_eq!(processes(&["sleep", "7106"]), 1);
    assert_eq!(processes(&["sleep", "7105"]), 1);

    // The same configuration again: nothing touched.
    let again = client(&config, &["reload"]);
    assert_eq!(again.out, ["generation 3", "unchanged 4"], "{:?}", again.err);
    assert_eq!(pid(&config, "cache"), cache);
    send(running.rinit_pid(), libc::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0, "{:?}", finished.err);
    assert!(finished
        .err
        .iter()
        .any(|l| l.contains("configuration reloaded (generation 2): started new, stopped old")));
}

#[test]
fn keys_that_do_not_reach_the_process_apply_without_a_restart() {
    let (_dir, config, socket) = setup("reload-in-place", "[program.web]\ncommand = \"sleep 7201\"\n");
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    let web = pid(&config, "web");
    rewrite(
        &config,
        "",
        "[program.web]\ncommand = \"sleep 7201\"\nrestart = \"no\"\nrestart_delay = \"2s\"\n\
         stop_timeout = \"3s\"\ncritical = true\n",
    );
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out,
        [
            "generation 2",
            "updated in place web (restart, restart_delay, stop_timeout, critical changed)",
            "unchanged 0"
        ]
    );
    assert_eq!(pid(&config, "web"), web);
    // The new values hold: web is critical and not restarted now, so its
    // end ends rinit.
    send(sleep_pid(7201), libc::SIGKILL);
    let finished = running.finish();
    assert_eq!(finished.code(), 137, "{:?}", finished.err);
}

#[test]
fn a_configuration_with_any_error_changes_nothing() {
    let port = free_port();
    let body = format!(
        "http = \"127.0.0.1:{port}\"\ninclude = [\"d/*.toml\"]\n[program.web]\ncommand = \"sleep 7301\"\n"
    );
    let (dir, config, socket) = setup("reload-errors", &body);
    std::fs::create_dir(dir.join("d")).unwrap();
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    let web = pid(&config, "web");
    let unchanged = |what: &str| {
        let now = statuses(&config);
        assert_eq!(now.len(), 1, "{what}: {now:?}");
        assert_eq!((now[0].2, now[0].4), (web, 1), "{what}: {now:?}");
    };
    // A file written in two steps, reloaded between them.
    let worker = dir.join("d/worker.toml");
    write(&worker, "[program.worker]\ncommand = \"sleep 7302");
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 1);
    let file = worker.display();
    assert_eq!(
        done.err,
        [
            format!("{file}:2:11: program worker: key command: this string is not closed: a `\"` is missing before the end of the line"),
            "rinit: the configuration has 1 error: nothing changed".to_string(),
        ]
    );
    unchanged("half written");
    // Many errors: each is printed.
    write(
        &worker,
        "[program.worker]\ncommand = 5\nbogus = 1\n[program.web]\ncommand = \"x\"\n",
    );
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 1);
    assert_eq!(done.err.len(), 4, "{:?}", done.err);
    assert_eq!(
        done.err[3],
        "rinit: the configuration has 3 errors: nothing changed"
    );
    unchanged("three errors");
    std::fs::remove_file(&worker).unwrap();
    // An include that now matches 10,000 files.
    std::fs::create_dir(dir.join("d/many")).unwrap();
    for i in 0..10_000 {
        std::fs::write(dir.join(format!("d/many/{i}.toml")), "").unwrap();
    }
    rewrite(
        &config,
        "include = [\"d/*.toml\", \"d/many/*.toml\"]\n",
        "[program.web]\ncommand = \"sleep 7301\"\n",
    );
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 1);
    assert!(done.err[0].ends_with("key include: \"d/many/*.toml\" matches 10000 files, more than the 1000 that one configuration may include"), "{:?}", done.err);
    unchanged("10,000 files");
    // The main file gone, then not a file.
    std::fs::remove_file(&config).unwrap();
    let done = run(plain(&["reload", "-c", socket_config(&dir).to_str().unwrap()]));
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert_eq!(
        done.err[0],
        format!(
            "{}: cannot read the configuration: No such file or directory",
            config.display()
        )
    );
    std::fs::create_dir(&config).unwrap();
    let done = run(plain(&["reload", "-c", socket_config(&dir).to_str().unwrap()]));
    assert_eq!(
        done.err[0],
        format!(
            "{}: cannot read the configuration: not a regular file (a directory)",
            config.display()
        )
    );
    unchanged_via(&socket_config(&dir), web);
    let metrics = crate::http::get(port, "/metrics").body;
    for line in [
        "rinit_config_generation 1",
        "rinit_config_reloads_total{outcome=\"applied\"} 0",
        "rinit_config_reloads_total{outcome=\"invalid\"} 5",
        "rinit_config_reloads_total{outcome=\"refused\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in {metrics}");
    }
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// A second configuration that names only the socket of `dir`'s rinit,
/// for clients once the main file is gone.
fn socket_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("client.toml");
    let socket = dir.join("rinit.sock");
    write(&path, &format!("{SOCKET_LINE}{:?}\n", socket.to_str().unwrap()));
    path
}

fn unchanged_via(config: &Path, web: Option<i64>) {
    let now = statuses(config);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!((now[0].2, now[0].4), (web, 1), "{now:?}");
}

#[test]
fn reloads_are_refused_while_draining_shutting_down_or_waiting_for_another() {
    // One reload waits for a program whose ready file is not there yet.
    let (dir, config, socket) = setup("reload-twice", "[program.web]\ncommand = \"sleep 7401\"\n");
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    let flag = dir.join("ready-flag");
    rewrite(
        &config,
        "",
        &format!(
            "[program.web]\ncommand = \"sleep 7401\"\n[program.slow]\ncommand = \"sleep 7402\"\n\
             ready = {{ file = {:?} }}\nready_timeout = \"20s\"\n",
            flag.to_str().unwrap()
        ),
    );
    let mut first = std::process::Command::new(rinit());
    first.args(["reload", "-c", config.to_str().unwrap()]);
    let first = Running::start(first);
    crate::control::wait_for_state(&config, "slow", "running");
    let second = client(&config, &["reload"]);
    assert_eq!(second.code(), 1);
    assert_eq!(
        second.err,
        ["rinit: another reload waits for its programs: try again when it has answered"]
    );
    write(&flag, "");
    let first = first.finish();
    assert_eq!(first.code(), 0, "{:?}", first.err);
    assert_has_line(&first.out, "started slow");
    assert_has_line(&first.out, "slow: ready (pid 3)");
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);

    // During a drain, and during the shutdown.
    let body = "drain = \"20s\"\n[program.web]\ncommand = \"sleep 7403\"\n";
    let (_dir, config, socket) = setup("reload-drain", body);
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    send(running.rinit_pid(), libc::SIGTERM);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let done = client(&config, &["reload"]);
        if done.code() == 1 {
            assert_eq!(
                done.err,
                ["rinit: rinit is draining before it stops: the configuration is not reloaded"]
            );
            break;
        }
        assert!(Instant::now() < deadline, "never draining: {:?}", done.out);
        std::thread::sleep(Duration::from_millis(20));
    }
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);

    let body = "shutdown_timeout = \"30s\"\n[program.web]\ncommand = [\"sh\", \"-c\", \"trap '' TERM; sleep 7404 & wait; wait\"]\nstop_timeout = \"20s\"\n";
    let (_dir, config, socket) = setup("reload-shutdown", body);
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    send(running.rinit_pid(), libc::SIGTERM);
    crate::control::wait_for_state(&config, "web", "stopping");
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 1);
    assert_eq!(
        done.err,
        ["rinit: rinit is shutting down: the configuration is not reloaded"]
    );
    send(running.rinit_pid(), libc::SIGINT);
    let _ = running.finish();
}

#[test]
fn main_is_kept_when_the_programs_around_it_change() {
    let (_dir, config, socket) = setup("reload-main", "[program.side]\ncommand = \"sleep 7501\"\n");
    // Main + programs: main is kept whatever changes around it.
    let running = start_with(&config, &socket, &["--", "sleep", "7502"]);
    crate::control::wait_for_state(&config, "main", "ready");
    let main = pid(&config, "main");
    rewrite(&config, "", "[program.side2]\ncommand = \"sleep 7503\"\n");
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "started side2");
    assert_has_line(&done.out, "stopped side");
    assert_eq!(pid(&config, "main"), main, "main untouched");
    send(sleep_pid(7502), libc::SIGTERM);
    assert_eq!(running.finish().code(), 143);
}

#[test]
fn env_files_are_read_again_and_fixed_settings_keep_their_value() {
    let (dir, config, socket) = setup(
        "reload-env-file",
        "[program.web]\ncommand = \"sleep 7601\"\nenv_file = \"web.env\"\n[program.other]\ncommand = \"sleep 7602\"\n",
    );
    write(&dir.join("web.env"), "MODE=blue\n");
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "web", "ready");
    let (web, other) = (pid(&config, "web"), pid(&config, "other"));
    // Only the env file changes: web restarts, other does not.
    write(&dir.join("web.env"), "MODE=green\n");
    let done = client(&config, &["reload", "--no-wait"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out,
        ["generation 2", "restarted web (env changed)", "unchanged 1"],
        "--no-wait answers with the summary alone"
    );
    crate::control::wait_for_state(&config, "web", "ready");
    assert_ne!(pid(&config, "web"), web);
    assert_eq!(pid(&config, "other"), other);
    // control_socket cannot move while rinit runs: a warning, and the old one serves.
    let moved = dir.join("elsewhere.sock");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("{:?}", socket.to_str().unwrap()),
        &format!("{:?}", moved.to_str().unwrap()),
    );
    write(&config, &text);
    let done = run(plain(&["reload", "-c", socket_config(&dir).to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out,
        [
            "generation 3",
            "warning: control_socket cannot change while rinit runs: it stays as it was",
            "unchanged 2"
        ]
    );
    assert!(!moved.exists());
    assert_eq!(statuses(&socket_config(&dir)).len(), 2);
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn a_program_a_reload_removed_no_longer_counts_in_the_exit_code() {
    let body = "[program.web]\ncommand = \"sleep 7701\"\n\
                [program.broken]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\n";
    let (_dir, config, socket) = setup("reload-exit-code", body);
    let running = start(&config, &socket);
    crate::control::wait_for_state(&config, "broken", "exited");
    // The fix: the broken program goes.
    rewrite(&config, "", "[program.web]\ncommand = \"sleep 7701\"\n");
    let done = client(&config, &["reload"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "stopped broken");
    send(running.rinit_pid(), libc::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0, "{:?}", finished.err);
}

#[test]
fn a_replaced_programs_output_pipes_are_closed_once_read() {
    // Each reload changes the command, so a new version starts with pipes
    // of its own and the old one stops: its pipes close once read to their
    // end, and rinit's descriptors stay as they were.
    let chatty = |n: u32| {
        format!(
            "[program.chatty]\ncommand = [\"sh\", \"-c\", \"echo run-{n}; exec sleep 7702\"]\noutput = \"prefix\"\n"
        )
    };
    let (_dir, config, socket) = setup("reload-pipes", &chatty(0));
    let mut running = start(&config, &socket);
    running.expect_out_eq("chatty | run-0");
    let rinit = running.rinit_pid();
    let fds = || std::fs::read_dir(format!("/proc/{rinit}/fd")).unwrap().count();
    // Counted with chatty stopped (`rinit stop` waits for that): a run's
    // exec report is read when the run ends if its exec had not closed it
    // yet when rinit looked, so a running program may hold one more.
    let stopped_count = || {
        let done = client(&config, &["stop", "chatty"]);
        assert_eq!(done.code(), 0, "{:?}", done.err);
        fds()
    };
    let mut before = 0;
    for n in 1..=6 {
        rewrite(&config, "", &chatty(n));
        let done = client(&config, &["reload"]);
        assert_eq!(done.code(), 0, "{:?}", done.err);
        running.expect_out_eq(&format!("chatty | run-{n}"));
        if n == 1 {
            // Counted after a first reload: its message opened rinit's
            // queue for its own messages.
            before = stopped_count();
            assert_eq!(client(&config, &["start", "chatty"]).code(), 0);
            running.expect_out_eq("chatty | run-1");
        }
    }
    stopped_count();
    // The last old version's pipes reach their end a turn of the loop
    // after its exit; the client connections close after their answers.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fds() != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let links: Vec<_> = std::fs::read_dir(format!("/proc/{rinit}/fd"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_link(e.path()).unwrap_or_default())
        .collect();
    assert_eq!(
        fds(),
        before,
        "rinit's descriptors after 5 replacements: {links:?}"
    );
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}
