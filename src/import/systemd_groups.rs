//! The units that are not services: a `.target` becomes a group of the
//! programs it wants (or that name it in `PartOf=` or `WantedBy=`); a
//! `.socket` becomes a finding at the service it starts, since rinit does
//! not open sockets for programs: a warning where the program binds the
//! address itself (its command names it), else an error.

use super::model::{Import, Program};
use super::systemd::{Kind, Known, Unit};
use super::text::list;

/// `.socket`: the service it starts loses its socket activation. Over 50
/// lines: which service, its addresses and the three outcomes together.
pub fn socket(unit: &Unit, units: &[Unit], known: &Known, import: &mut Import) {
    let stem = unit.full.trim_end_matches(".socket");
    let accept = matches!(unit.get("Accept"), Some("yes" | "true" | "1" | "on"));
    let service = match (unit.get("Service"), accept) {
        (Some(service), _) => service.to_string(),
        (None, true) => format!("{stem}@.service"),
        (None, false) => format!("{stem}.service"),
    };
    let listens: Vec<(&str, &str)> = unit
        .sections
        .iter()
        .filter(|s| s.name == "Socket")
        .flat_map(|s| &s.entries)
        .filter(|e| e.key.starts_with("Listen"))
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    let shown: Vec<String> = listens.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let shown = shown.join(" ");
    let Some(programs) = known.programs_of(&service) else {
        import.file(&unit.file).warn(&format!(
            "{}: the service it starts, {service}, is not among the units given: nothing listens on {shown}",
            unit.full
        ));
        return;
    };
    let command: String = units
        .iter()
        .filter(|u| u.full == service)
        .flat_map(|u| &u.sections)
        .flat_map(|s| &s.entries)
        .filter(|e| e.key == "ExecStart")
        .map(|e| e.value.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let binds = !listens.is_empty() && listens.iter().all(|(_, address)| names(&command, address));
    for name in programs {
        let Some(p) = import.program(name) else {
            continue;
        };
        p.at = None;
        let text = match (accept, binds) {
            (true, _) => format!(
                "{} (Accept=yes) ran one copy per connection, the connection as its stdin; rinit cannot: run a server \
                 that accepts the connections on {shown} itself",
                unit.full
            ),
            (false, true) => format!(
                "socket activation by {} is lost: the program binds {shown} itself (its command names the address), \
                 and connections that come before it is up are refused instead of queued",
                unit.full
            ),
            (false, false) => format!(
                "{} opens {shown} and hands the socket to the program (socket activation); rinit does not, and the \
                 command names no such address: make the program bind it itself",
                unit.full
            ),
        };
        match (accept, binds) {
            (false, true) => p.warn(&text),
            _ => p.error(&text),
        }
    }
}

/// Whether `command` names the address of a `Listen*=` value: the path, or
/// the port.
fn names(command: &str, address: &str) -> bool {
    if address.starts_with(['/', '@']) {
        return command.contains(address);
    }
    let port = address.rsplit(':').next().unwrap_or(address);
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && command.split(|c: char| !c.is_ascii_digit()).any(|n| n == port)
}

/// A `.target` as a group of the programs of the given units it wants,
/// requires, or that name it in `PartOf=`, `WantedBy=` or `RequiredBy=`;
/// None (and a warning) when that is none. Over 50 lines: both ways a
/// service joins a target, in one place.
pub fn target(unit: &Unit, units: &[Unit], known: &Known, import: &mut Import) -> Option<Program> {
    let mut g = Program::group(unit.name.clone(), &unit.file);
    if import.program(&g.name).is_some() {
        g.name.push_str("-target");
        g.note(&format!(
            "named {} since a program is named {}",
            g.name, unit.name
        ));
    }
    let mut members: Vec<String> = Vec::new();
    let add = |programs: &[String], members: &mut Vec<String>| {
        for program in programs {
            if !members.contains(program) {
                members.push(program.clone());
            }
        }
    };
    for section in &unit.sections {
        for entry in &section.entries {
            g.at(entry.line);
            match entry.key.as_str() {
                "Wants" | "Requires" | "BindsTo" | "Upholds" => {
                    for other in entry.value.split_whitespace() {
                        match known.programs_of(other) {
                            Some(programs) => add(programs, &mut members),
                            None => g.outside(other),
                        }
                    }
                }
                "Description" => g.remark(&entry.value),
                key => g.inert(key),
            }
        }
    }
    for other in units
        .iter()
        .filter(|u| matches!(u.kind, Kind::Service | Kind::Template))
    {
        let names_it = ["PartOf", "WantedBy", "RequiredBy"].iter().any(|k| {
            other
                .get(k)
                .is_some_and(|v| v.split_whitespace().any(|t| t == unit.full))
        });
        if names_it {
            add(known.programs_of(&other.full).unwrap_or_default(), &mut members);
        }
    }
    g.at = None;
    if members.is_empty() {
        import.file(&unit.file).warn(&format!(
            "{}: no group, since it wants none of the services given",
            unit.full
        ));
        return None;
    }
    g.set("programs", list(&members));
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_tells_a_command_that_binds_the_socket() {
        assert!(names(
            "gunicorn --bind unix:/run/gunicorn.sock app",
            "/run/gunicorn.sock"
        ));
        assert!(names("app --port=8000", "8000"));
        assert!(names("app -b 0.0.0.0:8000", "0.0.0.0:8000"));
        assert!(!names("app --port=80001", "8000"));
        assert!(!names("gunicorn app.wsgi", "/run/gunicorn.sock"));
    }
}
