//! The value syntax of supervisord configurations: `%(name)s` expansions,
//! `environment=KEY="value",...` lists, booleans, and the `*`/`?` globs of
//! `[include] files`.

use super::model::Program;
use super::shell::Seg;
use super::text::literal;

/// What `%(name)s` expands to in one program.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub program: &'a str,
    pub group: &'a str,
    pub here: &'a str,
    pub numprocs: &'a str,
    /// Whether the program becomes `instances` (else process_num is 0).
    pub instances: bool,
    /// Whether this is `command`, the only key `${RINIT_INSTANCE}` may be in.
    pub command: bool,
}

/// `value` with supervisord's expansions done as rinit can: `%(ENV_X)s` →
/// `${X}`, `%(process_num)d` → `${RINIT_INSTANCE}`, names and folders
/// literally, `%%` → `%`; a literal `${` becomes `$${`. What changes is
/// said on `p`.
pub fn expand(value: &str, ctx: &Context, p: &mut Program) -> String {
    render(&segments(value, ctx, p))
}

/// Segments as rinit text: `${NAME}` for a variable, the rest literal.
pub fn render(segs: &[Seg]) -> String {
    segs.iter()
        .map(|seg| match seg {
            Seg::Lit(text) | Seg::Fixed(text) => literal(text),
            Seg::Var { name, .. } => format!("${{{name}}}"),
        })
        .collect()
}

/// `value` as text and the variables known only at the start: `%(ENV_X)s`
/// (split into words where it is not quoted, as supervisord substitutes
/// it before it splits the command), `%(process_num)d` and
/// `%(host_node_name)s`. Over 50 lines: the scan and the table of names
/// read best together.
pub fn segments(value: &str, ctx: &Context, p: &mut Program) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    let var = |name: &str, split: bool| Seg::Var {
        name: name.to_string(),
        split,
    };
    while let Some((before, after)) = rest.split_once('%') {
        text.push_str(before);
        rest = after;
        if let Some(after) = rest.strip_prefix('%') {
            text.push('%');
            rest = after;
            continue;
        }
        let named = rest.strip_prefix('(').and_then(|r| r.split_once(')'));
        let Some((name, tail)) = named else {
            text.push('%');
            continue;
        };
        let spec_len = tail
            .char_indices()
            .find(|&(_, c)| !matches!(c, '0'..='9' | '-' | '#' | ' ' | '+' | '.'))
            .map_or(0, |(i, c)| i.saturating_add(c.len_utf8()));
        // `spec_len` ends a char of `tail`, and `after` is the end of `rest`.
        let (spec, after) = tail.split_at_checked(spec_len).unwrap_or((tail, ""));
        let whole = rest.strip_suffix(after).unwrap_or(rest);
        rest = after;
        let found = match name {
            "program_name" => Seg::Lit(ctx.program.to_string()),
            "group_name" => Seg::Lit(ctx.group.to_string()),
            "here" => Seg::Lit(ctx.here.to_string()),
            "numprocs" => Seg::Lit(ctx.numprocs.to_string()),
            "process_num" if ctx.instances && !ctx.command => {
                p.warn(&format!(
                    "%{whole} left as it is: only command can hold ${{RINIT_INSTANCE}}; the program finds RINIT_INSTANCE in its environment"
                ));
                Seg::Lit(format!("%{whole}"))
            }
            "process_num" if ctx.instances => {
                if spec.len() > 1 {
                    p.warn(&format!(
                        "%{whole}: ${{RINIT_INSTANCE}} is not zero-padded, so the program sees 1 where supervisord gave {}",
                        pad(spec)
                    ));
                }
                var("RINIT_INSTANCE", false)
            }
            "process_num" => Seg::Lit("0".into()),
            "host_node_name" => {
                p.note("%(host_node_name)s became ${HOSTNAME}, which Docker sets");
                var("HOSTNAME", false)
            }
            _ => match name.strip_prefix("ENV_") {
                Some(env) => var(env, true),
                None => {
                    p.warn(&format!("%{whole} left as it is: no rinit equivalent"));
                    Seg::Lit(format!("%{whole}"))
                }
            },
        };
        match found {
            Seg::Lit(more) => text.push_str(&more),
            var => {
                if !text.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut text)));
                }
                segs.push(var);
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        segs.push(Seg::Lit(text));
    }
    segs
}

/// How a zero-padded `%(process_num)02d` shows 1: `01`.
fn pad(spec: &str) -> String {
    let width: usize = spec
        .trim_start_matches(['0', '-', '#', ' ', '+'])
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(1);
    format!("{:0width$}", 1, width = width.min(20))
}

