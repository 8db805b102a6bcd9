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
             sections), a systemd .service or .target unit, a Procfile (name: command lines) or a crontab (five fields or @daily, then a command)",
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
        ["rinit: usage: rinit import [--root DIR] [--split DIR] FILE... (a supervisord.conf, systemd units, a Procfile or a crontab)"]
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

/// Prints its first argument, then each other in brackets, then PORT and
/// DATA: what a program got, in one line.
const SHOW: &str =
    "#!/bin/sh\ntag=$1; shift\necho \"$tag $(printf '[%s]' \"$@\") PORT=${PORT-unset} DATA=${DATA-unset}\"\n";

/// A fresh folder holding `files` (`@DIR@` replaced by its path) and the
/// `show` script.
fn folder(tag: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = temp_dir(tag);
    let path = dir.join("show");
    std::fs::write(&path, SHOW).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text.replace("@DIR@", dir.to_str().unwrap())).unwrap();
    }
    dir
}

/// `rinit import ARGS` in `dir`.
fn import_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut all = vec!["import"];
    all.extend(args);
    let mut cmd = plain(&all);
    cmd.current_dir(dir).envs(env.iter().copied());
    run(cmd)
}

/// `toml` run by rinit as PID 1 in `dir` (no control socket) until every
/// program has ended: its exit code and its stdout lines, sorted.
fn run_imported(dir: &Path, toml: &[String], env: &[(&str, &str)]) -> (i32, Vec<String>) {
    let config = dir.join("imported.toml");
    std::fs::write(&config, with_rinit_key(&toml.join("\n"), "control_socket = \"\"")).unwrap();
    let mut cmd = pid1(&["-c", config.to_str().unwrap()]);
    cmd.current_dir(dir).envs(env.iter().copied());
    let done = run(cmd);
    let mut out = done.out.clone();
    out.sort();
    (done.code(), out)
}

/// The one finding line that starts with `start`.
#[track_caller]
fn finding<'a>(err: &'a [String], start: &str) -> &'a str {
    let found: Vec<&String> = err.iter().filter(|l| l.starts_with(start)).collect();
    assert_eq!(found.len(), 1, "one line {start:?} in {err:?}");
    found[0]
}

/// This process's uid, as `user` may name it whoever runs the tests.
fn uid() -> String {
    let uids = proc_status(std::process::id() as i32, "Uid");
    uids.split_whitespace().next().unwrap().to_string()
}

