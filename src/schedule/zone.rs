//! Time zones for schedules: reading a TZif file (RFC 8536, versions 1 to 4;
//! the 64-bit data of v2+, and its footer's POSIX TZ string past the last
//! transition), and the POSIX TZ rule language (`CET-1CEST,M3.5.0,M10.5.0/3`,
//! `<+0330>-3:30`, `Jn` and `n` days, v3's negative and over-24h times).
//! Instants are seconds since the Unix epoch (`i64`), offsets seconds east
//! of UTC (`i32`).

use std::fs::OpenOptions;
use std::io::Read;
use std::ops::RangeInclusive;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::civil::{civil_from_days, days_from_civil, is_leap, weekday};

const DAY: i64 = 86_400;
/// The largest zone file read (tzdata's biggest are a few KiB).
const MAX_FILE: u64 = 512 * 1024;

/// A time zone: the UTC offset in effect at every instant.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    /// The offset before the first transition (local time type 0).
    initial: i32,
    /// The transitions that change the offset, ascending: (instant, offset from then on).
    changes: Vec<(i64, i32)>,
    /// The file's last transition, changing the offset or not: the rule holds after it.
    table_end: Option<i64>,
    /// The footer's rule (v2+ files; None in v1 files and UTC).
    rule: Option<Rule>,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            initial: 0,
            changes: Vec::new(),
            table_end: None,
            rule: None,
        }
    }

    /// The zone `name` (an IANA name such as "Europe/Berlin"; a leading ':', the
    /// TZ variable's form, is stripped) from `$TZDIR`, else /usr/share/zoneinfo.
    /// Err, one line, for a name that is empty, absolute, has a ".." component or
    /// a NUL, and for a file that is missing, not regular, over 512 KiB or not TZif.
    pub fn load(name: &str) -> Result<Zone, String> {
        let dir = std::env::var_os("TZDIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from);
        load_from(&dir.unwrap_or_else(|| "/usr/share/zoneinfo".into()), name)
    }

    /// Parses the TZif `bytes`; `name` is kept for display.
    #[cfg_attr(not(test), allow(dead_code, reason = "the fuzz target's entry point"))]
    pub fn from_tzif(name: &str, bytes: &[u8]) -> Result<Zone, String> {
        parse_tzif(name, bytes).map_err(|what| format!("time zone {name:?}: not a valid TZif file: {what}"))
    }

    /// The zone's name as given ("UTC" for [`Zone::utc`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UTC offset in effect at instant `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match &self.rule {
            Some(rule) if self.table_end.is_none_or(|end| t >= end) => rule.at(t).0,
            _ => self.table_offset(self.changes.partition_point(|&(at, _)| at <= t)),
        }
    }

    /// The first change of UTC offset strictly after `t`: (instant, offset before,
    /// offset after); None when the offset never changes again.
    pub fn next_change(&self, t: i64) -> Option<(i64, i32, i32)> {
        let split = self.changes.partition_point(|&(at, _)| at <= t);
        match (self.changes.get(split), &self.rule) {
            (Some(&(at, after)), _) => Some((at, self.table_offset(split), after)),
            (None, Some(rule)) => rule.at(t.max(self.table_end.unwrap_or(t))).1,
            (None, None) => None,
        }
    }

    /// The offset after the first `count` changes of the table.
    fn table_offset(&self, count: usize) -> i32 {
        let last = count.checked_sub(1).and_then(|i| self.changes.get(i));
        last.map_or(self.initial, |&(_, offset)| offset)
    }
}

fn load_from(dir: &Path, name: &str) -> Result<Zone, String> {
    let name = name.strip_prefix(':').unwrap_or(name);
    let refuse = |what: &str| format!("cannot load time zone {name:?} from {dir:?}: {what}");
    if name.is_empty() {
        return Err(refuse("the name is empty"));
    }
    if name.starts_with('/') || name.split('/').any(|part| part == "..") || name.contains('\0') {
        return Err(refuse("a zone name is a relative path, without \"..\" or NUL"));
    }
    // UTC by its names needs no file: images without tzdata have it too.
    if ["UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Zulu"].contains(&name) {
        return Ok(Zone::utc());
    }
    let bytes = read_zone_file(&dir.join(name)).map_err(|what| refuse(&what))?;
    parse_tzif(name, &bytes).map_err(|what| refuse(&format!("not a valid TZif file: {what}")))
}

