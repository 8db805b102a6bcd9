//! `rinit check` for someone moving from supervisord: every configuration
//! error in one run (at most 50 lines, then one that counts the rest), in
//! file order, the same at start-up; supervisord's words answered with
//! rinit's; misspelt program, user and group names answered with the
//! closest; an environment with an error does not make every variable
//! "not set"; and the shutdown warning only about `stop_timeout`s the file
//! sets.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Writes `text` as `rinit.toml` in a new temp dir, with `@DIR@` standing
/// for that dir; returns (dir, file).
fn config(tag: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let file = dir.join("rinit.toml");
    std::fs::write(&file, text.replace("@DIR@", dir.to_str().unwrap())).unwrap();
    (dir, file)
}

/// `rinit check -c FILE` as a plain process.
fn check(file: &Path) -> Finished {
    run(plain(&["check", "-c", file.to_str().unwrap()]))
}

/// Each of `rests` as the line rinit prints: `rinit: FILE{rest}`.
fn lines(file: &Path, rests: &[&str]) -> Vec<String> {
    rests
        .iter()
        .map(|rest| format!("rinit: {}{rest}", file.display()))
        .collect()
}

/// The users and groups the tests guess from (Debian's www-data).
fn assert_www_data_exists() {
    for path in ["/etc/passwd", "/etc/group"] {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.lines().any(|line| line.starts_with("www-data:")),
            "these tests need a www-data entry in {path}"
        );
    }
}

#[test]
fn every_mistake_in_one_run_in_file_order_at_check_and_at_start() {
    assert_www_data_exists();
    // A valid first program that would leave `marker` if anything started.
    let (dir, file) = config(
        "check-all",
        r#"[program.marker]
command = ["touch", "@DIR@/marker"]

[program.db]
command = "postgres"
stopwaitsecs = 10

[program.web]
command = "gunicorn app"
autorestart = true
after = ["dbb"]
user = "www-date"

[program.worker]
command = "celery worker"
numprocs = 2
restart = "unexpected"
stop_timeout = "7 seconds"
"#,
    );
    let expected = lines(
        &file,
        &[
            ":6:1: program db: key stopwaitsecs: unknown key `stopwaitsecs`: did you mean `stop_timeout`? \
             (supervisord's stopwaitsecs, as a duration: stop_timeout = \"10s\")",
            ":10:1: program web: key autorestart: unknown key `autorestart`: did you mean `restart`? \
             (supervisord's autorestart: true is restart = \"always\", unexpected is \"on-failure\", \
             false is \"no\")",
            ":11:10: program web: key after: no program named \"dbb\": did you mean `\"db\"`?",
            ":12:8: program web: key user: no user \"www-date\" in /etc/passwd: did you mean `\"www-data\"`?",
            ":16:1: program worker: key numprocs: unknown key `numprocs`: did you mean `instances`? \
             (supervisord's numprocs)",
            ":17:11: program worker: key restart: \"unexpected\" is not one of \"no\", \"on-success\", \
             \"on-failure\", \"on-abnormal\", \"on-abort\", \"always\": did you mean `\"on-failure\"`?",
            ":18:16: program worker: key stop_timeout: invalid duration \"7 seconds\": expected e.g. \
             \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
        ],
    );
    let done = check(&file);
    assert_eq!((done.code(), &done.err, &done.out), (2, &expected, &vec![]));
    // rinit as PID 1 refuses the same file with the same lines, and starts nothing.
    let done = run(pid1(&["-c", file.to_str().unwrap()]));
    assert_eq!((done.code(), &done.err, &done.out), (2, &expected, &vec![]));
    assert!(!dir.join("marker").exists(), "a program ran");
}

#[test]
fn sixty_errors_show_fifty_lines_and_one_that_counts_the_rest() {
    let text: String = (0..60)
        .map(|i| format!("[program.p{i}]\ncommand = \"true\"\nrestart_delay = \"soon\"\n\n"))
        .collect();
    let (_dir, file) = config("check-sixty", &text);
    let done = check(&file);
    assert_eq!(
        (done.code(), done.err.len(), done.out.len()),
        (2, 51, 0),
        "{:?}",
        done.err
    );
    let bad = |i: usize| {
        format!(
            "rinit: {}:{}:17: program p{i}: key restart_delay: invalid duration \"soon\": \
             expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
            file.display(),
            4 * i + 3
        )
    };
    // The first fifty in file order, then the count of the rest.
    let expected: Vec<String> = (0..50).map(bad).collect();
    assert_eq!(done.err[..50], expected[..]);
    assert_eq!(
        done.err[50],
        format!("rinit: {}: and 10 more errors", file.display())
    );
}

