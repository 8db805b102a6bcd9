//! rinit's parsing modules, compiled from ../src exactly as rinit compiles
//! them, for the fuzz targets in fuzz_targets/.
#![allow(dead_code, unused_macros)]

#[macro_use]
#[path = "../../src/log.rs"]
pub mod log;
#[path = "../../src/config.rs"]
pub mod config;
#[path = "../../src/duration.rs"]
pub mod duration;
#[path = "../../src/env_file.rs"]
pub mod env_file;
#[path = "../../src/environment.rs"]
pub mod environment;
#[path = "../../src/input.rs"]
pub mod input;
#[path = "../../src/shell_words.rs"]
pub mod shell_words;
#[path = "../../src/signals.rs"]
pub mod signals;
#[path = "../../src/sink.rs"]
pub mod sink;
#[path = "../../src/users.rs"]
pub mod users;

/// The line rinit would print for `message`: it must be one line.
pub fn assert_one_line(message: &str) {
    let printed = log::escape_controls(format!("rinit: {message}"));
    assert!(!printed.contains('\n') && !printed.contains('\r'), "{printed:?}");
}