fn read_zone_file(path: &Path) -> Result<Vec<u8>, String> {
    // O_NONBLOCK (0o4000 on Linux but alpha, mips, parisc and sparc): a FIFO
    // in place of a zone must not block the open. std adds O_CLOEXEC itself.
    let file = OpenOptions::new().read(true).custom_flags(0o4000).open(path);
    let file = file.map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "no such zone file".to_string(),
        _ => err.to_string(),
    })?;
    if !file.metadata().map_err(|err| err.to_string())?.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    let read = file.take(MAX_FILE.saturating_add(1)).read_to_end(&mut bytes);
    match read.map(u64::try_from) {
        Ok(Ok(len)) if len <= MAX_FILE => Ok(bytes),
        Err(err) => Err(err.to_string()),
        _ => Err("larger than 512 KiB".into()),
    }
}

/// Reads a TZif header: whether it is v2+, and its counts isutcnt, isstdcnt,
/// leapcnt, timecnt, typecnt and charcnt.
fn header(input: &mut &[u8]) -> Result<(bool, [usize; 6]), &'static str> {
    if !input.starts_with(b"TZif") {
        return Err("it does not start with \"TZif\"");
    }
    let header = take(input, 44)?;
    let v2_plus = match header.get(4) {
        Some(0) => false,
        Some(b'2'..=b'9') => true,
        _ => return Err("unknown version"),
    };
    let mut counts = [0; 6];
    for (count, bytes) in counts
        .iter_mut()
        .zip(header.get(20..).unwrap_or_default().chunks_exact(4))
    {
        *count = usize::try_from(signed_be(bytes)).unwrap_or(usize::MAX);
    }
    let [_, _, _, timecnt, typecnt, _] = counts;
    if timecnt > 10_000 || !(1..=256).contains(&typecnt) {
        return Err("more than 10000 transitions, or not 1 to 256 local time types");
    }
    Ok((v2_plus, counts))
}

/// The length of the data after a header of `counts`, with `time_size`-byte times.
fn data_len(counts: [usize; 6], time_size: usize) -> Result<usize, &'static str> {
    let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts;
    let parts = [
        timecnt.checked_mul(time_size.saturating_add(1)),
        typecnt.checked_mul(6),
        leapcnt.checked_mul(time_size.saturating_add(4)),
        Some(charcnt.saturating_add(isstdcnt).saturating_add(isutcnt)),
    ];
    let len = parts
        .into_iter()
        .try_fold(0_usize, |sum, part| sum.checked_add(part?));
    len.ok_or("the data is truncated")
}

fn parse_tzif(name: &str, bytes: &[u8]) -> Result<Zone, &'static str> {
    let mut input = bytes;
    let (v2_plus, mut counts) = header(&mut input)?;
    let time_size = if v2_plus { 8 } else { 4 };
    if v2_plus {
        // Skip the 32-bit data for the second header and the 64-bit data.
        take(&mut input, data_len(counts, 4)?)?;
        counts = header(&mut input)?.1;
    }
    let [_, _, _, timecnt, typecnt, _] = counts;
    let mut data = take(&mut input, data_len(counts, time_size)?)?;
    let times = take(&mut data, timecnt.saturating_mul(time_size))?;
    let type_indices = take(&mut data, timecnt)?;
    let types = take(&mut data, typecnt.saturating_mul(6))?;
    let offsets = types
        .chunks_exact(6)
        .map(|ttinfo| i32::try_from(signed_be(ttinfo.get(..4).unwrap_or_default())).ok())
        .map(|offset| offset.filter(|offset| (-89_999..=93_599).contains(offset)))
        .collect::<Option<Vec<i32>>>()
        .ok_or("a UTC offset beyond 25 hours")?;
    let initial = *offsets.first().ok_or("no local time types")?;

    let (mut changes, mut current, mut table_end) = (Vec::new(), initial, None);
    for (at, &index) in times.chunks_exact(time_size).map(signed_be).zip(type_indices) {
        if table_end.is_some_and(|previous| previous >= at) {
            return Err("transition times out of order");
        }
        table_end = Some(at);
        let offset = offsets
            .get(usize::from(index))
            .ok_or("a transition to a missing local time type")?;
        if *offset != current {
            changes.push((at, *offset));
            current = *offset;
        }
    }
    let rule = if v2_plus { footer_rule(input)? } else { None };
    Ok(Zone {
        name: name.into(),
        initial,
        changes,
        table_end,
        rule,
    })
}

