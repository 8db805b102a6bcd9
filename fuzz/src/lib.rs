//! rinit's configuration modules, compiled from ../src exactly as rinit
//! compiles them, for the fuzz targets in fuzz_targets/.
#![allow(dead_code, unused_macros)]

#[macro_use]
#[path = "../../src/log.rs"]
pub mod log;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/sink.rs"]
pub mod sink;
#[path = "../../src/pid1/signals.rs"]
pub mod signals;
#[path = "../../src/http/request.rs"]
pub mod http_request;
/// The one piece of `pid1` the configuration needs: signal names.
pub mod pid1 {
    pub use super::signals;
}

pub use config::{duration, env_file, shell_words};

/// The line rinit would print for `message`: it must be one line.
pub fn assert_one_line(message: &str) {
    let printed = log::escape_controls(format!("rinit: {message}"));
    assert!(!printed.contains('\n') && !printed.contains('\r'), "{printed:?}");
}
