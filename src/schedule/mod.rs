//! Schedules (`schedule`, `timezone`): cron's five fields and the `@` forms
//! parsed into the sets of times they allow, and the next run after an
//! instant, in a zone, with cronie's rules across daylight-saving changes.
//! Pure: the time comes in as an argument, so every rule is a unit test.
//! Zones are zone.rs's, civil dates civil.rs's.

mod civil;
pub mod zone;

use std::time::Duration;

pub use civil::civil_from_days;
#[cfg(test)]
use civil::days_from_civil;
use civil::weekday;
pub use zone::Zone;

/// When a program runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// At the times five cron fields allow (the `@hourly` … forms too).
    Cron(Cron),
    /// Every DURATION from rinit's start (`@every 10m`).
    Every(Duration),
    /// Once, when rinit starts (`@reboot`).
    Reboot,
}

/// Five cron fields as the sets they allow: one bit per value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Vixie cron's rule: when both day fields are restricted (neither
    /// starts with `*`), a day matches if either does; else both must.
    either_day: bool,
    /// The minute or hour field starts with `*` (`*/15 * * * *`): such a
    /// job runs in both passes of an hour repeated by a DST change, and
    /// not in the minutes skipped by one, as in cronie; a job at fixed
    /// times runs once in a repeated hour and right after a skipped one.
    wild: bool,
}

/// The fields in order: name, lowest and highest value, names for values.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day-of-month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    // 7 is Sunday too, as in every cron.
    (
        "day-of-week",
        0,
        7,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

/// The `@` forms that stand for five fields.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// How far ahead a schedule is looked at: one that allows no time within
/// this many days never runs (`0 0 30 2 *`). Eight years and a day hold
/// every leap day, even across 2100.
const HORIZON_DAYS: i64 = 8 * 366 + 1;

impl When {
    /// `schedule` as written; the error names the field and its range.
    pub fn parse(text: &str) -> Result<When, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("@every") {
            let every =
                crate::config::duration::parse(rest.trim()).map_err(|why| format!("@every: {why}"))?;
            if every < Duration::from_secs(1) {
                return Err(format!("@every {}: at least 1s", rest.trim()));
            }
            return Ok(When::Every(every));
        }
        if text == "@reboot" {
            return Ok(When::Reboot);
        }
        let fields = match NICKNAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
            Some((_, fields)) => fields,
            None if text.starts_with('@') => {
                return Err(format!(
                    "unknown {text:?}: expected five fields, @yearly, @annually, @monthly, @weekly, \
                     @daily, @midnight, @hourly, @every DURATION or @reboot"
                ))
            }
            None => text,
        };
        Cron::parse(fields).map(When::Cron)
    }
}

impl Cron {
    fn parse(text: &str) -> Result<Cron, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = words[..] else {
            let extra = match words.len() {
                6 | 7 => {
                    " (rinit has no seconds or years field: use @every for runs more often than each minute)"
                }
                _ => "",
            };
            return Err(format!(
                "expected five fields (minute hour day-of-month month day-of-week), found {}{extra}",
                words.len()
            ));
        };
        let [minutes, hours, days, months, weekdays] = [minute, hour, day, month, weekday]
            .iter()
            .zip(FIELDS)
            .map(|(word, field)| field_set(word, field))
            .collect::<Result<Vec<u64>, String>>()?[..]
        else {
            return Err("five fields expected".into());
        };
        // Sunday is 0 and 7.
        let weekdays = (weekdays | weekdays >> 7) & 0x7f;
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            either_day: !day.starts_with('*') && !weekday.starts_with('*'),
            wild: minute.starts_with('*') || hour.starts_with('*'),
        })
    }

    /// Whether the minute or hour field starts with `*` (see `wild`).
    pub fn is_wild(&self) -> bool {
        self.wild
    }

    /// Whether the civil day (days since the epoch) is allowed.
    fn day_allowed(&self, days: i64) -> bool {
        let (_, month, day) = civil_from_days(days);
        if !has(u64::from(self.months), month) {
            return false;
        }
        let by_date = has(u64::from(self.days), day);
        let by_weekday = has(u64::from(self.weekdays), weekday(days));
        if self.either_day {
            by_date || by_weekday
        } else {
            by_date && by_weekday
        }
    }

    /// The first civil minute (seconds since the epoch, as if the zone were
    /// UTC) strictly after `local` that the fields allow, within the horizon.
    fn next_local(&self, local: i64) -> Option<i64> {
        let start = local.div_euclid(60).checked_add(1)?.checked_mul(60)?;
        let first_day = start.div_euclid(86400);
        let mut minute_of_day = start.rem_euclid(86400) / 60;
        for day in first_day..first_day.saturating_add(HORIZON_DAYS) {
            if self.day_allowed(day) {
                let hour_from = minute_of_day / 60;
                for hour in hour_from..24 {
                    if !has(u64::from(self.hours), hour as u32) {
                        continue;
                    }
                    let minute_from = if hour == hour_from { minute_of_day % 60 } else { 0 };
                    if let Some(minute) = (minute_from..60).find(|&m| has(self.minutes, m as u32)) {
                        return day.checked_mul(86400)?.checked_add(
                            hour.saturating_mul(3600)
                                .saturating_add(minute.saturating_mul(60)),
                        );
                    }
                }
            }
            minute_of_day = 0;
        }
        None
    }

    /// The first run strictly after the instant `after` (seconds since the
    /// epoch) in `zone`, or None if the fields allow no time (`0 0 30 2 *`).
    /// Across a change of the zone's offset, cronie's rules: a fixed time
    /// skipped by the change runs at the change, a fixed time repeated by
    /// it runs the first time only; a `wild` job runs at the minutes that
    /// happen, once each.
    pub fn next_after(&self, after: i64, zone: &Zone) -> Option<i64> {
        let mut from = after;
        // Each turn ends at a change of offset: a few a year at most.
        for _ in 0..64 {
            let start = from.checked_add(1)?;
            let offset = i64::from(zone.offset_at(start));
            let change = zone.next_change(start);
            if let Some(local) = self.next_local(start.checked_add(offset)?.checked_sub(1)?) {
                let instant = local.checked_sub(offset)?;
                if change.is_none_or(|(at, _, _)| instant < at) {
                    if self.wild || !happened_before(zone, local, instant) {
                        return Some(instant);
                    }
                    from = instant;
                    continue;
                }
            }
            let (at, before, after) = change?;
            let (before, after) = (i64::from(before), i64::from(after));
            // The local times from at+before to at+after never happen.
            if after > before && !self.wild {
                let skipped = self.next_local(at.checked_add(before)?.checked_sub(1)?);
                let end = at.checked_add(after)?;
                if skipped.is_some_and(|local| local < end) {
                    return Some(at);
                }
            }
            from = at.checked_sub(1)?;
        }
        None
    }
}

