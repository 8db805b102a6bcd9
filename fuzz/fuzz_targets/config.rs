//! The configuration loader, TOML text to plan: never panics, never hangs;
//! errors are at most 50 lines and one that counts the rest, each one line
//! naming the file; a plan is described in two lines per program (no path
//! or command breaks a line).
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
        Err(errors) => {
            let lines = errors.lines();
            assert!(!lines.is_empty() && lines.len() <= 51, "{lines:?}");
            for line in &lines {
                assert!(line.starts_with("fuzz.toml"), "{line:?}");
                assert_one_line(line);
            }
        }
    }
});
