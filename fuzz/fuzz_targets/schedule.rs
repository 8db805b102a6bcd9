//! Schedules and zones: a `schedule` never panics and its next run is
//! always later than the instant asked about; TZif bytes never panic the
//! reader, and what it reads answers every instant. Errors are one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::assert_one_line;
use rinit_fuzz::schedule::{When, Zone};

const INSTANTS: [i64; 5] = [i64::MIN, -1, 0, 1_790_000_000, i64::MAX];

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"TZif") {
        match Zone::from_tzif("fuzz", data) {
            Ok(zone) => {
                for at in INSTANTS {
                    let _ = zone.offset_at(at);
                    if let Some((change, _, _)) = zone.next_change(at) {
                        assert!(change > at);
                    }
                }
            }
            Err(message) => assert_one_line(&message),
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match When::parse(text) {
        Ok(When::Cron(cron)) => {
            for at in INSTANTS {
                if let Some(next) = cron.next_after(at, &Zone::utc()) {
                    assert!(next > at, "{text:?} after {at}: {next}");
                }
            }
        }
        Ok(_) => {}
        Err(message) => assert_one_line(&message),
    }
});
