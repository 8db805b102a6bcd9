//! `rinit import`: each configuration under tests/it/import/ (one folder per
//! case, `@DIR@` standing for the folder's copy) is imported and compared
//! with its golden `expected.toml` (stdout) and `expected.err` (the findings
//! on stderr); the output must pass `rinit check` unchanged and run under
//! rinit as PID 1 with every program up, then stop cleanly on SIGTERM. Then
//! what import must keep: each case is imported and run, and the program
//! reports the argv and environment it got. Also the findings (severity,
//! program, text), the exit codes, and bad input with its exact messages.
//! `RINIT_BLESS=1 cargo test --test it import` rewrites the golden files.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

struct Case {
    dir: &'static str,
    files: &'static [&'static str],
    /// The container's environment (`@DIR@` replaced).
    env: &'static [(&'static str, &'static str)],
    /// Every instance `rinit status` should show.
    names: &'static [&'static str],
    /// Those with `autostart = false`, which stay `stopped`.
    manual: &'static [&'static str],
}

const DJANGO: Case = Case {
    dir: "django",
    files: &["supervisord.conf"],
    env: &[],
    names: &["gunicorn", "celery-worker", "celery-beat", "nginx"],
    manual: &[],
};

const GROUP: Case = Case {
    dir: "group",
    files: &["supervisord.conf"],
    env: &[],
    names: &[
        "php-fpm",
        "nginx",
        "queue-worker",
        "scheduler",
        "horizon-dashboard",
    ],
    manual: &["horizon-dashboard"],
};

const ENV: Case = Case {
    dir: "env",
    files: &["supervisord.conf"],
    env: &[
        ("APP_ENV", "production"),
        ("LOG_LEVEL", "info"),
        ("APP_HOME", "@DIR@"),
        ("APP_USER", "nobody"),
        ("APP_MODULE", "app.wsgi:application"),
        ("HTTP_PORT", "8080"),
        ("UWSGI_PROCESSES", "4"),
        ("DATABASE_URL", "postgres://db/app"),
        ("REDIS_URL", "redis://redis:6379/0"),
        ("RQ_WORKERS", "3"),
    ],
    names: &["uwsgi", "rq-worker.0", "rq-worker.1", "rq-worker.2"],
    manual: &[],
};

const NUMPROCS: Case = Case {
    dir: "numprocs",
    files: &["supervisord.conf"],
    env: &[],
    names: &["celery.0", "celery.1", "celery.2", "celery.3"],
    manual: &[],
};

const INCLUDE: Case = Case {
    dir: "include",
    files: &["supervisord.conf"],
    env: &[],
    names: &["web", "worker"],
    manual: &[],
};

const PROCFILE: Case = Case {
    dir: "procfile",
    files: &["Procfile"],
    env: &[("PORT", "5000")],
    names: &["release", "web", "worker", "beat"],
    manual: &[],
};

const SYSTEMD: Case = Case {
    dir: "systemd",
    files: &["shop.service", "shop-celery.service", "shop.target"],
    env: &[],
    names: &["shop", "shop-celery"],
    manual: &[],
};

const NOTIFY: Case = Case {
    dir: "notify",
    files: &["api.service"],
    env: &[],
    names: &["api"],
    manual: &[],
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/import")
}

/// A copy of the case's folder with `@DIR@` replaced by the copy's path.
fn prepare(case: &Case) -> PathBuf {
    let dir = temp_dir(&format!("import-{}", case.dir));
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixtures().join(case.dir).join("."))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    substitute(&dir, &dir);
    dir
}

fn substitute(folder: &Path, dir: &Path) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            substitute(&path, dir);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            if text.contains("@DIR@") {
                std::fs::write(&path, text.replace("@DIR@", dir.to_str().unwrap())).unwrap();
            }
        }
    }
}

/// `rinit ARGS` in `dir`, with the case's environment.
fn in_dir(mut cmd: Command, case: &Case, dir: &Path) -> Command {
    cmd.current_dir(dir);
    for (key, value) in case.env {
        cmd.env(key, value.replace("@DIR@", dir.to_str().unwrap()));
    }
    cmd
}