/// Whether the local time `local`, which happens at `instant`, happened
/// already, earlier, under the offset of a day before (an hour that a
/// change back from summer time repeats). Offsets change at most a few
/// times a year, never twice in a day.
fn happened_before(zone: &Zone, local: i64, instant: i64) -> bool {
    let Some(day_before) = instant.checked_sub(86400) else {
        return false;
    };
    let earlier_offset = i64::from(zone.offset_at(day_before));
    let earlier = local.saturating_sub(earlier_offset);
    earlier < instant && i64::from(zone.offset_at(earlier)) == earlier_offset
}

/// Whether bit `value` of `set` is set.
fn has(set: u64, value: u32) -> bool {
    value < 64 && set >> value & 1 == 1
}

/// One field (`*`, `5`, `1-5`, `*/15`, `1-30/5`, names, comma lists) as its
/// set of values; errors name the field and its range.
fn field_set(word: &str, (name, low, high, names): (&str, u32, u32, &[&str])) -> Result<u64, String> {
    let bad = |what: String| format!("{name} field {word:?}: {what}");
    let range_text = || {
        let names = match names {
            [] => String::new(),
            [first, .., last] => format!(", or {first}-{last}"),
            [only] => format!(", or {only}"),
        };
        format!("{low}-{high}{names}")
    };
    let value = |text: &str| -> Result<u32, String> {
        if let Some(place) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            // Names start at the field's lowest value (jan = 1, sun = 0).
            return Ok(low.saturating_add(place as u32));
        }
        match text.parse::<u32>() {
            Ok(number) if (low..=high).contains(&number) => Ok(number),
            Ok(_) => Err(bad(format!("{text} is out of range ({})", range_text()))),
            Err(_) => Err(bad(format!("{text:?} is not a number ({})", range_text()))),
        }
    };
    let mut set = 0u64;
    for part in word.split(',') {
        let (span, step) = match part.split_once('/') {
            Some((span, step)) => {
                let step = step
                    .parse::<u32>()
                    .ok()
                    .filter(|&s| (1..=high).contains(&s))
                    .ok_or_else(|| bad(format!("step {step:?} must be a number from 1 to {high}")))?;
                (span, step)
            }
            None => (part, 1),
        };
        let (first, last) = match span.split_once('-') {
            _ if span == "*" => (low, high),
            Some((first, last)) => (value(first)?, value(last)?),
            None if step > 1 => {
                return Err(bad(format!(
                    "a step needs a range: write {span}-{high}/{step} (or */{step})"
                )))
            }
            None => {
                let single = value(span)?;
                (single, single)
            }
        };
        if first > last {
            return Err(bad(format!(
                "the range {span} runs backwards: write the lower value first ({})",
                range_text()
            )));
        }
        for v in (first..=last).step_by(step as usize) {
            set |= 1u64.checked_shl(v).unwrap_or(0);
        }
    }
    Ok(set)
}

/// `instant` as RFC 3339 in `zone`: "2026-03-29T03:00:00+02:00".
pub fn rfc3339(instant: i64, zone: &Zone) -> String {
    let offset = zone.offset_at(instant);
    let local = instant.saturating_add(i64::from(offset));
    let (year, month, day) = civil_from_days(local.div_euclid(86400));
    let seconds = local.rem_euclid(86400);
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs() / 60;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        offset / 60,
        offset % 60
    )
}

/// The instant of a civil time in UTC (seconds since the epoch).
#[cfg(test)]
pub fn instant(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
    days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
