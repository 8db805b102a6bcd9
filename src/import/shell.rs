//! Command lines as words: what supervisord (Python's shlex) and systemd
//! (`ExecStart=`) make of a command, as words of text and variables, and the
//! `sh -c` scripts rinit import writes where a variable must be split into
//! several words or several commands run in order. Also the shell syntax of
//! Procfile lines, and the commands that leave the foreground.

use super::text::literal;

/// A piece of a command before it is split into words: text, or a variable
/// whose value is only known when the program starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Lit(String),
    /// Text that is part of a word as it is, neither split nor unquoted:
    /// systemd resolves specifiers in each word after splitting the line.
    Fixed(String),
    /// `split`: the value is split into words where it is not quoted.
    Var {
        name: String,
        split: bool,
    },
}

/// A part of one word.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Var { name: String, split: bool },
}

pub type Word = Vec<Part>;

/// Whose quoting rules split the words.
#[derive(Clone, Copy, PartialEq)]
pub enum Dialect {
    /// Python's `shlex.split`: `\` escapes the next character outside
    /// quotes, and only `"` and `\` inside double quotes.
    Shlex,
    /// systemd: C escapes (`\n`, `\x41`) in and out of quotes; a `$NAME`
    /// is split only when it is a word of its own.
    Systemd,
}

/// One character or variable of the input, in order.
enum Tok {
    Ch(char),
    Fixed(String),
    Var(String, bool),
}

type Toks = std::iter::Peekable<std::vec::IntoIter<Tok>>;

/// The words of `segs`; Err for an unclosed quote or a trailing backslash.
/// Over 50 lines: one scan keeps the quote state and the word together.
pub fn words(segs: &[Seg], dialect: Dialect) -> Result<Vec<Word>, String> {
    let toks: Vec<Tok> = segs
        .iter()
        .flat_map(|seg| match seg {
            Seg::Lit(text) => text.chars().map(Tok::Ch).collect::<Vec<_>>(),
            Seg::Fixed(text) => vec![Tok::Fixed(text.clone())],
            Seg::Var { name, split } => vec![Tok::Var(name.clone(), *split)],
        })
        .collect();
    let mut words = Vec::new();
    let mut word = Word::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut toks = toks.into_iter().peekable();
    while let Some(tok) = toks.next() {
        let c = match tok {
            Tok::Ch(c) => c,
            // systemd splits a whole word `$NAME` even when quoted.
            other => {
                add(&mut word, other, quote.is_none() || dialect == Dialect::Systemd);
                in_word = true;
                continue;
            }
        };
        match (c, quote) {
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(finish(std::mem::take(&mut word), dialect));
                    in_word = false;
                }
            }
            ('\'' | '"', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, Some(q)) if c == q => quote = None,
            ('\\', Some('\'')) if dialect == Dialect::Shlex => push(&mut word, '\\'),
            ('\\', _) => {
                escaped(&mut toks, &mut word, dialect, quote)?;
                in_word = true;
            }
            (c, _) => {
                push(&mut word, c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if in_word {
        words.push(finish(word, dialect));
    }
    Ok(words)
}

/// A variable or fixed text into `word`; `split`: where a variable may split.
fn add(word: &mut Word, tok: Tok, split: bool) {
    match tok {
        Tok::Ch(c) => push(word, c),
        Tok::Fixed(text) => text.chars().for_each(|c| push(word, c)),
        Tok::Var(name, splits) => word.push(Part::Var {
            name,
            split: splits && split,
        }),
    }
}

/// What follows a `\` into `word`: the character it escapes.
fn escaped(toks: &mut Toks, word: &mut Word, dialect: Dialect, quote: Option<char>) -> Result<(), String> {
    let next = match toks.next() {
        Some(Tok::Ch(next)) => next,
        Some(other) => {
            push(word, '\\');
            add(word, other, false);
            return Ok(());
        }
        None => return Err("a backslash at the end".into()),
    };
    match dialect {
        Dialect::Shlex if quote == Some('"') && !matches!(next, '"' | '\\') => {
            push(word, '\\');
            push(word, next);
        }
        Dialect::Shlex => push(word, next),
        Dialect::Systemd => push(word, c_escape(next, toks)),
    }
    Ok(())
}

/// The character a systemd C escape `\c` stands for (`\x41` reads on).
fn c_escape(c: char, toks: &mut Toks) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        's' => ' ',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'v' => '\u{b}',
        'x' => {
            let mut digits = String::new();
            while digits.len() < 2 {
                match toks.next_if(|t| matches!(t, Tok::Ch(d) if d.is_ascii_hexdigit())) {
                    Some(Tok::Ch(d)) => digits.push(d),
                    _ => break,
                }
            }
            u8::from_str_radix(&digits, 16).map_or('x', char::from)
        }
        other => other,
    }
}

