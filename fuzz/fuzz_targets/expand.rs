//! `${VAR}` expansion: never panics; an error is one line; the result is
//! at most the input with each reference replaced by its value (values
//! here are at most 8 bytes), so no input can make it grow without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::{assert_one_line, expand};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Names of even length are set (to "value"), the others are not.
    let mut lookup = |name: &str| (name.len() % 2 == 0).then(|| "value".to_string());
    match expand::expand(text, &mut lookup) {
        Ok(out) => assert!(
            out.len() <= 8 * text.len() + 8,
            "{} bytes from {}",
            out.len(),
            text.len()
        ),
        Err(message) => assert_one_line(&message),
    }
});
