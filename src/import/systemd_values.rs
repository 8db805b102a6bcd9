//! The value syntax of systemd units: time spans (`1min 30s`, `500ms`,
//! `infinity`) as rinit durations, quoted word lists (`Environment="A=1"
//! "B=2 3"`), `%` specifiers (resolved before anything is escaped), systemd
//! escapes, and `$NAME` in command lines.

use super::model::Program;
use super::shell::Seg;
use super::text::literal;

/// A systemd time span as rinit writes a duration (`"1m30s"`); None for
/// `infinity` or what is not a time span.
pub fn span(text: &str) -> Option<String> {
    span_ms(text).map(duration)
}

/// A systemd time span in milliseconds.
pub fn span_ms(text: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() || rest == "infinity" {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ms: u64 = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1000,
            "ms" | "msec" => 1,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 604_800_000,
            "us" | "usec" | "µs" => 0,
            _ => return None,
        };
        if number.is_empty() || number == "." {
            return None;
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let fraction_ms = match fraction.get(..fraction.len().min(3)) {
            Some(digits) if !digits.is_empty() => {
                let scale = 10u64.pow(digits.len() as u32);
                digits
                    .parse::<u64>()
                    .ok()?
                    .checked_mul(unit_ms)?
                    .checked_div(scale)?
            }
            _ => 0,
        };
        total_ms = total_ms.checked_add(whole.checked_mul(unit_ms)?.checked_add(fraction_ms)?)?;
        rest = after.trim_start();
    }
    Some(total_ms)
}

/// Milliseconds as rinit's shortest duration text: "1h2m3s", "250ms", "0".
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0".into();
    }
    let parts = [
        (ms / 3_600_000, "h"),
        (ms / 60_000 % 60, "m"),
        (ms / 1000 % 60, "s"),
        (ms % 1000, "ms"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

/// Words as systemd splits `Environment=` and `SuccessExitStatus=`:
/// whitespace between them, `"..."` or `'...'` around parts, `\` escapes.
pub fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some(c) => word.push(c),
                    None => return Err("a backslash at the end".into()),
                },
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if quote.is_some() {
            return Err("a quote is not closed".into());
        }
        words.push(word);
    }
}

/// A unit's name as its `%` specifiers see it: `PREFIX@INSTANCE.SUFFIX`.
pub struct UnitName {
    pub prefix: String,
    pub instance: Instance,
    pub suffix: String,
}

/// The instance of a template unit.
#[derive(Clone, PartialEq)]
pub enum Instance {
    /// Not a template's instance.
    None,
    Named(String),
    /// Each of rinit's instances: `${RINIT_INSTANCE}`, known at its start.
    Numbered,
}

impl UnitName {
    /// `app.service`, `app@blue.service`.
    pub fn parse(full: &str) -> UnitName {
        let (stem, suffix) = full.rsplit_once('.').unwrap_or((full, ""));
        let (prefix, instance) = match stem.split_once('@') {
            Some((prefix, instance)) => (prefix, Instance::Named(instance.to_string())),
            None => (stem, Instance::None),
        };
        UnitName {
            prefix: prefix.to_string(),
            instance,
            suffix: suffix.to_string(),
        }
    }

    /// The instance as `%i` gives it (`unescape` for `%I`).
    fn instance(&self, unescaped: bool) -> Vec<Seg> {
        match &self.instance {
            Instance::None => Vec::new(),
            Instance::Named(name) if unescaped => vec![Seg::Fixed(unescape(name))],
            Instance::Named(name) => vec![Seg::Fixed(name.clone())],
            Instance::Numbered => vec![Seg::Var {
                name: "RINIT_INSTANCE".into(),
                split: false,
            }],
        }
    }

    /// `%N`: `prefix@instance`, or the prefix alone.
    fn stem(&self) -> Vec<Seg> {
        let mut segs = vec![Seg::Fixed(self.prefix.clone())];
        if self.instance != Instance::None {
            segs.push(Seg::Fixed("@".into()));
            segs.extend(self.instance(false));
        }
        segs
    }
}

