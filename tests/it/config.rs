//! Configuration files: every class of configuration error (exact one-line
//! messages with file, line and column), `rinit check`'s start plan, the
//! environment each program gets, its user and its working directory.
//!
//! Errors are checked with `rinit check -c FILE` (a plain process), and a
//! handful again with rinit as a real PID 1 to see that nothing was started.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

// ------------------------------------------------------------------ helpers

/// Writes `text` as `rinit.toml` in a new temp dir, with `@DIR@` standing for
/// that dir; returns (dir, file).
fn config(tag: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let file = dir.join("rinit.toml");
    std::fs::write(&file, text.replace("@DIR@", dir.to_str().unwrap())).unwrap();
    (dir, file)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `rinit check -c FILE` as a plain process.
fn check(file: &Path) -> Finished {
    run(plain(&["check", "-c", path_str(file)]))
}

/// A folder of stand-in executables named `names` (each `exit 0`), for the
/// commands a configuration names, and the PATH that finds them first.
fn stubs(dir: &Path, names: &[&str]) -> String {
    let bin = dir.join("stubs");
    std::fs::create_dir_all(&bin).unwrap();
    for name in names {
        let path = bin.join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

/// The one line rinit prints for a configuration error in `file`; `rest`
/// follows the file name (":LINE:COL: program …").
fn error_line(file: &Path, rest: &str) -> String {
    format!("rinit: {}{rest}", file.display())
}

/// `rinit check` on `text` fails with exit code 2, nothing on stdout, and
/// exactly the line `rinit: FILE{rest}` on stderr (`@DIR@` in `rest` too
/// stands for the config's dir). Returns (dir, file).
#[track_caller]
fn assert_check_error(tag: &str, text: &str, rest: &str) -> (PathBuf, PathBuf) {
    let (dir, file) = config(tag, text);
    let rest = rest.replace("@DIR@", path_str(&dir));
    let done = check(&file);
    assert_eq!(
        (done.code(), done.err, done.out),
        (2, vec![error_line(&file, &rest)], vec![]),
        "rinit check on:\n{text}"
    );
    (dir, file)
}

/// rinit as PID 1 with `-c FILE` (then `extra`) refuses to start: exit 2,
/// the one line on stderr, and `DIR/marker`, which a configured program would
/// have created, does not exist.
#[track_caller]
fn assert_refused_at_start(dir: &Path, file: &Path, extra: &[&str], rest: &str) {
    let mut args = vec!["-c", path_str(file)];
    args.extend_from_slice(extra);
    let rest = rest.replace("@DIR@", path_str(dir));
    let done = run(pid1(&args));
    assert_eq!(
        (done.code(), done.err, done.out),
        (2, vec![error_line(file, &rest)], vec![]),
        "rinit {args:?}"
    );
    assert!(
        !dir.join("marker").exists(),
        "a program ran although the configuration was refused"
    );
}

/// A valid first program that leaves `@DIR@/marker` behind if it ever runs.
/// Three lines, so the program under test starts on line 4.
const MARKER: &str = "[program.marker]\ncommand = [\"touch\", \"@DIR@/marker\"]\n\n";

/// Splits the contents of a /proc/PID/environ copy into sorted `KEY=VALUE`s.
fn environ(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut vars: Vec<String> = String::from_utf8(bytes)
        .unwrap()
        .split('\0')
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    vars.sort();
    vars
}

fn sorted(vars: &[&str]) -> Vec<String> {
    let mut vars: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
    vars.sort();
    vars
}

/// root's home directory as /etc/passwd says.
fn root_home() -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|l| l.strip_prefix("root:"))
        .and_then(|rest| rest.split(':').nth(4))
        .expect("root in /etc/passwd")
        .to_string()
}

/// Copies of /etc/passwd and /etc/group with `passwd` and `group` appended,
/// in `dir`; returns their paths.
fn fake_etc(dir: &Path, passwd: &str, group: &str) -> (PathBuf, PathBuf) {
    // The machine's entries, less those of the names given here (a "redis"
    // user that installing redis-server made).
    let merged = |real: &str, added: &str| {
        let name = |line: &str| line.split(':').next().unwrap_or("").to_string();
        let names: Vec<String> = added.lines().map(name).collect();
        let mut text: String = std::fs::read_to_string(real)
            .unwrap()
            .lines()
            .filter(|line| !names.contains(&name(line)))
            .map(|line| format!("{line}\n"))
            .collect();
        text.push_str(added);
        text
    };
    let passwd_file = dir.join("passwd");
    let group_file = dir.join("group");
    std::fs::write(&passwd_file, merged("/etc/passwd", passwd)).unwrap();
    std::fs::write(&group_file, merged("/etc/group", group)).unwrap();
    (passwd_file, group_file)
}

/// `sh -c SCRIPT` in a private mount namespace, with `passwd` and `group`
/// bind-mounted over /etc/passwd and /etc/group first. SCRIPT ends by exec'ing
/// rinit; with `pid_namespace`, that rinit is PID 1 of a new PID namespace.
fn with_fake_etc(passwd: &Path, group: &Path, script: &str, pid_namespace: bool) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private"]);
    if pid_namespace {
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    }
    cmd.args([
        "sh",
        "-c",
        &format!("mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && {script}"),
        "sh",
    ])
    .arg(passwd)
    .arg(group);
    cmd
}

