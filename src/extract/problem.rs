//! The extraction problem, apart from any e-graph: classes of nodes, each node with a cost
//! and the classes of its children, and the root classes. Made from fxsat's e-graph
//! ([`Problem::from_egraph`]) or from a serialized dump ([`super::serialize::problem`]), so
//! that the [exact](super::exact) extractor and the DAG cost work on both.

use super::Costs;
use crate::egraph::{FxEGraph, Lang, Selection};
use egg::{Id, Language};
use rustc_hash::FxHashMap as HashMap;

/// One node of a [`Problem`].
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its class (an index into [`Problem::classes`]).
    pub class: usize,
    /// Its own cost (cost-model seconds; infinite: never to be chosen).
    pub cost: f64,
    /// Its children's classes, in order (repeats kept).
    pub children: Vec<usize>,
}

/// Classes of nodes; a choice of one node per class needed from the roots is an extraction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem {
    /// Per class, its nodes (indices into `nodes`).
    pub classes: Vec<Vec<usize>>,
    /// All nodes.
    pub nodes: Vec<Node>,
    /// The root classes (each once).
    pub roots: Vec<usize>,
}

/// A choice: per class, the chosen node (`None`: no node chosen).
pub type Choice = Vec<Option<usize>>;

impl Problem {
    /// The classes reachable from `roots` through any node of `eg`, with the cost model's
    /// node costs; also the e-graph class of each problem class (in order).
    pub(super) fn from_egraph(eg: &FxEGraph, costs: &Costs, roots: &[Id]) -> (Problem, Vec<Id>) {
        let mut index: HashMap<Id, usize> = HashMap::default();
        let mut ids: Vec<Id> = Vec::new();
        let mut stack: Vec<Id> = roots.iter().map(|&r| eg.find(r)).collect();
        while let Some(id) = stack.pop() {
            if index.contains_key(&id) {
                continue;
            }
            index.insert(id, ids.len());
            ids.push(id);
            for n in &eg[id].nodes {
                for &c in n.children() {
                    stack.push(eg.find(c));
                }
            }
        }
        // class order by e-graph id, for a problem independent of the walk
        ids.sort();
        for (i, &id) in ids.iter().enumerate() {
            index.insert(id, i);
        }
        let mut p = Problem::default();
        for &id in &ids {
            let mut members = Vec::new();
            for (i, n) in eg[id].nodes.iter().enumerate() {
                members.push(p.nodes.len());
                p.nodes.push(Node {
                    class: index[&id],
                    cost: costs.node[&(id, i)],
                    children: n.children().iter().map(|&c| index[&eg.find(c)]).collect(),
                });
            }
            p.classes.push(members);
        }
        let mut seen = vec![false; ids.len()];
        for &r in roots {
            let c = index[&eg.find(r)];
            if !std::mem::replace(&mut seen[c], true) {
                p.roots.push(c);
            }
        }
        (p, ids)
    }

    /// The choice of an e-graph selection (`ids` as [`Problem::from_egraph`] gave them).
    pub(super) fn choice_of(&self, eg: &FxEGraph, ids: &[Id], sel: &Selection) -> Choice {
        ids.iter()
            .enumerate()
            .map(|(c, id)| {
                let n = sel.get(id)?;
                let i = eg[*id].nodes.iter().position(|m| m == n)?;
                Some(self.classes[c][i])
            })
            .collect()
    }

    /// The e-graph selection of a choice (the classes reachable from the roots).
    pub(super) fn selection_of(&self, eg: &FxEGraph, ids: &[Id], choice: &Choice) -> Selection {
        self.reachable(choice)
            .into_iter()
            .filter_map(|c| {
                let n = choice[c]?;
                let i = self.classes[c].iter().position(|&m| m == n)?;
                let node: Lang = eg[ids[c]].nodes[i].clone();
                Some((ids[c], node))
            })
            .collect()
    }

