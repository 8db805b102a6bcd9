//! Durations: never panic (no overflow on "99999999999999999999h"); an error
//! is one line; a parsed duration prints and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::{assert_one_line, duration};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match duration::parse(text) {
        Ok(parsed) => {
            let millis = parsed.as_millis();
            if parsed.subsec_nanos() % 1_000_000 == 0 && millis < u128::from(u32::MAX) {
                assert_eq!(duration::parse(&format!("{millis}ms")), Ok(parsed), "{text:?}");
            }
        }
        Err(message) => assert_one_line(&message),
    }
});