/// Whitespace runs collapsed to one space (the kernel's /proc/PID/status
/// separates with tabs and ends Groups with a space).
fn squeeze(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ------------------------------------------------- syntax and unknown keys

#[test]
fn the_marker_program_runs_when_the_configuration_is_valid() {
    // The control for assert_refused_at_start: MARKER does leave its file.
    let (dir, file) = config("marker", MARKER);
    let done = run(pid1(&["-c", path_str(&file)]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(dir.join("marker").exists());
}

#[test]
fn toml_syntax_error() {
    let open = "this string is not closed: a `\"` is missing before the end of the line";
    let (dir, file) = assert_check_error(
        "syntax",
        &format!("{MARKER}[program.a]\ncommand = \"x\n"),
        &format!(":5:11: program a: key command: {open}"),
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        &format!(":5:11: program a: key command: {open}"),
    );
    // toml itself gives up further on ("unclosed inline table", "unclosed
    // array", "missing comma"): the message points at the string instead.
    for (text, rest) in [
        (
            "[program.a]\ncommand = \"x\"\nready = { tcp = \"127.0.0.1:80 }\n",
            ":3:17: program a: key ready",
        ),
        (
            "[program.a]\ncommand = [\"a\", \"b]\n",
            ":2:17: program a: key command",
        ),
        (
            "[program.a]\nenv = { A = \"1 }\ncommand = \"x\"\n",
            ":2:13: program a: key env",
        ),
        ("[rinit]\nshutdown_timeout = '1s\n", ":2:20: key shutdown_timeout"),
    ] {
        assert_check_error("syntax", text, &format!("{rest}: {open}"));
    }
    // A real syntax error elsewhere is left as toml says it.
    assert_check_error(
        "syntax",
        "[program.a]\ncommand = \"x\" \"y\"\n",
        ":2:15: program a: key command: unexpected key or value, expected newline, `#`",
    );
}

#[test]
fn a_misspelt_key_gets_a_suggestion() {
    for (key, known) in [
        ("stop_timout", "stop_timeout"),
        ("comand", "command"),
        ("restart_dely", "restart_delay"),
    ] {
        assert_check_error(
            "misspelt",
            &format!("[program.a]\ncommand = \"x\"\n{key} = 1\n"),
            &format!(":3:1: program a: key {key}: unknown key `{key}`: did you mean `{known}`?"),
        );
    }
    assert_check_error(
        "misspelt",
        "[rinit]\nshutdown_timout = 1\n",
        ":2:1: key shutdown_timout: unknown key `shutdown_timout`: did you mean `shutdown_timeout`?",
    );
    assert_check_error(
        "misspelt",
        "[programs.a]\ncommand = \"x\"\n",
        ":1:2: unknown key `programs`: did you mean `program`?",
    );
}

#[test]
fn no_message_names_a_rust_type() {
    // A wrong type or value for every key that has one: the messages say
    // what to write, in the configuration's words.
    let values = [
        "command = 1",
        "type = 1",
        "after = 1",
        "user = 1",
        "group = 1",
        "directory = 1",
        "umask = 1",
        "env = 1",
        "env_file = 1",
        "restart = 1",
        "restart_delay = true",
        "restart_max_delay = []",
        "start_limit_burst = -1",
        "start_limit_burst = \"5\"",
        "start_limit_interval = {}",
        "success_exit_codes = [-1]",
        "success_exit_codes = \"0\"",
        "stop_signal = true",
        "stop_group = 1",
        "stop_timeout = []",
        "critical = 1",
        "ready = 1",
        "ready = \"127.0.0.1:80\"",
        "ready = { tcp = 1 }",
        "ready_timeout = true",
        "output = 1",
        "instances = 1.5",
        "instances = -1",
        "autostart = 1",
        "health = []",
        "health = { tcp = \"1.2.3.4:5\", retries = -1 }",
        "health = { tcp = \"1.2.3.4:5\", interval = true }",
        "env = { A = 1 }",
    ];
    let rust = [
        "u8", "u16", "u32", "u64", "i64", "usize", "f64", "Raw", "struct", "enum", "sequence", "map",
        "variant", "field",
    ];
    for value in values {
        let (_, file) = config("rust-words", &format!("[program.a]\ncommand = \"x\"\n{value}\n"));
        let done = check(&file);
        assert_eq!(done.code(), 2, "{value}: {:?}", done.err);
        let message = done.err.join("\n");
        for word in rust {
            let named = message
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == word || (word == "Raw" && w.starts_with("Raw")));
            assert!(!named, "{value}: {word:?} in {message}");
        }
    }
}

#[test]
fn unknown_top_level_key() {
    let (dir, file) = assert_check_error(
        "top-key",
        &format!("bogus = 1\n{MARKER}"),
        ":1:1: key bogus: unknown key `bogus`: expected one of `rinit`, `env`, `program`, `group`",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":1:1: key bogus: unknown key `bogus`: expected one of `rinit`, `env`, `program`, `group`",
    );
}

#[test]
fn unknown_key_in_rinit_table() {
    assert_check_error(
        "rinit-key",
        "[rinit]\nshutdown_timeout = \"5s\"\nbogus = 1\n\n[program.a]\ncommand = \"x\"\n",
        ":3:1: key bogus: unknown key `bogus`: expected one of `shutdown_timeout`, `output`, \
         `control_socket`, `http`, `drain`, `timestamps`, `log_format`, `include`",
    );
}

#[test]
fn unknown_program_key_lists_the_expected_keys() {
    // Too far from every key for a guess.
    let (_, file) = config("program-key", "[program.a]\ncommand = \"x\"\nnonsense = \"x\"\n");
    let done = check(&file);
    assert_eq!(done.code(), 2);
    assert!(done.out.is_empty(), "{:?}", done.out);
    assert_eq!(done.err.len(), 1, "{:?}", done.err);
    let prefix = error_line(&file, ":3:1: program a: key nonsense: unknown key `nonsense`");
    assert!(done.err[0].starts_with(&prefix), "{:?}", done.err);
    let listed = &done.err[0][prefix.len()..];
    assert!(listed.starts_with(": expected one of `command`, "), "{listed}");
    for key in ["`env_file`", "`stop_signal`", "`instances`", "`ready_timeout`"] {
        assert!(listed.contains(key), "{key} not listed: {listed}");
    }
}

// ------------------------------------------------------------- wrong types

#[test]
fn wrong_types() {
    let cases = [
        (
            "[program.a]\ncommand = 5\n",
            ":2:11: program a: key command: invalid type: integer `5`, \
             expected a command: a string, or an array of strings",
        ),
        (
            "[program.a]\ncommand = [\"x\", 1]\n",
            ":2:17: program a: key command: invalid type: integer `1`, expected a string",
        ),
        (
            "[program.a]\ncommand = \"x\"\ninstances = true\n",
            ":3:13: program a: key instances: invalid type: boolean `true`, expected a number of instances, \
             or a string such as \"${WORKERS:-2}\"",
        ),
        (
            "[program.a]\ncommand = \"x\"\ncritical = \"yes\"\n",
            ":3:12: program a: key critical: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "[program.a]\ncommand = \"x\"\nafter = \"b\"\n",
            ":3:9: program a: key after: invalid type: string \"b\", expected an array",
        ),
        (
            "[program.a]\ncommand = \"x\"\nsuccess_exit_codes = [0, 256]\n",
            ":3:26: program a: key success_exit_codes: invalid value: integer `256`, expected a number from 0 to 255",
        ),
        (
            "[env]\nX = 1\n\n[program.a]\ncommand = \"x\"\n",
            ":2:5: key X: invalid type: integer `1`, expected a string, or { file = \"/run/secrets/NAME\" }",
        ),
    ];
    for (text, rest) in cases {
        assert_check_error("types", text, rest);
    }
    let (dir, file) = assert_check_error(
        "types",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nsuccess_exit_codes = [256]\n"),
        ":6:23: program a: key success_exit_codes: invalid value: integer `256`, expected a number from 0 to 255",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:23: program a: key success_exit_codes: invalid value: integer `256`, expected a number from 0 to 255",
    );
}

// ---------------------------------------------------------------- commands

#[test]
fn bad_commands() {
    let cases = [
        (
            "command = \"\"",
            ":2:11: program a: key command: the command is empty",
        ),
        (
            "command = \"   \"",
            ":2:11: program a: key command: the command is empty",
        ),
        (
            "command = []",
            ":2:11: program a: key command: the command is empty",
        ),
        (
            "command = [\"\", \"x\"]",
            ":2:11: program a: key command: the command name is empty",
        ),
        (
            "command = \"echo 'hi\"",
            ":2:11: program a: key command: unterminated single quote",
        ),
        (
            "type = \"oneshot\"",
            ":1:1: program a: key command: missing: every program needs a command",
        ),
    ];
    for (line, rest) in cases {
        assert_check_error("command", &format!("[program.a]\n{line}\n"), rest);
    }
    let (dir, file) = assert_check_error(
        "command",
        &format!("{MARKER}[program.a]\ncommand = []\n"),
        ":5:11: program a: key command: the command is empty",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":5:11: program a: key command: the command is empty",
    );
}

// ------------------------------------------------------------ dependencies

#[test]
fn unknown_after_name() {
    let (dir, file) = assert_check_error(
        "after",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nafter = [\"marker\", \"nope\"]\n"),
        ":6:20: program a: key after: no program named \"nope\"",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:20: program a: key after: no program named \"nope\"",
    );
}

#[test]
fn self_dependency() {
    assert_check_error(
        "self",
        "[program.a]\ncommand = \"x\"\nafter = [\"a\"]\n",
        ":3:10: program a: key after: a program cannot wait for itself",
    );
}

#[test]
fn dependency_cycle_of_three() {
    // a waits for b, b for c, c for a; the message follows the `after` edges
    // from the first program declared, and points at its `after`.
    let text = format!(
        "{MARKER}[program.a]\ncommand = \"x\"\nafter = [\"b\"]\n\n\
         [program.b]\ncommand = \"x\"\nafter = [\"c\"]\n\n\
         [program.c]\ncommand = \"x\"\nafter = [\"marker\", \"a\"]\n"
    );
    let (dir, file) = assert_check_error(
        "cycle",
        &text,
        ":6:10: program a: key after: dependency cycle: a -> b -> c -> a",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:10: program a: key after: dependency cycle: a -> b -> c -> a",
    );
    // Declared the other way round, the same cycle is named from a again.
    assert_check_error(
        "cycle",
        "[program.a]\ncommand = \"x\"\nafter = [\"c\"]\n\
         [program.b]\ncommand = \"x\"\nafter = [\"a\"]\n\
         [program.c]\ncommand = \"x\"\nafter = [\"b\"]\n",
        ":3:10: program a: key after: dependency cycle: a -> c -> b -> a",
    );
}

// ---------------------------------------------------- durations and signals

#[test]
fn bad_durations() {
    let cases = [
        (
            "restart_delay = \"soon\"",
            ":3:17: program a: key restart_delay: invalid duration \"soon\": \
             expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
        ),
        (
            "stop_timeout = \"-1s\"",
            ":3:16: program a: key stop_timeout: invalid duration \"-1s\": must not be negative",
        ),
        (
            "ready_timeout = -2",
            ":3:17: program a: key ready_timeout: invalid duration \"-2\": must not be negative",
        ),
        (
            "stop_timeout = \"7 seconds\"",
            ":3:16: program a: key stop_timeout: invalid duration \"7 seconds\": \
             expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
        ),
    ];
    for (line, rest) in cases {
        assert_check_error(
            "duration",
            &format!("[program.a]\ncommand = \"x\"\n{line}\n"),
            rest,
        );
    }
    assert_check_error(
        "duration",
        "[rinit]\nshutdown_timeout = \"later\"\n[program.a]\ncommand = \"x\"\n",
        ":2:20: key shutdown_timeout: invalid duration \"later\": \
         expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
    );
    let (dir, file) = assert_check_error(
        "duration",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nrestart_delay = \"soon\"\n"),
        ":6:17: program a: key restart_delay: invalid duration \"soon\": \
         expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:17: program a: key restart_delay: invalid duration \"soon\": \
         expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds",
    );
}

#[test]
fn bad_signals() {
    let cases = [
        (
            "stop_signal = \"SIGNOPE\"",
            ":3:15: program a: key stop_signal: unknown signal \"SIGNOPE\": \
             expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to 64",
        ),
        (
            "stop_signal = 0",
            ":3:15: program a: key stop_signal: unknown signal \"0\": \
             expected a name like \"TERM\" or \"SIGTERM\", or a number from 1 to 64",
        ),
    ];
    for (line, rest) in cases {
        assert_check_error("signal", &format!("[program.a]\ncommand = \"x\"\n{line}\n"), rest);
    }
}

// ------------------------------------------------------ enumerated values

#[test]
fn bad_restart_type_and_output_values() {
    let cases = [
        (
            "restart = \"sometimes\"",
            ":3:11: program a: key restart: \"sometimes\" is not one of \"no\", \"on-success\", \
             \"on-failure\", \"on-abnormal\", \"on-abort\", \"always\"",
        ),
        (
            "restart = true",
            ":3:11: program a: key restart: invalid type: boolean `true`, expected one of \"no\", \
             \"on-success\", \"on-failure\", \"on-abnormal\", \"on-abort\", \"always\": \
             did you mean `\"always\"`?",
        ),
        (
            "type = \"forking\"",
            ":3:8: program a: key type: \"forking\" is not one of \"simple\", \"notify\", \"oneshot\"",
        ),
        (
            "output = \"file\"",
            ":3:10: program a: key output: \"file\" is not one of \"inherit\", \"prefix\", \"null\", \"json\"",
        ),
    ];
    for (line, rest) in cases {
        assert_check_error("enum", &format!("[program.a]\ncommand = \"x\"\n{line}\n"), rest);
    }
    assert_check_error(
        "enum",
        "[rinit]\noutput = \"syslog\"\n[program.a]\ncommand = \"x\"\n",
        ":2:10: key output: \"syslog\" is not one of \"inherit\", \"prefix\", \"null\", \"json\"",
    );
}

// ------------------------------------------------- readiness and instances

#[test]
fn bad_ready_checks() {
    let cases = [
        (
            "type = \"notify\"\nready = { file = \"/x\" }",
            ":4:9: program a: key ready: a notify program cannot have a ready check \
             (type = \"notify\" says when it is ready)",
        ),
        (
            "type = \"oneshot\"\nready = { file = \"/x\" }",
            ":4:9: program a: key ready: a oneshot program cannot have a ready check \
             (type = \"oneshot\" says when it is ready)",
        ),
        (
            "ready = { file = \"/x\", tcp = \"127.0.0.1:1\" }",
            ":3:9: program a: key ready: expected exactly one of tcp, http, command or file, \
             e.g. ready = { tcp = \"127.0.0.1:8000\" }",
        ),
        (
            "ready = {}",
            ":3:9: program a: key ready: expected exactly one of tcp, http, command or file, \
             e.g. ready = { tcp = \"127.0.0.1:8000\" }",
        ),
        (
            "ready = { tcp = \"localhost\" }",
            ":3:17: program a: key ready: tcp: \"localhost\" is not an address: expected IP:PORT, \
             e.g. \"127.0.0.1:8000\" or \"[::1]:8000\"",
        ),
        (
            "ready = { tcp = \"db.example:5432\" }",
            ":3:17: program a: key ready: tcp: \"db.example:5432\" is not an address: expected IP:PORT, \
             e.g. \"127.0.0.1:8000\" or \"[::1]:8000\"",
        ),
        (
            "ready = { http = \"web.example:80/healthz\" }",
            ":3:18: program a: key ready: http: \"web.example:80/healthz\" is not IP:PORT/path, \
             e.g. \"127.0.0.1:8000/healthz\" (no host names: rinit has no DNS)",
        ),
        (
            "health = { tcp = \"127.0.0.1:1\", http = \"127.0.0.1:1/\" }",
            ":3:10: program a: key health: expected exactly one of tcp, http or command, \
             e.g. health = { http = \"127.0.0.1:8000/healthz\" }",
        ),
        (
            "health = { command = \"true\", retries = 0 }",
            ":3:40: program a: key health: retries: 0 is out of range (1 to 4294967295)",
        ),
        (
            "health = { command = \"true\", every = \"1s\" }",
            ":3:30: program a: key health: unknown key `every`: expected one of `tcp`, `http`, `command`, \
             `interval`, `timeout`, `retries`, `start_period`",
        ),
    ];
    for (lines, rest) in cases {
        assert_check_error("ready", &format!("[program.a]\ncommand = \"x\"\n{lines}\n"), rest);
    }
}

#[test]
fn instances_out_of_range() {
    for count in ["0", "1001"] {
        assert_check_error(
            "instances",
            &format!("[program.a]\ncommand = \"x\"\ninstances = {count}\n"),
            ":3:13: program a: key instances: must be from 1 to 1000",
        );
    }
}

#[test]
fn bad_umasks() {
    for value in ["999", "0o22", "", "00777", "+22", "1000"] {
        assert_check_error(
            "umask",
            &format!("[program.a]\ncommand = \"x\"\numask = \"{value}\"\n"),
            &format!(
                ":3:9: program a: key umask: \"{value}\" is not a umask: expected octal digits up to \"0777\", as in \"022\""
            ),
        );
    }
    assert_check_error(
        "umask-number",
        "[program.a]\ncommand = \"x\"\numask = 22\n",
        ":3:9: program a: key umask: invalid type: integer `22`, expected a string",
    );
}

// --------------------------------------------- users, groups, directories

#[test]
fn unknown_user() {
    let (dir, file) = assert_check_error(
        "user",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nuser = \"no-such-user-xyz\"\n"),
        ":6:8: program a: key user: no user \"no-such-user-xyz\" in /etc/passwd",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:8: program a: key user: no user \"no-such-user-xyz\" in /etc/passwd",
    );
}

