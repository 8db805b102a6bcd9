//! systemd units given together: each `.service` becomes a program; a
//! template `NAME@.service` becomes the programs of its instances (named on
//! the command line, or wanted by a given unit): `instances = N` when they
//! are numbered, else one program each; each `.target` a group; each
//! `.socket` a finding at the service it starts. Dependencies between the
//! given units become `after`, either way round (`Before=`).

use std::path::PathBuf;

use super::ini::{self, Section};
use super::model::{Import, Program};
use super::systemd_exec;
use super::systemd_groups as groups;
use super::systemd_options::{service_option, unit_option};
use super::systemd_values::{uses_instance, Instance, UnitName};
use super::text::name;

pub struct Unit {
    pub file: String,
    /// The unit's name: the file name, `app.service`.
    pub full: String,
    /// The program or group it becomes.
    pub name: String,
    pub kind: Kind,
    pub sections: Vec<Section>,
}

#[derive(PartialEq, Clone, Copy)]
pub enum Kind {
    Service,
    Template,
    Target,
    Socket,
}

impl Unit {
    /// The last value of `key` in any section.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.sections.iter().rev().find_map(|s| s.get(key))
    }

    /// Every value of `key` in `section`, split at spaces.
    pub fn names<'a>(&'a self, section: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.sections
            .iter()
            .filter(move |s| s.name == section)
            .flat_map(|s| &s.entries)
            .filter(move |e| e.key == key)
            .flat_map(|e| e.value.split_whitespace())
    }
}

/// What the given units become, for the units that name each other.
pub struct Known {
    /// Each unit's name with the programs it became.
    programs: Vec<(String, Vec<String>)>,
    pub sockets: Vec<String>,
    pub targets: Vec<String>,
}

impl Known {
    pub fn programs_of(&self, unit: &str) -> Option<&[String]> {
        let found = self.programs.iter().find(|(u, _)| u == unit);
        found.map(|(_, programs)| programs.as_slice())
    }

    /// Whether `unit` is a given target or socket.
    pub fn given(&self, unit: &str) -> bool {
        self.sockets.iter().chain(&self.targets).any(|u| u == unit)
    }
}

/// `x@.service` for the instance `x@1.service`.
fn template_of(full: &str) -> Option<(String, String)> {
    let (stem, suffix) = full.rsplit_once('.')?;
    let (prefix, instance) = stem.split_once('@')?;
    (!instance.is_empty()).then(|| (format!("{prefix}@.{suffix}"), instance.to_string()))
}

/// Whether `file` names an instance of a template among `given` (it is then
/// not read: systemd has no file for it either).
pub fn is_instance_of_given(file: &str, given: &[String]) -> bool {
    template_of(file).is_some_and(|(template, _)| given.contains(&template))
}

/// At most this many programs of one template's named instances: each is a
/// copy of the whole unit, so that an import stays bounded by what it read.
const EACH_MAX: usize = 32;

/// How a template's instances become programs.
struct Form {
    /// One program with `instances = N` (else one program each).
    numbered: bool,
    /// The instances' names, in the order they were named.
    instances: Vec<String>,
}

