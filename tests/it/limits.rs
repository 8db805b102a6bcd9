//! `limits`, `nice` and `oom_score_adj` with rinit as PID 1: what a
//! program's process gets, read back from /proc (limits, stat, oom_score_adj),
//! set before the switch to its user; what the kernel refuses a rinit
//! without the capabilities, said at start; and every bad value's message.

use std::process::Command;

use crate::common::*;

/// A line of /proc/PID/limits by its name: (soft, hard).
fn limit(pid: i32, name: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let mut words = line[name.len()..].split_whitespace();
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

/// Field 19 of /proc/PID/stat: the nice value.
fn nice_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(16).unwrap().parse().unwrap()
}

#[test]
fn a_program_starts_with_its_limits_nice_and_oom_score_adj_then_its_user() {
    let dir = temp_dir("limits");
    let config = dir.join("rinit.toml");
    std::fs::write(
        &config,
        "[rinit]\ncontrol_socket = \"\"\n[program.app]\ncommand = [\"sh\", \"-c\", \"echo up; exec sleep 1000\"]\n\
         user = \"nobody\"\n\
         limits = { nofile = 1234, core = 0, nproc = \"100:200\", memlock = \"4096:8192\", stack = \"1048576:2097152\" }\n\
         nice = 5\noom_score_adj = 300\n",
    )
    .unwrap();
    let mut running = Running::start(pid1(&["-c", config.to_str().unwrap()]));
    running.expect_out_eq("up");
    let app = only_child(running.rinit_pid());
    assert_eq!(limit(app, "Max open files"), ("1234".into(), "1234".into()));
    assert_eq!(limit(app, "Max core file size"), ("0".into(), "0".into()));
    assert_eq!(limit(app, "Max processes"), ("100".into(), "200".into()));
    assert_eq!(limit(app, "Max locked memory"), ("4096".into(), "8192".into()));
    assert_eq!(limit(app, "Max stack size"), ("1048576".into(), "2097152".into()));
    assert_eq!(nice_of(app), 5);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{app}/oom_score_adj"))
            .unwrap()
            .trim(),
        "300"
    );
    // Set while the child was still root: then it became nobody.
    assert_eq!(proc_status(app, "Uid"), "65534\t65534\t65534\t65534");
    // rinit's own are untouched.
    assert_eq!(nice_of(running.rinit_pid()), 0);
    send(running.rinit_pid(), libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn what_the_kernel_refuses_a_rinit_without_the_capabilities_is_said_at_start() {
    let dir = temp_dir("limits-refused");
    copy_binaries_to(&dir);
    let file = dir.join("rinit.toml");
    let program =
        |name: &str, key: &str| format!("[program.{name}]\ncommand = [\"true\"]\nrestart = \"no\"\n{key}\n");
    let text = format!(
        "[rinit]\ncontrol_socket = \"\"\n{}{}{}",
        program("files", "limits = { nofile = 2000000 }"),
        program("oom", "oom_score_adj = -100"),
        program("nicer", "nice = -5"),
    );
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups"])
        .arg(dir.join("rinit"))
        .arg("-c")
        .arg(&file);
    let done = run(cmd);
    for line in [
        "rinit: files: cannot run \"true\": the kernel refused its nofile limit (limits): Operation not permitted \
         (a hard limit above rinit's own needs CAP_SYS_RESOURCE)",
        "rinit: oom: cannot run \"true\": the kernel refused its oom_score_adj: Permission denied \
         (a value below rinit's own needs CAP_SYS_RESOURCE)",
        "rinit: nicer: cannot run \"true\": the kernel refused its nice value: Permission denied \
         (a nice value below rinit's own needs CAP_SYS_NICE)",
        "rinit: files ended (exit code 126); not restarted (restart = no)",
    ] {
        assert!(done.err.iter().any(|l| l == line), "missing {line}\nin {:#?}", done.err);
    }
    assert_eq!(done.code(), 1, "{:?}", done.err);
}

#[test]
fn check_shows_the_settings_and_the_capabilities_they_need() {
    let dir = temp_dir("limits-check");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        "[program.db]\ncommand = \"true\"\nlimits = { nofile = \"1024:2000000\", core = \"unlimited\" }\n\
         nice = -5\noom_score_adj = -500\n",
    )
    .unwrap();
    let done = run(plain(&["check", "-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let hard = std::fs::read_to_string("/proc/self/limits").unwrap();
    let own = hard
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_string();
    for line in [
        "    limits core unlimited, nofile 1024:2000000; nice -5; oom_score_adj -500".to_string(),
        format!("    needs: limits nofile 1024:2000000: a hard limit above this process's ({own}) needs CAP_SYS_RESOURCE"),
        "    needs: nice -5: a value below 0 needs CAP_SYS_NICE".into(),
        "    needs: oom_score_adj -500: a value below rinit's own (0, unless the runtime set one) needs CAP_SYS_RESOURCE".into(),
    ] {
        assert_has_line(&done.out, &line);
    }
}

#[test]
fn every_bad_limit_says_what_is_wrong() {
    let dir = temp_dir("limits-bad");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        "[program.a]\ncommand = \"true\"\nlimits = { nofiles = 10 }\n\
         [program.b]\ncommand = \"true\"\nlimits = { nofile = -1 }\n\
         [program.c]\ncommand = \"true\"\nlimits = { nproc = \"200:100\" }\n\
         [program.d]\ncommand = \"true\"\nlimits = { core = \"lots\" }\n\
         [program.e]\ncommand = \"true\"\nnice = 20\n\
         [program.f]\ncommand = \"true\"\noom_score_adj = -1001\n",
    )
    .unwrap();
    let done = run(plain(&["check", "-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 2);
    let at = |place: &str, rest: &str| format!("rinit: {}:{place}: {rest}", file.display());
    assert_eq!(
        done.err,
        [
            at("3:12", "program a: key limits: \"nofiles\" is not a resource limit: did you mean nofile? (one of as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)"),
            at("6:21", "program b: key limits: nofile: -1: must not be negative"),
            at("9:20", "program c: key limits: nproc: the soft limit 200 is above the hard limit 100"),
            at("12:19", "program d: key limits: core: \"lots\": expected a number, \"unlimited\" or \"SOFT:HARD\" (e.g. 65536, \"512:1024\", \"unlimited\")"),
            at("15:8", "program e: key nice: 20 is out of range (-20 to 19)"),
            at("18:17", "program f: key oom_score_adj: -1001 is out of range (-1000 to 1000)"),
        ]
    );
}

#[test]
fn import_carries_limits_nice_and_oom_score_adj_over() {
    let dir = temp_dir("limits-import");
    let unit = dir.join("db.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/usr/bin/postgres\nLimitNOFILE=65536\nLimitNPROC=512:1024\nLimitCORE=infinity\n\
         LimitAS=4G\nNice=5\nOOMScoreAdjust=-100\n",
    )
    .unwrap();
    let done = run(plain(&["import", unit.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "nice = 5");
    assert_has_line(&done.out, "oom_score_adj = -100");
    assert_has_line(
        &done.out,
        "limits = { nofile = 65536, nproc = \"512:1024\", core = \"unlimited\" }",
    );
    let file = unit.display();
    assert!(
        done.err.contains(&format!(
            "rinit: {file}:6: warning: program db: LimitAS=4G dropped: rinit takes numbers, infinity or SOFT:HARD (no units)"
        )),
        "{:?}",
        done.err
    );
    let conf = dir.join("supervisord.conf");
    std::fs::write(
        &conf,
        "[supervisord]\nminfds=4096\nminprocs=200\n[program:web]\ncommand=gunicorn app\n",
    )
    .unwrap();
    let done = run(plain(&["import", conf.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "limits = { nofile = 4096, nproc = 200 }");
    let notes = done.err.join("\n");
    assert!(
        notes.contains(
            "limits nofile = 4096 from [supervisord] minfds=4096, which supervisord's programs inherited"
        ),
        "{notes}"
    );
}
