//! Parsing env files: one `KEY=VALUE` per line, with `#` comments, an optional `export ` prefix
//! and single- or double-quoted values.

use std::collections::HashMap;
use std::fmt;

/// A parse error, with the 1-based number of the line it is on.
#[derive(Debug, PartialEq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The whitespace of a line: spaces and tabs.
const BLANK: [char; 2] = [' ', '\t'];

/// Parses an env file into its variables, in the order of their first appearance; a variable set
/// again keeps its place and takes the later value.
/// A line with a NUL byte is an error (no environment can hold one), and
/// no error message quotes a value: env files hold secrets.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, LineError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let parsed = if line.contains('\0') {
            Err("the line contains a NUL byte".to_string())
        } else {
            parse_line(line)
        };
        let parsed = parsed.map_err(|message| LineError {
            line: index.saturating_add(1),
            message,
        })?;
        let Some((key, value)) = parsed else { continue };
        // `position` holds places in `vars`.
        match position.get(key).and_then(|&at| vars.get_mut(at)) {
            Some(var) => var.1 = value,
            None => {
                position.insert(key, vars.len());
                vars.push((key.to_string(), value));
            }
        }
    }
    Ok(vars)
}

/// Parses one line without its line ending: `None` for a blank or comment line.
fn parse_line(line: &str) -> Result<Option<(&str, String)>, String> {
    let line = line.trim_start_matches(BLANK);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with(BLANK) => rest.trim_start_matches(BLANK),
        _ => line,
    };
    let (key, rest) = line.split_once('=').ok_or("expected KEY=VALUE")?;
    if !is_name(key) {
        return Err(if is_name(key.trim_end_matches(BLANK)) {
            r#"no space is allowed before "=""#.into()
        } else {
            format!("invalid variable name {key:?}")
        });
    }
    let value = rest.trim_start_matches(BLANK);
    let (value, tail) = if let Some(quoted) = value.strip_prefix('\'') {
        let (value, tail) = quoted.split_once('\'').ok_or("unterminated single quote")?;
        (value.to_string(), tail)
    } else if let Some(quoted) = value.strip_prefix('"') {
        double_quoted(quoted)?
    } else {
        return Ok(Some((key, unquoted(rest).to_string())));
    };
    let tail = tail.trim_start_matches(BLANK);
    if tail.is_empty() || tail.starts_with('#') {
        Ok(Some((key, value)))
    } else {
        Err("unexpected text after the closing quote".into())
    }
}

