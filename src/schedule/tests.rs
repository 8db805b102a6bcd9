use super::*;

fn cron(text: &str) -> Cron {
    match When::parse(text) {
        Ok(When::Cron(cron)) => cron,
        other => panic!("{text}: {other:?}"),
    }
}

fn zone(name: &str) -> Zone {
    Zone::load(name).unwrap_or_else(|why| panic!("{why} (install tzdata)"))
}

/// The next `count` runs of `schedule` after `from`, in UTC, as RFC 3339.
fn runs(schedule: &str, zone: &Zone, from: i64, count: usize) -> Vec<String> {
    let cron = cron(schedule);
    let mut at = from;
    (0..count)
        .map(|_| {
            at = cron.next_after(at, zone).unwrap();
            rfc3339(at, &Zone::utc())
        })
        .collect()
}

#[test]
fn every_field_form() {
    let utc = Zone::utc();
    // Monday 2026-12-07 08:50: office hours, every quarter, weekdays.
    let monday = instant(2026, 12, 7, 8, 50);
    assert_eq!(
        runs("*/15 9-17 * * 1-5", &utc, monday, 3),
        [
            "2026-12-07T09:00:00+00:00",
            "2026-12-07T09:15:00+00:00",
            "2026-12-07T09:30:00+00:00"
        ]
    );
    // Friday 17:45 is the week's last; Monday 09:00 the next.
    let friday_last = instant(2026, 12, 11, 17, 45);
    assert_eq!(
        runs("*/15 9-17 * * mon-fri", &utc, friday_last, 1),
        ["2026-12-14T09:00:00+00:00"]
    );
    // Lists, names in any case, ranges with steps, Sunday as 7.
    assert_eq!(
        runs("5,35 0-6/3 * JAN,jul SUN", &utc, instant(2026, 12, 31, 0, 0), 4),
        [
            "2027-01-03T00:05:00+00:00",
            "2027-01-03T00:35:00+00:00",
            "2027-01-03T03:05:00+00:00",
            "2027-01-03T03:35:00+00:00"
        ]
    );
    assert_eq!(cron("0 0 * * 7"), cron("0 0 * * 0"));
    assert_eq!(cron("0 0 * * 0-7"), cron("0 0 * * *").with_either_day(false));
    // The nicknames.
    assert_eq!(cron("@hourly"), cron("0 * * * *"));
    assert_eq!(cron("@daily"), cron("0 0 * * *"));
    assert_eq!(cron("@midnight"), cron("0 0 * * *"));
    assert_eq!(cron("@weekly"), cron("0 0 * * 0"));
    assert_eq!(cron("@monthly"), cron("0 0 1 * *"));
    assert_eq!(cron("@yearly"), cron("0 0 1 1 *"));
    assert_eq!(cron("@annually"), cron("0 0 1 1 *"));
    assert_eq!(
        When::parse("@every 90s"),
        Ok(When::Every(Duration::from_secs(90)))
    );
    assert_eq!(
        When::parse("@every 1m30s"),
        Ok(When::Every(Duration::from_secs(90)))
    );
    assert_eq!(When::parse("@reboot"), Ok(When::Reboot));
}

impl Cron {
    fn with_either_day(mut self, either: bool) -> Cron {
        self.either_day = either;
        self
    }
}

#[test]
fn day_of_month_or_day_of_week_as_vixie_cron() {
    let utc = Zone::utc();
    let february = instant(2026, 2, 1, 0, 0);
    // Both restricted: the 13th OR a Friday (6, 13, 20, 27 February 2026).
    assert_eq!(
        runs("0 0 13 * fri", &utc, february, 4),
        [
            "2026-02-06T00:00:00+00:00",
            "2026-02-13T00:00:00+00:00",
            "2026-02-20T00:00:00+00:00",
            "2026-02-27T00:00:00+00:00"
        ]
    );
    // One starts with `*` (even `*/2`): both must match, as in Vixie cron.
    assert_eq!(
        runs("0 0 */2 * fri", &utc, february, 2),
        ["2026-02-13T00:00:00+00:00", "2026-02-27T00:00:00+00:00"]
    );
    assert_eq!(
        runs("0 0 13 * *", &utc, february, 1),
        ["2026-02-13T00:00:00+00:00"]
    );
}

#[test]
fn leap_days_and_the_end_of_months() {
    let utc = Zone::utc();
    assert_eq!(
        runs("0 0 29 2 *", &utc, instant(2026, 3, 1, 0, 0), 2),
        ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]
    );
    // 2100 is not a leap year: eight years from 2096 to the next.
    assert_eq!(
        runs("0 0 29 2 *", &utc, instant(2096, 3, 1, 0, 0), 1),
        ["2104-02-29T00:00:00+00:00"]
    );
    // The 31st: only the months that have one.
    assert_eq!(
        runs("0 12 31 * *", &utc, instant(2026, 1, 31, 12, 0), 2),
        ["2026-03-31T12:00:00+00:00", "2026-05-31T12:00:00+00:00"]
    );
    // A date that never comes.
    assert_eq!(cron("0 0 30 2 *").next_after(0, &utc), None);
    assert_eq!(cron("0 0 31 4,6,9,11 *").next_after(0, &utc), None);
}

