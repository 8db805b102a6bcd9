//! rinit's configuration modules, compiled from ../src exactly as rinit
//! compiles them, for the fuzz targets in fuzz_targets/.
#![allow(dead_code, unused_macros, unused_imports)]

#[macro_use]
#[path = "../../src/log.rs"]
pub mod log;
#[path = "../../src/lines.rs"]
pub mod lines;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/http/request.rs"]
pub mod http_request;
#[path = "../../src/import/mod.rs"]
pub mod import;
#[path = "../../src/schedule/mod.rs"]
pub mod schedule;
#[path = "../../src/pid1/signals.rs"]
pub mod signals;
#[path = "../../src/sink.rs"]
pub mod sink;
#[path = "../../src/sys.rs"]
pub mod sys;
#[path = "../../src/pid1/limits.rs"]
pub mod limits;
/// The pieces of `pid1` the configuration needs: signal and limit names.
pub mod pid1 {
    pub use super::limits;
    pub use super::signals;
}

pub use config::{duration, env_file, expand, shell_words};

/// `rinit import` of `text` saved as `file_name` (which decides its kind)
/// in a folder of this process's own: the TOML, or the error. Warnings are
/// silenced. What it prints must stay within 100 times what it read.
pub fn import_as(file_name: &str, text: &str) -> Result<String, String> {
    log::set_level(log::Level::Error);
    let dir = std::env::temp_dir().join(format!("rinit-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(file_name);
    std::fs::write(&path, text).expect("the fuzz folder is writable");
    let result = import::import(&[path]);
    if let Ok(toml) = &result {
        // A few hundred bytes of header, then at most 100 times the input.
        assert!(
            toml.len() <= 1024 + 100 * text.len(),
            "{} bytes out of {}",
            toml.len(),
            text.len()
        );
    }
    if let Err(message) = &result {
        assert_one_line(message);
    }
    result
}

/// The line rinit would print for `message`: it must be one line.
pub fn assert_one_line(message: &str) {
    let printed = log::escape_controls(format!("rinit: {message}"));
    assert!(!printed.contains('\n') && !printed.contains('\r'), "{printed:?}");
}