/// The case imported in its copy: (copy, stdout, stderr).
fn import(case: &Case) -> (PathBuf, String, String) {
    let dir = prepare(case);
    let mut args = vec!["import"];
    args.extend(case.files);
    let done = run(in_dir(plain(&args), case, &dir));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let lines = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    (dir, lines(&done.out), lines(&done.err))
}

fn golden(case: &Case) {
    let (dir, out, err) = import(case);
    for (text, name) in [(out, "expected.toml"), (err, "expected.err")] {
        let text = text.replace(dir.to_str().unwrap(), "@DIR@");
        let path = fixtures().join(case.dir).join(name);
        if std::env::var_os("RINIT_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, expected, "{} differs from the import", path.display());
    }
}

/// `toml` with `[rinit] KEY = VALUE` added, in its `[rinit]` table if it has one.
fn with_rinit_key(toml: &str, line: &str) -> String {
    match toml.split_once("\n[rinit]\n") {
        Some((before, after)) => format!("{before}\n[rinit]\n{line}\n{after}"),
        None => format!("[rinit]\n{line}\n{toml}"),
    }
}

fn check(case: &Case) {
    let (dir, out, _) = import(case);
    let config = dir.join("imported.toml");
    std::fs::write(&config, out).unwrap();
    let done = run(in_dir(
        plain(&["check", "-c", config.to_str().unwrap()]),
        case,
        &dir,
    ));
    assert_eq!(done.code(), 0, "{:?} {:?}", done.out, done.err);
}

/// The import run by rinit as PID 1 (with a control socket of its own):
/// every program comes up, then SIGTERM stops them all cleanly.
fn runs(case: &Case) {
    let (dir, out, _) = import(case);
    let config = dir.join("run.toml");
    let socket = dir.join("rinit.sock");
    let line = format!("control_socket = {:?}", socket.to_str().unwrap());
    std::fs::write(&config, with_rinit_key(&out, &line)).unwrap();
    let config = config.to_str().unwrap();
    let running = Running::start(in_dir(pid1(&["-c", config]), case, &dir));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let states = status(case, &dir, config);
        let up = |(name, state, _): &(String, String, u64)| match case.manual.contains(&name.as_str()) {
            true => state == "stopped",
            // Not "running": a notify program is up once it has said so.
            false => state == "ready" || state == "done",
        };
        if !states.is_empty() && states.iter().all(up) {
            let names: Vec<&str> = states.iter().map(|s| s.0.as_str()).collect();
            assert_eq!(names, case.names);
            assert!(states.iter().all(|s| s.2 == 0), "restarted: {states:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not all up: {states:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    send(running.rinit_pid(), libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
}

/// (name, state, restarts) of each instance, or nothing while the control
/// socket is not up yet.
fn status(case: &Case, dir: &Path, config: &str) -> Vec<(String, String, u64)> {
    if UnixStream::connect(dir.join("rinit.sock")).is_err() {
        return Vec::new();
    }
    let done = run(in_dir(plain(&["status", "--json", "-c", config]), case, dir));
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&done.out.concat()) else {
        return Vec::new();
    };
    let field = |i: &serde_json::Value, key: &str| i[key].as_str().unwrap_or_default().to_string();
    let all = json.as_array().cloned().unwrap_or_default();
    all.iter()
        .map(|i| {
            (
                field(i, "name"),
                field(i, "state"),
                i["restarts"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

macro_rules! case_tests {
    ($($case:ident: $golden:ident, $check:ident, $runs:ident;)*) => {$(
        #[test]
        fn $golden() {
            golden(&$case);
        }
        #[test]
        fn $check() {
            check(&$case);
        }
        #[test]
        fn $runs() {
            runs(&$case);
        }
    )*};
}

case_tests! {
    DJANGO: import_django_matches_golden, import_django_passes_check, import_django_runs;
    GROUP: import_group_matches_golden, import_group_passes_check, import_group_runs;
    ENV: import_env_matches_golden, import_env_passes_check, import_env_runs;
    NUMPROCS: import_numprocs_matches_golden, import_numprocs_passes_check, import_numprocs_runs;
    INCLUDE: import_include_matches_golden, import_include_passes_check, import_include_runs;
    PROCFILE: import_procfile_matches_golden, import_procfile_passes_check, import_procfile_runs;
    SYSTEMD: import_systemd_matches_golden, import_systemd_passes_check, import_systemd_runs;
    NOTIFY: import_notify_matches_golden, import_notify_passes_check, import_notify_runs;
}

/// `rinit import ARGS` in a fresh folder holding `files`.
fn import_files(files: &[(&str, &str)], args: &[&str]) -> Finished {
    let dir = temp_dir("import-bad");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut all = vec!["import"];
    all.extend(args);
    let mut cmd = plain(&all);
    cmd.current_dir(&dir);
    run(cmd)
}

/// (files to write, arguments, the one line rinit prints).
type BadCase = (
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    &'static str,
);

#[test]
fn import_bad_input_is_one_line_naming_the_file() {
    let cases: [BadCase; 10] = [
        (&[], &["missing.conf"], "rinit: missing.conf: cannot read it: No such file or directory"),
        (
            &[("notes.txt", "hello world\n")],
            &["notes.txt"],
            "rinit: notes.txt: not a file rinit import reads: expected a supervisord configuration ([program:x] \
             sections), a systemd .service or .target unit, or a Procfile (name: command lines)",
        ),
        (
            &[("supervisord.conf", "[program:web]\ncommand=sleep 1\nthis is not ini\n")],
            &["supervisord.conf"],
            "rinit: supervisord.conf:3: expected [section] or key=value, found \"this is not ini\"",
        ),
        (
            &[("supervisord.conf", "[program:web]\ncommand=sleep 1\nautorestart=maybe\n")],
            &["supervisord.conf"],
            "rinit: supervisord.conf:3: autorestart: expected true or false, not \"maybe\"",
        ),
        (
            &[("supervisord.conf", "[program:web]\ncommand=sleep 1\nenvironment=A=\"1\n")],
            &["supervisord.conf"],
            "rinit: supervisord.conf:3: environment: a quote is not closed, not \"A=\\\"1\"",
        ),
        (
            &[("supervisord.conf", "[program:web]\nuser=www-data\n")],
            &["supervisord.conf"],
            "rinit: supervisord.conf: [program:web] has no command=",
        ),
        (
            &[("web.service", "[Service]\nType=simple\n")],
            &["web.service"],
            "rinit: web.service: no ExecStart=: rinit needs the command to run",
        ),
        (
            &[("Procfile", "web: gunicorn app\nweb: bin/web\n")],
            &["Procfile"],
            "rinit: Procfile:2: a second program or group named web",
        ),
        (
            &[("supervisord.conf", "[program:web]\ncommand=a\n[group:web]\nprograms=web\n")],
            &["supervisord.conf"],
            "rinit: supervisord.conf: a second program or group named web",
        ),
        (
            &[("Procfile", "web: gunicorn app\nworker celery\n")],
            &["Procfile"],
            "rinit: Procfile:2: expected a Procfile line name: command, found \"worker celery\"",
        ),
    ];
    for (files, args, message) in cases {
        let done = import_files(files, args);
        assert_eq!(done.code(), 2, "{args:?}");
        assert_eq!(done.err, [message]);
        assert!(done.out.is_empty(), "{:?}", done.out);
    }
    let done = import_files(&[], &[]);
    assert_eq!(done.code(), 2);
    assert_eq!(
        done.err,
        ["rinit: usage: rinit import [--root DIR] FILE... (a supervisord.conf, systemd units, or a Procfile)"]
    );
}

#[test]
fn import_include_matching_nothing_is_a_warning_and_a_comment() {
    let done = import_files(
        &[(
            "supervisord.conf",
            "[include]\nfiles = conf.d/*.conf\n\n[program:web]\ncommand=sleep 100\n",
        )],
        &["supervisord.conf"],
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let warning = "warning: [include] files = conf.d/*.conf matches no file, so its programs are missing";
    assert_eq!(done.err, [format!("rinit: supervisord.conf:1: {warning}")]);
    assert_eq!(
        done.out,
        [
            "# rinit import of supervisord.conf",
            &format!("# rinit import: {warning}"),
            "",
            "[program.web]",
            "command = \"sleep 100\"",
        ]
    );
}