#[test]
fn supervisords_words_get_rinits() {
    let (_dir, file) = config(
        "check-words",
        r#"[program.a]
command = "x"
autorestart = "unexpected"
numprocs = 2
stopwaitsecs = 10
startsecs = 5
stopasgroup = true
killasgroup = true
environment = "A=1"
priority = 999
startretries = 3
stopsignal = "QUIT"
exitcodes = "0,2"
redirect_stderr = true
stdout_logfile = "/dev/stdout"
stderr_logfile = "/dev/stderr"
directory = "/"

[program.b]
command = "x"
restart = "unexpected"

[program.c]
command = "x"
restart = true

[program.d]
command = "x"
restart = false
"#,
    );
    let unknown = |line: usize, key: &str, hint: &str| {
        format!(":{line}:1: program a: key {key}: unknown key `{key}`: did you mean {hint}")
    };
    let logs = "`output`? (rinit writes no log files: a program's stdout and stderr go to rinit's, \
                or with output = \"prefix\" as \"NAME | line\", for Docker to collect)";
    let restarts = "\"no\", \"on-success\", \"on-failure\", \"on-abnormal\", \"on-abort\", \"always\"";
    let rests = [
        unknown(
            3,
            "autorestart",
            "`restart`? (supervisord's autorestart: true is restart = \"always\", unexpected is \
             \"on-failure\", false is \"no\")",
        ),
        unknown(4, "numprocs", "`instances`? (supervisord's numprocs)"),
        unknown(
            5,
            "stopwaitsecs",
            "`stop_timeout`? (supervisord's stopwaitsecs, as a duration: stop_timeout = \"10s\")",
        ),
        unknown(
            6,
            "startsecs",
            "`ready` or `ready_timeout`? supervisord's startsecs is how long a program must stay up \
             to count as started; rinit counts it started when its `ready` check passes \
             (ready = { tcp = \"127.0.0.1:8000\" }) and gives up after `ready_timeout`",
        ),
        unknown(
            7,
            "stopasgroup",
            "`stop_group`? (supervisord's stopasgroup: stop_group = true)",
        ),
        unknown(
            8,
            "killasgroup",
            "`stop_group`? (rinit's SIGKILL at stop_timeout always goes to the whole process group; \
             stop_group = true sends stop_signal there too)",
        ),
        unknown(
            9,
            "environment",
            "`env`? (supervisord's environment, as a table: env = { KEY = \"value\" })",
        ),
        unknown(
            10,
            "priority",
            "`after`? (rinit has no numeric priorities: after = [\"db\"] starts the program once db \
             is ready, and stops it before db)",
        ),
        unknown(
            11,
            "startretries",
            "`start_limit_burst`? (supervisord's startretries: at most that many starts within \
             start_limit_interval)",
        ),
        unknown(12, "stopsignal", "`stop_signal`? (supervisord's stopsignal)"),
        unknown(13, "exitcodes", "`success_exit_codes`? (supervisord's exitcodes)"),
        unknown(
            14,
            "redirect_stderr",
            "`output`? (output sets where stdout and stderr both go, kept apart; to merge them, \
             command = [\"sh\", \"-c\", \"exec prog 2>&1\"])",
        ),
        unknown(15, "stdout_logfile", logs),
        unknown(16, "stderr_logfile", logs),
        format!(
            ":21:11: program b: key restart: \"unexpected\" is not one of {restarts}: \
             did you mean `\"on-failure\"`?"
        ),
        format!(
            ":25:11: program c: key restart: invalid type: boolean `true`, expected one of \
             {restarts}: did you mean `\"always\"`?"
        ),
        format!(
            ":29:11: program d: key restart: invalid type: boolean `false`, expected one of \
             {restarts}: did you mean `\"no\"`?"
        ),
    ];
    let rests: Vec<&str> = rests.iter().map(String::as_str).collect();
    let done = check(&file);
    assert_eq!(
        (done.code(), done.err, done.out),
        (2, lines(&file, &rests), vec![])
    );
}

