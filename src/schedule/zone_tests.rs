//! The zone reader's tests. Expected instants were computed with Python's
//! `zoneinfo` from the same tzdata (Debian's `tzdata` package).

use super::super::civil::*;
use super::*;

fn zone(name: &str) -> Zone {
    Zone::load(name).unwrap_or_else(|why| panic!("{why} (install tzdata)"))
}

/// Every change of offset within `year` (UTC): (instant, before, after).
fn changes(zone: &Zone, year: i64) -> Vec<(i64, i32, i32)> {
    let (start, end) = (
        days_from_civil(year, 1, 1) * DAY,
        days_from_civil(year + 1, 1, 1) * DAY,
    );
    let mut at = start;
    let mut found = Vec::new();
    while let Some(change) = zone.next_change(at).filter(|c| c.0 < end) {
        found.push(change);
        at = change.0;
    }
    found
}

/// A zone of a POSIX TZ rule alone (as past the end of a file's table).
fn rule_zone(tz: &str) -> Zone {
    let rule = Rule::parse(tz).unwrap_or_else(|| panic!("{tz} does not parse"));
    Zone {
        name: tz.into(),
        initial: rule.std,
        changes: Vec::new(),
        table_end: None,
        rule: Some(rule),
    }
}

#[test]
fn changes_of_offset_from_the_table_and_from_the_rule_past_it() {
    let berlin = zone("Europe/Berlin");
    assert_eq!(
        changes(&berlin, 2026),
        [(1774746000, 3600, 7200), (1792890000, 7200, 3600)]
    );
    // 2100: past tzdata's table, from the file's footer rule.
    assert_eq!(
        changes(&berlin, 2100),
        [(4109878800, 3600, 7200), (4128627600, 7200, 3600)]
    );
    assert_eq!(berlin.offset_at(1774746000 - 1), 3600);
    assert_eq!(berlin.offset_at(1774746000), 7200);
    let new_york = zone("America/New_York");
    assert_eq!(
        changes(&new_york, 2040),
        [(2215062000, -18000, -14400), (2235621600, -14400, -18000)]
    );
    // The southern hemisphere: summer time spans the new year.
    let sydney = zone("Australia/Sydney");
    assert_eq!(
        changes(&sydney, 2026),
        [(1775318400, 39600, 36000), (1791043200, 36000, 39600)]
    );
    // Half an hour of daylight saving time.
    let lord_howe = zone("Australia/Lord_Howe");
    assert_eq!(
        changes(&lord_howe, 2026),
        [(1775314800, 39600, 37800), (1791041400, 37800, 39600)]
    );
    let tokyo = zone("Asia/Tokyo");
    assert_eq!(changes(&tokyo, 2026), []);
    assert_eq!(tokyo.offset_at(1790000000), 32400);
    assert_eq!(Zone::utc().offset_at(1790000000), 0);
    assert_eq!(Zone::utc().next_change(0), None);
}

#[test]
fn posix_rules_alone() {
    // The rules the files end with give the same changes as the tables.
    assert_eq!(
        changes(&rule_zone("CET-1CEST,M3.5.0,M10.5.0/3"), 2026),
        changes(&zone("Europe/Berlin"), 2026)
    );
    assert_eq!(
        changes(&rule_zone("EST5EDT,M3.2.0,M11.1.0"), 2040),
        changes(&zone("America/New_York"), 2040)
    );
    assert_eq!(
        changes(&rule_zone("AEST-10AEDT,M10.1.0,M4.1.0/3"), 2026),
        changes(&zone("Australia/Sydney"), 2026)
    );
    assert_eq!(rule_zone("<+0330>-3:30").offset_at(0), 12600);
    assert_eq!(rule_zone("<-03>3").offset_at(0), -10800);
    assert_eq!(rule_zone("UTC0").offset_at(0), 0);
    // Daylight saving time all year (RFC 8536's example): no change ever.
    let always = rule_zone("EST5EDT,0/0,J365/25");
    assert_eq!((always.offset_at(0), always.next_change(0)), (-14400, None));
    // Jn never counts February 29; n does (0 is January 1).
    let julian = rule_zone("XST-1XDT,J60/2,J300/2");
    let ordinal = rule_zone("XST-1XDT,59/2,299/2");
    assert_eq!(changes(&julian, 2026)[0].0, 1772326800); // 2026-03-01 01:00 UTC
    assert_eq!(changes(&ordinal, 2026)[0].0, 1772326800);
    assert_eq!(changes(&julian, 2028)[0].0, 1835485200); // 2028-03-01
    assert_eq!(changes(&ordinal, 2028)[0].0, 1835398800); // 2028-02-29
    for bad in [
        "",
        "CET",
        "CET-1CEST",
        "CET-1CEST,M13.1.0,M10.5.0",
        "CET-1CEST,M3.5.0",
        "CET-25",
        "CET-1CEST,J0,J300",
    ] {
        assert_eq!(Rule::parse(bad), None, "{bad}");
    }
}

#[test]
fn civil_dates() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11017);
    assert_eq!(days_from_civil(2024, 2, 29), 19782);
    assert_eq!(civil_from_days(47540), (2100, 2, 28));
    assert_eq!(civil_from_days(47541), (2100, 3, 1)); // 2100 is not a leap year
    assert_eq!(civil_from_days(11016), (2000, 2, 29)); // 2000 is
    for days in (-800_000..800_000).step_by(97) {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(weekday(0), 4); // 1970-01-01, a Thursday
    assert_eq!(weekday(20792), 6); // 2026-12-05, a Saturday
    assert_eq!(weekday(-1), 3);
    let _ = (
        civil_from_days(i64::MIN),
        civil_from_days(i64::MAX),
        days_from_civil(i64::MAX, 12, 31),
    );
}

#[test]
fn every_refused_zone_says_why() {
    let dir = std::env::temp_dir().join(format!("rinit-zones-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("Area")).unwrap();
    std::fs::write(dir.join("Text"), "hello").unwrap();
    let berlin = std::fs::read("/usr/share/zoneinfo/Europe/Berlin").unwrap();
    std::fs::write(dir.join("Cut"), &berlin[..60]).unwrap();
    let at = format!("{dir:?}");
    for (name, why) in [
        ("", "the name is empty"),
        (
            "../etc/passwd",
            "a zone name is a relative path, without \"..\" or NUL",
        ),
        (
            "/etc/passwd",
            "a zone name is a relative path, without \"..\" or NUL",
        ),
        ("Mars/Olympus_Mons", "no such zone file"),
        ("Area", "not a regular file"),
        ("Text", "not a valid TZif file: it does not start with \"TZif\""),
    ] {
        let shown = name.strip_prefix(':').unwrap_or(name);
        assert_eq!(
            load_from(&dir, name).unwrap_err(),
            format!("cannot load time zone {shown:?} from {at}: {why}")
        );
    }
    let cut = load_from(&dir, "Cut").unwrap_err();
    assert!(
        cut.starts_with(&format!(
            "cannot load time zone \"Cut\" from {at}: not a valid TZif file: "
        )),
        "{cut}"
    );
    // UTC needs no file; the TZ variable's leading ':' is taken off.
    assert_eq!(load_from(&dir, "Etc/UTC").unwrap().offset_at(0), 0);
    assert_eq!(
        load_from(Path::new("/usr/share/zoneinfo"), ":Asia/Tokyo")
            .unwrap()
            .offset_at(0),
        32400
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