/// Whether `key` matches `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads the rest of a `"..."` value, whose opening quote is already consumed: the value, and the
/// text after the closing quote.
fn double_quoted(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok((value, chars.as_str())),
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(c @ ('\\' | '"' | '$')) => value.push(c),
                Some(c) => {
                    value.push('\\');
                    value.push(c);
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("unterminated double quote".into())
}

/// An unquoted value: the text after `=` up to an inline comment (whitespace then `#`), trimmed.
fn unquoted(text: &str) -> &str {
    let end = [" #", "\t#"]
        .iter()
        .filter_map(|comment| text.find(comment))
        .min();
    end.and_then(|end| text.get(..end))
        .unwrap_or(text)
        .trim_matches(BLANK)
}

#[cfg(test)]
mod tests {
    use super::{parse, LineError};

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    fn one(text: &str) -> String {
        let vars = vars(text);
        assert_eq!(vars.len(), 1, "{vars:?}");
        vars[0].1.clone()
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn simple_lines() {
        let expected = [("A", "1"), ("_b2", "two words"), ("EMPTY", "")];
        let expected: Vec<_> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(vars("A=1\n_b2=two words\nEMPTY=\n"), expected);
        assert_eq!(vars("A=1\r\n_b2=two words\r\nEMPTY="), expected);
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        assert_eq!(vars(""), []);
        assert_eq!(vars("\n \t\n# comment\n   # indented comment\n#A=1\n\r\n"), []);
    }

    #[test]
    fn leading_whitespace_and_export() {
        assert_eq!(one("  \tA=1"), "1");
        assert_eq!(vars("export A=1"), [("A".to_string(), "1".to_string())]);
        assert_eq!(vars(" export \t B=2"), [("B".to_string(), "2".to_string())]);
        assert_eq!(vars("export=3"), [("export".to_string(), "3".to_string())]);
        assert_eq!(vars("exportC=4"), [("exportC".to_string(), "4".to_string())]);
    }

    #[test]
    fn unquoted_values() {
        assert_eq!(one("A=  value with  spaces \t "), "value with  spaces");
        assert_eq!(one("A=x=y"), "x=y");
        assert_eq!(one("A=value # comment"), "value");
        assert_eq!(one("A=value\t# comment"), "value");
        assert_eq!(one("A=a#b"), "a#b");
        assert_eq!(one("A=#b"), "#b");
        assert_eq!(one("A= # only a comment"), "");
        assert_eq!(one(r#"A=a\nb "c" it's $X"#), r#"a\nb "c" it's $X"#);
        assert_eq!(one("A=héllo ✓"), "héllo ✓");
    }

    #[test]
    fn single_quoted_values() {
        assert_eq!(one(r#"A='a \n "b" $c # d'"#), r#"a \n "b" $c # d"#);
        assert_eq!(one("A=  ''  "), "");
        assert_eq!(one("A='x' # comment"), "x");
        assert_eq!(one("A='x'#comment"), "x");
    }

    #[test]
    fn double_quoted_values() {
        assert_eq!(one(r#"A="a\\b\"c\$d\ne\tf""#), "a\\b\"c$d\ne\tf");
        assert_eq!(one(r#"A="\a \' \`""#), r#"\a \' \`"#);
        assert_eq!(
            one(r#"A="it's # not a comment" # comment"#),
            "it's # not a comment"
        );
        assert_eq!(one("A=\"\"\t"), "");
        assert_eq!(one("A=\"x\"\r\n"), "x");
    }

    #[test]
    fn later_duplicates_override() {
        let expected = [("A", "3"), ("B", "2")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(vars("A=1\nB=2\nexport A=3\n"), expected);
    }

    #[test]
    fn errors() {
        assert_eq!(error("A=1\n\njust words"), "line 3: expected KEY=VALUE");
        assert_eq!(error("export A"), "line 1: expected KEY=VALUE");
        assert_eq!(error("1A=x"), r#"line 1: invalid variable name "1A""#);
        assert_eq!(error("A-B=x"), r#"line 1: invalid variable name "A-B""#);
        assert_eq!(error("A B=x"), r#"line 1: invalid variable name "A B""#);
        assert_eq!(error("=x"), r#"line 1: invalid variable name """#);
        assert_eq!(error("A =x"), r#"line 1: no space is allowed before "=""#);
        assert_eq!(error("A\t=x"), r#"line 1: no space is allowed before "=""#);
        assert_eq!(error("A='x"), "line 1: unterminated single quote");
        assert_eq!(error("A='x\ny'"), "line 1: unterminated single quote");
        assert_eq!(error(r#"A="x"#), "line 1: unterminated double quote");
        assert_eq!(error(r#"A="x\""#), "line 1: unterminated double quote");
        assert_eq!(error("A=\"x\\"), "line 1: unterminated double quote");
        assert_eq!(error("A='x'y"), "line 1: unexpected text after the closing quote");
        assert_eq!(
            error(r#"A="x" y"#),
            "line 1: unexpected text after the closing quote"
        );
        // Neither the value nor the name of a line with a NUL is quoted.
        assert_eq!(
            error("A=1\nSECRET=hunter\u{0}2"),
            "line 2: the line contains a NUL byte"
        );
    }

    #[test]
    fn line_error_fields() {
        let expected = LineError {
            line: 2,
            message: "expected KEY=VALUE".into(),
        };
        assert_eq!(parse("A=1\r\nB\r\n"), Err(expected));
    }
}