/// systemd-escape undone: `\xNN` is the byte NN, `-` is `/`.
pub fn unescape(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, after)) = rest.split_first() {
        rest = after;
        let hex = match (b, after) {
            (b'\\', [b'x', h, l, ..]) => std::str::from_utf8(&[*h, *l])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match hex {
            Some(byte) => {
                bytes.push(byte);
                rest = rest.get(3..).unwrap_or_default();
            }
            None if b == b'-' => bytes.push(b'/'),
            None => bytes.push(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether `text` holds a specifier that differs from one instance to the
/// next: `%i`, `%I`, `%n`, `%N`, `%f`.
pub fn uses_instance(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' && chars.next().is_some_and(|n| "iInNf".contains(n)) {
            return true;
        }
    }
    false
}

/// `text` with its `%` specifiers resolved: names of the unit, `%h` as
/// `${HOME}`, the system manager's user, folders and host for the others;
/// an unknown specifier stays, with a warning on `p`. What they give is
/// `Seg::Fixed`: systemd resolves them in each word once the line is split.
/// Over 50 lines: the table of specifiers.
pub fn specifiers(text: &str, unit: &UnitName, p: &mut Program) -> Vec<Seg> {
    let var = |name: &str| {
        vec![Seg::Var {
            name: name.into(),
            split: false,
        }]
    };
    let lit = |text: &str| vec![Seg::Fixed(text.into())];
    let mut segs: Vec<Seg> = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            segs.push(Seg::Lit(c.to_string()));
            continue;
        }
        let Some(spec) = chars.next() else {
            segs.push(Seg::Fixed("%".into()));
            break;
        };
        let last_part = unit.prefix.rsplit('-').next().unwrap_or_default();
        let more = match spec {
            '%' => lit("%"),
            'n' => {
                let mut full = unit.stem();
                full.push(Seg::Fixed(format!(".{}", unit.suffix)));
                full
            }
            'N' => unit.stem(),
            'p' => lit(&unit.prefix),
            'P' => lit(&unescape(&unit.prefix)),
            'i' => unit.instance(false),
            'I' => unit.instance(true),
            'f' => {
                let mut path = lit("/");
                match unit.instance {
                    Instance::None => path.extend(lit(&unescape(&unit.prefix))),
                    _ => path.extend(unit.instance(true)),
                }
                path
            }
            'j' => lit(last_part),
            'J' => lit(&unescape(last_part)),
            'h' => var("HOME"),
            'H' | 'l' => var("HOSTNAME"),
            'u' | 'g' => lit("root"),
            'U' | 'G' => lit("0"),
            's' => lit("/bin/sh"),
            't' => lit("/run"),
            'S' => lit("/var/lib"),
            'C' => lit("/var/cache"),
            'L' => lit("/var/log"),
            'E' => lit("/etc"),
            'T' => lit("/tmp"),
            'V' => lit("/var/tmp"),
            other => {
                p.warn(&format!(
                    "%{other} left as it is: rinit import does not know its value"
                ));
                lit(&format!("%{other}"))
            }
        };
        segs.extend(more);
    }
    merge(segs)
}

/// Adjacent text segments of one kind joined.
fn merge(segs: Vec<Seg>) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for seg in segs {
        match (out.last_mut(), seg) {
            (Some(Seg::Lit(text)), Seg::Lit(more)) => text.push_str(&more),
            (Some(Seg::Fixed(text)), Seg::Fixed(more)) => text.push_str(&more),
            (_, seg) => out.push(seg),
        }
    }
    out
}

/// `text` with its specifiers resolved, as rinit text: `${NAME}` for what
/// rinit expands; the rest taken literally when `escape` (`${` → `$${`).
pub fn resolve(text: &str, unit: &UnitName, p: &mut Program, escape: bool) -> String {
    specifiers(text, unit, p)
        .iter()
        .map(|seg| match seg {
            Seg::Lit(text) | Seg::Fixed(text) if escape => literal(text),
            Seg::Lit(text) | Seg::Fixed(text) => text.clone(),
            Seg::Var { name, .. } => format!("${{{name}}}"),
        })
        .collect()
}