/// The units of `files` (an instance named on the command line has no
/// text) as programs and groups. Over 50 lines: each kind of unit in its
/// turn, since each needs what the ones before became.
pub fn import(files: &[(PathBuf, Option<String>)], import: &mut Import) -> Result<(), String> {
    let mut units: Vec<Unit> = Vec::new();
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (path, text) in files {
        let full = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(text) = text else {
            wanted.extend(template_of(&full));
            continue;
        };
        let unit = parse(path, full, text, import)?;
        if units.iter().any(|u| u.name == unit.name && u.kind == unit.kind) {
            return Err(format!("{}: a second unit named {}", unit.file, unit.name));
        }
        units.push(unit);
    }
    let given: Vec<String> = units.iter().map(|u| u.full.clone()).collect();
    for unit in &units {
        for key in ["Wants", "Requires", "BindsTo", "Upholds"] {
            let instances = unit
                .names("Unit", key)
                .filter(|n| is_instance_of_given(n, &given));
            wanted.extend(instances.filter_map(template_of));
        }
    }
    let mut forms = Vec::new();
    for unit in units.iter().filter(|u| u.kind == Kind::Template) {
        let mut instances: Vec<String> = Vec::new();
        for (_, instance) in wanted.iter().filter(|(t, _)| *t == unit.full) {
            if !instances.contains(instance) {
                instances.push(instance.clone());
            }
        }
        if instances.is_empty() {
            import.file(&unit.file).warn(&format!(
                "{} is a template that no given unit wants and no instance was named: no program; name its \
                 instances on the command line ({}1.service) or in a target's Wants=",
                unit.full,
                unit.full.trim_end_matches(".service")
            ));
        }
        forms.push((unit.full.clone(), form(instances, unit)));
    }
    let known = known(&units, &forms);
    for unit in &units {
        match unit.kind {
            Kind::Service => {
                let p = service(unit, unit.name.clone(), &UnitName::parse(&unit.full), &known)?;
                import.add(p, false, &unit.file)?;
            }
            Kind::Template => template(unit, &forms, &known, import)?,
            Kind::Target | Kind::Socket => {}
        }
    }
    for unit in units
        .iter()
        .filter(|u| matches!(u.kind, Kind::Service | Kind::Template))
    {
        before(unit, &known, import);
    }
    for unit in units.iter().filter(|u| u.kind == Kind::Socket) {
        groups::socket(unit, &units, &known, import);
    }
    for unit in units.iter().filter(|u| u.kind == Kind::Target) {
        if let Some(group) = groups::target(unit, &units, &known, import) {
            import.add(group, true, &unit.file)?;
        }
    }
    Ok(())
}

fn parse(path: &std::path::Path, full: String, text: &str, import: &mut Import) -> Result<Unit, String> {
    let file = path.display().to_string();
    let (stem, suffix) = full.rsplit_once('.').unwrap_or((&full, ""));
    let kind = match suffix {
        "target" => Kind::Target,
        "socket" => Kind::Socket,
        _ if stem.ends_with('@') => Kind::Template,
        _ => Kind::Service,
    };
    let (name, renamed) = name(stem.trim_end_matches('@'));
    if let Some(renamed) = renamed.filter(|_| kind == Kind::Service) {
        import.file(&file).note(&renamed);
    }
    let sections = ini::parse(text, &file, true)?;
    Ok(Unit {
        file,
        full,
        name,
        kind,
        sections,
    })
}

/// Numbered instances (0..N-1, or 1..N where the unit does not use the
/// instance) become `instances = N`; `${RINIT_INSTANCE}` counts from 0, and
/// only `command` may hold it. Others become one program each.
fn form(instances: Vec<String>, unit: &Unit) -> Form {
    let n = instances.len();
    let range = |from: usize| (from..from.saturating_add(n)).all(|i| instances.contains(&i.to_string()));
    let (mut in_command, mut elsewhere) = (false, false);
    for section in unit.sections.iter().filter(|s| s.name != "Install") {
        for entry in section.entries.iter().filter(|e| uses_instance(&e.value)) {
            match entry.key.as_str() {
                "ExecStart" | "ExecStartPre" => in_command = true,
                "Description" | "Documentation" => {}
                _ => elsewhere = true,
            }
        }
    }
    let numbered = n > 0 && n <= 1000 && !elsewhere && (range(0) || (range(1) && !in_command));
    Form { numbered, instances }
}

/// The program names of `prefix`'s instance `instance`.
fn each_name(prefix: &str, instance: &str) -> String {
    name(&format!("{prefix}-{instance}")).0
}

/// Each given unit with the programs it becomes.
fn known(units: &[Unit], forms: &[(String, Form)]) -> Known {
    let mut programs = Vec::new();
    for unit in units {
        match unit.kind {
            Kind::Service => programs.push((unit.full.clone(), vec![unit.name.clone()])),
            Kind::Template => {
                let Some((_, form)) = forms.iter().find(|(t, _)| *t == unit.full) else {
                    continue;
                };
                let prefix = unit.full.trim_end_matches("@.service");
                let mut all = Vec::new();
                let shown = if form.numbered {
                    form.instances.len()
                } else {
                    EACH_MAX
                };
                for instance in form.instances.iter().take(shown) {
                    let program = match form.numbered {
                        true => unit.name.clone(),
                        false => each_name(prefix, instance),
                    };
                    programs.push((format!("{prefix}@{instance}.service"), vec![program.clone()]));
                    if !all.contains(&program) {
                        all.push(program);
                    }
                }
                programs.push((unit.full.clone(), all));
            }
            Kind::Target | Kind::Socket => {}
        }
    }
    let of = |kind: Kind| {
        units
            .iter()
            .filter(|u| u.kind == kind)
            .map(|u| u.full.clone())
            .collect()
    };
    Known {
        programs,
        sockets: of(Kind::Socket),
        targets: of(Kind::Target),
    }
}

