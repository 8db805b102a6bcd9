//! `rinit reload` as fleet decisions. The new plan is compared with the
//! running one program by program (config/changes.rs) and applied in one
//! step, between two events:
//! - an unchanged program keeps its instances untouched (same pid, same
//!   state); one changed in keys that apply in place (restart policy and
//!   timing, stop settings) keeps them too, with the new values;
//! - a program changed in a key that reaches its process, and every program
//!   that comes after one, gets new instances, which start once the old
//!   ones, stopped as `rinit stop` stops them, are down; a removed program
//!   stops; a new one starts in dependency order;
//! - the old instances stay in the fleet, *retired*: they only stop; no
//!   request names them and no status shows them.
//!
//! A retired program is never a dependency of a live one (a kept program
//! keeps only kept programs before it; new ones come after them in the
//! plan), so the plan stays in start order and stopping in dependency order
//! still stops a retired dependent before what it came after.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::fleet::{Fleet, InstanceId, Kernel, Member, Phase};
use super::instance::Event;
use super::instance::Instance;
use crate::config::{difference, Difference, Group, Plan, Program, ProgramId};
use crate::control::server::ClientId;
use crate::control::{Change, VERSION};

/// What a reload does to the running programs.
pub struct Outline {
    /// For each program of the new plan, the running program it keeps
    /// (None: it gets new instances).
    kept: Vec<Option<ProgramId>>,
    /// The running programs that stop for good or for a new version.
    retired: Vec<ProgramId>,
    /// What it says, one line each: started, stopped, restarted, updated.
    lines: Vec<String>,
    unchanged: usize,
}

impl Outline {
    /// For each program of the new plan, the running program it keeps.
    #[cfg(test)]
    pub fn kept(&self) -> &[Option<ProgramId>] {
        &self.kept
    }

    /// The running programs that stop, for good or for a new version.
    #[cfg(test)]
    pub fn retired(&self) -> &[ProgramId] {
        &self.retired
    }

    /// The summary: `started worker, stopped old, restarted web, unchanged 3`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.lines.clone();
        parts.push(format!("unchanged {}", self.unchanged));
        parts.join(", ")
    }
}

impl<K: Kernel> Fleet<K> {
    /// What replacing the plan by `new` would do. Over 50 lines: each new
    /// program's verdict (new, kept, updated, restarted, and why) in one match.
    pub fn outline(&self, new: &Plan) -> Outline {
        let old = &*self.plan;
        // (Maps of the type validation uses: one copy of their code.)
        let live: HashMap<String, usize> = (0..old.programs.len())
            .filter(|&p| !self.is_retired(ProgramId(p)))
            .map(|p| (old.program(ProgramId(p)).name.clone(), p))
            .collect();
        let mut kept: Vec<Option<ProgramId>> = Vec::with_capacity(new.programs.len());
        let (mut started, mut restarted, mut updated) = (Vec::new(), Vec::new(), Vec::new());
        let mut unchanged = 0usize;
        // The running programs the new plan names.
        let mut named = vec![false; old.programs.len()];
        for program in &new.programs {
            let Some(&was) = live.get(&program.name) else {
                started.push(program.name.clone());
                kept.push(None);
                continue;
            };
            if let Some(mark) = named.get_mut(was) {
                *mark = true;
            }
            // Dependencies come earlier in the plan: each is settled.
            let moved = program
                .after
                .iter()
                .find(|d| kept.get(d.0).is_some_and(Option::is_none));
            let was = ProgramId(was);
            let keep = match (difference(old.program(was), old, program, new), moved) {
                // `main` (the command on rinit's command line) runs until it
                // ends: a reload never restarts it.
                (Difference::Restart(keys), _) if program.is_main => {
                    let keys = keys.join(", ");
                    updated.push(format!(
                        "main (not restarted: it runs until it ends; {keys} changed)"
                    ));
                    true
                }
                (Difference::Restart(keys), _) => {
                    restarted.push(format!("{} ({} changed)", program.name, keys.join(", ")));
                    false
                }
                (_, Some(&d)) if !program.is_main => {
                    let dependency = &new.program(d).name;
                    restarted.push(format!("{} (it comes after {dependency})", program.name));
                    false
                }
                (Difference::InPlace(keys), _) => {
                    updated.push(format!("{} ({} changed)", program.name, keys.join(", ")));
                    true
                }
                (Difference::Same, _) => {
                    unchanged = unchanged.saturating_add(1);
                    true
                }
            };
            kept.push(keep.then_some(was));
        }
        let (retired, stopped) = self.retirements(&kept, &named);
        let mut lines = Vec::new();
        for (verb, names) in [
            ("started", started),
            ("stopped", stopped),
            ("restarted", restarted),
            ("updated in place", updated),
        ] {
            lines.extend(names.into_iter().map(|name| format!("{verb} {name}")));
        }
        Outline {
            kept,
            retired,
            lines,
            unchanged,
        }
    }

