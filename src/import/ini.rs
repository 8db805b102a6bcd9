//! The INI files `rinit import` reads: supervisord's (Python's configparser:
//! `=` or `:`, keys in lower case, indented continuation lines, `;` and `#`
//! comments, also after a space) and systemd's (`=` only, keys as written, a
//! trailing `\` continues the line, comments only at the start of a line).

pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

pub struct Section {
    pub name: String,
    pub entries: Vec<Entry>,
    /// The line of its `[header]`.
    pub line: usize,
}

impl Section {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }
}

/// The sections of `text`; Err names `file`, the line and what is wrong.
/// Over 50 lines: one pass serves both dialects, which differ in a few
/// branches (continuations, separators, comments, case).
pub fn parse(text: &str, file: &str, systemd: bool) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let mut pending = String::new(); // a systemd line continued with `\`
    let mut pending_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let number = i.saturating_add(1);
        let trimmed = raw.trim();
        if systemd && !pending.is_empty() {
            if trimmed.starts_with(['#', ';']) {
                continue;
            }
            pending.push(' ');
        } else if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let continued = !systemd && raw.starts_with([' ', '\t']);
        if continued {
            // configparser: an indented line continues the last value.
            let last = sections.last_mut().and_then(|s| s.entries.last_mut());
            let Some(last) = last else {
                return Err(format!("{file}:{number}: an indented line continues no key"));
            };
            last.value.push('\n');
            last.value.push_str(strip_comment(trimmed));
            continue;
        }
        if systemd {
            if let Some(part) = trimmed.strip_suffix('\\') {
                if pending.is_empty() {
                    pending_line = number;
                }
                pending.push_str(part.trim_end());
                continue;
            }
        }
        let (line, number) = if pending.is_empty() {
            (trimmed.to_string(), number)
        } else {
            pending.push_str(trimmed);
            (std::mem::take(&mut pending), pending_line)
        };
        if let Some(name) = line.strip_prefix('[') {
            let name = if systemd { name } else { strip_comment(name) };
            let Some(name) = name.strip_suffix(']') else {
                return Err(format!("{file}:{number}: a section header needs its closing ']'"));
            };
            sections.push(Section {
                name: name.trim().to_string(),
                entries: Vec::new(),
                line: number,
            });
            continue;
        }
        let split = if systemd {
            line.split_once('=')
        } else {
            line.split_once(['=', ':'])
        };
        let (Some((key, value)), Some(section)) = (split, sections.last_mut()) else {
            return Err(format!(
                "{file}:{number}: expected [section] or key=value, found {:?}",
                crate::import::text::clip(&line)
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let value = if systemd { value } else { strip_comment(value) };
        section.entries.push(Entry {
            key: if systemd {
                key.to_string()
            } else {
                key.to_ascii_lowercase()
            },
            value: value.to_string(),
            line: number,
        });
    }
    Ok(sections)
}

/// A value without configparser's inline comment (`;` or `#` after a space).
fn strip_comment(value: &str) -> &str {
    let blank_then_mark = |pair: &[u8]| matches!(pair, [blank, b';' | b'#'] if blank.is_ascii_whitespace());
    let blank = value.as_bytes().windows(2).position(blank_then_mark);
    // The blank and what is before it, without the blanks at its end.
    blank.and_then(|i| value.get(..=i)).map_or(value, str::trim_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_reads_supervisord_ini() {
        let text = "; top\n[program:web]\nCommand = gunicorn app ; inline\n  --workers 2\nuser: app\n\
                    [group:g] ; note\nprograms=web\n";
        let sections = parse(text, "f", false).unwrap();
        assert_eq!(sections[0].name, "program:web");
        assert_eq!(sections[0].get("command"), Some("gunicorn app\n--workers 2"));
        assert_eq!(sections[0].get("user"), Some("app"));
        assert_eq!(sections[0].entries[1].line, 5);
        assert_eq!(sections[1].name, "group:g");
        assert_eq!(
            parse("x=1\n", "f", false).err().unwrap(),
            "f:1: expected [section] or key=value, found \"x=1\""
        );
        assert_eq!(
            parse("[a]\nnothing\n", "f", false).err().unwrap(),
            "f:2: expected [section] or key=value, found \"nothing\""
        );
        assert_eq!(
            parse("[a\n", "f", false).err().unwrap(),
            "f:1: a section header needs its closing ']'"
        );
    }

    #[test]
    fn import_reads_systemd_ini() {
        let text = "[Service]\nExecStart=/bin/app \\\n  --flag # not a comment\nEnvironment=A=1\nUser=x:y\n";
        let sections = parse(text, "u", true).unwrap();
        let s = &sections[0];
        assert_eq!(s.get("ExecStart"), Some("/bin/app --flag # not a comment"));
        assert_eq!(s.entries[0].line, 2);
        assert_eq!(s.get("Environment"), Some("A=1"));
        assert_eq!(s.get("User"), Some("x:y"));
    }
}