/// The rule of a v2+ footer, "\n" TZ "\n" (None when TZ is empty).
fn footer_rule(footer: &[u8]) -> Result<Option<Rule>, &'static str> {
    let rest = footer.strip_prefix(b"\n").ok_or("the footer is missing")?;
    let len = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("the footer is unterminated")?;
    match rest.get(..len).unwrap_or_default() {
        b"" => Ok(None),
        tz => match std::str::from_utf8(tz).ok().and_then(Rule::parse) {
            Some(rule) => Ok(Some(rule)),
            None => Err("the footer is not a valid POSIX TZ string"),
        },
    }
}

/// Splits the first `len` bytes off `input`.
fn take<'a>(input: &mut &'a [u8], len: usize) -> Result<&'a [u8], &'static str> {
    let (head, rest) = input.split_at_checked(len).ok_or("the data is truncated")?;
    *input = rest;
    Ok(head)
}

/// The big-endian two's-complement integer in `bytes` (4 or 8 of them).
fn signed_be(bytes: &[u8]) -> i64 {
    let Some((&first, rest)) = bytes.split_first() else {
        return 0;
    };
    let sign_extended = i64::from(i8::from_be_bytes([first]));
    rest.iter()
        .fold(sign_extended, |n, &b| n.wrapping_shl(8) | i64::from(b))
}

/// A POSIX TZ rule: standard time, and maybe daylight saving time each year.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    std: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq)]
struct Dst {
    offset: i32,
    /// When DST starts, in standard time, and ends, in DST.
    start: Boundary,
    end: Boundary,
}

#[derive(Debug, Clone, PartialEq)]
struct Boundary {
    day: Day,
    /// Seconds after local midnight; v3 allows -167 to 167 hours.
    time: i32,
}

#[derive(Debug, Clone, PartialEq)]
enum Day {
    /// `Jn`: 1 to 365, February 29 never counted.
    Julian(u32),
    /// `n`: 0 to 365, February 29 counted.
    Ordinal(u32),
    /// `Mm.w.d`: (month, week 1 to 5 where 5 is the last, weekday 0 = Sunday).
    MonthWeek(u32, u32, u32),
}

impl Rule {
    /// Parses a TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`. DST needs its rule.
    fn parse(tz: &str) -> Option<Rule> {
        let mut parser = Parser { rest: tz.as_bytes() };
        parser.name()?;
        // POSIX offsets count west of UTC.
        let std = parser.hms(0..=24)?.checked_neg()?;
        if parser.rest.is_empty() {
            return Some(Rule { std, dst: None });
        }
        parser.name()?;
        let offset = match parser.rest.first() {
            Some(b',') => std.checked_add(3600)?,
            _ => parser.hms(0..=24)?.checked_neg()?,
        };
        parser.expect(b',')?;
        let start = parser.boundary()?;
        parser.expect(b',')?;
        let end = parser.boundary()?;
        let dst = Some(Dst { offset, start, end });
        parser.rest.is_empty().then_some(Rule { std, dst })
    }

    /// The offset at `t` and the first change after it, as [`Zone::next_change`].
    fn at(&self, t: i64) -> (i32, Option<(i64, i32, i32)>) {
        let Some(dst) = &self.dst else {
            return (self.std, None);
        };
        let year = civil_from_days(t.div_euclid(DAY)).0;
        // From two years back (a boundary may lie days into the next year) to nine
        // ahead (with `n` and `Jn` days, a rule may change the offset only in leap years).
        let years = year.saturating_sub(2)..=year.saturating_add(9);
        let mut changes: Vec<(i64, i32)> = years.flat_map(|year| dst.changes(self.std, year)).collect();
        changes.sort_by_key(|&(at, _)| at);
        // Of changes at one instant (one year's end and the next one's start, in
        // all-year DST) the last one, in year order, holds.
        changes.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            kept.1 = if same { later.1 } else { kept.1 };
            same
        });
        let split = changes.partition_point(|&(at, _)| at <= t);
        let now = split
            .checked_sub(1)
            .and_then(|i| changes.get(i))
            .map_or(self.std, |change| change.1);
        // A change near the window's end may yet be undone by one of the year
        // after it (all-year DST again): look no further than 8 days before.
        let horizon = days_from_civil(year.saturating_add(9), 1, 1)
            .saturating_sub(8)
            .saturating_mul(DAY);
        let mut later = changes
            .get(split..)
            .unwrap_or_default()
            .iter()
            .take_while(|change| change.0 < horizon);
        (
            now,
            later
                .find(|change| change.1 != now)
                .map(|&(at, after)| (at, now, after)),
        )
    }
}