fn push(word: &mut Word, c: char) {
    match word.last_mut() {
        Some(Part::Text(text)) => text.push(c),
        _ => word.push(Part::Text(c.to_string())),
    }
}

/// systemd expands `$NAME` only when it is the whole word (and splits it);
/// elsewhere it stays as written, and only `${NAME}` is expanded.
fn finish(word: Word, dialect: Dialect) -> Word {
    if dialect == Dialect::Shlex || word.len() < 2 {
        return word;
    }
    let mut out = Word::new();
    for part in word {
        match part {
            Part::Var { name, split: true } => {
                push(&mut out, '$');
                name.chars().for_each(|c| push(&mut out, c));
            }
            part => out.push(part),
        }
    }
    out
}

/// Whether a variable in `words` is split into several words.
pub fn splits(words: &[Word]) -> bool {
    words
        .iter()
        .flatten()
        .any(|p| matches!(p, Part::Var { split: true, .. }))
}

/// Whether `text` needs no quotes in a command line.
fn safe(text: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c);
    !text.is_empty() && text.chars().all(safe)
}

/// `text` as one sh word: bare when every character is safe (and it does
/// not read as an assignment, `NAME=...`), else quoted with `'`.
pub fn quote(text: &str) -> String {
    let assignment = text.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if safe(text) && !assignment {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A word as sh text: its text quoted, each variable `$NAME` where it is
/// split (sh splits it; `set -f` keeps sh from globbing it), `"$NAME"`
/// where it is kept whole.
pub fn sh_word(word: &Word) -> String {
    if word.is_empty() {
        return "''".into();
    }
    let rendered: Vec<String> = word
        .iter()
        .map(|part| match part {
            Part::Text(text) => quote(text),
            Part::Var { name, .. } => name.clone(),
        })
        .collect();
    let mut out = String::new();
    for (i, part) in word.iter().enumerate() {
        let text = rendered.get(i).map_or("", String::as_str);
        let Part::Var { split, .. } = part else {
            out.push_str(text);
            continue;
        };
        let next = rendered.get(i.saturating_add(1)).and_then(|n| n.chars().next());
        let var = match next {
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => format!("${{{text}}}"),
            _ => format!("${text}"),
        };
        match split {
            true => out.push_str(&var),
            false => out.push_str(&format!("\"{var}\"")),
        }
    }
    out
}

/// Words as a rinit command string: each word bare where it can be, else in
/// `'...'`; variables as `${NAME}`, which rinit expands in each word (one
/// word, whatever the value holds), and a literal `${` as `$${`.
pub fn rinit_words(words: &[Word]) -> String {
    let word = |word: &Word| {
        let bare = word.iter().all(|part| match part {
            Part::Text(text) => safe(text),
            Part::Var { .. } => true,
        });
        let mut out: String = word
            .iter()
            .map(|part| match part {
                Part::Text(text) => literal(text).replace('\'', "'\\''"),
                Part::Var { name, .. } => format!("${{{name}}}"),
            })
            .collect();
        if !bare || out.is_empty() {
            out = format!("'{out}'");
        }
        out
    };
    let words: Vec<String> = words.iter().map(word).collect();
    words.join(" ")
}

/// The words of one command as sh text.
pub fn sh_words(words: &[Word]) -> String {
    let words: Vec<String> = words.iter().map(sh_word).collect();
    words.join(" ")
}

/// What a Procfile line needs of sh.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// Plain words: rinit splits them as sh would.
    Plain,
    /// One simple command: `exec` goes in at this byte offset (after its
    /// variable assignments), so the program becomes the main process.
    Simple(usize),
    /// Several commands, a pipeline, a compound command: run as it is.
    Compound,
}

/// How a Procfile command line runs under `sh -c`, as Procfile runners run
/// it. Over 50 lines: one scan tracks quotes, `$(...)` nesting, word starts
/// and comments together, which is what tells the three apart.
pub fn procfile_line(line: &str) -> Line {
    let special = |c: char| "$`|&;<>()*?[]~#'\"\\{}!\n".contains(c);
    let mut first = line.split_whitespace();
    let assignment = |w: &str| {
        w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    if !line.contains(special) && !first.next().is_some_and(assignment) {
        return Line::Plain;
    }
    let (mut quote, mut depth, mut word_start, mut prev) = (None, 0usize, true, ' ');
    let mut chars = line.char_indices().peekable();
    // Where the command's name starts: after the assignments before it.
    let mut command_at = None;
    while let Some((i, c)) = chars.next() {
        let starts = word_start && !c.is_whitespace();
        word_start = false;
        if starts && command_at.is_none() && quote.is_none() {
            let word = line.get(i..).unwrap_or_default().split_whitespace().next();
            if !word.is_some_and(assignment) {
                command_at = Some(i);
            }
        }
        match (c, quote) {
            ('\\', Some('\'')) => {}
            ('\\', _) => {
                chars.next();
            }
            ('\'' | '"' | '`', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (_, Some(_)) => {}
            ('$', None) if chars.peek().is_some_and(|&(_, n)| n == '(') => {
                chars.next();
                depth = depth.saturating_add(1);
            }
            ('$', None) if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                while chars.next_if(|&(_, n)| n != '}').is_some() {}
            }
            (')', None) if depth > 0 => depth = depth.saturating_sub(1),
            ('#', None) if starts => break,
            ('&', None) if prev == '>' || prev == '<' => {}
            ('{' | '}' | '!', None) if starts && depth == 0 => return Line::Compound,
            (c, None) if depth == 0 && "|&;()\n".contains(c) => return Line::Compound,
            (c, None) if c.is_whitespace() => word_start = true,
            _ => {}
        }
        prev = c;
    }
    if quote.is_some() || depth > 0 {
        return Line::Compound;
    }
    let Some(at) = command_at else {
        return Line::Compound;
    };
    let word = line.get(at..).unwrap_or_default().split_whitespace().next();
    match word {
        Some("exec" | "if" | "for" | "while" | "until" | "case" | "function") => Line::Compound,
        _ => Line::Simple(at),
    }
}

/// Whether a command runs `celery multi` (the program as `celery`, or a
/// variable such as `${CELERY_BIN}`), which starts workers in the
/// background and exits.
pub fn celery_multi(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let celery = words
        .iter()
        .position(|w| w.to_ascii_lowercase().contains("celery"));
    celery.is_some_and(|at| words.iter().skip(at).any(|w| *w == "multi"))
}

/// What to run instead where a known program is told to leave the
/// foreground (systemd's Type=forking), or None.
pub fn foreground_hint(command: &str) -> Option<&'static str> {
    let has = |w: &str| {
        command
            .split_whitespace()
            .any(|x| x.rsplit('/').next() == Some(w))
    };
    if celery_multi(command) {
        return Some(CELERY_MULTI);
    }
    Some(match () {
        _ if has("nginx") => "run nginx -g 'daemon off;'",
        _ if has("redis-server") => "run redis-server --daemonize no",
        _ if has("php-fpm") || command.contains("php-fpm") => "run php-fpm --nodaemonize",
        _ if has("httpd") || has("apache2") || has("apachectl") => {
            "run httpd -DFOREGROUND (apache2 -DFOREGROUND)"
        }
        _ if has("sshd") => "run sshd -D",
        _ if has("gunicorn") => "run gunicorn without --daemon",
        _ if has("memcached") => "run memcached without -d",
        _ => return None,
    })
}

/// What to say about `celery multi`.
pub const CELERY_MULTI: &str = "celery multi starts its workers in the background and exits 0, so rinit \
     would see the program end while the workers run unsupervised: run each worker in the foreground \
     instead, celery -A APP worker -n NAME@%h (one program each, or instances)";

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Seg {
        Seg::Lit(text.into())
    }

    fn var(name: &str, split: bool) -> Seg {
        Seg::Var {
            name: name.into(),
            split,
        }
    }

    #[test]
    fn import_splits_shlex_words_with_variables() {
        let segs = [
            lit("celery -A app --x="),
            var("A", true),
            lit(" '"),
            var("B", true),
            lit("' \"q\\\"\\n\""),
        ];
        let words = words(&segs, Dialect::Shlex).unwrap();
        assert_eq!(sh_words(&words), "celery -A app --x=$A \"$B\" 'q\"\\n'");
        assert!(splits(&words));
        let quoted = super::words(&[lit("a \""), var("B", true), lit("\" ''")], Dialect::Shlex).unwrap();
        assert!(!splits(&quoted));
        assert_eq!(sh_words(&quoted), "a \"$B\" ''");
        assert!(super::words(&[lit("'open")], Dialect::Shlex).is_err());
        assert_eq!(
            sh_word(&vec![
                Part::Var {
                    name: "X".into(),
                    split: true
                },
                Part::Text("y".into())
            ]),
            "${X}y"
        );
    }

    #[test]
    fn import_splits_systemd_words() {
        let segs = [
            lit("/bin/echo "),
            var("A", true),
            lit(" a"),
            var("B", true),
            lit(" \"x\\x41\\ty\" '"),
            var("C", true),
            lit("' "),
            var("D", false),
        ];
        let words = words(&segs, Dialect::Systemd).unwrap();
        assert_eq!(sh_words(&words), "/bin/echo $A 'a$B' 'xA\ty' $C \"$D\"");
    }

    #[test]
    fn import_writes_words_as_a_rinit_command() {
        let segs = [
            lit("/bin/sh -c 'exec "),
            var("BIN", false),
            lit(" it'\\''s ${x}' "),
            var("PORT", false),
            lit(" a=b"),
        ];
        let words = words(&segs, Dialect::Shlex).unwrap();
        assert_eq!(
            rinit_words(&words),
            "/bin/sh -c 'exec ${BIN} it'\\''s $${x}' ${PORT} a=b"
        );
    }

    #[test]
    fn import_quotes_for_sh() {
        assert_eq!(quote("celery"), "celery");
        assert_eq!(quote("--name=w@%h"), "--name=w@%h");
        assert_eq!(quote("A=1"), "'A=1'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("*"), "'*'");
    }

    #[test]
    fn import_reads_procfile_shell_syntax() {
        assert_eq!(procfile_line("gunicorn app:app -b 0.0.0.0:8000"), Line::Plain);
        assert_eq!(procfile_line("PORT=3000 bundle exec puma"), Line::Simple(10));
        assert_eq!(
            procfile_line("printf [%s] $OPTS # the worker; x"),
            Line::Simple(0)
        );
        assert_eq!(procfile_line("A=1 B='2 3' app > log 2>&1"), Line::Simple(12));
        assert_eq!(procfile_line("app --id $(cat id) \"a|b\""), Line::Simple(0));
        assert_eq!(procfile_line("a && b"), Line::Compound);
        assert_eq!(procfile_line("a | b"), Line::Compound);
        assert_eq!(procfile_line("a; b"), Line::Compound);
        assert_eq!(procfile_line("(cd x; y)"), Line::Compound);
        assert_eq!(procfile_line("exec app $X"), Line::Compound);
        assert_eq!(procfile_line("A=1"), Line::Compound);
        assert_eq!(procfile_line("a 'open"), Line::Compound);
        assert_eq!(procfile_line("~/bin/app"), Line::Simple(0));
    }

    #[test]
    fn import_knows_commands_that_leave_the_foreground() {
        assert!(celery_multi("/usr/bin/celery -A app multi start w1"));
        assert!(celery_multi(
            "/bin/sh -c '${CELERY_BIN} -A $CELERY_APP multi start $CELERYD_NODES'"
        ));
        assert!(!celery_multi("celery -A app worker"));
        assert_eq!(
            foreground_hint("/usr/sbin/nginx"),
            Some("run nginx -g 'daemon off;'")
        );
        assert_eq!(foreground_hint("celery multi start w1"), Some(CELERY_MULTI));
        assert_eq!(foreground_hint("/opt/app --fork"), None);
    }
}