    /// The running programs that neither `kept` keeps nor are retired
    /// already (they retire now), in the running plan's order; and the
    /// names of those the new plan does not name (`named`): stopped for good.
    fn retirements(&self, kept: &[Option<ProgramId>], named: &[bool]) -> (Vec<ProgramId>, Vec<String>) {
        let mut is_kept = vec![false; self.plan.programs.len()];
        for was in kept.iter().flatten() {
            if let Some(mark) = is_kept.get_mut(was.0) {
                *mark = true;
            }
        }
        let (mut retired, mut stopped) = (Vec::new(), Vec::new());
        for (p, program) in self.plan.programs.iter().enumerate() {
            if self.is_retired(ProgramId(p)) || is_kept.get(p) == Some(&true) {
                continue;
            }
            retired.push(ProgramId(p));
            if !named.get(p).is_some_and(|&named| named) {
                stopped.push(program.name.clone());
            }
        }
        (retired, stopped)
    }

    /// `rinit reload` for `client` with the new plan: refused (Err, the
    /// plan unused) during shutdown or while another reload's client
    /// waits; else applied, and answered now (Some) with `--no-wait` or
    /// when nothing is to wait for, or later as an `Effect::Answer`. Over
    /// 50 lines: the refusals, the change, then what the client waits for.
    pub fn reload(&mut self, client: ClientId, new: Plan, wait: bool) -> Result<Option<String>, String> {
        let refused = match self.phase {
            Phase::Running if self.drain_ends.is_some() => {
                Some("rinit is draining before it stops: the configuration is not reloaded")
            }
            Phase::Running if self.reload_waits() => {
                Some("another reload waits for its programs: try again when it has answered")
            }
            Phase::Running => None,
            _ => Some("rinit is shutting down: the configuration is not reloaded"),
        };
        if let Some(why) = refused {
            self.count_reload(2);
            return Err(why.to_string());
        }
        let outline = self.outline(&new);
        let before = self.plan.programs.len();
        let warnings = self
            .replace_plan(new, &outline)
            .inspect_err(|_| self.count_reload(2))?;
        self.generation = self.generation.saturating_add(1);
        self.loaded_at = self.kernel.wall_now();
        self.count_reload(0);
        let mut set: Vec<InstanceId> = Vec::new();
        let mut bound = Duration::ZERO;
        // The retired stop; the new ones are waited for (a held or
        // scheduled program is where it should be already).
        for &p in &outline.retired {
            bound = bound.saturating_add(self.plan.program(p).stop_timeout);
            set.extend(self.instances_of(p));
        }
        for p in (before..self.plan.programs.len()).map(ProgramId) {
            let program = self.plan.program(p);
            if program.autostart && program.schedule.is_none() && wait {
                bound = bound.saturating_add(program.ready_timeout);
                set.extend(self.instances_of(p));
            }
        }
        let mut notes = format!("generation {}\n", self.generation);
        for line in warnings.iter().chain(&outline.lines) {
            notes += &format!("{line}\n");
        }
        notes += &format!("unchanged {}\n", outline.unchanged);
        let message = format!(
            "configuration reloaded (generation {}): {}",
            self.generation,
            outline.summary()
        );
        self.push(super::fleet::Effect::Log(crate::log::Level::Info, message));
        if wait && !set.is_empty() {
            self.wait_for(client, Change::Start, &set, notes.clone(), bound, true);
        }
        let waits = wait && !set.is_empty();
        for &i in &set {
            let retired = self.is_retired(self.member(i).program);
            let change = if retired { Change::Stop } else { Change::Start };
            self.deliver(
                i,
                Event::Request {
                    id: waits.then_some(client),
                    change,
                },
            );
        }
        Ok((!wait || set.is_empty()).then(|| format!("{VERSION} ok\n{notes}")))
    }

