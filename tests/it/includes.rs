//! `[rinit] include`: a derived image's drop-in files add programs beside
//! the main file's, with env files found next to the file that names them;
//! every error keeps the file, line and column of the file it is in; a
//! name defined twice names both places; what is matched is bounded.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The main file in `dir` with `include = [patterns]` and `rest`.
fn main_file(dir: &Path, patterns: &str, rest: &str) -> PathBuf {
    let file = dir.join("rinit.toml");
    let text = format!("[rinit]\ncontrol_socket = \"\"\ninclude = [{patterns}]\n{rest}");
    std::fs::write(&file, text).unwrap();
    file
}

fn check(file: &Path) -> Finished {
    run(plain(&["check", "-c", file.to_str().unwrap()]))
}

#[test]
fn included_programs_run_in_order_as_pid1_with_env_files_next_to_their_file() {
    let dir = temp_dir("include-run");
    std::fs::create_dir(dir.join("rinit.d")).unwrap();
    std::fs::write(dir.join("rinit.d/worker.env"), "QUEUE=emails\n").unwrap();
    std::fs::write(
        dir.join("rinit.d/20-worker.toml"),
        "[program.worker]\ncommand = [\"sh\", \"-c\", \"echo worker takes $QUEUE after $FROM_MAIN\"]\n\
         type = \"oneshot\"\nafter = [\"report\"]\nenv_file = \"worker.env\"\n",
    )
    .unwrap();
    // 10- is read before 20- (its [env] reaches every program); the
    // oneshots run one after the other.
    std::fs::write(
        dir.join("rinit.d/10-report.toml"),
        "[env]\nFROM_MAIN = \"web\"\n[program.report]\ncommand = \"echo report\"\ntype = \"oneshot\"\n\
         after = [\"web\"]\n",
    )
    .unwrap();
    let file = main_file(
        &dir,
        "\"rinit.d/*.toml\"",
        "[program.web]\ncommand = \"echo web\"\ntype = \"oneshot\"\n",
    );
    let done = run(pid1(&["-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 0, "{:?}", done.err);
    assert_eq!(
        done.out,
        ["web", "report", "worker takes emails after web"],
        "{:?}",
        done.err
    );
}

#[test]
fn check_names_the_file_each_program_came_from() {
    let dir = temp_dir("include-check");
    std::fs::create_dir(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("conf.d/worker.toml"),
        "[program.worker]\ncommand = \"sleep 1\"\n",
    )
    .unwrap();
    // An absolute pattern, and patterns that match nothing: fine.
    let absolute = format!("\"{}/conf.d/w*.toml\"", dir.display());
    let patterns = format!("{absolute}, \"missing.d/*.toml\", \"conf.d/none.toml\"");
    let file = main_file(&dir, &patterns, "[program.web]\ncommand = \"sleep 1\"\n");
    let done = check(&file);
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let from = format!("    from {}/conf.d/worker.toml", dir.display());
    assert_eq!(
        done.out.iter().filter(|l| l.starts_with("    from ")).count(),
        1,
        "{:?}",
        done.out
    );
    assert_has_line(&done.out, &from);
    assert!(
        done.out.iter().any(|l| l.starts_with("worker: sleep 1")),
        "{:?}",
        done.out
    );
}

#[test]
fn errors_in_an_included_file_keep_its_file_line_and_column() {
    let dir = temp_dir("include-errors");
    std::fs::create_dir(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/bad.toml"),
        "[rinit]\ndrain = \"1s\"\n[env]\nA = \"2\"\n[program.web]\ncommand = \"true\"\n\
         [program.other]\ncommand = 5\n[group.app]\nprograms = [\"web\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("d/syntax.toml"), "[program.x]\ncommand = \"a\" \"b\"\n").unwrap();
    let file = main_file(
        &dir,
        "\"d/*.toml\"",
        "[env]\nA = \"1\"\n[program.web]\ncommand = \"true\"\n[group.app]\nprograms = [\"web\"]\n",
    );
    let done = check(&file);
    assert_eq!(done.code(), 2, "{:?}", done.out);
    let (main, bad, syntax) = (file.display(), dir.join("d/bad.toml"), dir.join("d/syntax.toml"));
    let (bad, syntax) = (bad.display(), syntax.display());
    assert_eq!(
        done.err,
        [
            format!(
                "rinit: {bad}:1:2: [rinit] is read only from the main configuration file ({main}); \
                 an included file holds [program.NAME], [group.NAME] and [env]"
            ),
            format!("rinit: {bad}:4:1: key env: variable A is defined twice: here and at {main}:5:1"),
            format!("rinit: {bad}:5:10: program web is defined twice: here and at {main}:6:10"),
            format!(
                "rinit: {bad}:8:11: program other: key command: invalid type: integer `5`, \
                 expected a command: a string, or an array of strings"
            ),
            format!("rinit: {bad}:9:8: group app is defined twice: here and at {main}:8:8"),
            format!("rinit: {syntax}:2:15: program x: key command: unexpected key or value, expected newline, `#`"),
        ]
    );
    // The same as PID 1: refused before anything starts.
    let done = run(pid1(&["-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 2, "{:?}", done.err);
    assert_eq!(done.err.len(), 6, "{:?}", done.err);
}

#[test]
fn what_an_include_matches_is_bounded_and_unreadable_files_are_named() {
    let dir = temp_dir("include-bounds");
    std::fs::create_dir(dir.join("many")).unwrap();
    for i in 0..1001 {
        std::fs::write(dir.join(format!("many/{i:04}.toml")), "").unwrap();
    }
    let file = main_file(&dir, "\"many/*.toml\"", "[program.web]\ncommand = \"true\"\n");
    let done = check(&file);
    assert_eq!(done.code(), 2);
    assert_eq!(
        done.err,
        [format!(
            "rinit: {}:3:12: key include: \"many/*.toml\" matches 1001 files, more than the 1000 \
             that one configuration may include",
            file.display()
        )]
    );
    // 1,000 empty files are fine.
    std::fs::remove_file(dir.join("many/1000.toml")).unwrap();
    assert_eq!(check(&file).code(), 0);

    std::fs::create_dir(dir.join("odd")).unwrap();
    let fifo = dir.join("odd/fifo.toml");
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.join("odd/latin1.toml"), b"# caf\xe9\n").unwrap();
    let file = main_file(&dir, "\"odd/*.toml\"", "[program.web]\ncommand = \"true\"\n");
    let done = check(&file);
    assert_eq!(done.code(), 2);
    let at = format!("rinit: {}:3:12: key include: {}", file.display(), dir.display());
    assert_eq!(
        done.err,
        [
            format!("{at}/odd/fifo.toml: cannot read it: not a regular file (a FIFO)"),
            format!("{at}/odd/latin1.toml: cannot read it: not UTF-8 text"),
        ]
    );
    // Each bad pattern is an error of its own.
    let file = main_file(&dir, "\"\", 5", "[program.web]\ncommand = \"true\"\n");
    let done = check(&file);
    assert_eq!(done.code(), 2);
    let at = file.display();
    assert_eq!(
        done.err,
        [
            format!("rinit: {at}:3:12: key include: an include pattern must not be empty or hold a NUL byte"),
            format!("rinit: {at}:3:16: key include: invalid type: integer `5`, expected a string"),
        ]
    );
}