#[test]
fn import_supervisord_env_is_split_into_words_as_supervisord_splits_it() {
    // Weblate's %(ENV_CELERY_MAIN_OPTIONS)s and Laravel Sail's whole
    // command from the environment.
    let conf = "[supervisord]\nnodaemon=true\nuser=root\n\n\
        [program:celery-main]\n\
        command=@DIR@/show celery --loglevel=%(ENV_CELERY_LOG)s %(ENV_CELERY_MAIN_OPTIONS)s \"%(ENV_QUOTED)s\" %(ENV_EMPTY)s --hostname=celery-main@%%h\n\
        autorestart=false\nstartsecs=0\nstopwaitsecs=%(ENV_STOP_WAIT)s\nautostart=%(ENV_AUTOSTART)s\n\n\
        [program:php]\ncommand=%(ENV_SUPERVISOR_PHP_COMMAND)s\nuser=%(ENV_SUPERVISOR_PHP_USER)s\n\
        environment=LARAVEL_SAIL=\"1\"\nautorestart=false\nstartsecs=0\n";
    let dir = folder("import-env-split", &[("supervisord.conf", conf)]);
    let php = format!("{}/show php -d variables_order=EGPCS", dir.display());
    let uid = uid();
    let env = [
        ("CELERY_LOG", "info"),
        ("CELERY_MAIN_OPTIONS", "--beat  --queues=a,b *"),
        ("QUOTED", "x  y"),
        ("EMPTY", ""),
        ("STOP_WAIT", "30"),
        ("AUTOSTART", "true"),
        ("SUPERVISOR_PHP_COMMAND", php.as_str()),
        ("SUPERVISOR_PHP_USER", uid.as_str()),
    ];
    let done = import_in(&dir, &["supervisord.conf"], &env);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let show = format!("{}/show", dir.display());
    assert_has_line(
        &done.out,
        &format!(
            "command = [\"sh\", \"-c\", \"set -f; exec {show} celery --loglevel=$CELERY_LOG $CELERY_MAIN_OPTIONS \\\"$QUOTED\\\" $EMPTY --hostname=celery-main@%h\"]"
        ),
    );
    assert_eq!(
        finding(&done.err, "rinit: supervisord.conf:9: "),
        "rinit: supervisord.conf:9: warning: program celery-main: stopwaitsecs=%(ENV_STOP_WAIT)s dropped: its value is \
         known only when the container starts, and rinit's stop_timeout takes no variables; the default is used: stop_timeout = \"7s\""
    );
    assert!(finding(
        &done.err,
        "rinit: supervisord.conf:10: warning: program celery-main: autostart=%(ENV_AUTOSTART)s dropped"
    )
    .ends_with("the default is used: autostart = true"));
    assert!(finding(&done.err, "rinit: supervisord.conf: note: program celery-main: ").contains(
        "command runs under sh -c, so that sh splits %(ENV_CELERY_LOG)s, %(ENV_CELERY_MAIN_OPTIONS)s, %(ENV_EMPTY)s into words as supervisord does"
    ));
    assert!(finding(&done.err, "rinit: supervisord.conf: note: program php: ")
        .contains("%(ENV_SUPERVISOR_PHP_COMMAND)s"));
    let (code, out) = run_imported(&dir, &done.out, &env);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        [
            "celery [--loglevel=info][--beat][--queues=a,b][*][x  y][--hostname=celery-main@%h] PORT=unset DATA=unset",
            "php [-d][variables_order=EGPCS] PORT=unset DATA=unset",
        ]
    );
}

#[test]
fn import_procfile_lines_run_as_sh_runs_them() {
    let procfile = "web: PORT=3000 ./show web $OPTS # the worker\n\
        tilde: ./show tilde ~/x '$HOME' \"q  r\"\n\
        glob: ./show glob *.txt [%s]\n\
        chain: ./show one && ./show two || ./show never\n\
        plain: ./show plain a b\n";
    let dir = folder("import-procfile-sh", &[("Procfile", procfile), ("a.txt", "")]);
    let env = [("OPTS", "a  b"), ("HOME", "/home/u")];
    let done = import_in(&dir, &["Procfile"], &env);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let web = done.out.iter().position(|l| l == "[program.web]").unwrap();
    assert_eq!(
        done.out[web + 1],
        "command = [\"sh\", \"-c\", \"PORT=3000 exec ./show web $OPTS # the worker\"]"
    );
    assert_has_line(&done.out, "command = \"./show plain a b\"");
    assert_has_line(
        &done.out,
        "command = [\"sh\", \"-c\", \"./show one && ./show two || ./show never\"]",
    );
    let (code, out) = run_imported(&dir, &done.out, &env);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        [
            "glob [a.txt][[%s]] PORT=unset DATA=unset",
            "one [] PORT=unset DATA=unset",
            "plain [a][b] PORT=unset DATA=unset",
            "tilde [/home/u/x][$HOME][q  r] PORT=unset DATA=unset",
            "two [] PORT=unset DATA=unset",
            "web [a][b] PORT=3000 DATA=unset",
        ]
    );
}

