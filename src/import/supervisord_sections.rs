//! The supervisord sections other than `[program:x]`: `[group:x]` as rinit
//! groups, `[eventlistener:x]` (one that ends supervisord, or acts on
//! FATAL, as `critical`), `[supervisord]` (`environment` → `[env]`, `user`
//! onto the programs), `[fcgi-program:x]` (an error: rinit opens no socket
//! for it) and the control sections, which rinit's control socket replaces.

use std::path::Path;

use super::ini::Section;
use super::model::{Import, Program};
use super::supervisord::Source;
use super::supervisord_values::{environment, expand, Context};
use super::text::{list, name};

/// Any section but `[program:x]`, `[group:x]`, `[eventlistener:x]` and
/// `[supervisord]`.
pub fn other(kind: &str, section: &Section, source: &Source, import: &mut Import) {
    let file = import.file(&source.file);
    file.at(section.line);
    match kind {
        "include" => {}
        "unix_http_server" | "inet_http_server" | "supervisorctl" | "rpcinterface" | "ctlplugin" => {
            file.inert(&format!("[{}]", section.name))
        }
        "fcgi-program" => {
            let socket = section.get("socket").unwrap_or("");
            file.error(&format!(
                "[{}] dropped: supervisord opens its socket ({socket}) and hands it to the program as its stdin; rinit \
                 does not, so run the application as a [program.x] that binds the address itself (e.g. uwsgi --socket \
                 or gunicorn --bind)",
                section.name
            ));
        }
        _ => file.warn(&format!(
            "[{}] dropped: not a section rinit import knows",
            section.name
        )),
    }
}

/// `[supervisord]`: `environment` → `[env]`, the rest is supervisord's own.
/// Returns a `user` other than root, with the file: supervisord ran every
/// program as that user.
pub fn supervisord(
    section: &Section,
    source: &Source,
    import: &mut Import,
) -> Result<Option<(String, String)>, String> {
    let mut user = None;
    for entry in &section.entries {
        let file = import.file(&source.file);
        file.at(entry.line);
        match entry.key.as_str() {
            "environment" => {
                let ctx = Context {
                    program: "supervisord",
                    group: "supervisord",
                    here: &source.here,
                    numprocs: "1",
                    instances: false,
                    command: false,
                };
                let value = expand(&entry.value, &ctx, file);
                let pairs = environment(&value)
                    .map_err(|e| format!("{}:{}: environment: {e}", source.file, entry.line))?;
                for (k, v) in pairs {
                    import.env.env(&k, v);
                }
            }
            "user" if entry.value != "root" && entry.value != "0" => {
                user = Some((entry.value.clone(), source.file.clone()));
            }
            // supervisord raised its own limits to these; its programs inherited them.
            key @ ("minfds" | "minprocs") if entry.value.trim().parse::<u64>().is_ok() => {
                let limit = if key == "minfds" { "nofile" } else { "nproc" };
                let setting = format!("[supervisord] {key}={}", entry.value.trim());
                import
                    .minimum_limits
                    .push((limit, entry.value.trim().to_string(), setting));
            }
            key => file.inert(&format!("[supervisord] {key}")),
        }
    }
    Ok(user)
}

/// `[group:x] programs=a,b` → `[group.x] programs = [...]`.
pub fn group(raw: &str, section: &Section, source: &Source, import: &mut Import) -> Result<(), String> {
    let (group_name, renamed) = name(raw);
    let mut g = Program::group(group_name, &source.file);
    g.at(section.line);
    if let Some(renamed) = renamed {
        g.note(&renamed);
    }
    let mut members = Vec::new();
    for entry in &section.entries {
        g.at(entry.line);
        match entry.key.as_str() {
            "programs" => {
                for member in entry.value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                    let member = name(member).0;
                    if import.program(&member).is_some() {
                        members.push(member);
                    } else {
                        g.warn(&format!("{member} left out: no such program"));
                    }
                }
            }
            key => g.inert(key),
        }
    }
    g.set("programs", list(&members));
    import.add(g, true, &source.file)
}

/// What an `[eventlistener:x]` does, as far as rinit can tell.
struct Listener {
    /// Its command (or the script it runs) stops supervisord.
    kills: bool,
    /// It hears of programs that gave up (FATAL).
    fatal: bool,
    /// It hears of every exit or stop.
    exits: bool,
    /// The programs it is about: those named with `-p`, else all.
    watched: Vec<String>,
}