/// A `.service` as a program, option by option, its command first.
fn service(unit: &Unit, name: String, names: &UnitName, known: &Known) -> Result<Program, String> {
    let mut p = Program::new(name, &unit.file);
    p.command_hint = unit.get("ExecStart").map(str::to_string);
    p.oneshot = unit.get("Type") == Some("oneshot");
    let notify = matches!(unit.get("Type"), Some("notify" | "notify-reload"));
    systemd_exec::command(&mut p, &unit.sections, names, &unit.file)?;
    for section in &unit.sections {
        for entry in &section.entries {
            p.at(entry.line);
            let bad = |what: String| format!("{}:{}: {}: {what}", unit.file, entry.line, entry.key);
            match section.name.as_str() {
                "Unit" => unit_option(&mut p, entry, known),
                "Service" => service_option(&mut p, entry, names, notify).map_err(bad)?,
                "Install" => p.inert(&entry.key),
                other => p.warn(&format!(
                    "[{other}] {}={} dropped: no rinit equivalent",
                    entry.key, entry.value
                )),
            }
        }
    }
    p.at = None;
    Ok(p)
}

/// A template's programs: one with `instances = N`, or one per instance.
fn template(unit: &Unit, forms: &[(String, Form)], known: &Known, import: &mut Import) -> Result<(), String> {
    let Some((_, form)) = forms.iter().find(|(t, _)| *t == unit.full) else {
        return Ok(());
    };
    if form.instances.is_empty() {
        return Ok(());
    }
    let prefix = unit.full.trim_end_matches("@.service");
    let listed = |instances: &[String]| {
        let names: Vec<String> = instances
            .iter()
            .map(|i| format!("{prefix}@{i}.service"))
            .collect();
        names.join(" ")
    };
    if form.numbered {
        let names = UnitName {
            instance: Instance::Numbered,
            ..UnitName::parse(&unit.full)
        };
        let mut p = service(unit, unit.name.clone(), &names, known)?;
        p.set("instances", form.instances.len().to_string());
        let from = match form.instances.iter().any(|i| i == "0") {
            true => "",
            false => "; rinit numbers them from 0 (the unit does not use its instance name)",
        };
        p.note(&format!(
            "{} became instances = {}, each with RINIT_INSTANCE = 0 to {}{from}",
            listed(&form.instances),
            form.instances.len(),
            form.instances.len().saturating_sub(1)
        ));
        return import.add(p, false, &unit.file);
    }
    if form.instances.len() > EACH_MAX {
        import.file(&unit.file).warn(&format!(
            "{} has {} instances that are not numbered 0 to N-1: only the first {EACH_MAX} become programs",
            unit.full,
            form.instances.len()
        ));
    }
    for instance in form.instances.iter().take(EACH_MAX) {
        let full = format!("{prefix}@{instance}.service");
        let p = service(unit, each_name(prefix, instance), &UnitName::parse(&full), known)?;
        import.add(p, false, &unit.file)?;
    }
    Ok(())
}

/// `Before=` a given unit: that unit's programs come `after` this one's.
fn before(unit: &Unit, known: &Known, import: &mut Import) {
    let Some(mine) = known.programs_of(&unit.full) else {
        return;
    };
    for other in unit.names("Unit", "Before") {
        for program in known.programs_of(other).unwrap_or_default() {
            let Some(p) = import.program(program) else {
                continue;
            };
            for name in mine.iter().filter(|n| **n != p.name) {
                if !p.after.contains(name) {
                    p.after.push(name.clone());
                }
            }
        }
    }
}