#[test]
fn unknown_group() {
    // An unknown group is reported under `key group`, at the group's value.
    assert_check_error(
        "group",
        "[program.a]\ncommand = \"x\"\nuser = \"root\"\ngroup = \"no-such-group-xyz\"\n",
        ":4:9: program a: key group: no group \"no-such-group-xyz\" in /etc/group",
    );
}

#[test]
fn group_without_user() {
    assert_check_error(
        "group",
        "[program.a]\ncommand = \"x\"\ngroup = \"root\"\n",
        ":3:9: program a: key group: `group` needs `user` beside it",
    );
}

#[test]
fn bad_directories() {
    let (dir, file) = assert_check_error(
        "directory",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\ndirectory = \"@DIR@/missing\"\n"),
        ":6:13: program a: key directory: \"@DIR@/missing\": No such file or directory",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:13: program a: key directory: \"@DIR@/missing\": No such file or directory",
    );
    assert_check_error(
        "directory",
        "[program.a]\ncommand = \"x\"\ndirectory = \"@DIR@/rinit.toml\"\n",
        ":3:13: program a: key directory: \"@DIR@/rinit.toml\" is not a directory",
    );
}

// ------------------------------------------------------------ program names

#[test]
fn program_names_with_a_dot_or_a_space() {
    for name in ["a b", "a.b"] {
        assert_check_error(
            "name",
            &format!("[program.\"{name}\"]\ncommand = \"x\"\n"),
            &format!(":1:10: program {name}: a program name has 1 to 64 letters, digits, '_' and '-'"),
        );
    }
    let (dir, file) = assert_check_error(
        "name",
        &format!("{MARKER}[program.\"a b\"]\ncommand = \"x\"\n"),
        ":4:10: program a b: a program name has 1 to 64 letters, digits, '_' and '-'",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":4:10: program a b: a program name has 1 to 64 letters, digits, '_' and '-'",
    );
}

