//! Log output with rinit as PID 1: `output = "json"` (one object a line,
//! read back with Python's json module), `timestamps`, `log_format = "json"`
//! for rinit's own messages, long lines split with a marker, and the bad
//! values' messages.

use std::process::{Command, Stdio};

use crate::common::*;

/// rinit as PID 1 on `text` (no control socket), until it ends.
fn run_config(tag: &str, text: &str) -> Finished {
    let dir = temp_dir(tag);
    let file = dir.join("rinit.toml");
    std::fs::write(&file, format!("[rinit]\ncontrol_socket = \"\"\n{text}")).unwrap();
    run(pid1(&["-c", file.to_str().unwrap()]))
}

/// `script` run by python3 with `input` on its stdin: its stdout.
fn python(script: &str, input: &str) -> String {
    let dir = temp_dir("log-python");
    let path = dir.join("input");
    std::fs::write(&path, input).unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_lines_from_four_writers_all_parse_none_lost_none_merged() {
    // Four instances write 25,000 lines each as fast as they can, with
    // quotes, a backslash, a tab and a byte that is not UTF-8.
    let writer = "i=0; while [ $i -lt 25000 ]; do printf 'w%s \"q\" \\\\ \\t \\377 %s\\n' \"$RINIT_INSTANCE\" $i; i=$((i+1)); done";
    // rinit's stdout is a file, which takes everything at once: a reader
    // too slow would make rinit hold the writers back, and, once they
    // end, drop what their pipes still held (with a count).
    let dir = temp_dir("json-writers");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        format!(
            "[rinit]\ncontrol_socket = \"\"\n[program.w]\ncommand = [\"sh\", \"-c\", {writer:?}]\n\
             output = \"json\"\ninstances = 4\nrestart = \"no\"\n"
        ),
    )
    .unwrap();
    let out_path = dir.join("stdout");
    let mut cmd = pid1(&["-c", file.to_str().unwrap()]);
    cmd.stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()));
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(0));
    let out = std::fs::read_to_string(&out_path).unwrap();
    let checked = python(
        "import json, sys\n\
         seen = {}\n\
         for raw in sys.stdin:\n\
         \x20   o = json.loads(raw)\n\
         \x20   assert set(o) == {'time', 'program', 'instance', 'stream', 'line'}, o\n\
         \x20   assert o['program'] == 'w' and o['stream'] == 'stdout', o\n\
         \x20   words = o['line'].split(' ')\n\
         \x20   assert words[:5] == ['w%d' % o['instance'], '\"q\"', '\\\\', '\\t', '\\\\xff'], o\n\
         \x20   n = int(words[5])\n\
         \x20   assert n == seen.get(o['instance'], -1) + 1, (o, seen)\n\
         \x20   seen[o['instance']] = n\n\
         print(sorted(seen.items()))\n",
        &out,
    );
    assert_eq!(checked.trim(), "[(0, 24999), (1, 24999), (2, 24999), (3, 24999)]");
}

#[test]
fn a_long_line_is_split_into_pieces_that_say_so() {
    let done = run_config(
        "json-long",
        "[program.long]\ncommand = [\"sh\", \"-c\", \"head -c 10000 /dev/zero | tr '\\\\0' x; echo\"]\noutput = \"json\"\nrestart = \"no\"\n",
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let checked = python(
        "import json, sys\n\
         pieces = [json.loads(l) for l in sys.stdin]\n\
         print([len(p['line']) for p in pieces], [p.get('split', False) for p in pieces], \
         ''.join(p['line'] for p in pieces) == 'x' * 10000)\n",
        &done.out.join("\n"),
    );
    assert_eq!(checked.trim(), "[4000, 4000, 2000] [True, True, False] True");
}

#[test]
fn a_long_prefixed_line_is_split_into_pieces_marked_with_a_plus() {
    // 10,000 bytes then a short line: three pieces, the first two `long +`.
    let done = run_config(
        "prefix-long",
        "[program.long]\ncommand = [\"sh\", \"-c\", \"head -c 10000 /dev/zero | tr '\\\\0' x; echo; echo after\"]\noutput = \"prefix\"\nrestart = \"no\"\n",
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let shape: Vec<(String, usize)> = done
        .out
        .iter()
        .map(|line| {
            let (head, text) = line.split_at(7);
            assert!(text.bytes().all(|b| b == b'x') || text == "after", "{line:?}");
            (head.to_string(), text.len())
        })
        .collect();
    let expected = [
        ("long + ", 4000),
        ("long + ", 4000),
        ("long | ", 2000),
        ("long | ", 5),
    ];
    let expected: Vec<(String, usize)> = expected.iter().map(|(h, n)| (h.to_string(), *n)).collect();
    assert_eq!(shape, expected);
}

/// Whether `text` starts with `2026-12-05T17:00:00.123Z ` (any time).
fn stamped(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 25
        && b[..24].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && b[24] == b' '
}

#[test]
fn timestamps_start_prefixed_lines_and_rinits_messages() {
    let done = run_config(
        "timestamps",
        "timestamps = true\n[program.web]\ncommand = [\"echo\", \"hello\"]\noutput = \"prefix\"\nrestart = \"no\"\n\
         [program.plain]\ncommand = [\"echo\", \"as is\"]\noutput = \"prefix\"\ntimestamps = false\nrestart = \"no\"\n",
    );
    assert_eq!(done.code(), 0, "{:?}", done.err);
    let web = done
        .out
        .iter()
        .find(|l| l.ends_with("web | hello"))
        .expect("web's line");
    assert!(
        stamped(web) && web.len() == 24 + 1 + "web | hello".len(),
        "{web:?}"
    );
    assert!(done.out.contains(&"plain | as is".to_string()), "{:?}", done.out);
    for line in &done.err {
        assert!(stamped(line) && line[25..].starts_with("rinit: "), "{line:?}");
    }
}

#[test]
fn rinits_own_messages_as_json() {
    let done = run_config(
        "log-json",
        "log_format = \"json\"\n[program.web]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\n",
    );
    assert_eq!(done.code(), 1);
    let checked = python(
        "import json, sys\n\
         for l in sys.stdin:\n\
         \x20   o = json.loads(l)\n\
         \x20   assert set(o) == {'time', 'program', 'level', 'line'} and o['program'] == 'rinit', o\n\
         \x20   print(o['level'], o['line'])\n",
        &done.err.join("\n"),
    );
    assert_eq!(
        checked.lines().collect::<Vec<_>>(),
        [
            "warn web ended (exit code 3); not restarted (restart = no)",
            "info every program has ended"
        ]
    );
}

#[test]
fn bad_output_and_log_formats_name_the_choices() {
    let dir = temp_dir("log-bad");
    let file = dir.join("rinit.toml");
    std::fs::write(
        &file,
        "[rinit]\nlog_format = \"text\"\n[program.a]\ncommand = \"true\"\noutput = \"jsonl\"\n",
    )
    .unwrap();
    let done = run(plain(&["check", "-c", file.to_str().unwrap()]));
    assert_eq!(done.code(), 2);
    let at = |place: &str, rest: &str| format!("rinit: {}:{place}: {rest}", file.display());
    assert_eq!(
        done.err,
        [
            at("2:14", "key log_format: \"text\" is not one of \"plain\", \"json\""),
            at(
                "5:10",
                "program a: key output: \"jsonl\" is not one of \"inherit\", \"prefix\", \"null\", \"json\": did you mean `\"json\"`?"
            ),
        ]
    );
}