/// `KEY="value",KEY2=value2` (quotes, `"` or `'`, allow commas in a value).
pub fn environment(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or("expected KEY=value")?;
        let key = key.trim();
        if key.is_empty() || key.contains([',', '"', '\'']) {
            return Err(format!("{key:?} is not a variable name"));
        }
        let after = after.trim_start();
        let mut chars = after.chars();
        let (value, after) = match chars.next() {
            Some(q @ ('"' | '\'')) => {
                let (value, after) = chars.as_str().split_once(q).ok_or("a quote is not closed")?;
                (value, after.trim_start())
            }
            _ => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim(), &after[end..])
            }
        };
        pairs.push((key.to_string(), value.to_string()));
        rest = match after.strip_prefix(',') {
            Some(more) => more.trim_start(),
            None if after.is_empty() => after,
            None => return Err(format!("expected ',' after the value of {key}")),
        };
    }
    Ok(pairs)
}

/// supervisord's booleans.
pub fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and
/// `?` any one.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    // What is left of each; after the last `*`, the pattern after it and
    // the name from where its run ends.
    let (mut p, mut n) = (pattern, name);
    let mut star: Option<(&[u8], &[u8])> = None;
    while let Some((&c, name_after)) = n.split_first() {
        match p.split_first() {
            Some((b'*', pattern_after)) => {
                star = Some((pattern_after, n));
                p = pattern_after;
            }
            Some((&pc, pattern_after)) if pc == b'?' || pc == c => {
                p = pattern_after;
                n = name_after;
            }
            _ => match star {
                // The `*` takes one more character; the rest tries again.
                Some((pattern_after, [_, run_after @ ..])) => {
                    p = pattern_after;
                    n = run_after;
                    star = Some((pattern_after, run_after));
                }
                _ => return false,
            },
        }
    }
    p.iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(instances: bool) -> Context<'static> {
        Context {
            program: "worker",
            group: "app",
            here: "/etc/sv",
            numprocs: "2",
            instances,
            command: true,
        }
    }

    #[test]
    fn import_expands_supervisord_percent_forms() {
        let mut p = Program::new("worker".into(), "s.conf");
        let text =
            "celery -n %(program_name)s_%(process_num)02d@%%h --dir %(here)s/x %(ENV_HOME)s ${LIT} 50%";
        assert_eq!(
            expand(text, &ctx(true), &mut p),
            "celery -n worker_${RINIT_INSTANCE}@%h --dir /etc/sv/x ${HOME} $${LIT} 50%"
        );
        assert_eq!(
            expand("%(process_num)d %(group_name)s %(numprocs)d", &ctx(false), &mut p),
            "0 app 2"
        );
        assert_eq!(expand("%(bogus)s", &ctx(false), &mut p), "%(bogus)s");
        let env = Context {
            command: false,
            ..ctx(true)
        };
        assert_eq!(expand("w%(process_num)d", &env, &mut p), "w%(process_num)d");
        let said: Vec<String> = p.findings().iter().map(|f| f.text.clone()).collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].starts_with("%(process_num)02d: ${RINIT_INSTANCE} is not zero-padded, so the program sees 1 where supervisord gave 01"));
        assert_eq!(said[1], "%(bogus)s left as it is: no rinit equivalent");
        assert!(said[2].starts_with("%(process_num)d left as it is: only command"));
        assert_eq!(
            segments("a %(ENV_X)s", &ctx(false), &mut p),
            [
                Seg::Lit("a ".into()),
                Seg::Var {
                    name: "X".into(),
                    split: true
                }
            ]
        );
    }

    #[test]
    fn import_reads_supervisord_environment() {
        let pairs = |t: &str| {
            environment(t).map(|p| p.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>())
        };
        assert_eq!(
            pairs("A=\"1\",B='x, \"y\"',C=plain ,\n D=\"\"").unwrap(),
            ["A=1", "B=x, \"y\"", "C=plain", "D="]
        );
        assert_eq!(pairs("").unwrap(), Vec::<String>::new());
        assert_eq!(pairs("A=\"1").unwrap_err(), "a quote is not closed");
        assert_eq!(
            pairs("A=\"1\" B=2").unwrap_err(),
            "expected ',' after the value of A"
        );
        assert_eq!(pairs("novalue").unwrap_err(), "expected KEY=value");
    }

    #[test]
    fn import_glob_matches() {
        let m = |p: &str, n: &str| glob_match(p.as_bytes(), n.as_bytes());
        assert!(m("*.conf", "web.conf") && m("*", "x") && m("w?b*", "web.conf") && m("a*b*c", "aXbYbc"));
        assert!(!m("*.conf", "web.ini") && !m("?", "") && !m("a*b", "ac"));
    }
}
