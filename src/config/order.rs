//! The start order: every program after the programs it comes `after`,
//! ties in declaration order (Kahn's algorithm with a heap, O(n log n +
//! edges)), and the cycle that makes an order impossible, named in full.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::error::{ConfigError, Problem, Source};
use super::{Program, ProgramId};

/// `programs` (in declaration order, each with the declaration indices it
/// comes after) in start order, their `after` set to start-order ids; or,
/// with a cycle pushed to `errors`, as they were.
pub(super) fn in_start_order(
    source: &Source,
    programs: Vec<Program>,
    after_of: &[(Vec<usize>, usize)],
    errors: &mut ConfigError,
) -> Vec<Program> {
    let Some(order) = errors.kept(start_order(source, &programs, after_of)) else {
        return programs;
    };
    // `order` holds each declaration index once, and every index (in
    // `order` and in `after_of`) is a place in `programs`.
    let mut position = vec![0; order.len()];
    for (position_in_order, &index) in order.iter().enumerate() {
        if let Some(slot) = position.get_mut(index) {
            *slot = position_in_order;
        }
    }
    let mut slots: Vec<Option<Program>> = programs.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(order.len().saturating_add(1));
    for &index in &order {
        let program = slots.get_mut(index).and_then(Option::take);
        if let (Some(mut program), Some((after, _))) = (program, after_of.get(index)) {
            program.after = after
                .iter()
                .filter_map(|&dep| position.get(dep))
                .map(|&at| ProgramId(at))
                .collect();
            ordered.push(program);
        }
    }
    ordered
}

/// The declaration indices of the programs in start order; a cycle is an
/// error that names it.
fn start_order(
    source: &Source,
    programs: &[Program],
    after_of: &[(Vec<usize>, usize)],
) -> Result<Vec<usize>, Problem> {
    // One entry of `after_of` for each program; every index in them is a
    // place in `programs`.
    let count = programs.len();
    let mut waiting_for: Vec<usize> = after_of.iter().map(|(after, _)| after.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, (after, _)) in after_of.iter().enumerate() {
        for &dependency in after {
            if let Some(list) = dependents.get_mut(dependency) {
                list.push(index);
            }
        }
    }
    let free = (0..count).filter(|&i| waiting_for.get(i) == Some(&0));
    let mut free: BinaryHeap<Reverse<usize>> = free.map(Reverse).collect();
    let mut order = Vec::with_capacity(count);
    let mut placed = vec![false; count];
    while let Some(Reverse(next)) = free.pop() {
        if let Some(slot) = placed.get_mut(next) {
            *slot = true;
        }
        order.push(next);
        for &dependent in dependents.get(next).into_iter().flatten() {
            if let Some(waiting) = waiting_for.get_mut(dependent) {
                *waiting = waiting.saturating_sub(1);
                if *waiting == 0 {
                    free.push(Reverse(dependent));
                }
            }
        }
    }
    if order.len() < count {
        let cycle = find_cycle(after_of, &placed);
        let first = cycle.first().copied().unwrap_or(0);
        let path: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .filter_map(|&i| programs.get(i))
            .map(|program| program.name.as_str())
            .collect();
        return Err(source.error(
            after_of.get(first).map(|&(_, offset)| offset),
            programs.get(first).map(|program| program.name.as_str()),
            Some("after"),
            format!("dependency cycle: {}", path.join(" -> ")),
        ));
    }
    Ok(order)
}

/// A cycle among the programs not yet placed: follow `after` edges from any
/// of them until a program repeats.
fn find_cycle(after_of: &[(Vec<usize>, usize)], placed: &[bool]) -> Vec<usize> {
    let Some(mut current) = placed.iter().position(|&is| !is) else {
        return Vec::new();
    };
    let mut path: Vec<usize> = Vec::new();
    let mut position_in_path: Vec<Option<usize>> = vec![None; placed.len()];
    // Every index is a place in `placed` and in `after_of`.
    while let Some(seen) = position_in_path.get_mut(current) {
        if let Some(start) = *seen {
            return path.split_off(start);
        }
        *seen = Some(path.len());
        path.push(current);
        let Some((after, _)) = after_of.get(current) else {
            return path;
        };
        match after.iter().find(|&&dep| placed.get(dep) == Some(&false)) {
            Some(&dep) => current = dep,
            None => return path,
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(after_of: &[&[usize]]) -> Result<Vec<usize>, String> {
        let programs: Vec<Program> = (0..after_of.len())
            .map(|i| Program::with_defaults(&format!("p{i}")))
            .collect();
        let after_of: Vec<(Vec<usize>, usize)> = after_of.iter().map(|a| (a.to_vec(), 0)).collect();
        let source = Source::new("t.toml", "", std::path::Path::new("."));
        start_order(&source, &programs, &after_of).map_err(|e| e.to_string())
    }

    #[test]
    fn dependencies_first_ties_in_declaration_order() {
        assert_eq!(order_of(&[&[], &[], &[]]), Ok(vec![0, 1, 2]));
        assert_eq!(order_of(&[&[2], &[], &[1]]), Ok(vec![1, 2, 0]));
        assert_eq!(
            order_of(&[&[1, 1], &[]]),
            Ok(vec![1, 0]),
            "a dependency named twice"
        );
        assert_eq!(order_of(&[&[], &[0], &[0], &[1, 2]]), Ok(vec![0, 1, 2, 3]));
    }

    #[test]
    fn a_cycle_is_named_in_full() {
        assert_eq!(
            order_of(&[&[], &[2], &[3], &[1]]),
            Err("t.toml:1:1: program p1: key after: dependency cycle: p1 -> p2 -> p3 -> p1".into())
        );
        assert_eq!(
            order_of(&[&[0]]),
            Err("t.toml:1:1: program p0: key after: dependency cycle: p0 -> p0".into())
        );
    }

    #[test]
    fn a_long_chain_is_ordered_in_linear_time() {
        let chain: Vec<Vec<usize>> = (0..30_000)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let chain: Vec<&[usize]> = chain.iter().map(Vec::as_slice).collect();
        let started = std::time::Instant::now();
        assert_eq!(order_of(&chain).map(|o| o.len()), Ok(30_000));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
