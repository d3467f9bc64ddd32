//! Segment-of-segments graph checks for publish time: cycle detection (with the offending path,
//! so the marketer sees which definitions loop) and a dependency order for evaluation.
//! Iterative, so a long chain of references cannot exhaust the stack.

use std::collections::HashMap;

/// A cycle in segment references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment references form a cycle: {}", .path.join(" -> "))]
pub struct CycleError {
    /// The cycle, starting and ending with the same id (`a -> b -> a`).
    pub path: Vec<String>,
}

/// Orders definitions so that every segment comes after the segments it references (among
/// those present); references to ids not in `defs` are ignored (they are hub audiences).
/// Returns indices into `defs`, or the first cycle found.
pub fn dependency_order(defs: &[(&str, Vec<&str>)]) -> Result<Vec<usize>, CycleError> {
    let index: HashMap<&str, usize> = defs.iter().enumerate().map(|(i, d)| (d.0, i)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; defs.len()];
    let mut order = Vec::with_capacity(defs.len());
    for root in 0..defs.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let refs = &defs[node].1;
            if *next < refs.len() {
                let r = refs[*next];
                *next += 1;
                let Some(&child) = index.get(r) else {
                    continue;
                };
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let start = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let mut path: Vec<String> = stack[start..]
                            .iter()
                            .map(|(n, _)| defs[*n].0.to_string())
                            .collect();
                        path.push(defs[child].0.to_string());
                        return Err(CycleError { path });
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// Reports the first cycle among definitions given as `(id, referenced ids)`.
pub fn find_cycle(defs: &[(&str, Vec<&str>)]) -> Option<CycleError> {
    dependency_order(defs).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_cycles_with_path() {
        let defs = vec![("a", vec!["b"]), ("b", vec!["c", "hub"]), ("c", vec!["a"])];
        let e = find_cycle(&defs);
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("segment references form a cycle: a -> b -> c -> a".to_string())
        );
        assert!(find_cycle(&[("a", vec!["a"])]).is_some());
    }

    #[test]
    fn orders_dependencies_first() {
        let defs = vec![
            ("top", vec!["mid"]),
            ("mid", vec!["base"]),
            ("base", vec![]),
        ];
        assert_eq!(dependency_order(&defs), Ok(vec![2, 1, 0]));
        let long: Vec<(String, Vec<String>)> = (0..100_000)
            .map(|i| (format!("s{i}"), vec![format!("s{}", i + 1)]))
            .collect();
        let refs: Vec<(&str, Vec<&str>)> = long
            .iter()
            .map(|(a, b)| (a.as_str(), b.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(dependency_order(&refs).map(|o| o.len()), Ok(100_000));
    }
}
