//! Env files: never panic; every variable has a valid name and no NUL; an
//! error is one line and never quotes a value (what follows the first "=").
#![no_main]

use libfuzzer_sys::fuzz_target;
use rinit_fuzz::{assert_one_line, env_file};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match env_file::parse(text) {
        Ok(vars) => {
            for (key, value) in vars {
                assert!(!key.is_empty() && !key.contains(['=', '\0']), "{key:?}");
                assert!(!value.contains('\0'));
            }
        }
        Err(err) => {
            assert_one_line(&err.to_string());
            // The same input with the value of the failing line replaced by
            // a marker: whatever the error then is, it must not quote it.
            let marker = "Zq9MARKERq9Z";
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            if let Some(line) = lines.get_mut(err.line - 1) {
                if let Some((name, _)) = line.split_once('=') {
                    *line = format!("{name}={marker}");
                    if let Err(err) = env_file::parse(&lines.join("\n")) {
                        let message = err.to_string();
                        assert!(!message.contains(marker), "{message:?} quotes the value");
                    }
                }
            }
        }
    }
});