    /// A greedy bottom-up extraction (egg's tree costs, each node a tiny bit more than its
    /// cost so that no zero-cost cycle closes), passes to a fixpoint: per class the node of
    /// least tree cost, `None` where no node can be extracted.
    pub fn greedy(&self) -> Choice {
        let mut best: Vec<Option<(f64, usize)>> = vec![None; self.classes.len()];
        loop {
            let mut changed = false;
            for (c, members) in self.classes.iter().enumerate() {
                for &m in members {
                    let node = &self.nodes[m];
                    if !node.cost.is_finite() {
                        continue;
                    }
                    let mut total = node.cost + 1e-12;
                    let mut ok = true;
                    for &d in &node.children {
                        match best[d] {
                            Some((k, _)) => total += k,
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if ok && best[c].map_or(true, |(k, _)| total < k) {
                        best[c] = Some((total, m));
                        changed = true;
                    }
                }
            }
            if !changed {
                return best.into_iter().map(|b| b.map(|(_, m)| m)).collect();
            }
        }
    }

    /// The classes reachable from the roots under `choice` (each once, roots first).
    pub fn reachable(&self, choice: &Choice) -> Vec<usize> {
        let mut seen = vec![false; self.classes.len()];
        let mut order = Vec::new();
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(c) = stack.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            order.push(c);
            if let Some(n) = choice[c] {
                stack.extend(self.nodes[n].children.iter().rev());
            }
        }
        order
    }

    /// The DAG cost of `choice` (each class reachable from the roots counted once), or why
    /// it is no extraction: a class without a chosen node, a node chosen in another class,
    /// or a cycle.
    pub fn dag_cost(&self, choice: &Choice) -> Result<f64, String> {
        // iterative DFS with colours: 1 = on the stack, 2 = done
        let mut colour = vec![0u8; self.classes.len()];
        let mut total = 0.0;
        for &r in &self.roots {
            let mut stack = vec![(r, false)];
            while let Some((c, done)) = stack.pop() {
                if done {
                    colour[c] = 2;
                    continue;
                }
                match colour[c] {
                    2 => continue,
                    1 => return Err(format!("a cycle through class {c}")),
                    _ => {}
                }
                colour[c] = 1;
                let n = choice[c].ok_or_else(|| format!("class {c} has no chosen node"))?;
                let node = self
                    .nodes
                    .get(n)
                    .filter(|node| node.class == c)
                    .ok_or_else(|| format!("class {c}: node {n} is not one of its nodes"))?;
                total += node.cost;
                stack.push((c, true));
                for &d in &node.children {
                    match colour[d] {
                        1 => return Err(format!("a cycle through class {d}")),
                        2 => {}
                        _ => stack.push((d, false)),
                    }
                }
            }
        }
        Ok(total)
    }

    /// A cycle among the classes reachable from the roots under `choice`, as its classes in
    /// order (each the child of the one before; the first the child of the last).
    pub fn find_cycle(&self, choice: &Choice) -> Option<Vec<usize>> {
        self.cycles(choice, &self.roots, 1).pop()
    }

    /// Up to `most` cycles under `choice` among the classes reachable from `starts` (each
    /// found on a back edge of one depth-first walk), as [`Problem::find_cycle`] gives one.
    pub fn cycles(&self, choice: &Choice, starts: &[usize], most: usize) -> Vec<Vec<usize>> {
        let mut found = Vec::new();
        let mut colour = vec![0u8; self.classes.len()];
        for &r in starts {
            if colour[r] != 0 {
                continue;
            }
            // the path from the root, each with the index of its next child to visit
            let mut path: Vec<(usize, usize)> = vec![(r, 0)];
            colour[r] = 1;
            while let Some(&mut (c, ref mut k)) = path.last_mut() {
                let kids: &[usize] = choice[c].map_or(&[], |n| &self.nodes[n].children);
                if *k < kids.len() {
                    let d = kids[*k];
                    *k += 1;
                    match colour[d] {
                        0 => {
                            colour[d] = 1;
                            path.push((d, 0));
                        }
                        1 => {
                            let at = path.iter().position(|&(e, _)| e == d).expect("on the path");
                            found.push(path[at..].iter().map(|&(e, _)| e).collect());
                            if found.len() >= most {
                                return found;
                            }
                        }
                        _ => {}
                    }
                } else {
                    colour[c] = 2;
                    path.pop();
                }
            }
        }
        found
    }

    /// Strongly connected components of the class graph over the nodes where `live` holds
    /// (Kosaraju, iterative): per class, its component's number.
    pub(super) fn components(&self, live: &[bool]) -> Vec<usize> {
        let n = self.classes.len();
        let succ = |c: usize| {
            self.classes[c]
                .iter()
                .filter(|&&m| live[m])
                .flat_map(|&m| self.nodes[m].children.iter().copied())
        };
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for c in 0..n {
            for d in succ(c) {
                pred[d].push(c);
            }
        }
        // first pass: finishing order
        let mut seen = vec![false; n];
        let mut order = Vec::with_capacity(n);
        for s in 0..n {
            if seen[s] {
                continue;
            }
            seen[s] = true;
            let mut stack: Vec<(usize, Vec<usize>)> = vec![(s, succ(s).collect())];
            while let Some((c, rest)) = stack.last_mut() {
                match rest.pop() {
                    Some(d) if !seen[d] => {
                        seen[d] = true;
                        let next = succ(d).collect();
                        stack.push((d, next));
                    }
                    Some(_) => {}
                    None => {
                        order.push(*c);
                        stack.pop();
                    }
                }
            }
        }
        // second pass on the reversed graph, in reverse finishing order
        let mut comp = vec![usize::MAX; n];
        let mut k = 0;
        for &s in order.iter().rev() {
            if comp[s] != usize::MAX {
                continue;
            }
            let mut stack = vec![s];
            comp[s] = k;
            while let Some(c) = stack.pop() {
                for &p in &pred[c] {
                    if comp[p] == usize::MAX {
                        comp[p] = k;
                        stack.push(p);
                    }
                }
            }
            k += 1;
        }
        comp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(class: usize, cost: f64, children: &[usize]) -> Node {
        Node {
            class,
            cost,
            children: children.to_vec(),
        }
    }

    #[test]
    fn dag_cost_counts_shared_classes_once_and_finds_cycles() {
        // class 0 = f(1, 1) | g(2); class 1 = a; class 2 = h(0)
        let p = Problem {
            classes: vec![vec![0, 1], vec![2], vec![3]],
            nodes: vec![
                node(0, 1.0, &[1, 1]),
                node(0, 1.0, &[2]),
                node(1, 5.0, &[]),
                node(2, 1.0, &[0]),
            ],
            roots: vec![0],
        };
        assert_eq!(p.dag_cost(&vec![Some(0), Some(2), None]), Ok(6.0));
        assert!(p
            .dag_cost(&vec![Some(1), Some(2), Some(3)])
            .unwrap_err()
            .contains("cycle"));
        assert!(p
            .dag_cost(&vec![Some(2), Some(2), None])
            .unwrap_err()
            .contains("not one of its nodes"));
        let comp = p.components(&[true; 4]);
        assert_eq!(comp[0], comp[2]);
        assert_ne!(comp[0], comp[1]);
    }
}