    /// Counts a reload by its outcome (an index into `RELOAD_OUTCOMES`).
    pub fn count_reload(&mut self, outcome: usize) {
        if let Some(count) = self.reloads.get_mut(outcome) {
            *count = count.saturating_add(1);
        }
    }

    /// The configuration's generation, when it was loaded (seconds since
    /// the epoch), and the reloads by outcome.
    pub fn generation(&self) -> (u64, i64, [u64; 3]) {
        (self.generation, self.loaded_at, self.reloads)
    }

    /// Makes the plan the running one's programs (kept ones with their new
    /// settings, retired ones as they were), then the new programs, in the
    /// new plan's order; adds their instances. Returns the warnings about
    /// settings that cannot change while rinit runs. Over 50 lines: where
    /// each program goes, then the plan made of them, in one place.
    fn replace_plan(&mut self, new: Plan, outline: &Outline) -> Result<Vec<String>, String> {
        let (old, warnings) = self.take_plan(&new)?;
        let first_new = old.programs.len();
        let mut programs: Vec<Program> = old.programs;
        let mut incoming: Vec<Option<Program>> = new.programs.into_iter().map(Some).collect();
        // Where each program of the new plan ends up.
        let mut place: Vec<ProgramId> = Vec::with_capacity(incoming.len());
        let mut appended = 0usize;
        for kept in &outline.kept {
            place.push(kept.unwrap_or_else(|| {
                appended = appended.saturating_add(1);
                ProgramId(first_new.saturating_add(appended).saturating_sub(1))
            }));
        }
        let at = |p: &ProgramId| place.get(p.0).copied().unwrap_or(*p);
        for (n, kept) in outline.kept.iter().enumerate() {
            let Some(mut program) = incoming.get_mut(n).and_then(Option::take) else {
                continue;
            };
            match kept {
                Some(was) => {
                    if let Some(slot) = programs.get_mut(was.0) {
                        // The order it had (main's: what is still there).
                        program.after = std::mem::take(&mut slot.after);
                        *slot = program;
                    }
                }
                None => {
                    program.after = program.after.iter().map(at).collect();
                    programs.push(program);
                }
            }
        }
        self.retire(&outline.retired, &mut programs, first_new);
        let groups = new
            .groups
            .into_iter()
            .map(|group| Group {
                name: group.name,
                programs: group.programs.iter().map(at).collect(),
            })
            .collect();
        self.plan = Rc::new(Plan {
            shutdown_timeout: new.shutdown_timeout,
            drain: new.drain,
            log_format: new.log_format,
            control_socket: old.control_socket,
            http: old.http,
            programs,
            groups,
        });
        self.add_members(first_new);
        Ok(warnings)
    }