impl Dst {
    /// The year's start and end of DST: (instant, offset from then on).
    fn changes(&self, std: i32, year: i64) -> [(i64, i32); 2] {
        [
            (self.start.instant(year, std), self.offset),
            (self.end.instant(year, self.offset), std),
        ]
    }
}

impl Boundary {
    /// The instant of this boundary in `year`, in local time `offset` east of UTC.
    fn instant(&self, year: i64, offset: i32) -> i64 {
        let local = self
            .day
            .in_year(year)
            .saturating_mul(DAY)
            .saturating_add(i64::from(self.time));
        local.saturating_sub(i64::from(offset))
    }
}

impl Day {
    /// Days since the epoch of this day in `year`.
    fn in_year(&self, year: i64) -> i64 {
        let january_first = days_from_civil(year, 1, 1);
        match *self {
            Day::Julian(n) => {
                let skipped_february_29 = n < 60 || !is_leap(year);
                january_first
                    .saturating_add(i64::from(n))
                    .saturating_sub(i64::from(skipped_february_29))
            }
            Day::Ordinal(n) => january_first.saturating_add(i64::from(n)),
            Day::MonthWeek(month, week, wanted) => {
                let first = days_from_civil(year, month, 1);
                // Both weekdays are 0 to 6: no wrap-around.
                let ahead = wanted.saturating_add(7).saturating_sub(weekday(first)) % 7;
                let first_wanted = first.saturating_add(i64::from(ahead));
                let day = first_wanted.saturating_add(i64::from(week.saturating_sub(1)).saturating_mul(7));
                // Week 5 is the last such weekday, which may be the fourth.
                let past_month = civil_from_days(day).1 != month;
                day.saturating_sub(if past_month { 7 } else { 0 })
            }
        }
    }
}

/// A cursor over a TZ string.
struct Parser<'a> {
    rest: &'a [u8],
}

impl<'a> Parser<'a> {
    fn eat(&mut self, byte: u8) -> bool {
        let eaten = self.rest.strip_prefix(&[byte]);
        self.rest = eaten.unwrap_or(self.rest);
        eaten.is_some()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn take_while(&mut self, wanted: impl Fn(u8) -> bool) -> &'a [u8] {
        let len = self.rest.iter().take_while(|&&b| wanted(b)).count();
        let (taken, rest) = self.rest.split_at_checked(len).unwrap_or((self.rest, &[]));
        self.rest = rest;
        taken
    }

    /// An abbreviation: letters, or letters, digits, '+' and '-' within '<' '>'.
    fn name(&mut self) -> Option<()> {
        let name = if self.eat(b'<') {
            let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-');
            self.expect(b'>').map(|()| name)?
        } else {
            self.take_while(|b| b.is_ascii_alphabetic())
        };
        (!name.is_empty()).then_some(())
    }

    fn number(&mut self, range: RangeInclusive<u32>) -> Option<u32> {
        let digits = std::str::from_utf8(self.take_while(|b| b.is_ascii_digit())).ok()?;
        digits.parse().ok().filter(|n| range.contains(n))
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn hms(&mut self, hours: RangeInclusive<u32>) -> Option<i32> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            i32::from(self.eat(b'+')) | 1
        };
        let mut seconds = self.number(hours)?.checked_mul(3600)?;
        for unit in [60, 1] {
            if !self.eat(b':') {
                break;
            }
            seconds = seconds.checked_add(self.number(0..=59)?.checked_mul(unit)?)?;
        }
        i32::try_from(seconds).ok()?.checked_mul(sign)
    }

    /// `Jn`, `n` or `Mm.w.d`, then maybe `/time` (02:00 if not).
    fn boundary(&mut self) -> Option<Boundary> {
        let day = if self.eat(b'J') {
            Day::Julian(self.number(1..=365)?)
        } else if self.eat(b'M') {
            let month = self.number(1..=12)?;
            self.expect(b'.')?;
            let week = self.number(1..=5)?;
            self.expect(b'.')?;
            Day::MonthWeek(month, week, self.number(0..=6)?)
        } else {
            Day::Ordinal(self.number(0..=365)?)
        };
        let time = if self.eat(b'/') { self.hms(0..=167)? } else { 7200 };
        Some(Boundary { day, time })
    }
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
