//! Values never reach rinit's messages or `check`'s plan: every key that
//! takes `${VAR}` is shown as written, and an error about an expanded key
//! names the variable. The secrets come from each layer a value can come
//! from ([env], env_file, env, rinit's environment).

use crate::common::*;

/// Values that must never be printed, and where each comes from.
const SECRETS: [&str; 4] = [
    "s3cret-from-env-table",
    "s3cret-from-env-file",
    "pw-s3cret-from-env-file",
    "s3cret-from-rinit",
];

#[track_caller]
fn assert_no_secret(what: &str, done: &Finished) {
    for line in done.out.iter().chain(&done.err) {
        for secret in SECRETS {
            assert!(!line.contains(secret), "{what}: {secret:?} printed in {line:?}");
        }
    }
}

fn config(dir: &std::path::Path, keys: &str) -> std::path::PathBuf {
    std::fs::write(dir.join(".env"), "TOKEN=s3cret-from-env-file\n").unwrap();
    let file = dir.join("rinit.toml");
    let text = format!(
        "[rinit]\ncontrol_socket = \"\"\n[env]\nDB = \"s3cret-from-env-table\"\n\
         [program.web]\nenv_file = \".env\"\nenv = {{ PW = \"pw-${{TOKEN}}\" }}\nrestart = \"no\"\n{keys}"
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn check(file: &std::path::Path) -> Finished {
    let mut command = plain(&["check", "-c", file.to_str().unwrap()]);
    command.env("FROM_RINIT", "s3cret-from-rinit");
    run(command)
}

#[test]
fn check_shows_commands_users_and_directories_as_written() {
    let dir = temp_dir("secrets-plan");
    let file = config(
        &dir,
        "command = [\"/bin/echo\", \"--db=${DB}\", \"${TOKEN}\", \"${PW}\", \"${FROM_RINIT}\"]\n\
         directory = \"${DIRECTORY:-/tmp}\"\nuser = \"${APP_USER:-nobody}\"\n",
    );
    let done = check(&file);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_no_secret("plan", &done);
    assert_has_line(
        &done.out,
        "web: /bin/echo '--db=${DB}' '${TOKEN}' '${PW}' '${FROM_RINIT}'",
    );
    assert!(
        done.out.iter().any(|line| line
            .contains("user ${APP_USER:-nobody} (uid 65534, gid 65534), directory ${DIRECTORY:-/tmp},")),
        "{:?}",
        done.out
    );
}

#[test]
fn errors_about_expanded_keys_name_the_variable_not_its_value() {
    let dir = temp_dir("secrets-errors");
    // Each key on its own, so that each error is reached.
    for (keys, expected) in [
        (
            "command = [\"/bin/true\"]\nuser = \"${TOKEN}\"\n",
            "key user: no user \"${TOKEN}\" in /etc/passwd",
        ),
        (
            "command = [\"/bin/true\"]\ndirectory = \"/${DB}\"\n",
            "key directory: \"/${DB}\": No such file or directory",
        ),
        (
            "command = [\"/bin/true\"]\nready = { tcp = \"${PW}:80\" }\n",
            "key ready: tcp: \"${PW}:80\" is not an address",
        ),
        (
            "command = [\"/bin/true\"]\nhealth = { http = \"${FROM_RINIT}/x\" }\n",
            "key health: http: \"${FROM_RINIT}/x\" is not IP:PORT/path",
        ),
        (
            "command = [\"/${DB}/bin\"]\n",
            "key command: \"/${DB}/bin\": No such file or directory",
        ),
        (
            "command = [\"${TOKEN}\"]\n",
            "key command: \"${TOKEN}\": command not found in PATH",
        ),
    ] {
        let file = config(&dir, keys);
        let done = check(&file);
        assert_eq!(done.code(), 2, "{keys}: {:?}", done.out);
        assert_no_secret(keys, &done);
        assert!(
            done.err.iter().any(|line| line.contains(expected)),
            "{keys}: expected {expected:?} in {:?}",
            done.err
        );
    }
}

#[test]
fn a_command_that_cannot_run_is_named_as_written_at_start() {
    let dir = temp_dir("secrets-start");
    let file = config(&dir, "command = [\"${FROM_RINIT}\"]\n");
    let mut command = pid1(&["-c", file.to_str().unwrap()]);
    command.env("FROM_RINIT", "/nonexistent/s3cret-from-rinit");
    let done = run(command);
    assert_eq!(done.code(), 1, "{:?}", done.err);
    assert_no_secret("start", &done);
    assert_has_line(
        &done.err,
        "rinit: web: cannot run \"${FROM_RINIT}\": No such file or directory",
    );
}