#[test]
fn a_program_named_main_beside_a_command() {
    let (dir, file) = config("main", &format!("{MARKER}[program.main]\ncommand = \"true\"\n"));
    // Without a command on the command line, `main` is an ordinary name.
    let done = check(&file);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // main would leave the marker too if it ran.
    let marker = dir.join("marker");
    assert_refused_at_start(
        &dir,
        &file,
        &["--", "touch", path_str(&marker)],
        ":4:10: program main: \"main\" is the name of the command given on rinit's command line; \
         rename this program",
    );
}

// ---------------------------------------------------------------- env_file

#[test]
fn missing_env_file() {
    let (dir, file) = assert_check_error(
        "env-file",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nenv_file = \"missing.env\"\n"),
        ":6:12: program a: key env_file: cannot read @DIR@/missing.env: No such file or directory",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:12: program a: key env_file: cannot read @DIR@/missing.env: No such file or directory",
    );
}

#[test]
fn env_file_with_a_bad_line() {
    let cases = [
        (
            "A=1\n\n# comment\nB = 2\n",
            "line 4: no space is allowed before \"=\"",
        ),
        ("A=1\njust words\n", "line 2: expected KEY=VALUE"),
        ("export A='open\n", "line 1: unterminated single quote"),
        ("OK=1\n1X=2\n", "line 2: invalid variable name \"1X\""),
    ];
    for (env, message) in cases {
        let dir = temp_dir("env-file-bad");
        std::fs::write(dir.join("app.env"), env).unwrap();
        let file = dir.join("rinit.toml");
        std::fs::write(&file, "[program.a]\ncommand = \"x\"\nenv_file = \"app.env\"\n").unwrap();
        let done = check(&file);
        let line = error_line(
            &file,
            &format!(
                ":3:12: program a: key env_file: {}: {message}",
                dir.join("app.env").display()
            ),
        );
        assert_eq!(
            (done.code(), done.err, done.out),
            (2, vec![line], vec![]),
            "{env:?}"
        );
    }
}

// ------------------------------------------------------------- no programs

#[test]
fn no_programs_and_no_command() {
    let message =
        ": no [program.NAME] is declared: there is nothing to run (or give a command: rinit -- COMMAND)";
    for text in [
        "",
        "# nothing\n",
        "[rinit]\nshutdown_timeout = \"1s\"\n[env]\nA = \"1\"\n",
    ] {
        let (dir, file) = assert_check_error("empty", text, message);
        assert_refused_at_start(&dir, &file, &[], message);
    }
}

#[test]
fn no_programs_but_a_command_runs_the_command_as_main() {
    let (_, file) = config("empty-main", "[env]\nGREETING = \"from [env]\"\n");
    let done = run(pid1(&[
        "-c",
        path_str(&file),
        "--",
        "sh",
        "-c",
        "echo \"main: $GREETING $RINIT_PROGRAM\"; exit 3",
    ]));
    assert_eq!(done.code(), 3, "{:?}", done.err);
    assert_eq!(done.out, ["main: from [env] main"]);
}

// ----------------------------------------------------------- rinit check

#[test]
fn check_prints_the_plan_in_start_order() {
    let (dir, file) = config(
        "plan",
        r#"[rinit]
shutdown_timeout = "1m30s"
control_socket = ""

[program.web]
command = '''server --name 'my app' --empty '' "it's" $HOME'''
after = ["db", "migrate"]
user = "root"
directory = "@DIR@"
critical = true

[program.worker]
command = ["sh", "-c", "echo $RINIT_INSTANCE"]
instances = 3
after = ["db"]
restart = "always"

[program.db]
command = ["db-server"]
type = "notify"

[program.migrate]
command = ["migrate", "--yes"]
type = "oneshot"
"#,
    );
    let mut cmd = plain(&["check", "-c", path_str(&file)]);
    cmd.env("PATH", stubs(&dir, &["server", "db-server", "migrate"]));
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(done.err.is_empty(), "{:?}", done.err);
    // Start order: db and migrate wait for nothing, worker for db, web for
    // both; each step takes the first program declared among those ready.
    // The restart policy is shown as written in TOML.
    let expected = [
        format!("{}: 4 programs, in start order:", file.display()),
        "(shutdown_timeout 90s, control socket off)".to_string(),
        "db: db-server".to_string(),
        "    type notify, after -, user rinit's (uid 0), directory rinit's starting directory, \
         restart on-failure"
            .to_string(),
        "worker (instances worker.0 to worker.2): sh -c 'echo $RINIT_INSTANCE'".to_string(),
        "    type simple, after db, user rinit's (uid 0), directory rinit's starting directory, \
         restart always"
            .to_string(),
        "migrate: migrate --yes".to_string(),
        "    type oneshot, after -, user rinit's (uid 0), directory rinit's starting directory, \
         restart no"
            .to_string(),
        "web: server --name 'my app' --empty '' 'it'\\''s' '$HOME'".to_string(),
        format!(
            "    type simple, after db migrate, user root (uid 0, gid 0), directory {}, \
             restart on-failure, critical",
            dir.display()
        ),
    ];
    assert_eq!(done.out, expected);
}

