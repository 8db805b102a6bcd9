//! `[rinit] shutdown_timeout` for the stop timeouts carried over: programs
//! stop one after another along `after` (what comes after a program stops
//! before it), so the longest chain of `stop_timeout`s is what a shutdown
//! may take. When it is longer than rinit's default 9 s, the import raises
//! `shutdown_timeout` to it, with a margin, and says what the container's
//! own stop timeout must then be.

use super::model::{Import, Program};

/// rinit's `stop_timeout` and `shutdown_timeout` when not set.
const STOP_MS: u64 = 7000;
const SHUTDOWN_MS: u64 = 9000;
/// Added to the chain: rinit's own steps after the programs are down.
const MARGIN_S: u64 = 2;

/// Raises `import.shutdown` to fit the longest chain of stop timeouts,
/// when a stop timeout was carried over.
pub fn fit(import: &mut Import) {
    let programs = &import.programs;
    if programs.iter().all(|p| p.stop_ms.is_none()) {
        return;
    }
    let own = |i: usize| match programs.get(i) {
        Some(p) if p.oneshot => 0,
        Some(p) => p.stop_ms.unwrap_or(STOP_MS),
        None => 0,
    };
    let (chain, total) = longest(programs, &own);
    if total <= SHUTDOWN_MS {
        return;
    }
    let shown: Vec<String> = chain
        .iter()
        .filter_map(|&i| Some(format!("{} ({})", programs.get(i)?.name, seconds(own(i)))))
        .collect();
    let secs = total.div_ceil(1000).saturating_add(MARGIN_S);
    let outside = secs.saturating_add(1);
    let last = chain.last().and_then(|&i| programs.get(i));
    let file = last.map(|p| p.file.clone()).unwrap_or_default();
    let what = match shown.as_slice() {
        [one] => format!("the stop timeout of {one} is"),
        _ => format!(
            "the stop timeouts of {}, which stop one after another, add up to {},",
            shown.join(" → "),
            seconds(total)
        ),
    };
    import.shutdown = Some(secs);
    import.file(&file).warn(&format!(
        "{what} more than rinit's default shutdown_timeout (9s), so [rinit] shutdown_timeout = \"{secs}s\" is set; \
         give the container as long to stop, or it is killed first: docker stop -t {outside} (docker run \
         --stop-timeout {outside}, Compose stop_grace_period: {outside}s), Kubernetes \
         terminationGracePeriodSeconds: {outside}"
    ));
}

/// The longest chain of stop timeouts, in stop order (indexes into
/// `programs`), and its total. `own`: each program's stop timeout.
fn longest(programs: &[Program], own: &dyn Fn(usize) -> u64) -> (Vec<usize>, u64) {
    // The longest chain that stops with each program, and the program that
    // stops just before it there: relaxed until nothing changes (at most
    // once per program, so a cycle cannot loop).
    let mut longest: Vec<(u64, Option<usize>)> = (0..programs.len()).map(|i| (own(i), None)).collect();
    for _ in 0..programs.len() {
        let mut changed = false;
        for (later, p) in programs.iter().enumerate() {
            let through = longest.get(later).map_or(0, |l| l.0);
            for dependency in &p.after {
                let Some(d) = programs.iter().position(|q| q.name == *dependency) else {
                    continue;
                };
                let total = through.saturating_add(own(d));
                if let Some(slot) = longest.get_mut(d).filter(|slot| slot.0 < total) {
                    *slot = (total, Some(later));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let Some((last, &(total, _))) = longest.iter().enumerate().max_by_key(|(_, l)| l.0) else {
        return (Vec::new(), 0);
    };
    let mut chain = vec![last];
    while let Some(&(_, Some(before))) = chain.last().and_then(|&at| longest.get(at)) {
        if chain.contains(&before) {
            break;
        }
        chain.push(before);
    }
    chain.reverse();
    (chain, total)
}

/// Milliseconds as seconds for a message: "600s", "7.5s".
fn seconds(ms: u64) -> String {
    match ms % 1000 {
        0 => format!("{}s", ms / 1000),
        rest => {
            let text = format!("{}.{rest:03}", ms / 1000);
            format!("{}s", text.trim_end_matches('0'))
        }
    }
}
