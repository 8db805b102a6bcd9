//! `rinit import` of a crontab: never panics, output bounded, an error is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = rinit_fuzz::import_as("crontab", text);
});