#[test]
fn check_accepts_the_example_configuration() {
    let dir = temp_dir("example");
    let (passwd, group) = fake_etc(
        &dir,
        "app:x:4501:4501::/home/app:/bin/sh\nredis:x:4502:4502::/var/lib/redis:/bin/sh\n",
        "app:x:4501:\nredis:x:4502:\n",
    );
    let srv = dir.join("srv");
    std::fs::create_dir(&srv).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gunicorn-celery-redis.toml");
    let mut cmd = with_fake_etc(
        &passwd,
        &group,
        "mount --bind \"$3\" /srv && mkdir -p /srv/app && exec \"$4\" check -c \"$5\"",
        false,
    );
    cmd.arg(&srv).arg(rinit()).arg(&example);
    cmd.env(
        "PATH",
        stubs(&dir, &["python", "gunicorn", "celery", "redis-server"]),
    );
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(done.err.is_empty(), "{:?}", done.err);
    let header = format!("{}: 4 programs, in start order:", example.display());
    assert_eq!(done.out.first(), Some(&header));
    let position = |start: &str| {
        done.out
            .iter()
            .position(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in {:?}", done.out))
    };
    let redis = position("redis: redis-server --save '' --appendonly no --bind 127.0.0.1");
    let migrate = position("migrate: python manage.py migrate --noinput");
    let web = position("web: gunicorn app.wsgi -b 0.0.0.0:8000 --workers 4");
    let worker = position(
        "worker (instances worker.0 to worker.1): celery -A app worker -l info \
         --concurrency '${CELERY_CONCURRENCY:-2}' -n 'worker${RINIT_INSTANCE}@%h'",
    );
    assert!(redis < web && migrate < web && redis < worker, "{:?}", done.out);
    assert!(
        done.out[web + 1].starts_with(
            "    type notify, after migrate redis, user app (uid 4501, gid 4501), \
             directory /srv/app"
        ),
        "{:?}",
        done.out
    );
    assert!(
        done.out[redis + 1].contains("user redis (uid 4502, gid 4502)"),
        "{:?}",
        done.out
    );
}

// ------------------------------------------------------------- environment

#[test]
fn environment_precedence() {
    let (dir, file) = config(
        "env",
        r#"[env]
B = "table"
C = "table"
D = "table"
LOGNAME = "table-log"

[program.dump]
command = ["cp", "/proc/self/environ", "@DIR@/environ"]
user = "root"
env_file = "dump.env"
env = { D = "program" }
"#,
    );
    std::fs::write(dir.join("dump.env"), "C=file\nD=file\n").unwrap();
    let mut cmd = pid1(&["-c", path_str(&file)]);
    // The env_file is found next to the configuration, wherever rinit starts.
    cmd.env_clear().current_dir("/").envs([
        ("PATH", "/usr/bin:/bin"),
        ("KEEP", "rinit"),
        ("B", "rinit"),
        ("C", "rinit"),
        ("D", "rinit"),
        ("HOME", "/rinit-home"),
        ("USER", "rinit-user"),
        ("LOGNAME", "rinit-log"),
        ("NOTIFY_SOCKET", "@rinit-test-outer"),
    ]);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let home = format!("HOME={}", root_home());
    assert_eq!(
        environ(&dir.join("environ")),
        sorted(&[
            "PATH=/usr/bin:/bin",
            "KEEP=rinit",
            "B=table",
            "C=file",
            "D=program",
            &home,
            "USER=root",
            "LOGNAME=table-log",
            "RINIT_PROGRAM=dump",
        ])
    );
}

#[test]
fn instances_get_rinit_program_and_rinit_instance() {
    let (dir, file) = config(
        "instances",
        r#"[program.dump]
command = ["sh", "-c", "exec cp /proc/self/environ \"$0.$RINIT_INSTANCE\"", "@DIR@/environ"]
instances = 2
"#,
    );
    let mut cmd = pid1(&["-c", path_str(&file)]);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NOTIFY_SOCKET", "@rinit-test-outer")
        .current_dir(&dir);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    for instance in ["0", "1"] {
        let vars = environ(&dir.join(format!("environ.{instance}")));
        let pwd = format!("PWD={}", dir.display()); // the shell's
        let rinit_instance = format!("RINIT_INSTANCE={instance}");
        assert_eq!(
            vars,
            sorted(&["PATH=/usr/bin:/bin", &pwd, "RINIT_PROGRAM=dump", &rinit_instance]),
            "instance {instance}"
        );
    }
}

#[test]
fn rinit_program_and_rinit_instance_always_win() {
    // RINIT_PROGRAM and RINIT_INSTANCE replace any variable of the same name
    // (from rinit's environment, [env], env_file or env): exactly one of each.
    let (dir, file) = config(
        "rinit-vars",
        r#"[env]
RINIT_INSTANCE = "from-table"

[program.dump]
command = ["cp", "/proc/self/environ", "@DIR@/environ.0"]
instances = 1
env = { RINIT_PROGRAM = "from-env" }
"#,
    );
    let mut cmd = pid1(&["-c", path_str(&file)]);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RINIT_PROGRAM", "outer");
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        environ(&dir.join("environ.0")),
        sorted(&["PATH=/usr/bin:/bin", "RINIT_PROGRAM=dump", "RINIT_INSTANCE=0"])
    );
}

#[test]
fn env_file_syntax() {
    let (dir, file) = config(
        "env-syntax",
        r#"[program.dump]
command = ["cp", "/proc/self/environ", "@DIR@/environ"]
env_file = "app.env"
"#,
    );
    std::fs::write(
        dir.join("app.env"),
        concat!(
            "# a comment line\n",
            "\n",
            "   \t\n",
            "export EXPORTED=yes\n",
            "  INDENTED=two  words  \n",
            "SINGLE='single $HOME \"x\" \\n # not a comment'\n",
            "DOUBLE=\"tab\\there \\\"q\\\" \\$HOME \\\\ new\\nline # kept\" # a comment\n",
            "UNQUOTED=value # a comment\n",
            "HASH=a#b\n",
            "NOEXPAND=$HOME/x\n",
            "EMPTY=\n",
            "EQUALS=x=y\n",
            "TWICE=first\n",
            "TWICE=second\n",
            "CRLF=dos\r\n",
            "   # indented comment\n",
            "LAST=no newline",
        ),
    )
    .unwrap();
    let mut cmd = pid1(&["-c", path_str(&file)]);
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        environ(&dir.join("environ")),
        sorted(&[
            "PATH=/usr/bin:/bin",
            "RINIT_PROGRAM=dump",
            "EXPORTED=yes",
            "INDENTED=two  words",
            "SINGLE=single $HOME \"x\" \\n # not a comment",
            "DOUBLE=tab\there \"q\" $HOME \\ new\nline # kept",
            "UNQUOTED=value",
            "HASH=a#b",
            "NOEXPAND=$HOME/x",
            "EMPTY=",
            "EQUALS=x=y",
            "TWICE=second",
            "CRLF=dos",
            "LAST=no newline",
        ])
    );
}

// ------------------------------------------------------ users and directories