/// systemd's `$NAME` (split into words), `${NAME}` (one word) and `$$` (a
/// `$`) in the text of `segs`.
pub fn dollars(segs: Vec<Seg>) -> Vec<Seg> {
    let mut out = Vec::new();
    for seg in segs {
        let Seg::Lit(text) = seg else {
            out.push(seg);
            continue;
        };
        let mut rest = text.as_str();
        let mut plain = String::new();
        while let Some((before, after)) = rest.split_once('$') {
            plain.push_str(before);
            rest = after;
            let braced = after.strip_prefix('{').and_then(|a| a.split_once('}'));
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let (name, split, tail) = match braced {
                Some((name, tail)) => (name, false, tail),
                None => (&after[..len], true, &after[len..]),
            };
            if let Some(tail) = after.strip_prefix('$') {
                plain.push('$');
                rest = tail;
            } else if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                plain.push('$');
            } else {
                out.push(Seg::Lit(std::mem::take(&mut plain)));
                out.push(Seg::Var {
                    name: name.to_string(),
                    split,
                });
                rest = tail;
            }
        }
        plain.push_str(rest);
        out.push(Seg::Lit(plain));
    }
    out.retain(|s| !matches!(s, Seg::Lit(t) if t.is_empty()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_converts_systemd_time_spans() {
        let s = |t: &str| span(t);
        assert_eq!(s("5").as_deref(), Some("5s"));
        assert_eq!(s("5s").as_deref(), Some("5s"));
        assert_eq!(s("1min 30s").as_deref(), Some("1m30s"));
        assert_eq!(s("90").as_deref(), Some("1m30s"));
        assert_eq!(s("500ms").as_deref(), Some("500ms"));
        assert_eq!(s("1.5s").as_deref(), Some("1s500ms"));
        assert_eq!(s("2h").as_deref(), Some("2h"));
        assert_eq!(s("1d 1us").as_deref(), Some("24h"));
        assert_eq!(s("0").as_deref(), Some("0"));
        assert_eq!(s("infinity"), None);
        assert_eq!(s("5 parsecs"), None);
        assert_eq!(s("."), None);
        assert_eq!(s("99999999999999999999"), None);
    }

    #[test]
    fn import_splits_systemd_words() {
        assert_eq!(
            words(r#""A=1" "B=2 3" C='x y' D=a\ b E="q\"t""#).unwrap(),
            ["A=1", "B=2 3", "C=x y", "D=a b", "E=q\"t"]
        );
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("\"A=1").unwrap_err(), "a quote is not closed");
    }

    #[test]
    fn import_resolves_specifiers_before_escaping() {
        let mut p = Program::new("x".into(), "x@.service");
        let unit = UnitName::parse("app@blue\\x2dgreen-1.service");
        assert_eq!(
            resolve("%n %N %p %i %I %f %h/d ${LIT} %u %t %% %y", &unit, &mut p, true),
            "app@blue\\x2dgreen-1.service app@blue\\x2dgreen-1 app blue\\x2dgreen-1 blue-green/1 \
             /blue-green/1 ${HOME}/d $${LIT} root /run % %y"
        );
        assert_eq!(p.findings().len(), 1);
        let numbered = UnitName {
            instance: Instance::Numbered,
            ..UnitName::parse("w@.service")
        };
        assert_eq!(
            resolve("-n %i %N", &numbered, &mut p, false),
            "-n ${RINIT_INSTANCE} w@${RINIT_INSTANCE}"
        );
        assert!(uses_instance("a %i") && uses_instance("%N") && !uses_instance("%%i %h"));
        assert_eq!(unescape("a\\x2db-c\\x"), "a-b/c\\x");
    }

    #[test]
    fn import_reads_systemd_dollars() {
        let segs = dollars(vec![Seg::Lit("a $A ${B}c $$ $1 $".into())]);
        let var = |n: &str, split| Seg::Var {
            name: n.into(),
            split,
        };
        assert_eq!(
            segs,
            [
                Seg::Lit("a ".into()),
                var("A", true),
                Seg::Lit(" ".into()),
                var("B", false),
                Seg::Lit("c $ $1 $".into())
            ]
        );
    }
}
