//! A service's command from its `ExecStartPre=` and `ExecStart=` lines: one
//! `ExecStart=` as a rinit command string; several (`Type=oneshot`), with
//! `ExecStartPre=`, or where a `$NAME` must be split into words, as one
//! `sh -c` script that runs them in order as systemd does.

use super::ini::Section;
use super::model::Program;
use super::shell::{self, Dialect, Word};
use super::systemd_values::{dollars, specifiers, UnitName};
use super::text::sh_command;

/// The prefixes of one `ExecStart=` line, and what follows them.
struct Line<'a> {
    number: usize,
    /// `-`: its failure is ignored.
    ignore: bool,
    /// `@`: its second word is argv[0].
    argv0: bool,
    /// `+`, `!`, `!!`: it ran with privileges.
    privileged: bool,
    /// `:`: no `$` expansion.
    verbatim: bool,
    command: &'a str,
}

fn line(number: usize, value: &str) -> Line<'_> {
    let command = value.trim_start_matches(['-', '@', '+', '!', ':', '|']);
    let prefixes = value.strip_suffix(command).unwrap_or_default();
    Line {
        number,
        ignore: prefixes.contains('-'),
        argv0: prefixes.contains('@'),
        privileged: prefixes.contains(['+', '!']),
        verbatim: prefixes.contains(':'),
        command,
    }
}

/// The lines of `key` in `[Service]`, an empty one clearing those before.
fn lines<'a>(sections: &'a [Section], key: &str) -> Vec<Line<'a>> {
    let mut found = Vec::new();
    let entries = sections
        .iter()
        .filter(|s| s.name == "Service")
        .flat_map(|s| &s.entries)
        .filter(|e| e.key == key);
    for entry in entries {
        match entry.value.is_empty() {
            true => found.clear(),
            false => found.push(line(entry.line, &entry.value)),
        }
    }
    found
}

/// Sets `command` on `p`; Err when the unit has no `ExecStart=`.
pub fn command(p: &mut Program, sections: &[Section], unit: &UnitName, file: &str) -> Result<(), String> {
    let mut starts = lines(sections, "ExecStart");
    let pres = lines(sections, "ExecStartPre");
    let oneshot = p.oneshot;
    if starts.len() > 1 && !oneshot {
        let kept = starts.split_off(starts.len().saturating_sub(1));
        p.at(kept.first().map_or(0, |l| l.number)).error(
            "several ExecStart= lines, which systemd refuses unless Type=oneshot: only the last is kept",
        );
        starts = kept;
    }
    let Some(main) = starts.last() else {
        return Err(format!("{file}: no ExecStart=: rinit needs the command to run"));
    };
    let user = sections.iter().any(|s| s.get("User").is_some());
    for l in pres.iter().chain(&starts) {
        p.at(l.number);
        if l.privileged && user {
            p.warn("a + or ! prefix ran this command with full privileges; rinit runs it as user");
        }
        if shell::celery_multi(l.command) && sections.iter().all(|s| s.get("Type") != Some("forking")) {
            p.error(shell::CELERY_MULTI);
        }
    }
    p.at(main.number);
    if main.ignore && !oneshot {
        p.warn("the - prefix made systemd ignore its failure; rinit counts it (add its exit codes to success_exit_codes)");
    }
    if pres.is_empty() && starts.len() == 1 && !main.argv0 && !(main.ignore && oneshot) {
        let words = words(main, unit, p)?;
        if !shell::splits(&words) {
            p.text("command", &shell::rinit_words(&words));
            return Ok(());
        }
        return script(p, &[], &starts, unit, Some(words));
    }
    script(p, &pres, &starts, unit, None)
}

/// All the lines as one `sh -c` script: each runs once the one before it
/// has succeeded (`(... || true)` for a `-` line); the last is `exec`'d.
/// `done`: the words of a single line, already read.
fn script(
    p: &mut Program,
    pres: &[Line],
    starts: &[Line],
    unit: &UnitName,
    mut done: Option<Vec<Word>>,
) -> Result<(), String> {
    let all: Vec<&Line> = pres.iter().chain(starts).collect();
    let mut parts = Vec::new();
    let mut split = false;
    for (i, l) in all.iter().enumerate() {
        let mut words = match done.take() {
            Some(words) => words,
            None => words(l, unit, p)?,
        };
        if l.argv0 && words.len() > 1 {
            words.remove(1);
            p.at(l.number)
                .warn("the @ prefix set argv[0] to its second word; rinit's program sees its own path there");
        }
        split |= shell::splits(&words);
        let text = shell::sh_words(&words);
        let last = i.saturating_add(1) == all.len();
        parts.push(match (l.ignore, last) {
            (true, false) => format!("({text} || true)"),
            (true, true) if p.oneshot => format!("({text} || true)"),
            (_, true) => format!("exec {text}"),
            (false, false) => text,
        });
    }
    let script = format!("{}{}", if split { "set -f; " } else { "" }, parts.join(" && "));
    p.set("command", sh_command(&script));
    p.note(&match (pres.len(), starts.len(), split) {
        (0, 1, true) => "ExecStart= runs under sh -c, so that its $NAME splits into words as systemd splits it".into(),
        (pre, start, _) => format!(
            "{pre} ExecStartPre= and {start} ExecStart= run in order under sh -c, each once the one before succeeded, as systemd runs them"
        ),
    });
    Ok(())
}

/// The words of one line, as systemd splits them after its specifiers and
/// (unless `:`) its variables.
fn words(l: &Line, unit: &UnitName, p: &mut Program) -> Result<Vec<Word>, String> {
    let segs = specifiers(l.command, unit, p);
    let segs = match l.verbatim {
        true => segs,
        false => dollars(segs),
    };
    shell::words(&segs, Dialect::Systemd).map_err(|e| format!("{}:{}: ExecStart: {e}", p.file, l.number))
}