#[test]
fn berlin_spring_forward_runs_a_skipped_time_at_the_change() {
    let berlin = zone("Europe/Berlin");
    // 29 March 2026, 02:00 CET becomes 03:00 CEST (01:00 UTC).
    let before = instant(2026, 3, 28, 2, 0); // 28 March 03:00 CET
    assert_eq!(
        runs("30 2 * * *", &berlin, before, 2),
        ["2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00"]
    );
    // A job at every quarter runs at the minutes that happen: 01:45 CET,
    // then 03:00 CEST.
    assert_eq!(
        runs("*/15 * * * *", &berlin, instant(2026, 3, 29, 0, 30), 3),
        [
            "2026-03-29T00:45:00+00:00",
            "2026-03-29T01:00:00+00:00",
            "2026-03-29T01:15:00+00:00"
        ]
    );
    assert_eq!(
        rfc3339(instant(2026, 3, 29, 1, 0), &berlin),
        "2026-03-29T03:00:00+02:00"
    );
}

#[test]
fn berlin_fall_back_runs_a_repeated_time_once_and_wild_jobs_in_both_passes() {
    let berlin = zone("Europe/Berlin");
    // 25 October 2026, 03:00 CEST becomes 02:00 CET (01:00 UTC): 02:00-02:59 twice.
    assert_eq!(
        runs("30 2 * * *", &berlin, instant(2026, 10, 24, 1, 0), 2),
        ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
    );
    assert_eq!(
        runs("0 2 * * *", &berlin, instant(2026, 10, 24, 1, 0), 2),
        ["2026-10-25T00:00:00+00:00", "2026-10-26T01:00:00+00:00"]
    );
    assert_eq!(
        runs("*/30 * * * *", &berlin, instant(2026, 10, 25, 0, 0), 4),
        [
            "2026-10-25T00:30:00+00:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:00:00+00:00"
        ]
    );
    assert_eq!(
        rfc3339(instant(2026, 10, 25, 1, 30), &berlin),
        "2026-10-25T02:30:00+01:00"
    );
}

#[test]
fn new_york_changes_as_well() {
    let new_york = zone("America/New_York");
    // 8 March 2026, 02:00 EST becomes 03:00 EDT (07:00 UTC).
    assert_eq!(
        runs("30 2 * * *", &new_york, instant(2026, 3, 7, 12, 0), 2),
        ["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00"]
    );
    // 1 November 2026, 02:00 EDT becomes 01:00 EST (06:00 UTC).
    assert_eq!(
        runs("30 1 * * *", &new_york, instant(2026, 10, 31, 12, 0), 2),
        ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
    );
    // Far past the zone's table (the rule at its end): 2077.
    assert_eq!(
        runs("0 12 4 7 *", &new_york, instant(2077, 1, 1, 0, 0), 1),
        ["2077-07-04T16:00:00+00:00"]
    );
    assert_eq!(
        rfc3339(instant(2026, 12, 5, 17, 0), &new_york),
        "2026-12-05T12:00:00-05:00"
    );
}

#[test]
fn every_bad_schedule_names_its_field_and_range() {
    for (text, message) in [
        ("* * * *", "expected five fields (minute hour day-of-month month day-of-week), found 4"),
        (
            "0 * * * * *",
            "expected five fields (minute hour day-of-month month day-of-week), found 6 (rinit has no seconds or years field: use @every for runs more often than each minute)",
        ),
        ("60 * * * *", "minute field \"60\": 60 is out of range (0-59)"),
        ("0 24 * * *", "hour field \"24\": 24 is out of range (0-23)"),
        ("0 0 0 * *", "day-of-month field \"0\": 0 is out of range (1-31)"),
        ("0 0 * 13 *", "month field \"13\": 13 is out of range (1-12, or jan-dec)"),
        ("0 0 * * 8", "day-of-week field \"8\": 8 is out of range (0-7, or sun-sat)"),
        ("0 0 * * monday", "day-of-week field \"monday\": \"monday\" is not a number (0-7, or sun-sat)"),
        ("*/0 * * * *", "minute field \"*/0\": step \"0\" must be a number from 1 to 59"),
        ("5/15 * * * *", "minute field \"5/15\": a step needs a range: write 5-59/15 (or */15)"),
        ("0 17-9 * * *", "hour field \"17-9\": the range 17-9 runs backwards: write the lower value first (0-23)"),
        ("0 0 1,,2 * *", "day-of-month field \"1,,2\": \"\" is not a number (1-31)"),
        (
            "@fortnightly",
            "unknown \"@fortnightly\": expected five fields, @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION or @reboot",
        ),
        ("@every 0.5s", "@every 0.5s: at least 1s"),
        ("@every soon", "@every: invalid duration \"soon\": expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds"),
    ] {
        assert_eq!(When::parse(text), Err(message.to_string()), "{text}");
    }
}

#[test]
fn the_search_ends_for_any_instant() {
    let utc = Zone::utc();
    let berlin = zone("Europe/Berlin");
    for at in [i64::MIN, -1, 0, i64::MAX - 60, i64::MAX] {
        let _ = cron("* * * * *").next_after(at, &utc);
        let _ = cron("30 2 29 2 *").next_after(at, &berlin);
    }
    assert_eq!(cron("* * * * *").next_after(59, &utc), Some(60));
    assert_eq!(cron("* * * * *").next_after(60, &utc), Some(120));
    assert_eq!(cron("* * * * *").next_after(-1, &utc), Some(0));
}