#[test]
fn programs_run_as_their_user_with_its_groups_and_home() {
    let dir = temp_dir("user");
    let (passwd, group) = fake_etc(
        &dir,
        "tester:x:4321:4321:Test User:/home/tester:/bin/sh\n",
        "tester:x:4321:\nextra1:x:5001:tester\nextra2:x:5002:root,tester\nother:x:5003:root\n",
    );
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    let file = dir.join("rinit.toml");
    let script = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; \
                  echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME; echo cwd=$(readlink /proc/self/cwd)";
    std::fs::write(
        &file,
        format!(
            r#"[rinit]
output = "prefix"

[program.who]
command = ["sh", "-c", "{script}"]
user = "tester"
directory = "{work}"

[program.grouped]
command = ["sh", "-c", "{script}"]
user = "4321"
group = "extra2"
directory = "{work}"
"#,
            work = work.display()
        ),
    )
    .unwrap();
    let mut cmd = with_fake_etc(&passwd, &group, "exec \"$3\" -c \"$4\"", true);
    cmd.arg(rinit()).arg(&file);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let out: Vec<String> = done.out.iter().map(|l| squeeze(l)).collect();
    let cwd = format!("cwd={}", work.display());
    for line in [
        "who | Uid: 4321 4321 4321 4321",
        "who | Gid: 4321 4321 4321 4321",
        "who | Groups: 4321 5001 5002",
        "who | HOME=/home/tester USER=tester LOGNAME=tester",
        &format!("who | {cwd}"),
        // `group` replaces the primary group; /etc/group still adds the others.
        "grouped | Uid: 4321 4321 4321 4321",
        "grouped | Gid: 5002 5002 5002 5002",
        "grouped | Groups: 5001 5002",
        "grouped | HOME=/home/tester USER=tester LOGNAME=tester",
        &format!("grouped | {cwd}"),
    ] {
        assert_has_line(&out, line);
    }
}

#[test]
fn programs_start_in_their_directory_or_in_rinits_starting_directory() {
    let (dir, file) = config(
        "cwd",
        r#"[rinit]
output = "prefix"

[program.here]
command = ["sh", "-c", "echo cwd=$(readlink /proc/self/cwd) rinit=$(readlink /proc/1/cwd)"]

[program.absolute]
command = ["sh", "-c", "echo cwd=$(readlink /proc/self/cwd)"]
directory = "@DIR@/abs"

[program.relative]
command = ["sh", "-c", "echo cwd=$(readlink /proc/self/cwd)"]
directory = "rel"
"#,
    );
    let start = dir.join("start");
    for sub in ["abs", "start", "start/rel"] {
        std::fs::create_dir(dir.join(sub)).unwrap();
    }
    let mut cmd = pid1(&["-c", path_str(&file)]);
    cmd.current_dir(&start);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    // Only rinit itself moves to /.
    assert_has_line(&done.out, &format!("here | cwd={} rinit=/", start.display()));
    assert_has_line(&done.out, &format!("absolute | cwd={}/abs", dir.display()));
    // A relative directory is relative to rinit's starting directory.
    assert_has_line(&done.out, &format!("relative | cwd={}/rel", start.display()));
}

#[test]
fn a_program_starts_with_its_umask_or_rinits() {
    let (_dir, file) = config(
        "umask-run",
        r#"[rinit]
output = "prefix"

[program.strict]
command = ["grep", "Umask", "/proc/self/status"]
umask = "077"

[program.inherits]
command = ["grep", "Umask", "/proc/self/status"]
"#,
    );
    let mut cmd = pid1(&["-c", path_str(&file)]);
    // SAFETY: umask is async-signal-safe; it sets the mask rinit starts with.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_has_line(&done.out, "strict | Umask:\t0077");
    assert_has_line(&done.out, "inherits | Umask:\t0002");
}

/// Runs `config` with rinit as uid 1000 (PID 1 of a new PID namespace:
/// setpriv execs it), from copies uid 1000 can reach wherever the checkout is;
/// asserts it refuses with exactly `expected` (after FILE) and exit 2.
fn assert_refused_as_uid_1000(tag: &str, config: &str, expected: &str) {
    let dir = temp_dir(tag);
    copy_binaries_to(&dir);
    let file = dir.join("rinit.toml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups"])
        .arg(dir.join("rinit"))
        .arg("-c")
        .arg(&file);
    let done = run(cmd);
    let line = error_line(&file, expected);
    assert_eq!((done.code(), done.err, done.out), (2, vec![line], vec![]));
}

#[test]
fn rinit_not_root_refuses_another_user() {
    assert_refused_as_uid_1000(
        "not-root",
        "[program.a]\ncommand = [\"touch\", \"/dev/null\"]\nuser = \"root\"\n",
        ":3:8: program a: key user: rinit runs as uid 1000, not as root, so it cannot switch to \"root\" \
         (uid 0); run rinit as root or remove `user`",
    );
}

#[test]
fn rinit_not_root_cannot_set_a_group() {
    assert_refused_as_uid_1000(
        "not-root-group",
        "[program.a]\ncommand = [\"true\"]\nuser = \"1000\"\ngroup = \"1000\"\n",
        ":4:9: program a: key group: rinit runs as uid 1000, not as root, so it cannot set the group; \
         run rinit as root or remove `group`",
    );
}

// ------------------------------------------------------------ dotted keys

#[test]
fn dotted_keys_name_the_program() {
    // With TOML's dotted keys instead of a [program.a] header, the error still
    // names the program.
    assert_check_error(
        "dotted",
        "program.a.command = 5\n",
        ":1:21: program a: key command: invalid type: integer `5`, \
         expected a command: a string, or an array of strings",
    );
}

#[test]
fn nul_bytes_and_bad_variable_names_are_refused() {
    assert_check_error(
        "nul-command",
        "[program.a]\ncommand = [\"echo\", \"a\\u0000b\"]\n",
        ":2:11: program a: key command: the command contains a NUL byte",
    );
    assert_check_error(
        "bad-env-name",
        "[env]\n\"A=B\" = \"x\"\n[program.a]\ncommand = \"true\"\n",
        ":2:1: key env: invalid variable name \"A=B\"",
    );
    assert_check_error(
        "nul-env-value",
        "[program.a]\ncommand = \"true\"\nenv = { X = \"a\\u0000b\" }\n",
        ":3:9: program a: key env: the value of X contains a NUL byte",
    );
}

// ------------------------------------------------------- trust and inputs

#[test]
fn a_uid_or_gid_the_kernel_reads_as_minus_one_is_refused() {
    // setresuid(-1, ...) leaves the uid unchanged: the program would run as root.
    let (dir, file) = assert_check_error(
        "uid-max",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nuser = \"4294967295\"\ngroup = \"0\"\n"),
        ":6:8: program a: key user: uid 4294967295 cannot be used: the kernel reads it as -1, \
         \"leave the uid unchanged\", so the program would keep rinit's uid",
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:8: program a: key user: uid 4294967295 cannot be used: the kernel reads it as -1, \
         \"leave the uid unchanged\", so the program would keep rinit's uid",
    );
    assert_check_error(
        "gid-max",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nuser = \"0\"\ngroup = \"4294967295\"\n"),
        ":7:9: program a: key group: gid 4294967295 cannot be used: the kernel reads it as -1, \
         \"leave the gid unchanged\", so the program would keep rinit's gid",
    );
}

#[test]
fn an_env_file_line_with_a_nul_byte_is_refused_without_its_value() {
    let (dir, file) = config(
        "env-nul",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nenv_file = \"secret.env\"\n"),
    );
    std::fs::write(dir.join("secret.env"), "OK=1\nTOKEN=hunter\u{0}2\n").unwrap();
    let rest = format!(
        ":6:12: program a: key env_file: {}/secret.env: line 2: the line contains a NUL byte",
        dir.display()
    );
    let done = check(&file);
    assert_eq!(
        (done.code(), done.err.clone()),
        (2, vec![error_line(&file, &rest)])
    );
    assert!(!done.err.concat().contains("hunter"), "{:?}", done.err);
    assert_refused_at_start(&dir, &file, &[], &rest);
}

