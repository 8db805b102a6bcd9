//! A program's `schedule` and the keys that go with it (`timezone`,
//! `overlap`, `run_timeout`), and the keys a scheduled program cannot have:
//! a run is a oneshot that is never restarted, never waited for and never
//! critical (its failure waits for the next time).

use std::time::Duration;

use serde::Deserialize;

use super::environment::Env;
use super::error::{ConfigError, Problem};
use super::schema::RawProgram;
use super::validate::At;
use super::{schema, Kind};
use crate::schedule::{When, Zone};

/// `overlap`: what a run still going at the next time means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// The new time is skipped (Kubernetes CronJob's Forbid).
    #[default]
    Skip,
    /// One run waits for the running one to end (at most one waits).
    Queue,
    /// The running one is stopped, then the new one starts.
    Replace,
}

/// `schedule` and its keys: when a program runs, as cron runs a job.
#[derive(Debug)]
pub struct Scheduled {
    pub when: crate::schedule::When,
    /// `timezone`, else $CRON_TZ, else $TZ (the program's environment), else UTC.
    pub zone: crate::schedule::Zone,
    pub overlap: Overlap,
    /// `run_timeout`: a longer run gets its stop signal.
    pub run_timeout: Option<Duration>,
    /// `schedule` as written, for messages and `check`.
    pub written: String,
}

const OVERLAPS: &[(&str, Overlap)] = &[
    ("skip", Overlap::Skip),
    ("queue", Overlap::Queue),
    ("replace", Overlap::Replace),
];

impl<'de> Deserialize<'de> for Overlap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        schema::one_of(deserializer, OVERLAPS, &[])
    }
}

impl Overlap {
    /// As written in the configuration.
    pub fn name(self) -> &'static str {
        OVERLAPS
            .iter()
            .find(|(_, o)| *o == self)
            .map_or("?", |(name, _)| name)
    }
}

/// The wall-clock time now, in seconds since the epoch (0 before 1970).
pub fn wall_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The keys only a scheduled program has.
const SCHEDULE_KEYS: [&str; 3] = ["timezone", "overlap", "run_timeout"];

/// `schedule` and its keys, each error pushed to `errors` (None then, or
/// without a schedule). `env` is the program's: $CRON_TZ and $TZ are its.
pub(super) fn scheduled(raw: &RawProgram, env: &Env, at: &At, errors: &mut ConfigError) -> Option<Scheduled> {
    let Some(schedule) = &raw.schedule else {
        // Where the program's keys begin, for the two without a place of their own.
        let command = raw.command.as_ref().map_or(0, |c| c.span().start);
        let set = [
            raw.timezone.as_ref().map(|t| t.span().start),
            raw.overlap.map(|_| command),
            raw.run_timeout.as_ref().map(|_| command),
        ];
        for (key, offset) in SCHEDULE_KEYS.iter().zip(set) {
            if let Some(offset) = offset {
                let message = "only a program with a schedule has one (e.g. schedule = \"*/15 * * * *\")";
                errors.push(at(offset, key, message.into()));
            }
        }
        return None;
    };
    let offset = schedule.span().start;
    let found = errors.len();
    for problem in conflicts(raw, offset, at) {
        errors.push(problem);
    }
    let when = errors.kept(When::parse(schedule.get_ref()).map_err(|why| at(offset, "schedule", why)));
    let zone = errors.kept(zone(raw, env, offset, at));
    if let (Some(When::Cron(cron)), Some(zone)) = (&when, &zone) {
        if cron.next_after(super::wall_now(), zone).is_none() {
            let message = format!(
                "{:?} never runs: no date has both its day-of-month and its month \
                 (e.g. the 30th of February)",
                schedule.get_ref()
            );
            errors.push(at(offset, "schedule", message));
        }
    }
    if errors.len() > found {
        return None;
    }
    Some(Scheduled {
        when: when?,
        zone: zone?,
        overlap: raw.overlap.unwrap_or_default(),
        run_timeout: raw.run_timeout.as_ref().map(|d| d.0),
        written: schedule.get_ref().clone(),
    })
}

/// `timezone`, else the program's $CRON_TZ, else its $TZ, else UTC.
fn zone(raw: &RawProgram, env: &Env, offset: usize, at: &At) -> Result<Zone, Problem> {
    if let Some(name) = &raw.timezone {
        return Zone::load(name.get_ref()).map_err(|why| at(name.span().start, "timezone", why));
    }
    for variable in ["CRON_TZ", "TZ"] {
        if let Some(name) = env
            .get(variable)
            .and_then(|v| v.to_str())
            .filter(|v| !v.is_empty())
        {
            return Zone::load(name).map_err(|why| {
                let message = format!("${variable} names the zone: {why} (or set timezone = \"...\")");
                at(offset, "timezone", message)
            });
        }
    }
    Ok(Zone::utc())
}

/// The keys a scheduled program cannot have, each an error at `schedule`.
fn conflicts<'a>(raw: &RawProgram, offset: usize, at: &'a At) -> impl Iterator<Item = Problem> + 'a {
    let refused = [
        (
            raw.critical,
            "critical",
            "a scheduled program is never critical: its failed run waits for the next time",
        ),
        (
            raw.restart.is_some(),
            "restart",
            "a scheduled run is never restarted: a failed run waits for the next time",
        ),
        (
            raw.kind == Kind::Notify,
            "type",
            "a scheduled run is a oneshot: it runs to its end (type = \"notify\" is for services)",
        ),
        (
            raw.ready.is_some(),
            "ready",
            "a scheduled run is a oneshot: nothing waits for it to be ready",
        ),
        (
            raw.health.is_some(),
            "health",
            "a scheduled run is a oneshot: it has no health check",
        ),
        (
            raw.instances.is_some(),
            "instances",
            "a scheduled program runs one run at a time (see overlap)",
        ),
    ];
    refused
        .into_iter()
        .filter(|(set, _, _)| *set)
        .map(move |(_, key, why)| at(offset, key, why.to_string()))
}