#[test]
fn misspelt_program_user_and_group_names_get_the_closest() {
    assert_www_data_exists();
    let (_dir, file) = config(
        "check-names",
        "[program.web]\ncommand = \"x\"\nuser = \"root\"\ngroup = \"www-dat\"\n\n\
         [program.worker]\ncommand = \"x\"\nafter = [\"wbe\", \"zzzzzz\"]\n\n\
         [group.app]\nprograms = [\"web\", \"workr\"]\n",
    );
    let done = check(&file);
    let expected = lines(
        &file,
        &[
            ":4:9: program web: key group: no group \"www-dat\" in /etc/group: did you mean `\"www-data\"`?",
            ":8:10: program worker: key after: no program named \"wbe\": did you mean `\"web\"`?",
            ":8:17: program worker: key after: no program named \"zzzzzz\"",
            ":11:20: group app: key programs: no program named \"workr\" (group \"app\"): \
             did you mean `\"worker\"`?",
        ],
    );
    assert_eq!((done.code(), done.err, done.out), (2, expected, vec![]));
}

#[test]
fn default_stop_timeouts_never_warn_and_set_ones_that_cannot_fit_do() {
    // db <- web <- worker: stopped worker, then web, then db.
    let chain = |db: &str, web: &str, worker: &str| {
        format!(
            "[program.db]\ncommand = \"sleep 1\"\n{db}\n\
             [program.web]\ncommand = \"sleep 1\"\nafter = [\"db\"]\n{web}\n\
             [program.worker]\ncommand = \"sleep 1\"\nafter = [\"web\"]\n{worker}\n"
        )
    };
    // Three defaults (7 s each, 21 s) against the default 9 s: nothing to say.
    let (_dir, file) = config("check-defaults", &chain("", "", ""));
    let done = check(&file);
    assert_eq!((done.code(), done.err), (0, vec![]));
    // Set values that fit (5 s) beside defaults: nothing either.
    let (_dir, file) = config("check-one-set", &chain("stop_timeout = \"5s\"", "", ""));
    let done = check(&file);
    assert_eq!((done.code(), done.err), (0, vec![]));
    // Set values that cannot fit: named alone, web's default left out.
    let (_dir, file) = config(
        "check-set",
        &chain("stop_timeout = \"8s\"", "", "stop_timeout = \"5s\""),
    );
    let done = check(&file);
    assert_eq!(
        (done.code(), done.err),
        (
            0,
            vec![format!(
                "rinit: {}: the stop_timeouts of worker 5s, db 8s, stopped one after another, add up \
                 to 13s, more than shutdown_timeout (9s): a slow stop there ends in SIGKILL to everything",
                file.display()
            )]
        )
    );
}

#[test]
fn an_environment_that_cannot_be_made_does_not_make_every_variable_unset() {
    // [env] A is refused, and b's env_file cannot be read: reporting ${A}
    // and ${FROM_FILE} as not set would point away from the mistakes. The
    // keys that need no variables are still checked.
    let (_dir, file) = config(
        "check-env",
        "[env]\nA = 1\n\n\
         [program.a]\ncommand = \"run ${A}\"\numask = \"999\"\n\n\
         [program.b]\ncommand = \"run ${FROM_FILE}\"\nenv_file = \"missing.env\"\nafter = [\"aa\"]\n",
    );
    let done = check(&file);
    let expected = lines(
        &file,
        &[
            ":2:5: key A: invalid type: integer `1`, expected a string, or { file = \"/run/secrets/NAME\" }",
            ":6:9: program a: key umask: \"999\" is not a umask: expected octal digits up to \"0777\", \
             as in \"022\"",
            &format!(
                ":10:12: program b: key env_file: cannot read {}: No such file or directory",
                file.with_file_name("missing.env").display()
            ),
            ":11:10: program b: key after: no program named \"aa\": did you mean `\"a\"`?",
        ],
    );
    assert_eq!((done.code(), done.err, done.out), (2, expected, vec![]));
}