#[test]
fn control_characters_in_quoted_text_cannot_make_a_second_line() {
    assert_check_error(
        "control-name",
        "[program.\"a\\nrinit: all programs OK\"]\ncommand = \"x\"\n",
        ":1:10: program a\\nrinit: all programs OK: a program name has 1 to 64 letters, digits, '_' and '-'",
    );
    assert_check_error(
        "control-env-file",
        "[program.a]\ncommand = \"x\"\nenv_file = \"x\\nrinit: \\u001b[2Jfake\"\n",
        ":3:12: program a: key env_file: cannot read @DIR@/x\\nrinit: \\x1b[2Jfake: No such file or directory",
    );
}

#[test]
fn only_regular_files_of_at_most_4_mib_are_read() {
    let dir = temp_dir("inputs");
    let fifo = dir.join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // A FIFO nobody writes to would block an open() or a read() forever.
    for (path, why) in [
        (fifo.as_path(), "not a regular file (a FIFO)"),
        (Path::new("/dev/zero"), "not a regular file (a character device)"),
        (dir.as_path(), "not a regular file (a directory)"),
    ] {
        let done = run(plain(&["check", "-c", path_str(path)]));
        assert_eq!(
            (done.code(), done.err),
            (
                2,
                vec![format!(
                    "rinit: {}: cannot read the configuration: {why}",
                    path.display()
                )]
            )
        );
    }
    let big = dir.join("big.toml");
    std::fs::write(&big, format!("{}\n", "#".repeat(4 << 20))).unwrap();
    let done = run(plain(&["check", "-c", path_str(&big)]));
    assert_eq!(
        (done.code(), done.err),
        (
            2,
            vec![format!(
                "rinit: {}: cannot read the configuration: larger than 4 MiB",
                big.display()
            )]
        )
    );
    // As PID 1 too, and for an env_file.
    let (dir, file) = config(
        "env-fifo",
        &format!("{MARKER}[program.a]\ncommand = \"x\"\nenv_file = \"fifo.env\"\n"),
    );
    assert!(Command::new("mkfifo")
        .arg(dir.join("fifo.env"))
        .status()
        .unwrap()
        .success());
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        ":6:12: program a: key env_file: cannot read @DIR@/fifo.env: not a regular file (a FIFO)",
    );
}

#[test]
fn the_configuration_can_come_from_standard_input() {
    let mut running = Running::start(plain(&["check", "-c", "-"]));
    {
        use std::io::Write;
        let mut stdin = running.stdin.take().unwrap();
        stdin.write_all(b"[program.a]\ncommand = \"true\"\n").unwrap();
    }
    let done = running.finish();
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out.first().map(String::as_str),
        Some("<stdin>: 1 program, in start order:")
    );
    let mut running = Running::start(plain(&["check", "-c", "-"]));
    {
        use std::io::Write;
        let mut stdin = running.stdin.take().unwrap();
        stdin.write_all(b"[program.a]\ncommand = 5\n").unwrap();
    }
    let done = running.finish();
    assert_eq!(
        (done.code(), done.err),
        (2, vec!["rinit: <stdin>:2:11: program a: key command: invalid type: integer `5`, expected a command: a string, or an array of strings".to_string()])
    );
}

#[test]
fn groups_share_the_programs_namespace_and_name_known_programs() {
    assert_check_error(
        "group-clash",
        "[program.web]\ncommand = \"x\"\n[group.web]\nprograms = [\"web\"]\n",
        ":3:8: group web: the group and the program \"web\" share a name: groups and programs share one namespace",
    );
    assert_check_error(
        "group-unknown",
        "[program.web]\ncommand = \"x\"\n[group.app]\nprograms = [\"web\", \"nope\"]\n",
        ":4:20: group app: key programs: no program named \"nope\" (group \"app\")",
    );
    assert_check_error(
        "group-key",
        "[program.web]\ncommand = \"x\"\n[group.app]\nprogram = [\"web\"]\n",
        ":4:1: key program: unknown key `program`: did you mean `programs`?",
    );
}

#[test]
fn check_lists_groups_and_manual_programs() {
    let (_dir, file) = config(
        "check-groups",
        "[program.web]\ncommand = \"true\"\n[program.tools]\ncommand = \"true\"\nautostart = false\n\
         [group.all]\nprograms = [\"tools\", \"web\"]\n",
    );
    let done = check(&file);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert!(
        done.out[5].ends_with(", restart on-failure, manual (autostart = false)"),
        "{:?}",
        done.out
    );
    assert_eq!(done.out.last().map(String::as_str), Some("group all: web tools"));
}

#[test]
fn supervisords_table_syntax_gets_a_hint() {
    assert_check_error(
        "supervisord-syntax",
        "[program:web]\ncommand = \"x\"\n",
        ":1:9: TOML tables use a dot: [program.web] (supervisord's [program:web])",
    );
    assert_check_error(
        "supervisord-group",
        "[program.web]\ncommand = \"x\"\n[group:app]\nprograms = [\"web\"]\n",
        ":3:7: TOML tables use a dot: [group.app] (supervisord's [group:app])",
    );
}

#[test]
fn check_reports_commands_it_cannot_run_and_stop_signals_that_stop_nothing() {
    let (dir, file) = config(
        "audit",
        "[program.gone]\ncommand = \"/nonexistent/server\"\n\
         [program.plain]\ncommand = \"@DIR@/data.txt\"\n\
         [program.lost]\ncommand = \"no-such-command-anywhere --x\"\nenv = { PATH = \"/usr/bin:/bin\" }\n\
         [program.frozen]\ncommand = \"sleep 1\"\nstop_signal = \"STOP\"\n",
    );
    std::fs::write(dir.join("data.txt"), "").unwrap();
    let done = check(&file);
    let at = |name: &str, rest: &str| format!("rinit: {}: program {name}: {rest}", file.display());
    assert_eq!(done.code(), 2);
    assert_eq!(
        done.err,
        [
            at(
                "gone",
                "key command: \"/nonexistent/server\": No such file or directory"
            ),
            at(
                "plain",
                &format!("key command: \"{}/data.txt\": is not executable", dir.display())
            ),
            at(
                "lost",
                "key command: \"no-such-command-anywhere\": command not found in PATH (/usr/bin:/bin)"
            ),
            at(
                "frozen",
                "key stop_signal: SIGSTOP stops nothing: the program would only get SIGKILL at stop_timeout"
            ),
        ]
    );
    // The plan is printed all the same.
    assert_eq!(
        done.out.first().map(String::as_str),
        Some(&*format!("{}: 4 programs, in start order:", file.display()))
    );
}

#[test]
fn check_warns_when_stop_timeouts_cannot_fit_in_shutdown_timeout() {
    // web waits for migrate (a oneshot: ended by a shutdown) and db; side
    // stops beside them. Stopped in order: web (6 s), then db (5 s).
    let (_dir, file) = config(
        "audit-chain",
        "[rinit]\nshutdown_timeout = \"9s\"\n\
         [program.db]\ncommand = \"sleep 1\"\nstop_timeout = \"5s\"\n\
         [program.migrate]\ncommand = \"true\"\ntype = \"oneshot\"\nafter = [\"db\"]\nstop_timeout = \"1m\"\n\
         [program.web]\ncommand = \"sleep 1\"\nafter = [\"migrate\"]\nstop_timeout = \"6s\"\n\
         [program.side]\ncommand = \"sleep 1\"\nstop_timeout = \"8s\"\n",
    );
    let done = check(&file);
    assert_eq!(done.code(), 0, "a warning, not an error: {:?}", done.err);
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}: the stop_timeouts of web 6s, db 5s, stopped one after another, add up to 11s, \
             more than shutdown_timeout (9s): a slow stop there ends in SIGKILL to everything",
            file.display()
        )]
    );
    // Within shutdown_timeout: nothing to say.
    let (_dir, file) = config(
        "audit-chain-fits",
        "[program.db]\ncommand = \"sleep 1\"\nstop_timeout = \"4s\"\n\
         [program.web]\ncommand = \"sleep 1\"\nafter = [\"db\"]\nstop_timeout = \"5s\"\n",
    );
    let done = check(&file);
    assert_eq!((done.code(), done.err.len()), (0, 0), "{:?}", done.err);
}

