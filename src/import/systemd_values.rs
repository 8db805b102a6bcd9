//! The value syntax of systemd units: time spans (`1min 30s`, `500ms`,
//! `infinity`) as rinit durations, quoted word lists (`Environment="A=1"
//! "B=2 3"`), `%` specifiers, and the `-@+!:` prefixes of `ExecStart`.

use super::{braces, comment, literal};

/// A systemd time span as rinit writes a duration (`"1m30s"`); None for
/// `infinity` or what is not a time span.
pub fn span(text: &str) -> Option<String> {
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
    Some(duration(total_ms))
}

/// Milliseconds as rinit's shortest duration text: "1h2m3s", "250ms", "0".
fn duration(ms: u64) -> String {
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

/// What `%` specifiers need: the unit's file name.
pub struct UnitName<'a> {
    pub full: &'a str,
}

/// `%n`, `%N`, `%p`, `%i`, `%I`, `%h`, `%u`, `%t` and `%%` as rinit can have
/// them; others are left and noted.
pub fn specifiers(text: &str, unit: &UnitName, notes: &mut Vec<String>) -> String {
    let stem = unit.full.rsplit_once('.').map_or(unit.full, |(stem, _)| stem);
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('n') => out.push_str(unit.full),
            Some('N') => out.push_str(stem),
            Some('p') => out.push_str(prefix),
            Some('i' | 'I') => out.push_str(instance),
            Some('h') => out.push_str("${HOME}"),
            Some('u') => out.push_str("${USER}"),
            Some('t') => out.push_str("/run"),
            Some(other) => {
                notes.push(comment(&format!("%{other} left as it is: no rinit equivalent")));
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// An `ExecStart=` line as a rinit command string: prefixes stripped (with
/// a note where they change meaning), specifiers and `$VAR` rewritten.
pub fn exec(value: &str, unit: &UnitName, notes: &mut Vec<String>) -> String {
    let command = value.trim_start_matches(['-', '@', '+', '!', ':']);
    let prefixes = value.strip_suffix(command).unwrap_or_default();
    for (prefix, meaning) in [
        ('-', "its failure was ignored; add its exit codes to success_exit_codes"),
        ('@', "its second word was argv[0]; rinit passes every word after the first as an argument, so remove it"),
        ('+', "it ran with full privileges; rinit runs it as user"),
        ('!', "it ran with full privileges; rinit runs it as user"),
    ] {
        if prefixes.contains(prefix) {
            notes.push(comment(&format!("ExecStart prefix {prefix} dropped: {meaning}")));
        }
    }
    if prefixes.contains(':') {
        specifiers(&literal(command), unit, notes)
    } else {
        braces(&specifiers(command, unit, notes), true)
    }
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
    fn import_rewrites_exec_start() {
        let unit = UnitName {
            full: "app@blue.service",
        };
        let mut notes = Vec::new();
        assert_eq!(
            exec(
                "-/usr/bin/app --name %i --home %h $PORT ${X} $$ 100%%",
                &unit,
                &mut notes
            ),
            "/usr/bin/app --name blue --home ${HOME} ${PORT} ${X} $ 100%"
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(
            exec(":/bin/echo ${X} %N", &unit, &mut notes),
            "/bin/echo $${X} app@blue"
        );
    }
}