/// `[eventlistener:x]`: FATAL (what crashmail and "stop supervisord on
/// fatal" act on) makes the programs critical; one that stops supervisord
/// on any exit is a warning saying how to get the same. Over 50 lines: the
/// four cases and their messages read best side by side.
pub fn listener(raw: &str, section: &Section, source: &Source, import: &mut Import, first: usize) {
    let heard = read_listener(section, source, import.root.as_deref());
    let programs = import.programs.get_mut(first..).unwrap_or_default();
    let about: Vec<&mut Program> = programs
        .iter_mut()
        .filter(|p| heard.watched.is_empty() || heard.watched.contains(&p.name))
        .collect();
    let names: Vec<String> = about.iter().map(|p| p.name.clone()).collect();
    let events = section.get("events").unwrap_or("");
    let head = format!("[eventlistener:{raw}] events={events}");
    if heard.fatal {
        for program in about {
            program.set("critical", "true".into());
            program.note(&format!(
                "critical = true from [eventlistener:{raw}]: when it fails for good, the container ends"
            ));
        }
    }
    let text = match (heard.kills, heard.fatal, heard.exits) {
        (true, true, false) => {
            let file = import.file(&source.file);
            file.at(section.line).note(&format!(
                "{head} stops supervisord when a program gives up: its programs are critical instead"
            ));
            return;
        }
        (true, fatal, true) => format!(
            "{head} dropped: it stops supervisord whenever a program exits or stops, even one that would be \
             restarted; rinit ends the container when a critical program ends for good{}: for the same, set \
             {}restart = \"no\" on {}",
            if fatal { " (critical = true is set)" } else { "" },
            if fatal { "" } else { "critical = true and " },
            names.join(", ")
        ),
        (true, false, false) => format!(
            "{head} dropped: it stops supervisord on these events; rinit has no events: to end the container \
             when a program ends, set critical = true on {}",
            names.join(", ")
        ),
        (false, true, _) => format!(
            "{head} dropped: rinit has no events, so its command does not run (no crash mail); instead its \
             programs are critical = true: when one fails for good, the container ends"
        ),
        (false, false, _) => format!(
            "{head} dropped: rinit has no events, so its command does not run; output relays are output = \"prefix\""
        ),
    };
    import.file(&source.file).at(section.line).warn(&text);
}

/// What the listener's command, and the script it runs, tell.
fn read_listener(section: &Section, source: &Source, root: Option<&Path>) -> Listener {
    let events = section.get("events").unwrap_or("");
    let has = |names: &[&str]| events.split(',').any(|e| names.contains(&e.trim()));
    let command = section.get("command").unwrap_or("");
    let words = crate::config::shell_words::split(command).unwrap_or_default();
    let watched = words
        .windows(2)
        .filter_map(|pair| match pair {
            [flag, program] if flag == "-p" || flag == "--program" => Some(name(program).0),
            _ => None,
        })
        .collect();
    // The scripts it runs: words that name a readable file.
    let mut text = command.to_string();
    for word in words.iter().filter(|w| w.contains('/')) {
        let path = match (root, word.strip_prefix('/')) {
            (Some(root), Some(inside)) => root.join(inside),
            _ => source.dir.join(word),
        };
        if let Ok(script) = crate::config::input::read_text(&path) {
            text.push('\n');
            text.push_str(&script);
        }
    }
    Listener {
        kills: kills_supervisord(&text),
        fatal: has(&["PROCESS_STATE_FATAL", "PROCESS_STATE"]),
        exits: has(&["PROCESS_STATE_EXITED", "PROCESS_STATE_STOPPED", "PROCESS_STATE"]),
        watched,
    }
}

/// Whether `text` stops supervisord: `kill` with supervisord's pid (its pid
/// file, `$PPID`, `getppid`), or `supervisorctl shutdown`.
fn kills_supervisord(text: &str) -> bool {
    let kill = text.contains("kill");
    let target = ["supervisord", "$PPID", "getppid", "${PPID}"]
        .iter()
        .any(|t| text.contains(t));
    (kill && target) || (text.contains("supervisorctl") && text.contains("shutdown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_tells_listeners_that_stop_supervisord() {
        assert!(kills_supervisord(
            "kill -s SIGINT $(cat /var/run/supervisord.pid)"
        ));
        assert!(kills_supervisord("bash -c 'read line; kill -SIGQUIT $PPID'"));
        assert!(kills_supervisord("supervisorctl -c /etc/s.conf shutdown"));
        assert!(kills_supervisord("os.kill(os.getppid(), signal.SIGTERM)"));
        assert!(!kills_supervisord("crashmail -a -m root@localhost"));
    }
}
