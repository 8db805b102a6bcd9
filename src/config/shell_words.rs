//! Splitting a command string into words by POSIX shell quoting rules, without any expansion:
//! `$VAR`, `~`, globs, backticks and `#` are ordinary characters.

use std::str::Chars;

/// Splits `text` into words. Unquoted spaces, tabs and newlines separate words; `'...'` is literal;
/// `"..."` honours the escapes `\\`, `\"`, `\$`, `` \` `` and backslash-newline; an unquoted backslash
/// makes the next character literal. Adjacent parts join into one word, and `""` or `''` alone make
/// an empty word. Empty or all-whitespace text gives no words.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has started: `word` may be empty yet real, as with `''`.
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                single_quoted(&mut chars, &mut word)?;
                in_word = true;
            }
            '"' => {
                double_quoted(&mut chars, &mut word)?;
                in_word = true;
            }
            '\\' => match chars.next() {
                Some('\n') => {} // a line continuation: removed, and it neither starts nor ends a word
                Some(c) => {
                    word.push(c);
                    in_word = true;
                }
                None => return Err("backslash at the end".into()),
            },
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads the rest of a `'...'` part, whose opening quote is already consumed.
fn single_quoted(chars: &mut Chars, word: &mut String) -> Result<(), String> {
    for c in chars.by_ref() {
        if c == '\'' {
            return Ok(());
        }
        word.push(c);
    }
    Err("unterminated single quote".into())
}

/// Reads the rest of a `"..."` part, whose opening quote is already consumed.
fn double_quoted(chars: &mut Chars, word: &mut String) -> Result<(), String> {
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(()),
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c @ ('\\' | '"' | '$' | '`')) => word.push(c),
                Some(c) => {
                    word.push('\\');
                    word.push(c);
                }
                None => break,
            },
            c => word.push(c),
        }
    }
    Err("unterminated double quote".into())
}

#[cfg(test)]
mod tests {
    use super::split;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap()
    }

    #[test]
    fn empty_and_blank_input_give_no_words() {
        assert!(words("").is_empty());
        assert!(words(" \t\n ").is_empty());
        assert!(words("\\\n").is_empty());
    }

    #[test]
    fn unquoted_whitespace_separates_words() {
        assert_eq!(words("  ls\t-l \n /tmp  "), ["ls", "-l", "/tmp"]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(words(r#"'a b\ "c" $x'"#), [r#"a b\ "c" $x"#]);
        assert_eq!(words("'a\nb'"), ["a\nb"]);
    }

    #[test]
    fn double_quotes_honour_a_few_escapes() {
        assert_eq!(words(r#""a \\ \" \$ \` b""#), [r#"a \ " $ ` b"#]);
        assert_eq!(words("\"a\\\nb\""), ["ab"]);
        assert_eq!(words(r#""\a \n \'""#), [r#"\a \n \'"#]);
        assert_eq!(words("\"it's\""), ["it's"]);
    }

    #[test]
    fn unquoted_backslash_makes_the_next_character_literal() {
        assert_eq!(words(r#"a\ b \'c\" \\ \$x"#), ["a b", "'c\"", "\\", "$x"]);
        assert_eq!(words("a\\\nb c\\\n d"), ["ab", "c", "d"]);
        assert_eq!(words("a\\\tb"), ["a\tb"]);
    }

    #[test]
    fn adjacent_parts_join() {
        assert_eq!(words(r#"a"b c"'d' e"#), ["ab cd", "e"]);
        assert_eq!(words(r#"--opt="x y""#), ["--opt=x y"]);
    }

    #[test]
    fn empty_quotes_make_an_empty_word() {
        assert_eq!(words(r#"a "" '' b"#), ["a", "", "", "b"]);
        assert_eq!(words("''"), [""]);
        assert_eq!(words(r#"a""b"#), ["ab"]);
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(
            words("echo $HOME ~ *.txt `id` # not a comment"),
            ["echo", "$HOME", "~", "*.txt", "`id`", "#", "not", "a", "comment"]
        );
        assert_eq!(words("\"$HOME\" a#b"), ["$HOME", "a#b"]);
    }

    #[test]
    fn errors() {
        assert_eq!(split("echo 'abc").unwrap_err(), "unterminated single quote");
        assert_eq!(split("'").unwrap_err(), "unterminated single quote");
        assert_eq!(split(r#"echo "abc"#).unwrap_err(), "unterminated double quote");
        assert_eq!(split(r#"echo "abc\"#).unwrap_err(), "unterminated double quote");
        assert_eq!(split(r#"echo "abc\""#).unwrap_err(), "unterminated double quote");
        assert_eq!(split("echo abc\\").unwrap_err(), "backslash at the end");
    }

    #[test]
    fn non_ascii_text() {
        assert_eq!(words("héllo 'wörld ✓'"), ["héllo", "wörld ✓"]);
    }
}
