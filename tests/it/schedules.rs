//! Schedules with rinit as PID 1: a job every second with the container's
//! environment and its own user, the overlap policies, run_timeout,
//! `rinit start` (runs now) and `rinit stop` (holds the schedule), status
//! and metrics, a cron time on the real wall clock, the kernel telling
//! rinit that the clock was set, and every bad schedule's message.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::control::{client, setup, start};

/// `sh -c SCRIPT` as a TOML array.
fn sh(script: &str) -> String {
    format!("[\"sh\", \"-c\", {script:?}]")
}

/// The year now (UTC), from date(1).
fn this_year() -> u32 {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The seconds (with fraction) a line ends with: `date +%s.%N`.
fn time_of(line: &str) -> f64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_job_every_second_sees_the_containers_environment_and_runs_as_its_user() {
    let port = free_port();
    let (_dir, config, _socket) = setup(
        "every-second",
        &format!(
            "http = \"127.0.0.1:{port}\"\n\
             [program.job]\ncommand = {}\nuser = \"nobody\"\nschedule = \"@every 1s\"\n",
            sh("echo \"run $GREETING $(id -u):$(id -g) $RINIT_PROGRAM $(date +%s.%N)\"")
        ),
    );
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.env("GREETING", "from-docker-run");
    let mut running = Running::start(cmd);
    let mut times = Vec::new();
    for _ in 0..3 {
        let line = running.expect_out(|l| l.starts_with("run "), "a run");
        assert!(line.starts_with("run from-docker-run 65534:65534 job "), "{line}");
        times.push(time_of(&line));
    }
    // One run a second, on the schedule's beat (no drift from run to run).
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((0.9..1.1).contains(&gap), "runs {gap:.3} s apart: {times:?}");
    }
    let done = client(&config, &["status", "job"]);
    let row = done.out.get(1).cloned().unwrap_or_default();
    assert!(done.out[0].ends_with("NEXT RUN"), "{:?}", done.out);
    assert!(row.contains("exit code 0"), "{row}");
    let done = client(&config, &["status", "--json", "job"]);
    let json = done.out.join("");
    assert!(json.contains("\"next_run\":\"20"), "{json}");
    let metrics = crate::http::get(port, "/metrics").body;
    let successes = metrics
        .lines()
        .find(|l| {
            l.starts_with("rinit_program_runs_total{program=\"job\",instance=\"job\",outcome=\"success\"}")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(successes >= 3, "{metrics}");
    for family in [
        "rinit_program_next_run_timestamp_seconds{program=\"job\",instance=\"job\"} ",
        "rinit_program_last_success_timestamp_seconds{program=\"job\",instance=\"job\"} ",
        "rinit_program_runs_total{program=\"job\",instance=\"job\",outcome=\"skipped\"} 0",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn overlap_skips_queues_or_replaces_a_run_that_is_still_going() {
    let dir = temp_dir("overlap");
    let job = |name: &str| {
        format!(
            "[program.{name}]\ncommand = {}\nschedule = \"@every 1s\"\noverlap = \"{name}\"\n",
            sh("sleep 1.5")
        )
    };
    let text = format!(
        "[rinit]\ncontrol_socket = \"\"\n{}{}{}",
        job("skip"),
        job("queue"),
        job("replace")
    );
    let path = dir.join("rinit.toml");
    std::fs::write(&path, text).unwrap();
    let mut running = Running::start(pid1(&["-c", path.to_str().unwrap()]));
    for (name, line) in [
        (
            "skip",
            "rinit: skip: the run due now is skipped: the last still runs (overlap = skip)",
        ),
        (
            "queue",
            "rinit: queue: its next run is due and the last still runs: it waits for it (overlap = queue)",
        ),
        (
            "replace",
            "rinit: replace: its next run is due and the last still runs: stopping it (overlap = replace)",
        ),
        ("replace", "rinit: replace run stopped for the next (SIGTERM)"),
        ("queue", "rinit: queue run completed"),
    ] {
        running.expect_err(|l| l == line, name);
    }
    // A queued run waits for one at most: the next one due is skipped.
    running.expect_err(
        |l| l == "rinit: queue: the run due now is skipped: the last still runs and the next waits (overlap = queue)",
        "queue's second",
    );
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

#[test]
fn start_runs_now_stop_holds_the_schedule_and_run_timeout_ends_a_long_run() {
    let (dir, config, socket) = setup(
        "start-stop",
        &format!(
            "[program.job]\ncommand = {}\nschedule = \"0 0 1 1 *\"\n\
             [program.bad]\ncommand = {}\nschedule = \"0 0 1 1 *\"\n\
             [program.slow]\ncommand = [\"sleep\", \"100\"]\nschedule = \"0 0 1 1 *\"\nrun_timeout = \"1s\"\nstop_timeout = \"2s\"\n",
            sh("echo ran; sleep 0.2"),
            sh("exit 3"),
        ),
    );
    let mut running = start(&config, &socket);
    let next = format!("{}-01-01T00:00:00+00:00", this_year() + 1);
    let status = client(&config, &["status", "job"]);
    assert_eq!(
        status.out[1].split_whitespace().collect::<Vec<_>>(),
        ["job", "scheduled", "-", "-", "0", "-", &next]
    );
    // `start` runs it now and answers when the run has ended.
    let done = client(&config, &["start", "job"]);
    assert_eq!(
        (done.code(), done.out.as_slice()),
        (0, &["job: scheduled".to_string()][..])
    );
    running.expect_out_eq("ran");
    // `stop` holds the schedule: no next run until `start`.
    let done = client(&config, &["stop", "job"]);
    assert_eq!(done.out, ["job: stopped"]);
    let status = client(&config, &["status", "job"]);
    assert_eq!(
        status.out[1].split_whitespace().collect::<Vec<_>>(),
        ["job", "stopped", "-", "-", "0", "exit", "code", "0"]
    );
    assert_eq!(client(&config, &["start", "job"]).code(), 0);
    running.expect_out_eq("ran");
    let status = client(&config, &["status", "job"]);
    assert!(status.out[1].ends_with(&next), "{:?}", status.out);
    // A failed run: the answer says how it ended; the schedule goes on.
    let done = client(&config, &["start", "bad"]);
    assert_eq!(done.code(), 1);
    assert_eq!(done.err, ["rinit: start failed: bad's run ended (exit code 3)"]);
    running.expect_err(
        |l| l == "rinit: bad run failed (exit code 3); the next runs at its time",
        "bad's end",
    );
    // run_timeout: the stop signal at 1 s, as a timeout.
    let started = Instant::now();
    let done = client(&config, &["start", "slow"]);
    assert_eq!(done.err, ["rinit: start failed: slow's run ended (SIGTERM)"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    running.expect_err(
        |l| l == "rinit: slow ran for 1s (run_timeout): stopping it",
        "run_timeout",
    );
    running.expect_err(
        |l| l == "rinit: slow run stopped at its run_timeout (SIGTERM); the next runs at its time",
        "the run's end",
    );
    let status = client(&config, &["status", "slow"]);
    assert!(
        status.out[1].contains(" SIGTERM ") && status.out[1].ends_with(&next),
        "{:?}",
        status.out
    );
    drop(dir);
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// Waits (up to `limit`) for `path` to hold a line; the line.
fn wait_for_line(path: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(line) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.lines().next().map(String::from))
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "nothing in {} after {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_cron_time_fires_within_a_second_of_the_wall_clock_minute() {
    let dir = temp_dir("cron-minute");
    let out: PathBuf = dir.join("ran");
    let text = format!(
        "[rinit]\ncontrol_socket = \"\"\n[program.job]\ncommand = {}\nschedule = \"* * * * *\"\n",
        sh(&format!("date +%s.%N >> {}", out.display()))
    );
    let path = dir.join("rinit.toml");
    std::fs::write(&path, text).unwrap();
    let running = Running::start(pid1(&["-c", path.to_str().unwrap()]));
    let at = time_of(&format!("x {}", wait_for_line(&out, Duration::from_secs(65))));
    let late = at - (at / 60.0).floor() * 60.0;
    assert!(late < 1.0, "the run started {late:.3} s after its minute");
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn the_kernel_tells_rinit_when_the_wall_clock_is_set() {
    let (_dir, config, socket) = setup(
        "clock-set",
        "[program.job]\ncommand = \"true\"\nschedule = \"0 0 1 1 *\"\n",
    );
    let mut running = start(&config, &socket);
    // Answered from the loop: the wall timer is set by then.
    assert_eq!(client(&config, &["status", "-q"]).code(), 0);
    // Setting the clock to the time it shows is a clock set as NTP's step
    // or a resumed VM make, and the timer is cancelled; the machine's time
    // stays as it was (see set_clock_to_itself).
    set_clock_to_itself();
    running.expect_err(
        |l| l == "rinit: the wall clock was set: schedules follow the new time",
        "the clock set",
    );
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// clock_settime(CLOCK_REALTIME) to the time the clock shows: a "set" for
/// the kernel, no change for the machine (the time between reading the
/// clock and setting it is added back, measured on the monotonic clock).
fn set_clock_to_itself() {
    let zero = || libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let (mut real, mut then, mut now) = (zero(), zero(), zero());
    let nanos = |t: &libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    // SAFETY: clock_gettime and clock_settime on live timespecs.
    let rc = unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut real);
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut then);
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        let target = nanos(&real) + (nanos(&now) - nanos(&then));
        let set = libc::timespec {
            tv_sec: (target / 1_000_000_000) as libc::time_t,
            tv_nsec: (target % 1_000_000_000) as libc::c_long,
        };
        libc::clock_settime(libc::CLOCK_REALTIME, &set)
    };
    assert_eq!(rc, 0, "clock_settime: {}", std::io::Error::last_os_error());
}

#[test]
fn every_bad_schedule_is_an_error_naming_its_field() {
    let dir = temp_dir("bad-schedules");
    let text = "\
[program.a]
command = \"true\"
schedule = \"61 * * * *\"
[program.b]
command = \"true\"
schedule = \"0 0 30 2 *\"
[program.c]
command = \"true\"
schedule = \"@daily\"
timezone = \"Mars/Olympus_Mons\"
[program.d]
command = \"true\"
schedule = \"@daily\"
critical = true
[program.e]
command = \"true\"
after = [\"f\"]
[program.f]
command = \"true\"
schedule = \"@hourly\"
[program.g]
command = \"true\"
overlap = \"skip\"
[program.h]
command = \"true\"
schedule = \"*/15 9-17 * * mon-fry\"
[program.i]
command = \"true\"
schedule = \"0 * * * * *\"
";
    let path = dir.join("rinit.toml");
    std::fs::write(&path, text).unwrap();
    let done = run(plain(&["check", "-c", path.to_str().unwrap()]));
    assert_eq!(done.code(), 2, "{:?}", done.err);
    let file = path.display().to_string();
    let expected = [
        "3:12: program a: key schedule: minute field \"61\": 61 is out of range (0-59)",
        "6:12: program b: key schedule: \"0 0 30 2 *\" never runs: no date has both its day-of-month and its month (e.g. the 30th of February)",
        "13:12: program d: key critical: a scheduled program is never critical: its failed run waits for the next time",
        "17:10: program e: key after: f has a schedule (\"@hourly\"): nothing can come after a scheduled program, whose runs come and go (put the two in one script, or schedule both)",
        "22:11: program g: key overlap: only a program with a schedule has one (e.g. schedule = \"*/15 * * * *\")",
        "26:12: program h: key schedule: day-of-week field \"mon-fry\": \"fry\" is not a number (0-7, or sun-sat)",
        "29:12: program i: key schedule: expected five fields (minute hour day-of-month month day-of-week), found 6 (rinit has no seconds or years field: use @every for runs more often than each minute)",
    ];
    for line in expected {
        let line = format!("rinit: {file}:{line}");
        assert!(done.err.contains(&line), "missing {line}\nin {:#?}", done.err);
    }
    // The zone names itself and where it was looked for.
    let zone = done
        .err
        .iter()
        .find(|l| l.contains("program c: key timezone: "))
        .expect("c's error");
    assert!(
        zone.starts_with(&format!("rinit: {file}:10:12: ")) && zone.contains("Mars/Olympus_Mons"),
        "{zone}"
    );
    assert_eq!(done.err.len(), expected.len() + 1, "{:#?}", done.err);
}

#[test]
fn check_shows_what_a_schedule_means_as_its_next_three_runs() {
    let dir = temp_dir("check-schedule");
    let path = dir.join("rinit.toml");
    let text = "[program.report]\ncommand = \"true\"\nschedule = \"0 6 1 1 *\"\ntimezone = \"Europe/Berlin\"\nrun_timeout = \"10m\"\n\
                [program.tick]\ncommand = \"true\"\nschedule = \"@every 90s\"\noverlap = \"queue\"\n";
    std::fs::write(&path, text).unwrap();
    let done = run(plain(&["check", "-c", path.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let year = this_year();
    let runs: Vec<String> = (1..=3)
        .map(|n| format!("{}-01-01T06:00:00+01:00", year + n))
        .collect();
    assert_has_line(
        &done.out,
        &format!(
            "    schedule \"0 6 1 1 *\" in Europe/Berlin: next {}; overlap skip, run_timeout 600s",
            runs.join(", ")
        ),
    );
    assert_has_line(
        &done.out,
        "    schedule \"@every 90s\" every 90s from rinit's start; overlap queue",
    );
    assert_has_line(
        &done.out,
        "    type oneshot, after -, user rinit's (uid 0), directory rinit's starting directory, restart no",
    );
}

#[test]
fn an_imported_crontab_runs_its_lines_with_sh_and_their_environment() {
    let dir = temp_dir("crontab");
    let crontab = dir.join("crontab");
    std::fs::write(
        &crontab,
        "# m h dom mon dow command\n\
         MAILTO=ops@example.com\n\
         CRON_TZ=Europe/Berlin\n\
         GREETING='hello from cron'\n\
         0 3 * * * echo \"$GREETING\" as $(id -u) at \\%H # a comment for sh\n\
         @reboot echo rebooted\n\
         30 2 * * * echo hi % there\n",
    )
    .unwrap();
    let done = run(plain(&["import", crontab.to_str().unwrap()]));
    // The line with an unescaped % cannot run as written: an error, exit 1.
    assert_eq!(done.code(), 1, "{:?}", done.err);
    let file = crontab.display().to_string();
    assert_eq!(
        done.err,
        [
            format!("rinit: {file}: note: dropped MAILTO: rinit mails nothing, the runs' output goes to the container's log; a user crontab runs as its owner: set user if that is not rinit's user; cron starts a run even while the last still runs; rinit skips that time (overlap = \"skip\"): set overlap = \"queue\" to keep every run"),
            format!("rinit: {file}:7: error: program echo_3: cron turns the text after an unescaped % into the command's standard input, which rinit cannot give: write it as printf '...' | command, or escape the % as \\%"),
        ]
    );
    let toml = done.out.join("\n");
    assert!(
        toml.contains("[program.echo]\nschedule = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n"),
        "{toml}"
    );
    // Without the bad line: check passes, and a run started by hand is cron's.
    let good = toml.split("\n[program.echo_3]").next().unwrap().to_string();
    let (_dir, config, socket) = setup("crontab-run", &good.replace("# rinit import", "# was"));
    let check = run(plain(&["check", "-c", config.to_str().unwrap()]));
    assert_eq!(check.code(), 0, "{:?}", check.err);
    assert_has_line(
        &check.out,
        "    schedule \"@reboot\" once, when rinit starts; overlap skip",
    );
    let mut running = start(&config, &socket);
    running.expect_out_eq("rebooted");
    assert_eq!(client(&config, &["start", "echo"]).code(), 0);
    running.expect_out_eq("hello from cron as 0 at %H");
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}
