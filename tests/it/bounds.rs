//! Values at the edge of what rinit accepts, with rinit as PID 1: the
//! longest durations and largest counts pass through start, stop, restart,
//! health checks and the shutdown without a panic; one step past them is a
//! configuration error that says what the bound is.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::control::{client, setup, start};

#[test]
fn the_longest_durations_and_largest_counts_never_panic_pid_1() {
    let dir = temp_dir("bounds-max");
    let socket = dir.join("rinit.sock");
    let config = dir.join("rinit.toml");
    // 366 days is 8784 hours, the longest duration rinit takes.
    let max = "\"8784h\"";
    let text = format!(
        "[rinit]\ncontrol_socket = {socket:?}\nshutdown_timeout = {max}\n\
         [program.db]\ncommand = [\"sleep\", \"1000\"]\nstop_timeout = {max}\nrestart = \"always\"\n\
         restart_delay = {max}\nrestart_max_delay = {max}\nstart_limit_burst = 4294967295\n\
         start_limit_interval = {max}\n\
         health = {{ command = [\"true\"], interval = {max}, timeout = {max}, retries = 4294967295, start_period = {max} }}\n\
         [program.web]\ncommand = [\"sleep\", \"1001\"]\nafter = [\"db\"]\nstop_timeout = {max}\n\
         ready = {{ file = \"/\" }}\nready_timeout = {max}\ninstances = 3\n",
    );
    std::fs::write(&config, text).unwrap();
    let done = client(&config, &["check"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let running = Running::start(pid1(&["-c", config.to_str().unwrap()]));
    let deadline = Instant::now() + PATIENCE;
    while client(&config, &["status", "-q"]).code() != 0 {
        assert!(Instant::now() < deadline, "never up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every change adds up stop_timeouts and ready_timeouts of 366 days.
    for args in [
        ["restart", "db"],
        ["stop", "db"],
        ["start", "web"],
        ["restart", "web:*"],
    ] {
        let done = client(&config, &args);
        assert_eq!(done.code(), 0, "{args:?}: {:?} {:?}", done.out, done.err);
    }
    let done = client(&config, &["signal", "HUP", "db"]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // db died of a forwarded SIGHUP: its restart waits 366 days.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = client(&config, &["status", "db"]);
        if status.out.get(1).is_some_and(|row| row.contains("backoff")) {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", status.out);
        std::thread::sleep(Duration::from_millis(20));
    }
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    // db's last exit was a failure (the forwarded SIGHUP).
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert!(!done.err.iter().any(|l| l.contains("panicked")), "{:?}", done.err);
}

#[test]
fn a_duration_past_366_days_is_refused_with_the_bound() {
    let dir = temp_dir("bounds-past");
    let config = dir.join("rinit.toml");
    for (value, shown) in [
        ("\"18446744073709551615\"", "18446744073709551615"),
        ("\"8785h\"", "8785h"),
        ("31708800", "31708800"),
    ] {
        std::fs::write(
            &config,
            format!("[program.db]\ncommand = \"sleep 1\"\nstop_timeout = {value}\n"),
        )
        .unwrap();
        let done = client(&config, &["check"]);
        assert_eq!(done.code(), 2, "{value}: {:?}", done.err);
        assert_eq!(
            done.err,
            [format!(
                "rinit: {}:3:16: program db: key stop_timeout: invalid duration {shown:?}: at most 366 days",
                config.display()
            )]
        );
    }
    // As on the command line.
    let done = run(plain(&["-t", "8785h", "true"]));
    assert_eq!(done.code(), 2, "{:?}", done.err);
    assert_eq!(
        done.err,
        ["rinit: -t: invalid duration \"8785h\": at most 366 days"]
    );
}

#[test]
fn the_control_socket_never_replaces_a_file_that_is_not_a_socket() {
    let dir = temp_dir("bounds-socket");
    let config = dir.join("rinit.toml");
    // The socket's path is the configuration file itself.
    let text =
        format!("[rinit]\ncontrol_socket = {config:?}\n[program.db]\ncommand = [\"sleep\", \"1000\"]\n");
    std::fs::write(&config, &text).unwrap();
    let mut running = Running::start(pid1(&["-c", config.to_str().unwrap()]));
    running.expect_err(
        |l| l.ends_with("a file that is not a socket is there; rinit leaves it alone; running without it (rinit status and the like cannot reach this rinit)"),
        "the warning",
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        text,
        "the configuration was touched"
    );
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
    // A relative path would be made in / (where rinit runs): refused.
    std::fs::write(
        &config,
        "[rinit]\ncontrol_socket = \"run/rinit.sock\"\n[program.db]\ncommand = \"sleep 1\"\n",
    )
    .unwrap();
    let done = client(&config, &["check"]);
    assert_eq!(done.code(), 2, "{:?}", done.err);
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}: key control_socket: \"run/rinit.sock\" is not an absolute path: rinit runs in / and clients look for the socket by this name (e.g. \"/run/rinit.sock\", or \"\" for no socket)",
            config.display()
        )]
    );
}

/// rinit as PID 1 on a configuration with a control socket, the `[rinit]`
/// keys `rinit_keys` and `programs`, once the socket answers.
fn start_with_socket(tag: &str, rinit_keys: &str, programs: &str) -> (Running, std::path::PathBuf) {
    let (_dir, config, socket) = setup(tag, &format!("{rinit_keys}{programs}"));
    (start(&config, &socket), config)
}

#[test]
fn clients_that_hang_up_while_they_wait_free_their_slots_at_once() {
    let (running, config) = start_with_socket(
        "bounds-hangup",
        "",
        "[program.slow]\ncommand = [\"sleep\", \"1000\"]\nautostart = false\nready = { file = \"/nonexistent\" }\n",
    );
    // 16 clients (the most rinit serves at once) wait for a start that
    // cannot finish, and are interrupted after 300 ms.
    let mut waiting: Vec<_> = (0..16)
        .map(|_| {
            let mut cmd = std::process::Command::new("timeout");
            cmd.args([
                "0.3",
                rinit().to_str().unwrap(),
                "start",
                "slow",
                "-c",
                config.to_str().unwrap(),
            ]);
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in &mut waiting {
        wait_timeout(child, PATIENCE);
    }
    let asked = Instant::now();
    let done = client(&config, &["status", "slow"]);
    let took = asked.elapsed();
    assert!(
        done.out.get(1).is_some_and(|row| row.starts_with("slow ")),
        "{:?} {:?}",
        done.out,
        done.err
    );
    assert!(took < Duration::from_millis(100), "status took {took:?}");
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn a_flood_of_foreign_notify_messages_costs_a_few_warnings_and_delays_nothing() {
    use std::os::linux::net::SocketAddrExt;
    let (mut running, config) = start_with_socket(
        "bounds-notify",
        "",
        "[program.app]\ntype = \"notify\"\ncommand = [\"sh\", \"-c\", \"echo $NOTIFY_SOCKET; exec sleep 1000\"]\n",
    );
    let address = running.expect_out(|l| l.starts_with('@'), "the notify socket");
    let target = std::os::unix::net::SocketAddr::from_abstract_name(&address.as_bytes()[1..]).unwrap();
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sender.set_nonblocking(true).unwrap();
    // From outside rinit's PID namespace: never the program's own process.
    let flood_until = Instant::now() + Duration::from_secs(2);
    let mut sent = 0u64;
    let mut slowest = Duration::ZERO;
    while Instant::now() < flood_until {
        for _ in 0..1000 {
            if sender.send_to_addr(b"READY=1", &target).is_ok() {
                sent += 1;
            }
        }
        let asked = Instant::now();
        let done = client(&config, &["status", "app"]);
        slowest = slowest.max(asked.elapsed());
        assert!(
            done.out.get(1).is_some_and(|row| row.contains("running")),
            "{:?}",
            done.out
        );
    }
    assert!(sent > 1000, "only {sent} datagrams went out");
    assert!(
        slowest < Duration::from_millis(100),
        "status took {slowest:?} during the flood"
    );
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    let warnings = done
        .err
        .iter()
        .filter(|l| l.contains("notify message from"))
        .count();
    // Five in the first 10 s, then one every 10 s with the count.
    assert_eq!(warnings, 5, "{warnings} warnings for {sent} datagrams");
}

#[test]
fn defaults_nested_100000_deep_are_an_error_not_a_crash() {
    let dir = temp_dir("bounds-nesting");
    let config = dir.join("rinit.toml");
    let deep = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
    std::fs::write(&config, format!("[program.web]\ncommand = \"echo {deep}\"\n")).unwrap();
    let asked = Instant::now();
    let done = client(&config, &["check"]);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(done.code(), 2, "{:?}", done.err);
    assert!(
        done.err[0].ends_with("program web: key command: `${` is nested more than 16 deep in a default"),
        "{:?}",
        done.err
    );
}

/// rinit's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_descriptors_never_makes_rinit_spin() {
    let dir = temp_dir("bounds-emfile");
    let port = free_port();
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        format!("[rinit]\ncontrol_socket = \"\"\nhttp = \"127.0.0.1:{port}\"\n[program.app]\ncommand = [\"sleep\", \"1000\"]\n"),
    )
    .unwrap();
    // rinit may open 24 descriptors: 40 connections run it out.
    let pid1_cmd = pid1(&["-c", config.to_str().unwrap()]);
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=24:24")
        .arg("--")
        .arg(pid1_cmd.get_program())
        .args(pid1_cmd.get_args());
    let mut running = Running::start(cmd);
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no HTTP server");
        std::thread::sleep(Duration::from_millis(10));
    }
    let held: Vec<std::net::TcpStream> = (0..40)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    running.expect_err(
        |l| l == "rinit: http: out of file descriptors: new connections wait (this is said once)",
        "the warning",
    );
    let pid = running.rinit_pid();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    assert!(
        spent < 10,
        "rinit used {spent} ticks of CPU in 1 s while out of descriptors"
    );
    drop(held);
    // Descriptors free again: served within the pause.
    let answer = crate::http::get(port, "/readyz");
    assert_eq!(answer.code, 200);
    send(pid, libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let said = done
        .err
        .iter()
        .filter(|l| l.contains("out of file descriptors"))
        .count();
    assert_eq!(said, 1, "{:?}", done.err);
}

#[test]
fn import_follows_include_in_the_main_file_only_as_supervisord_does() {
    // 40 included files, each including the whole folder again: before,
    // this fanned out without end (41 files took 23 s and 257 MB).
    let dir = temp_dir("bounds-include");
    let conf_d = dir.join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(
        dir.join("supervisord.conf"),
        "[supervisord]\nnodaemon=true\n[include]\nfiles = conf.d/*.conf\n",
    )
    .unwrap();
    for n in 0..40 {
        std::fs::write(
            conf_d.join(format!("p{n:02}.conf")),
            format!("[program:p{n:02}]\ncommand=sleep 100\n[include]\nfiles = *.conf\n"),
        )
        .unwrap();
    }
    let asked = Instant::now();
    let done = run(plain(&["import", dir.join("supervisord.conf").to_str().unwrap()]));
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(done.out.iter().filter(|l| l.starts_with("[program.")).count(), 40);
    let first = format!(
        "rinit: {}:3: warning: [include] in an included file is not followed (supervisord does not follow it either)",
        conf_d.join("p00.conf").display()
    );
    assert_eq!(done.err.first(), Some(&first), "{:?}", done.err);
    // One warning per included file, and the note on [supervisord] nodaemon.
    assert_eq!(done.err.len(), 41, "{:?}", done.err);
}
