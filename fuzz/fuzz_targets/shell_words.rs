//! Shell words: never panic; an error is one line; words without quotes,
//! backslashes or '$' split exactly as by whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::{assert_one_line, shell_words};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match shell_words::split(text) {
        Ok(words) => {
            if !text.contains(['\'', '"', '\\', '$', '`', '#']) {
                let plain: Vec<&str> = text.split([' ', '\t', '\n']).filter(|w| !w.is_empty()).collect();
                assert_eq!(words, plain, "{text:?}");
            }
        }
        Err(message) => assert_one_line(&message),
    }
});
