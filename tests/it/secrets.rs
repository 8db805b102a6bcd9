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

/// rinit as PID 1 on `text` (in `dir`, no control socket), until it ends.
fn run_config(dir: &std::path::Path, text: &str) -> Finished {
    let file = dir.join("rinit.toml");
    std::fs::write(&file, format!("[rinit]\ncontrol_socket = \"\"\n{text}")).unwrap();
    run(pid1(&["-c", file.to_str().unwrap()]))
}

#[test]
fn a_value_from_a_file_is_read_at_each_start_trimmed_of_one_newline() {
    let dir = temp_dir("env-file-values");
    std::fs::write(dir.join("db_password"), "first-s3cret\n").unwrap();
    std::fs::write(dir.join("shared"), "shared-s3cret\n\n").unwrap();
    // The first run writes the next value: the second run must see it.
    std::fs::write(
        dir.join("app.sh"),
        "printf '[%s] [%s] [%s]\\n' \"$PW\" \"$SHARED\" \"$PLAIN\"\n\
         [ -e done ] && exit 0\necho second-s3cret > db_password\ntouch done\nexit 1\n",
    )
    .unwrap();
    let text = format!(
        "[env]\nSHARED = {{ file = \"shared\" }}\nPLAIN = {{ file = \"shared\" }}\n\
         [program.app]\ncommand = [\"sh\", \"app.sh\"]\ndirectory = {dir:?}\nrestart_delay = \"0\"\n\
         env = {{ PW = {{ file = \"db_password\" }}, PLAIN = \"the program's own\" }}\n",
        dir = dir.display().to_string(),
    );
    let file = dir.join("rinit.toml");
    std::fs::write(&file, format!("[rinit]\ncontrol_socket = \"\"\n{text}")).unwrap();
    // Relative paths are in the configuration's folder, whatever rinit's.
    let mut cmd = pid1(&["-c", "rinit.toml"]);
    cmd.current_dir(&dir);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // One newline taken off (the second of "shared" stays); a plain value
    // of the program's own wins over [env]'s file.
    assert_eq!(
        done.out,
        [
            "[first-s3cret] [shared-s3cret",
            "] [the program's own]",
            "[second-s3cret] [shared-s3cret",
            "] [the program's own]"
        ]
    );
    for line in &done.err {
        assert!(!line.contains("s3cret"), "a value printed: {line}");
    }
}

#[test]
fn a_file_that_cannot_be_read_names_the_variable_and_the_path_never_the_value() {
    let dir = temp_dir("env-file-bad");
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    std::fs::write(dir.join("big"), vec![b'x'; 64 * 1024 + 1]).unwrap();
    std::fs::write(dir.join("nul"), b"s3cret\0tail").unwrap();
    let program = |name: &str, path: &str| {
        format!("[program.{name}]\ncommand = [\"true\"]\nrestart = \"no\"\nenv = {{ TOKEN = {{ file = {path:?} }} }}\n")
    };
    let paths = [
        ("missing", "/run/secrets/none".to_string()),
        ("directory", dir.join("a-directory").display().to_string()),
        ("big", dir.join("big").display().to_string()),
        ("nul", dir.join("nul").display().to_string()),
    ];
    let text: String = paths.iter().map(|(name, path)| program(name, path)).collect();
    let done = run_config(&dir, &text);
    assert_eq!(done.code(), 1);
    for (name, why) in [
        ("missing", "No such file or directory"),
        ("directory", "not a regular file (a directory)"),
        ("big", "larger than 64 KiB"),
        ("nul", "it holds a NUL byte, which no environment variable can"),
    ] {
        let path = &paths.iter().find(|(n, _)| *n == name).unwrap().1;
        let line = format!("rinit: {name}: env TOKEN: cannot read {path}: {why}");
        assert!(done.err.contains(&line), "missing {line}\nin {:#?}", done.err);
    }
    for line in &done.err {
        assert!(!line.contains("s3cret"), "a value printed: {line}");
    }
}

#[test]
fn a_bad_file_value_is_a_configuration_error() {
    let dir = temp_dir("env-file-schema");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        "[program.a]\ncommand = \"true\"\nenv = { A = { path = \"/x\" } }\n\
         [program.b]\ncommand = \"true\"\nenv = { B = { file = \"\" } }\n",
    )
    .unwrap();
    let done = run(plain(&["check", "-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 2);
    let at = |place: &str, rest: &str| format!("rinit: {}:{place}: {rest}", file.display());
    assert_eq!(
        done.err,
        [
            at(
                "3:13",
                "program a: key env: unknown key `path`: expected `file`: { file = \"/run/secrets/NAME\" }"
            ),
            at(
                "6:9",
                "program b: key env: B: the file's path must not be empty or hold a NUL byte"
            ),
        ]
    );
}

#[test]
fn import_reads_load_credential_as_a_value_from_a_file() {
    let dir = temp_dir("env-file-import");
    let unit = dir.join("app.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/usr/bin/app\nLoadCredential=db_password:/run/secrets/db\n",
    )
    .unwrap();
    let done = run(plain(&["import", unit.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(
        &done.out,
        "env = { db_password = { file = \"/run/secrets/db\" } }",
    );
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}:3: warning: program app: LoadCredential=db_password:/run/secrets/db became env db_password = \
             {{ file = \"/run/secrets/db\" }}: the program reads the secret from $db_password, not from \
             $CREDENTIALS_DIRECTORY/db_password",
            unit.display()
        )]
    );
}
