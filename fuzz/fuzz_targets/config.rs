//! The configuration loader, TOML text to plan: never panics, never hangs; an
//! error is one line naming the file; a plan is described in two lines per
//! program (no path or command breaks a line).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::{assert_one_line, config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base_dir = Path::new("/nonexistent-rinit-fuzz");
    match config::from_text("fuzz.toml".into(), text, base_dir, Vec::new(), None) {
        Ok(plan) => {
            let described = config::describe(Path::new("fuzz.toml"), &plan);
            assert_eq!(
                described.lines().count(),
                2 + 2 * plan.programs.len(),
                "{described}"
            );
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.starts_with("fuzz.toml"), "{message:?}");
            assert_one_line(&message);
        }
    }
});