#[test]
fn import_systemd_template_instances_become_programs() {
    let unit = |exec: &str| format!("[Unit]\nDescription=%i\n\n[Service]\nType=oneshot\nExecStart={exec}\n");
    let worker = unit("@DIR@/show worker%i");
    let job = unit("@DIR@/show job-%i");
    let same = unit("@DIR@/show same");
    let path = unit("@DIR@/show path %i %I");
    let target = "[Unit]\nWants=worker@0.service worker@1.service worker@2.service\n\
        Wants=job@1.service job@2.service job@3.service same@1.service same@2.service\n";
    let dir = folder(
        "import-templates",
        &[
            ("worker@.service", &worker),
            ("job@.service", &job),
            ("same@.service", &same),
            ("path@.service", &path),
            ("never@.service", &unit("/bin/true")),
            ("app.target", target),
        ],
    );
    let files = [
        "worker@.service",
        "job@.service",
        "same@.service",
        "path@.service",
        "never@.service",
        "app.target",
        "path@srv-www\\x2d1.service",
    ];
    let done = import_in(&dir, &files, &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let worker_at = done.out.iter().position(|l| l == "[program.worker]").unwrap();
    assert_eq!(
        done.out[worker_at + 2..worker_at + 5],
        [
            "command = \"@DIR@/show worker${RINIT_INSTANCE}\"".replace("@DIR@", dir.to_str().unwrap()),
            "type = \"oneshot\"".into(),
            "instances = 3".into()
        ]
    );
    assert_has_line(
        &done.out,
        "programs = [\"worker\", \"job-1\", \"job-2\", \"job-3\", \"same\"]",
    );
    assert_eq!(
        finding(&done.err, "rinit: never@.service: "),
        "rinit: never@.service: warning: never@.service is a template that no given unit wants and no instance was \
         named: no program; name its instances on the command line (never@1.service) or in a target's Wants="
    );
    let (code, out) = run_imported(&dir, &done.out, &[]);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        [
            "job-1 [] PORT=unset DATA=unset",
            "job-2 [] PORT=unset DATA=unset",
            "job-3 [] PORT=unset DATA=unset",
            "path [srv-www\\x2d1][srv/www-1] PORT=unset DATA=unset",
            "same [] PORT=unset DATA=unset",
            "same [] PORT=unset DATA=unset",
            "worker0 [] PORT=unset DATA=unset",
            "worker1 [] PORT=unset DATA=unset",
            "worker2 [] PORT=unset DATA=unset",
        ]
    );
}

#[test]
fn import_systemd_oneshot_runs_every_exec_start_in_order() {
    let unit = "[Service]\nType=oneshot\nExecStart=@DIR@/show first 'a b'\nExecStart=-/bin/false\n\
        ExecStart=@DIR@/show second $$HOME\n";
    let dir = folder("import-oneshot", &[("setup.service", unit)]);
    let done = import_in(&dir, &["setup.service"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let show = format!("{}/show", dir.display());
    assert_has_line(
        &done.out,
        &format!("command = [\"sh\", \"-c\", \"{show} first 'a b' && (/bin/false || true) && exec {show} second '$HOME'\"]"),
    );
    let (code, out) = run_imported(&dir, &done.out, &[]);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        [
            "first [a b] PORT=unset DATA=unset",
            "second [$HOME] PORT=unset DATA=unset",
        ]
    );
}

#[test]
fn import_systemd_specifiers_resolve_before_escaping() {
    let unit =
        "[Service]\nType=oneshot\nEnvironment=DATA=%h/data PORT=${LITERAL}%%\nExecStart=@DIR@/show %p %n\n";
    let dir = folder("import-specifiers", &[("data.service", unit)]);
    let env = [("HOME", "/home/app")];
    let done = import_in(&dir, &["data.service"], &env);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(
        &done.out,
        "env = { DATA = \"${HOME}/data\", PORT = \"$${LITERAL}%\" }",
    );
    let (code, out) = run_imported(&dir, &done.out, &env);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out, ["data [data.service] PORT=${LITERAL}% DATA=/home/app/data"]);
}