    /// The running plan, taken out of the fleet to be rebuilt, and the
    /// warnings about what `new` would change that cannot change.
    fn take_plan(&mut self, new: &Plan) -> Result<(Plan, Vec<String>), String> {
        let placeholder = Plan {
            shutdown_timeout: Duration::ZERO,
            drain: Duration::ZERO,
            log_format: new.log_format,
            control_socket: None,
            http: None,
            programs: Vec::new(),
            groups: Vec::new(),
        };
        let old = std::mem::replace(&mut self.plan, Rc::new(placeholder));
        // The supervisor holds the plan only for the length of a call.
        let old = match Rc::try_unwrap(old) {
            Ok(old) => old,
            Err(shared) => {
                self.plan = shared;
                return Err("internal: the running plan is in use; nothing changed".into());
            }
        };
        let mut warnings = Vec::new();
        if new.control_socket != old.control_socket {
            warnings.push(
                "warning: control_socket cannot change while rinit runs: it stays as it was".to_string(),
            );
        }
        if new.http != old.http {
            warnings.push("warning: http cannot change while rinit runs: it stays as it was".to_string());
        }
        Ok((old, warnings))
    }

    /// Marks `retired` (of the running plan's first `first_new` programs)
    /// retired; main's `after` keeps only what is not; each program from
    /// `first_new` on waits for the retired programs of its name.
    fn retire(&mut self, retired: &[ProgramId], programs: &mut [Program], first_new: usize) {
        for &p in retired {
            if let Some(slot) = self.retired.get_mut(p.0) {
                *slot = true;
            }
        }
        // Main's `after` holds only what is not retired.
        let retired = self.retired.clone();
        for program in programs.iter_mut().filter(|p| p.is_main) {
            program.after.retain(|d| retired.get(d.0) != Some(&true));
        }
        self.retired.resize(programs.len(), false);
        self.replaces.resize(programs.len(), Vec::new());
        for p in first_new..programs.len() {
            let name = programs
                .get(p)
                .map(|program| program.name.clone())
                .unwrap_or_default();
            let old_versions: Vec<ProgramId> = (0..first_new)
                .map(ProgramId)
                .filter(|&r| self.is_retired(r) && programs.get(r.0).is_some_and(|o| o.name == name))
                .collect();
            if let Some(slot) = self.replaces.get_mut(p) {
                *slot = old_versions;
            }
        }
    }

    /// The instances of the plan's programs from `first` on (all at start,
    /// those a reload added after), their schedules, and who comes after whom.
    pub(super) fn add_members(&mut self, first: usize) {
        let plan = Rc::clone(&self.plan);
        let first_member = self.members.len();
        for (index, program) in plan.programs.iter().enumerate().skip(first) {
            let start = self.members.len();
            for (number, name) in program.instance_names().into_iter().enumerate() {
                self.members.push(Member {
                    program: ProgramId(index),
                    number: program.instances.map(|_| number as u32),
                    instance: Instance::new(name, program),
                });
            }
            self.of_program.push(start..self.members.len());
        }
        self.dependents = vec![Vec::new(); plan.programs.len()];
        for (index, program) in plan.programs.iter().enumerate() {
            for dependency in &program.after {
                // `dependents` has a place for each of the plan's programs.
                if let Some(list) = self.dependents.get_mut(dependency.0) {
                    list.push(ProgramId(index));
                }
            }
        }
        self.first_runs(first_member);
    }

    /// Whether a retired program that program `p` replaces still has a process.
    pub(super) fn replaced_active(&self, p: ProgramId) -> bool {
        let replaced = self.replaces.get(p.0).map_or(&[][..], Vec::as_slice);
        replaced
            .iter()
            .any(|&r| self.instances_of(r).any(|i| self.instance(i).state().is_active()))
    }

    /// Whether program `p` was retired by a reload.
    pub fn is_retired(&self, p: ProgramId) -> bool {
        self.retired.get(p.0) == Some(&true)
    }

    /// The members that are not retired, with their ids.
    pub fn live_members(&self) -> impl Iterator<Item = (InstanceId, &Member)> {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| !self.is_retired(m.program))
            .map(|(i, m)| (InstanceId(i), m))
    }
}