// --------------------------------------------------------------- expansion

#[test]
fn variables_expand_from_each_programs_own_environment() {
    // ${NAME} and ${NAME:-default} from rinit's environment, [env] (itself
    // expanded from rinit's), env_file (taken literally) and env; each value
    // one argument; $${ a literal ${; $HOME left to the shell; a string
    // `instances`; ${RINIT_INSTANCE} per instance in `command` only.
    let (dir, file) = config(
        "expand",
        r#"[env]
BASE = "/opt/${APP}"

[program.dump]
command = ["sh", "-c", "printf '%s|' \"$@\" \"$HOME\" \"$(pwd)\" > @DIR@/out.$RINIT_INSTANCE", "sh",
           "${BASE}", "${X}", "${Y}", "${UNSET_IN_TEST:-two words}", "$${BASE}", "$BASE", "${RINIT_PROGRAM}-${RINIT_INSTANCE}"]
instances = "${WORKERS:-5}"
user = "${RUN_AS:-root}"
directory = "${WORKDIR}/sub"
env_file = "dump.env"
env = { Y = "${X}+${UNSET_IN_TEST:-dflt}" }
"#,
    );
    std::fs::write(dir.join("dump.env"), "X=lit${APP}\n").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let mut cmd = pid1(&["-c", path_str(&file)]);
    cmd.env_clear().current_dir("/").envs([
        ("PATH", "/usr/bin:/bin"),
        ("APP", "shop"),
        ("WORKERS", "2"),
        ("WORKDIR", path_str(&dir)),
    ]);
    let done = run(cmd);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    for instance in ["0", "1"] {
        let out = std::fs::read_to_string(dir.join(format!("out.{instance}"))).unwrap();
        assert_eq!(
            out,
            format!(
                "/opt/shop|lit${{APP}}|lit${{APP}}+dflt|two words|${{BASE}}|$BASE|dump-{instance}|{}|{}/sub|",
                root_home(),
                dir.display()
            ),
            "instance {instance}"
        );
    }
    assert!(
        !dir.join("out.2").exists(),
        "instances = \"${{WORKERS:-5}}\" made more than 2"
    );
}

#[test]
fn a_variable_that_is_not_set_is_a_configuration_error_naming_it() {
    let unset = "${RINIT_TEST_UNSET} is not set (rinit's environment, [env], env_file or env); \
                 give it a default with ${RINIT_TEST_UNSET:-value}";
    let (dir, file) = assert_check_error(
        "expand-unset",
        &format!("{MARKER}[program.a]\ncommand = \"run --db ${{RINIT_TEST_UNSET}}\"\n"),
        &format!(":5:11: program a: key command: {unset}"),
    );
    assert_refused_at_start(
        &dir,
        &file,
        &[],
        &format!(":5:11: program a: key command: {unset}"),
    );
    assert_check_error(
        "expand-env",
        "[env]\nURL = \"${RINIT_TEST_UNSET}\"\n\n[program.a]\ncommand = \"true\"\n",
        &format!(":2:1: key env: URL: {unset}"),
    );
    assert_check_error(
        "expand-message",
        "[program.a]\ncommand = \"true\"\ndirectory = \"${RINIT_TEST_UNSET:?the app's folder}\"\n",
        ":3:13: program a: key directory: RINIT_TEST_UNSET is not set: the app's folder",
    );
    assert_check_error(
        "expand-ready",
        "[program.a]\ncommand = \"true\"\nready = { tcp = \"127.0.0.1:${RINIT_TEST_UNSET}\" }\n",
        &format!(":3:17: program a: key ready: {unset}"),
    );
}

#[test]
fn malformed_variables_and_misplaced_rinit_instance_are_refused() {
    let cases = [
        (
            "command = \"run ${PORT\"",
            ":2:11: program a: key command: \"${PORT\" has a `${` without its `}` (write `$${` for a literal `${`)",
        ),
        (
            "command = \"run ${PORT-80}\"",
            ":2:11: program a: key command: \"${PORT-80}\" is not a variable: expected ${NAME}, \
             ${NAME:-default} or ${NAME:?message} (write $${ for a literal ${)",
        ),
        (
            "command = \"true\"\ninstances = 2\ndirectory = \"/srv/${RINIT_INSTANCE}\"",
            ":4:13: program a: key directory: RINIT_INSTANCE differs from one instance to the next: \
             only `command` can use ${RINIT_INSTANCE} (the program also finds it in its environment)",
        ),
        (
            "command = \"true\"\ninstances = \"${RINIT_TEST_UNSET:-many}\"",
            ":3:13: program a: key instances: \"${RINIT_TEST_UNSET:-many}\" does not expand to a whole \
             number of instances (from 1 to 1000)",
        ),
        (
            "command = \"true\"\ninstances = \"${RINIT_TEST_UNSET:-0}\"",
            ":3:13: program a: key instances: must be from 1 to 1000",
        ),
        (
            "command = \"run ${RINIT_INSTANCE}\"",
            ":2:11: program a: key command: ${RINIT_INSTANCE} is not set (rinit's environment, [env], \
             env_file or env); give it a default with ${RINIT_INSTANCE:-value}",
        ),
    ];
    for (program, rest) in cases {
        assert_check_error("expand-bad", &format!("[program.a]\n{program}\n"), rest);
    }
}

#[test]
fn an_expansion_error_never_shows_a_value() {
    let (_dir, file) = config(
        "expand-secret",
        "[program.a]\ncommand = \"true\"\ninstances = \"${SECRET}\"\n",
    );
    let mut cmd = plain(&["check", "-c", path_str(&file)]);
    cmd.env("SECRET", "hunter2");
    let done = run(cmd);
    assert_eq!(
        (done.code(), done.err),
        (
            2,
            vec![error_line(
                &file,
                ":3:13: program a: key instances: \"${SECRET}\" does not expand to a whole number of \
                 instances (from 1 to 1000)"
            )]
        )
    );
}

#[test]
fn help_is_there_for_rinit_and_each_subcommand() {
    for args in [
        &["help"][..],
        &["--help"],
        &["check", "--help"],
        &["help", "check"],
        &["status", "-h"],
        &["signal", "--help"],
    ] {
        let done = run(plain(args));
        assert_eq!((done.code(), done.err.len()), (0, 0), "{args:?}: {:?}", done.err);
        assert!(
            done.out[0].starts_with("usage: rinit"),
            "{args:?}: {:?}",
            done.out
        );
    }
    let check = run(plain(&["check", "--help"]));
    assert_eq!(check.out[0], "usage: rinit check [-c PATH]");
    let unknown = run(plain(&["help", "chekc"]));
    assert_eq!(
        (unknown.code(), unknown.err),
        (
            2,
            vec!["rinit: rinit help: no subcommand \"chekc\" (see rinit --help)".to_string()]
        )
    );
}
