//! How rinit import writes text: TOML strings, keys and arrays, comments,
//! rinit names, and `${` taken literally (`literal`).

use std::fmt::Write;

/// A program or group name rinit accepts (1 to 64 ASCII letters, digits, `_`
/// and `-`): anything else becomes `_`. The second value says what changed.
pub fn name(raw: &str) -> (String, Option<String>) {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push('_');
    }
    let note = (name != raw).then(|| {
        format!("name {raw:?} became {name:?}: rinit names have 1 to 64 letters, digits, '_' and '-'")
    });
    (name, note)
}

/// `# rinit import: TEXT`, one line whatever TEXT holds.
pub fn comment(text: &str) -> String {
    let mut line = String::from("# rinit import: ");
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(line, "\\u{{{:x}}}", c as u32);
        } else {
            line.push(c);
        }
    }
    line
}

/// `# TEXT`: a plain comment, kept from the source (a description).
pub fn remark(text: &str) -> String {
    comment(text).replacen("# rinit import: ", "# ", 1)
}

/// A TOML basic string: `"`, `\` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(2));
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, else quoted.
pub fn key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        text.to_string()
    } else {
        quote(text)
    }
}

/// At most the first 60 characters of `text`, for a message.
pub fn clip(text: &str) -> &str {
    text.char_indices().nth(60).map_or(text, |(i, _)| &text[..i])
}

/// A TOML array of exit codes.
pub fn codes(codes: &[u8]) -> String {
    let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
    format!("[{}]", codes.join(", "))
}

/// A TOML array of strings.
pub fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `["sh", "-c", SCRIPT]` as TOML, the script taken literally by rinit
/// (its `${` written `$${`), so that sh alone expands its variables.
pub fn sh_command(script: &str) -> String {
    list(&["sh".into(), "-c".into(), literal(script)])
}

/// Text that rinit expands (`${NAME}`) taken literally: `${` becomes `$${`.
pub fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_quotes_toml_strings() {
        assert_eq!(quote(r#"say "hi" \ now"#), r#""say \"hi\" \\ now""#);
        assert_eq!(quote("a\nb\tc\u{1b}d\u{7f}"), r#""a\nb\tc\u001Bd\u007F""#);
        assert_eq!(quote("héllo"), "\"héllo\"");
        assert_eq!(key("A_B-1"), "A_B-1");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(comment("two\nlines"), "# rinit import: two\\u{a}lines");
        assert_eq!(literal("echo ${HOME} $$x"), "echo $${HOME} $$x");
        assert_eq!(sh_command("echo ${X}"), r#"["sh", "-c", "echo $${X}"]"#);
    }

    #[test]
    fn import_names_become_rinit_names() {
        assert_eq!(name("web-1_a"), ("web-1_a".to_string(), None));
        let (changed, note) = name("my.app@2");
        assert_eq!(changed, "my_app_2");
        assert_eq!(
            note.unwrap(),
            "name \"my.app@2\" became \"my_app_2\": rinit names have 1 to 64 letters, digits, '_' and '-'"
        );
    }
}
