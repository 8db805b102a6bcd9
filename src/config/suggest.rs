//! Did-you-mean: the known name closest to a misspelt one (by edit
//! distance), for keys, values, program names, users and groups; and
//! rinit's word for supervisord's, which is often too far from it to guess
//! (`numprocs` is `instances`) or close to a key that means something else
//! (`autorestart` is not `autostart`).

/// supervisord's program keys that rinit names otherwise: the key, rinit's
/// key, and what to know when changing one for the other.
const SUPERVISORD_KEYS: &[(&str, &str, &str)] = &[
    (
        "autorestart",
        "restart",
        "supervisord's autorestart: true is restart = \"always\", unexpected is \"on-failure\", false is \"no\"",
    ),
    ("numprocs", "instances", "supervisord's numprocs"),
    (
        "stopwaitsecs",
        "stop_timeout",
        "supervisord's stopwaitsecs, as a duration: stop_timeout = \"10s\"",
    ),
    (
        "stopasgroup",
        "stop_group",
        "supervisord's stopasgroup: stop_group = true",
    ),
    (
        "killasgroup",
        "stop_group",
        "rinit's SIGKILL at stop_timeout always goes to the whole process group; stop_group = true sends stop_signal there too",
    ),
    (
        "environment",
        "env",
        "supervisord's environment, as a table: env = { KEY = \"value\" }",
    ),
    (
        "priority",
        "after",
        "rinit has no numeric priorities: after = [\"db\"] starts the program once db is ready, and stops it before db",
    ),
    (
        "startretries",
        "start_limit_burst",
        "supervisord's startretries: at most that many starts within start_limit_interval",
    ),
    ("stopsignal", "stop_signal", "supervisord's stopsignal"),
    ("exitcodes", "success_exit_codes", "supervisord's exitcodes"),
    (
        "redirect_stderr",
        "output",
        "output sets where stdout and stderr both go, kept apart; to merge them, \
         command = [\"sh\", \"-c\", \"exec prog 2>&1\"]",
    ),
    ("stdout_logfile", "output", LOG_FILES),
    ("stderr_logfile", "output", LOG_FILES),
];

const LOG_FILES: &str = "rinit writes no log files: a program's stdout and stderr go to rinit's, \
                         or with output = \"prefix\" as \"NAME | line\", for Docker to collect";

/// What rinit calls supervisord's `key`, when `known` (the keys of the
/// table it is in) has it: "did you mean `KEY`? (why)".
pub(super) fn supervisord_key(key: &str, known: &[&str]) -> Option<String> {
    if key == "startsecs" && known.contains(&"ready") {
        return Some(
            "did you mean `ready` or `ready_timeout`? supervisord's startsecs is how long a program \
             must stay up to count as started; rinit counts it started when its `ready` check passes \
             (ready = { tcp = \"127.0.0.1:8000\" }) and gives up after `ready_timeout`"
                .to_string(),
        );
    }
    let &(_, ours, why) = SUPERVISORD_KEYS.iter().find(|(theirs, _, _)| *theirs == key)?;
    known
        .contains(&ours)
        .then(|| format!("did you mean `{ours}`? ({why})"))
}

/// The name in `known` closest to `word`: at most a third of its letters
/// (1 to 3) changed, the closest first, then the first in sort order.
pub(super) fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let most = (word.chars().count() / 3).clamp(1, 3);
    let length = word.chars().count();
    known
        .into_iter()
        .filter(|name| name.chars().count().abs_diff(length) <= most)
        .map(|name| (edit_distance(word, name), name))
        .filter(|&(distance, _)| distance <= most)
        .min()
        .map(|(_, name)| name)
}

/// The fewest one-letter changes (an insertion, a deletion, a substitution,
/// or two letters swapped: `wbe` is one from `web`) from `a` to `b`: the
/// optimal string alignment distance.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // The distances from a[..i-1] and a[..i] to each b[..j]: the row before
    // the last, and the last.
    let mut before: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len().saturating_add(1));
        row.push(i.saturating_add(1));
        let previous_a = i.checked_sub(1).and_then(|k| a.get(k));
        for (j, &cb) in b.iter().enumerate() {
            let left = row.last().copied().unwrap_or(usize::MAX);
            let above = last.get(j.saturating_add(1)).copied().unwrap_or(usize::MAX);
            let diagonal = last.get(j).copied().unwrap_or(usize::MAX);
            let mut next = diagonal
                .saturating_add(usize::from(ca != cb))
                .min(left.saturating_add(1))
                .min(above.saturating_add(1));
            let previous_b = j.checked_sub(1).and_then(|k| b.get(k));
            if previous_a == Some(&cb) && previous_b == Some(&ca) {
                let swapped = j.checked_sub(1).and_then(|k| before.get(k));
                next = next.min(swapped.map_or(usize::MAX, |d| d.saturating_add(1)));
            }
            row.push(next);
        }
        before = std::mem::replace(&mut last, row);
    }
    last.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_within_a_third_of_the_letters() {
        assert_eq!(edit_distance("comand", "command"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("restart", "restart"), 0);
        assert_eq!(edit_distance("wbe", "web"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
        assert_eq!(closest("wbe", ["web", "worker"]), Some("web"));
        assert_eq!(closest("dbb", ["web", "db", "redis"]), Some("db"));
        assert_eq!(
            closest("www-date", ["root", "www-data", "nobody"]),
            Some("www-data")
        );
        assert_eq!(closest("zzz", ["web", "db"]), None);
        // Ties go to the first in sort order, whatever the order given.
        assert_eq!(closest("ab", ["ac", "aa"]), Some("aa"));
    }

    #[test]
    fn supervisords_words_get_rinits_where_the_table_has_them() {
        let program = ["restart", "autostart", "instances", "ready", "ready_timeout"];
        assert_eq!(
            supervisord_key("autorestart", &program).as_deref(),
            Some(
                "did you mean `restart`? (supervisord's autorestart: true is restart = \"always\", \
                 unexpected is \"on-failure\", false is \"no\")"
            )
        );
        assert!(supervisord_key("startsecs", &program)
            .is_some_and(|hint| hint.starts_with("did you mean `ready` or `ready_timeout`?")));
        // Not in a table without the key ([rinit] has no `instances`).
        assert_eq!(supervisord_key("numprocs", &["shutdown_timeout"]), None);
        assert_eq!(supervisord_key("comand", &program), None);
    }
}
