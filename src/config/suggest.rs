//! Did-you-mean: the known name closest to a misspelt one (by edit
//! distance).

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

/// Levenshtein distance: the fewest one-letter changes from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // row[j]: the distance from the chars of `a` so far to b[..j].
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for ca in a.chars() {
        let Some((first, rest)) = row.split_first_mut() else {
            break;
        };
        // This row's cell to the left, and the last row's above-left.
        let mut diagonal = *first;
        let mut left = first.saturating_add(1);
        *first = left;
        for (cb, above) in b.iter().zip(rest) {
            let next = diagonal
                .saturating_add(usize::from(ca != *cb))
                .min(left.saturating_add(1))
                .min(above.saturating_add(1));
            diagonal = *above;
            *above = next;
            left = next;
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_within_a_third_of_the_letters() {
        assert_eq!(edit_distance("comand", "command"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("restart", "restart"), 0);
        assert_eq!(
            closest("stop_timout", ["stop_signal", "stop_timeout"]),
            Some("stop_timeout")
        );
        assert_eq!(closest("zzz", ["web", "db"]), None);
        // Ties go to the first in sort order, whatever the order given.
        assert_eq!(closest("ab", ["ac", "aa"]), Some("aa"));
    }
}