#[test]
fn import_systemd_before_becomes_after_on_the_other_side() {
    let first = "[Unit]\nBefore=second.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n";
    let second = "[Service]\nExecStart=/bin/sleep 1\n";
    let dir = folder(
        "import-before",
        &[("first.service", first), ("second.service", second)],
    );
    let done = import_in(&dir, &["second.service", "first.service"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let at = done.out.iter().position(|l| l == "[program.second]").unwrap();
    assert_eq!(
        done.out[at + 1..at + 3],
        ["command = \"/bin/sleep 1\"", "after = [\"first\"]"]
    );
    let config = dir.join("imported.toml");
    std::fs::write(&config, done.out.join("\n")).unwrap();
    let plan = run(plain(&["check", "-c", config.to_str().unwrap()]));
    assert_eq!(plan.code(), 0, "{:?}", plan.err);
    let second = plan.out.iter().position(|l| l.starts_with("second:")).unwrap();
    assert!(plan.out[second + 1].contains("after first"), "{:?}", plan.out);
}

#[test]
fn import_stop_timeouts_raise_shutdown_timeout() {
    let conf = "[program:web]\ncommand=sleep 100\nstopwaitsecs=20\n\n\
        [program:worker]\ncommand=sleep 100\nstopwaitsecs=600\npriority=20\n\n\
        [program:beat]\ncommand=sleep 100\npriority=30\n";
    let dir = folder("import-timeouts", &[("supervisord.conf", conf)]);
    let done = import_in(&dir, &["supervisord.conf"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // priority: web (999) after beat (30) after worker (20); web stops first.
    assert_eq!(done.out[2..5], ["", "[rinit]", "shutdown_timeout = \"629s\""]);
    assert_eq!(
        finding(&done.err, "rinit: supervisord.conf: warning: "),
        "rinit: supervisord.conf: warning: the stop timeouts of web (20s) → beat (7s) → worker (600s), which stop \
         one after another, add up to 627s, more than rinit's default shutdown_timeout (9s), so [rinit] \
         shutdown_timeout = \"629s\" is set; give the container as long to stop, or it is killed first: docker stop \
         -t 630 (docker run --stop-timeout 630, Compose stop_grace_period: 630s), Kubernetes \
         terminationGracePeriodSeconds: 630"
    );
    let config = dir.join("imported.toml");
    std::fs::write(&config, done.out.join("\n")).unwrap();
    let plan = run(plain(&["check", "-c", config.to_str().unwrap()]));
    assert_eq!(plan.code(), 0, "{:?}", plan.err);
    assert!(plan.err.is_empty(), "check warns: {:?}", plan.err);
}

/// Mastodon's hardened web unit, shortened: 12 sandboxing settings.
const MASTODON_WEB: &str = "[Unit]\nDescription=mastodon-web\nAfter=network.target\n\n[Service]\nType=simple\n\
    User=@UID@\nWorkingDirectory=@DIR@\nEnvironment=\"RAILS_ENV=production\"\nEnvironment=\"PORT=3000\"\n\
    ExecStart=@DIR@/show puma -C config/puma.rb\nExecReload=/bin/kill -SIGUSR1 $MAINPID\nTimeoutSec=15\nRestart=always\n\
    # Proc filesystem\nProcSubset=pid\nProtectProc=invisible\n# Capabilities\nCapabilityBoundingSet=\n\
    # Security\nNoNewPrivileges=true\n# Sandboxing\nProtectSystem=strict\nPrivateTmp=true\nPrivateDevices=true\n\
    PrivateUsers=true\nProtectHostname=true\nRestrictAddressFamilies=AF_INET\nRestrictAddressFamilies=AF_INET6\n\
    SystemCallFilter=~@cpu-emulation @debug\nSystemCallFilter=@chown\nLimitNOFILE=65536\n\n\
    [Install]\nWantedBy=multi-user.target\n";

#[test]
fn import_notes_are_one_line_per_program_and_stay_out_of_the_toml() {
    let unit = MASTODON_WEB.replace("@UID@", &uid());
    let dir = folder("import-mastodon", &[("mastodon-web.service", &unit)]);
    let done = import_in(&dir, &["mastodon-web.service"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(done.err.len(), 2, "{:?}", done.err);
    assert!(finding(
        &done.err,
        "rinit: mastodon-web.service: warning: the stop timeout of mastodon-web (15s)"
    )
    .contains("shutdown_timeout = \"17s\""));
    assert_eq!(
        finding(&done.err, "rinit: mastodon-web.service: note: "),
        "rinit: mastodon-web.service: note: program mastodon-web: dropped 12 settings that change nothing in a \
             container: ProcSubset, ProtectProc, CapabilityBoundingSet, NoNewPrivileges, ProtectSystem, PrivateTmp, \
             PrivateDevices, PrivateUsers, ProtectHostname, RestrictAddressFamilies, SystemCallFilter, WantedBy; \
             dropped \
             dependencies on units not imported (in a container, wait for another container's service with a ready \
             check): network.target; ExecReload dropped: reload it with rinit signal SIGUSR1 mastodon-web"
    );
    // Only the shutdown_timeout warning is in the TOML.
    let comments: Vec<&String> = done
        .out
        .iter()
        .filter(|l| l.starts_with("# rinit import:"))
        .collect();
    assert_eq!(comments.len(), 1, "{:?}", done.out);
    let config = dir.join("imported.toml");
    std::fs::write(&config, done.out.join("\n")).unwrap();
    let plan = run(plain(&["check", "-c", config.to_str().unwrap()]));
    assert_eq!(plan.code(), 0, "{:?}", plan.err);
    assert!(plan.err.is_empty(), "{:?}", plan.err);
}

#[test]
fn import_errors_are_printed_and_exit_1() {
    // celery's own systemd unit, Zulip's fcgi-program, and a command that
    // runs celery multi: each an error; the TOML is still printed.
    let celery = "[Unit]\nDescription=Celery Service\nAfter=network.target\n\n[Service]\nType=forking\nUser=celery\n\
        Group=celery\nEnvironmentFile=/etc/conf.d/celery\nWorkingDirectory=/opt/celery\n\
        ExecStart=/bin/sh -c '${CELERY_BIN} -A $CELERY_APP multi start $CELERYD_NODES \\\n    \
        --pidfile=${CELERYD_PID_FILE} --logfile=${CELERYD_LOG_FILE} --loglevel=\"${CELERYD_LOG_LEVEL}\" $CELERYD_OPTS'\n\
        ExecStop=/bin/sh -c '${CELERY_BIN} multi stopwait $CELERYD_NODES --pidfile=${CELERYD_PID_FILE}'\nRestart=always\n";
    let dir = folder("import-errors", &[("celery.service", celery)]);
    let done = import_in(&dir, &["celery.service"], &[]);
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert!(finding(&done.err, "rinit: celery.service:6: error: program celery: Type=forking: ").contains(
        "celery multi starts its workers in the background and exits 0, so rinit would see the program end while the \
         workers run unsupervised: run each worker in the foreground instead, celery -A APP worker -n NAME@%h"
    ));
    assert!(finding(
        &done.err,
        "rinit: celery.service:13: warning: program celery: ExecStop="
    )
    .contains("rinit does not run it"));
    assert_has_line(&done.out, "[program.celery]");
    assert!(
        done.out
            .iter()
            .any(|l| l.starts_with("# rinit import: error: Type=forking")),
        "{:?}",
        done.out
    );

    let zulip = "[fcgi-program:zulip-django]\ncommand=nice -n5 /home/zulip/deployments/current/manage.py runfcgi daemonize=False\n\
        socket=tcp://localhost:9993\nprocess_name=zulip-django\n\n[program:worker]\ncommand=celery -A app multi start w1\n";
    let dir = folder("import-fcgi", &[("zulip.conf", zulip)]);
    let done = import_in(&dir, &["zulip.conf"], &[]);
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert!(finding(
        &done.err,
        "rinit: zulip.conf:1: error: [fcgi-program:zulip-django] dropped: "
    )
    .contains("supervisord opens its socket (tcp://localhost:9993) and hands it to the program"));
    assert!(finding(
        &done.err,
        "rinit: zulip.conf:7: error: program worker: celery multi"
    )
    .contains("in the foreground"));
    assert_has_line(&done.out, "command = \"celery -A app multi start w1\"");
}

#[test]
fn import_socket_activation_is_a_warning_or_an_error() {
    let socket = "[Unit]\nDescription=gunicorn socket\n\n[Socket]\nListenStream=/run/gunicorn.sock\n\n[Install]\nWantedBy=sockets.target\n";
    let service = |bind: &str| {
        format!(
            "[Unit]\nDescription=gunicorn daemon\nRequires=gunicorn.socket\nAfter=network.target\n\n[Service]\n\
             ExecStart=/srv/venv/bin/gunicorn --access-logfile - --workers 3{bind} app.wsgi:application\n"
        )
    };
    let binds = service(" --bind unix:/run/gunicorn.sock");
    let dir = folder(
        "import-socket",
        &[("gunicorn.socket", socket), ("gunicorn.service", &binds)],
    );
    let done = import_in(&dir, &["gunicorn.socket", "gunicorn.service"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        finding(&done.err, "rinit: gunicorn.service: warning: "),
        "rinit: gunicorn.service: warning: program gunicorn: socket activation by gunicorn.socket is lost: the program \
         binds ListenStream=/run/gunicorn.sock itself (its command names the address), and connections that come \
         before it is up are refused instead of queued"
    );
    let inherits = service("");
    let dir = folder(
        "import-socket-fd",
        &[("gunicorn.socket", socket), ("gunicorn.service", &inherits)],
    );
    let done = import_in(&dir, &["gunicorn.socket", "gunicorn.service"], &[]);
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert!(
        finding(&done.err, "rinit: gunicorn.service: error: program gunicorn: ").contains(
            "gunicorn.socket opens ListenStream=/run/gunicorn.sock and hands the socket to the program"
        )
    );
}

#[test]
fn import_listener_that_stops_supervisord_suggests_critical() {
    // Selenium's images stop supervisord when their program exits.
    let conf = "[supervisord]\nnodaemon=true\n\n[program:selenium-standalone]\ncommand=/opt/bin/start-selenium-standalone.sh\n\
        autorestart=false\n\n[program:xvfb]\ncommand=/opt/bin/start-xvfb.sh\nautorestart=true\n\n\
        [eventlistener:selenium-exit]\n\
        command=bash -c \"printf 'READY\\n'; while read line; do kill -s SIGINT $(cat /var/run/supervisor/supervisord.pid); done\"\n\
        events=PROCESS_STATE_EXITED\n";
    let dir = folder("import-listener", &[("selenium.conf", conf)]);
    let done = import_in(&dir, &["selenium.conf"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        finding(&done.err, "rinit: selenium.conf:12: "),
        "rinit: selenium.conf:12: warning: [eventlistener:selenium-exit] events=PROCESS_STATE_EXITED dropped: it stops \
         supervisord whenever a program exits or stops, even one that would be restarted; rinit ends the container when \
         a critical program ends for good: for the same, set critical = true and restart = \"no\" on \
         selenium-standalone, xvfb"
    );
    assert!(
        !done.out.iter().any(|l| l.starts_with("critical")),
        "{:?}",
        done.out
    );
}

#[test]
fn import_refuses_rinit_toml() {
    let toml = "# mine\n[rinit]\nshutdown_timeout = \"30s\"\n\n[program.web]\ncommand = \"sleep 1\"\n";
    let dir = folder("import-toml", &[("rinit.toml", toml), ("rinit.conf", toml)]);
    for file in ["rinit.toml", "rinit.conf"] {
        let done = import_in(&dir, &[file], &[]);
        assert_eq!(done.code(), 2, "{:?}", done.err);
        assert_eq!(
            done.err,
            [format!(
                "rinit: {file}: already rinit's format ([program.NAME] or [rinit] tables): nothing to import; check it \
                 with rinit check -c {file}"
            )]
        );
        assert!(done.out.is_empty(), "{:?}", done.out);
    }
}

#[test]
fn import_root_reads_absolute_includes_from_the_image() {
    let conf = "[supervisord]\nnodaemon=true\n\n[include]\nfiles = /etc/supervisor/conf.d/*.conf\n";
    let dir = folder("import-root", &[("supervisord.conf", conf)]);
    let conf_d = dir.join("rootfs/etc/supervisor/conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("web.conf"),
        "[program:web]\ncommand=/usr/bin/web --port 80\ndirectory=%(here)s\n",
    )
    .unwrap();
    let done = import_in(&dir, &["--root", "rootfs", "supervisord.conf"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let web = done.out.iter().position(|l| l == "[program.web]").unwrap();
    assert_eq!(
        done.out[web + 1..],
        [
            "command = \"/usr/bin/web --port 80\"",
            "directory = \"/etc/supervisor/conf.d\""
        ]
    );
    let done = import_in(&dir, &["supervisord.conf"], &[]);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        finding(&done.err, "rinit: supervisord.conf:4: "),
        "rinit: supervisord.conf:4: warning: [include] files = /etc/supervisor/conf.d/*.conf matches no file: an \
         absolute path is read on this machine; give the image's files with --root DIR, so its programs are missing"
    );
}

#[test]
fn import_split_keeps_each_included_file_a_file_of_its_own() {
    let dir = prepare(&INCLUDE);
    let split = dir.join("rinit.d");
    let done = run(in_dir(
        plain(&["import", "--split", split.to_str().unwrap(), "supervisord.conf"]),
        &INCLUDE,
        &dir,
    ));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let include = format!("include = [\"{}/*.toml\"]", split.display());
    assert_has_line(&done.out, &include);
    assert!(
        !done.out.iter().any(|l| l.starts_with("[program.")),
        "{:?}",
        done.out
    );
    let mut files: Vec<String> = std::fs::read_dir(&split)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["web.toml", "worker.toml"]);
    let worker = std::fs::read_to_string(split.join("worker.toml")).unwrap();
    assert!(
        worker.starts_with(&format!(
            "# rinit import of {}/conf.d/worker.conf\n\n[program.worker]\n",
            dir.display()
        )),
        "{worker}"
    );
    // The layout checks and runs as the one file did.
    let config = dir.join("rinit.toml");
    std::fs::write(&config, done.out.join("\n") + "\n").unwrap();
    let checked = run(in_dir(
        plain(&["check", "-c", config.to_str().unwrap()]),
        &INCLUDE,
        &dir,
    ));
    assert_eq!(checked.code(), 0, "{:?}", checked.err);
    assert_has_line(&checked.out, &format!("    from {}/web.toml", split.display()));
    assert_has_line(&checked.out, &format!("    from {}/worker.toml", split.display()));
    // A folder that cannot be made is one error naming it.
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let target = blocked.join("rinit.d");
    let done = run(in_dir(
        plain(&["import", "--split", target.to_str().unwrap(), "supervisord.conf"]),
        &INCLUDE,
        &dir,
    ));
    assert_eq!(done.code(), 2);
    assert_eq!(
        done.err.last().map(String::as_str),
        Some(
            format!(
                "rinit: {}: cannot make the folder: Not a directory (os error 20)",
                target.display()
            )
            .as_str()
        )
    );
}
