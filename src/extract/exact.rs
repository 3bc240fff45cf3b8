//! Exact DAG extraction as an integer program, solved by `microlp` (pure Rust: branch and
//! bound over the simplex), warm-started from a known extraction, within a time limit.
//!
//! The program, after pruning (nodes with an infinite cost or their own class as a child,
//! then nodes with a child class left empty, to a fixpoint; then only the classes reachable
//! from the roots):
//!
//! * a binary `x_n` per node, the objective `Σ cost_n · x_n`;
//! * per class at most one node (`Σ_{n∈c} x_n ≤ 1`), per root class exactly one;
//! * a chosen node needs each child class chosen: `x_n ≤ Σ_{m∈d} x_m`;
//! * no cycle, by cycle cuts: for a cycle of classes `c1 → … → ck → c1` (each a child of
//!   a node of the one before), `Σ_i Σ_{n ∈ ci with ci+1 a child} x_n ≤ k − 1`. The cuts are
//!   found first on the LP relaxation (the lightest cycle through each class, arc weight
//!   `1 − Σ x`, violated when below 1: rounds until none is), then lazily: an integer
//!   solution whose selection has a cycle gets that cycle's cut and the program is solved
//!   again. The program without the cuts still missing is a relaxation, so its bound is a
//!   lower bound of the true optimum, and an acyclic optimum of it is the true optimum.
//!   Only classes of one strongly connected component can form a cycle.
//!
//! Costs are scaled so that the warm start costs 1000 (the solver's tolerances are absolute).

use super::problem::{Choice, Problem};
use microlp::{ComparisonOp, OptimizationDirection, SolveOptions, Variable};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What the exact extractor found.
#[derive(Debug, Clone)]
pub struct Exact {
    /// The best choice found (the warm start when nothing better was).
    pub choice: Choice,
    /// Its DAG cost.
    pub cost: f64,
    /// The proven lower bound on any extraction's cost (`cost` when proven optimal).
    pub lower_bound: f64,
    /// Optimality proven.
    pub proven: bool,
    /// Binary variables and constraints of the program.
    pub size: (usize, usize),
}

/// The figures of an exact extraction, as reports carry them (sums over the e-graphs solved,
/// region by region).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExactReport {
    /// E-graphs solved (1, or the regions optimised).
    pub problems: usize,
    /// Of those, the ones proven optimal within the time limit.
    pub proven: usize,
    /// DAG cost of the DAG extractor's (warm-start) selection.
    pub dag_cost: f64,
    /// DAG cost of the best selection found.
    pub best_cost: f64,
    /// Proven lower bound on the cost.
    pub lower_bound: f64,
    /// `(best_cost − lower_bound) / best_cost` (0 when proven).
    pub gap: f64,
    /// `(dag_cost − best_cost) / best_cost`: how far the DAG extractor is from the best.
    pub dag_excess: f64,
    /// Seconds in the integer program (building and solving).
    pub seconds: f64,
    /// Binary variables, summed.
    pub variables: usize,
    /// Constraints, summed.
    pub constraints: usize,
}

impl ExactReport {
    /// The report of one solve.
    pub fn of(dag_cost: f64, ex: &Exact, seconds: f64) -> ExactReport {
        let mut r = ExactReport {
            problems: 1,
            proven: usize::from(ex.proven),
            dag_cost,
            best_cost: ex.cost,
            lower_bound: ex.lower_bound,
            seconds,
            variables: ex.size.0,
            constraints: ex.size.1,
            ..ExactReport::default()
        };
        r.ratios();
        r
    }

    /// Adds another solve's figures.
    pub fn add(&mut self, o: &ExactReport) {
        self.problems += o.problems;
        self.proven += o.proven;
        self.dag_cost += o.dag_cost;
        self.best_cost += o.best_cost;
        self.lower_bound += o.lower_bound;
        self.seconds += o.seconds;
        self.variables += o.variables;
        self.constraints += o.constraints;
        self.ratios();
    }

    /// The report with `best` as the best cost (what the caller kept).
    pub fn with_best(mut self, best: f64) -> ExactReport {
        self.best_cost = best;
        self.lower_bound = self.lower_bound.min(best);
        self.ratios();
        self
    }

    fn ratios(&mut self) {
        let rel = |a: f64, b: f64| if b > 0.0 { (a - b) / b } else { 0.0 };
        self.gap = 1.0 - self.lower_bound / self.best_cost;
        if self.best_cost <= 0.0 {
            self.gap = 0.0;
        }
        self.dag_excess = rel(self.dag_cost, self.best_cost);
    }
}

/// Solves `p` exactly, starting from `warm` (a valid extraction), within `time_limit`.
/// Never returns a worse choice than `warm`; an invalid solver answer is reported and
/// dropped.
pub fn solve(p: &Problem, warm: &Choice, time_limit: Option<Duration>) -> Exact {
    let t0 = Instant::now();
    let warm_cost = p.dag_cost(warm).unwrap_or(f64::INFINITY);
    let fallback = |lower_bound: f64, size| Exact {
        choice: warm.clone(),
        cost: warm_cost,
        lower_bound,
        proven: false,
        size,
    };
    // pruning
    let mut live: Vec<bool> = p
        .nodes
        .iter()
        .map(|n| n.cost.is_finite() && !n.children.contains(&n.class))
        .collect();
    loop {
        let has: Vec<bool> = p
            .classes
            .iter()
            .map(|ms| ms.iter().any(|&m| live[m]))
            .collect();
        let mut changed = false;
        for (i, n) in p.nodes.iter().enumerate() {
            if live[i] && n.children.iter().any(|&d| !has[d]) {
                live[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // dominated nodes: a node of the class as cheap with a subset of the children can
    // replace it in any extraction (no new child, so no new cycle); `dom` maps each
    // dropped node to the live node that replaces it
    let mut dom: Vec<usize> = (0..p.nodes.len()).collect();
    for members in &p.classes {
        let mut order: Vec<usize> = members.iter().copied().filter(|&m| live[m]).collect();
        order.sort_by(|&a, &b| {
            let (na, nb) = (&p.nodes[a], &p.nodes[b]);
            na.cost
                .total_cmp(&nb.cost)
                .then(na.children.len().cmp(&nb.children.len()))
                .then(a.cmp(&b))
        });
        let mut kept: Vec<usize> = Vec::new();
        for &n in &order {
            let kids = &p.nodes[n].children;
            let by = kept.iter().copied().find(|&m| {
                p.nodes[m].cost <= p.nodes[n].cost
                    && p.nodes[m].children.iter().all(|d| kids.contains(d))
            });
            match by {
                Some(m) => {
                    live[n] = false;
                    dom[n] = m;
                }
                None => kept.push(n),
            }
        }
    }
    // the classes reachable from the roots through live nodes
    let mut used = vec![false; p.classes.len()];
    let mut stack: Vec<usize> = p.roots.clone();
    while let Some(c) = stack.pop() {
        if std::mem::replace(&mut used[c], true) {
            continue;
        }
        for &m in &p.classes[c] {
            if live[m] {
                stack.extend(&p.nodes[m].children);
            }
        }
    }
    for (i, n) in p.nodes.iter().enumerate() {
        live[i] &= used[n.class];
    }
    if p.roots
        .iter()
        .any(|&r| !p.classes[r].iter().any(|&m| live[m]))
    {
        log::warn!("exact extraction: a root class has no extractable node");
        return fallback(warm_cost, (0, 0));
    }
    let comp = p.components(&live);
    let mut comp_size = vec![0usize; p.classes.len()];
    for c in 0..p.classes.len() {
        if used[c] {
            comp_size[comp[c]] += 1;
        }
    }
    // a class is in a cycle when its component has more than one class (self-loops pruned)
    let cyclic = |c: usize| used[c] && comp_size[comp[c]] > 1;

    let scale = if warm_cost.is_finite() && warm_cost > 0.0 {
        1000.0 / warm_cost
    } else {
        1e6
    };
    // variables: the live nodes
    let vars: Vec<usize> = (0..p.nodes.len()).filter(|&i| live[i]).collect();
    let mut var_of = vec![usize::MAX; p.nodes.len()];
    for (v, &i) in vars.iter().enumerate() {
        var_of[i] = v;
    }
    let class_vars = |c: usize| -> Vec<usize> {
        p.classes[c]
            .iter()
            .filter(|&&m| live[m])
            .map(|&m| var_of[m])
            .collect()
    };
    let mut is_root = vec![false; p.classes.len()];
    for &r in &p.roots {
        is_root[r] = true;
    }
    let mut rows: Vec<Row> = Vec::new();
    for c in 0..p.classes.len() {
        if !used[c] {
            continue;
        }
        let vs = class_vars(c);
        if is_root[c] {
            rows.push((
                vs.iter().map(|&v| (v, 1.0)).collect(),
                ComparisonOp::Eq,
                1.0,
            ));
        } else if vs.len() > 1 {
            rows.push((
                vs.iter().map(|&v| (v, 1.0)).collect(),
                ComparisonOp::Le,
                1.0,
            ));
        }
    }
    // per class pair (c, d) in one component: the nodes of c with d as a child (the arcs
    // that cycles are made of)
    let mut arcs: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    for &i in &vars {
        let n = &p.nodes[i];
        let mut kids = n.children.clone();
        kids.sort_unstable();
        kids.dedup();
        for d in kids {
            let mut e: Vec<(usize, f64)> = vec![(var_of[i], 1.0)];
            e.extend(class_vars(d).into_iter().map(|v| (v, -1.0)));
            rows.push((e, ComparisonOp::Le, 0.0));
            if cyclic(n.class) && comp[n.class] == comp[d] {
                arcs.entry((n.class, d)).or_default().push(var_of[i]);
            }
        }
    }
    let base_rows = rows.len();
    // Set cuts: for a set S of classes of one component and a class c in S, if c is
    // chosen some class of S chooses a node with no child in S (a sink of the selection
    // within S): Σ_{d∈S} Σ_{n∈d, no child in S} x_n ≥ Σ_{n∈c} x_n. Separated with S the
    // classes that c reaches in the support of x within its component.
    let mut set_cut_keys: std::collections::BTreeSet<(usize, Vec<usize>)> = Default::default();
    let mut set_cuts = |x: &[f64], most: usize| -> Vec<Row> {
        let mut out = Vec::new();
        for c in 0..p.classes.len() {
            if !cyclic(c) {
                continue;
            }
            let need: f64 = class_vars(c).iter().map(|&v| x[v]).sum();
            if need < 1e-6 {
                continue;
            }
            let mut in_s = std::collections::BTreeSet::new();
            let mut stack = vec![c];
            while let Some(d) = stack.pop() {
                if !in_s.insert(d) {
                    continue;
                }
                for &m in &p.classes[d] {
                    if live[m] && x[var_of[m]] > 1e-9 {
                        for &e in &p.nodes[m].children {
                            if comp[e] == comp[c] && !in_s.contains(&e) {
                                stack.push(e);
                            }
                        }
                    }
                }
            }
            let exits: Vec<usize> = in_s
                .iter()
                .flat_map(|&d| p.classes[d].iter().copied())
                .filter(|&m| live[m] && !p.nodes[m].children.iter().any(|e| in_s.contains(e)))
                .map(|m| var_of[m])
                .collect();
            let have: f64 = exits.iter().map(|&v| x[v]).sum();
            if have < need - 1e-6 {
                let key = (c, in_s.iter().copied().collect::<Vec<_>>());
                if set_cut_keys.insert(key) {
                    let mut terms: Vec<(usize, f64)> = exits.iter().map(|&v| (v, 1.0)).collect();
                    terms.extend(class_vars(c).into_iter().map(|v| (v, -1.0)));
                    out.push((terms, ComparisonOp::Ge, 0.0));
                    if out.len() >= most {
                        break;
                    }
                }
            }
        }
        out
    };
    let costs: Vec<f64> = vars.iter().map(|&i| p.nodes[i].cost * scale).collect();
    let left = |t0: Instant| time_limit.map(|d| d.saturating_sub(t0.elapsed()));
    let out_of_time = || left(t0).is_some_and(|d| d.is_zero());

    // 1. the LP relaxation, with cycle cuts separated on its fractional solutions: a cycle
    //    of classes c1 → … → ck → c1 gets Σ_i Σ_{n ∈ ci, ci+1 child of n} x_n ≤ k − 1
    let mut cuts: std::collections::BTreeSet<Vec<(usize, usize)>> = Default::default();
    let mut lp_bound = 0.0f64;
    for _round in 0..50 {
        if out_of_time() {
            break;
        }
        let (lp, xs) = program(&costs, &rows, false);
        let mut o = SolveOptions::default();
        o.time_limit = left(t0);
        let Ok(outcome) = lp.solve_with(o) else { break };
        let Some(sol) = outcome.solution() else { break };
        if sol.status() == microlp::SolutionStatus::Optimal {
            lp_bound = lp_bound.max(sol.objective() / scale);
        }
        let x: Vec<f64> = xs.iter().map(|&v| sol.var_value_raw(v)).collect();
        let found = separate(&arcs, &x, 64);
        let mut added = 0;
        for row in set_cuts(&x, 64) {
            rows.push(row);
            added += 1;
        }
        for cyc in found {
            if cuts.insert(cyc.clone()) {
                rows.push(cycle_row(&arcs, &cyc));
                added += 1;
            }
        }
        if added == 0 {
            break;
        }
    }
    log::debug!(
        "exact extraction: LP bound {lp_bound:.6e} after {} cycle cuts",
        rows.len() - base_rows
    );

    // 2. the integer program with those cuts; a selection with a cycle gets its cut and
    //    the program is solved again
    let size = (vars.len(), rows.len());
    let mut bound = lp_bound.min(warm_cost);
    let hint: Vec<f64> = {
        let mut on = vec![0.0; vars.len()];
        for c in p.reachable(warm) {
            if let Some(n) = warm[c] {
                let n = dom[n];
                if live[n] {
                    on[var_of[n]] = 1.0;
                }
            }
        }
        on
    };
    loop {
        if out_of_time() {
            return fallback(bound, size);
        }
        let (mip, xs) = program(&costs, &rows, true);
        let mut o = SolveOptions::default();
        o.time_limit = left(t0);
        o.warm_start = Some(xs.iter().copied().zip(hint.iter().copied()).collect());
        let outcome = match mip.solve_with(o) {
            Ok(o) => o,
            Err(e) => {
                log::warn!("exact extraction: the solver failed ({e})");
                return fallback(bound, size);
            }
        };
        let stats = outcome.stats();
        log::debug!("exact extraction: {stats:?}");
        if let Some(b) = stats.best_bound {
            // the program without the remaining cycle cuts is a relaxation: its bound holds
            bound = bound.max((b / scale).min(warm_cost));
        }
        let Some(sol) = outcome.solution() else {
            return fallback(bound, size);
        };
        let proven = sol.status() == microlp::SolutionStatus::Optimal;
        let mut choice: Choice = vec![None; p.classes.len()];
        for (v, &x) in xs.iter().enumerate() {
            if sol.var_value_raw(x) > 0.5 {
                choice[p.nodes[vars[v]].class] = Some(vars[v]);
            }
        }
        let mut kept: Choice = vec![None; p.classes.len()];
        for c in p.reachable(&choice) {
            kept[c] = choice[c];
        }
        if p.find_cycle(&kept).is_some() {
            // cut every cycle of the chosen nodes (reachable or not: the next solution could
            // reach them), not just the one that the roots reach
            let all: Vec<usize> = (0..p.classes.len()).collect();
            let mut added = 0;
            let xv: Vec<f64> = xs.iter().map(|&v| sol.var_value_raw(v)).collect();
            for row in set_cuts(&xv, 256) {
                rows.push(row);
                added += 1;
            }
            for cyc in p.cycles(&choice, &all, 256) {
                let cyc: Vec<(usize, usize)> = cyc
                    .windows(2)
                    .map(|w| (w[0], w[1]))
                    .chain(std::iter::once((cyc[cyc.len() - 1], cyc[0])))
                    .collect();
                if cyc.iter().all(|a| arcs.contains_key(a)) && cuts.insert(cyc.clone()) {
                    rows.push(cycle_row(&arcs, &cyc));
                    added += 1;
                }
            }
            if added == 0 {
                log::warn!("exact extraction: a cycle the cuts do not exclude");
                return fallback(bound, size);
            }
            continue;
        }
        return match p.dag_cost(&kept) {
            Ok(cost) if cost < warm_cost => Exact {
                choice: kept,
                cost,
                lower_bound: if proven { cost } else { bound.min(cost) },
                proven,
                size: (vars.len(), rows.len()),
            },
            Ok(cost) => Exact {
                // nothing better than the warm start (within rounding)
                lower_bound: if proven { cost.min(warm_cost) } else { bound },
                proven,
                ..fallback(bound, (vars.len(), rows.len()))
            },
            Err(why) => {
                log::warn!("exact extraction: the solver's selection is no extraction ({why})");
                fallback(bound, size)
            }
        };
    }
}

/// A cycle of class arcs `(c, d)`: `d` a child class of a node of `c`.
type Cycle = Vec<(usize, usize)>;

/// A constraint: terms (variable, coefficient), comparison, right side.
type Row = (Vec<(usize, f64)>, ComparisonOp, f64);

/// The program of `rows` over variables with `costs`, binary or in [0, 1].
fn program(costs: &[f64], rows: &[Row], binary: bool) -> (microlp::Problem, Vec<Variable>) {
    let mut lp = microlp::Problem::new(OptimizationDirection::Minimize);
    let xs: Vec<Variable> = costs
        .iter()
        .map(|&c| {
            if binary {
                lp.add_binary_var(c)
            } else {
                lp.add_var(c, (0.0, 1.0))
            }
        })
        .collect();
    for (terms, op, rhs) in rows {
        // one term per variable (the solver refuses repeats)
        let mut merged: std::collections::BTreeMap<usize, f64> = Default::default();
        for &(v, k) in terms {
            *merged.entry(v).or_default() += k;
        }
        let e: Vec<(Variable, f64)> = merged
            .into_iter()
            .filter(|&(_, k)| k != 0.0)
            .map(|(v, k)| (xs[v], k))
            .collect();
        lp.add_constraint(e.as_slice(), *op, *rhs);
    }
    (lp, xs)
}

/// The cut of a cycle of class arcs: its arcs' variables sum to at most its length − 1.
fn cycle_row(
    arcs: &std::collections::BTreeMap<(usize, usize), Vec<usize>>,
    cyc: &[(usize, usize)],
) -> Row {
    let mut terms: Vec<(usize, f64)> = cyc
        .iter()
        .flat_map(|a| arcs[a].iter().map(|&v| (v, 1.0)))
        .collect();
    terms.sort_by_key(|t| t.0);
    terms.dedup_by_key(|t| t.0);
    (terms, ComparisonOp::Le, cyc.len() as f64 - 1.0)
}

/// Cycles of class arcs violated by the fractional solution `x`: with arc weight
/// `1 − Σ x` over the arc's nodes, a cycle of weight below 1 breaks its cut. For each class,
/// the lightest cycle through it (Dijkstra); at most `most` cycles, each once.
fn separate(
    arcs: &std::collections::BTreeMap<(usize, usize), Vec<usize>>,
    x: &[f64],
    most: usize,
) -> Vec<Vec<(usize, usize)>> {
    use std::cmp::Reverse;
    use std::collections::{BTreeMap, BinaryHeap};
    let mut out: Vec<(ordered_float::OrderedFloat<f64>, Cycle)> = Vec::new();
    let mut succ: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
    for (&(c, d), vs) in arcs {
        let w = (1.0 - vs.iter().map(|&v| x[v]).sum::<f64>()).max(0.0);
        if w < 1.0 - 1e-9 {
            succ.entry(c).or_default().push((d, w));
        }
    }
    let mut seen: std::collections::BTreeSet<Vec<(usize, usize)>> = Default::default();
    for &s in succ.keys() {
        // Dijkstra from s; the cycle closes on an arc back into s
        let mut dist: BTreeMap<usize, f64> = BTreeMap::new();
        let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
        let mut heap = BinaryHeap::new();
        dist.insert(s, 0.0);
        heap.push(Reverse((ordered_float::OrderedFloat(0.0), s)));
        let mut best: Option<(f64, usize)> = None;
        while let Some(Reverse((ordered_float::OrderedFloat(du), u))) = heap.pop() {
            if du > dist[&u] || du >= 1.0 - 1e-6 {
                continue;
            }
            for &(v, w) in succ.get(&u).map_or(&[][..], |v| v.as_slice()) {
                let dv = du + w;
                if v == s {
                    if dv < 1.0 - 1e-6 && best.map_or(true, |(b, _)| dv < b) {
                        best = Some((dv, u));
                    }
                    continue;
                }
                if dist.get(&v).map_or(true, |&old| dv < old) {
                    dist.insert(v, dv);
                    prev.insert(v, u);
                    heap.push(Reverse((ordered_float::OrderedFloat(dv), v)));
                }
            }
        }
        if let Some((w, last)) = best {
            let mut path = vec![last];
            while *path.last().expect("non-empty") != s {
                path.push(prev[path.last().expect("non-empty")]);
            }
            path.reverse();
            // rotate so the cycle starts at its least class: each cycle once
            let k = path
                .iter()
                .enumerate()
                .min_by_key(|(_, &c)| c)
                .map_or(0, |(i, _)| i);
            path.rotate_left(k);
            let cyc: Vec<(usize, usize)> = (0..path.len())
                .map(|i| (path[i], path[(i + 1) % path.len()]))
                .collect();
            if seen.insert(cyc.clone()) {
                out.push((ordered_float::OrderedFloat(w), cyc));
            }
        }
    }
    out.sort();
    out.into_iter().take(most).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::super::problem::Node;
    use super::*;

    fn node(class: usize, cost: f64, children: &[usize]) -> Node {
        Node {
            class,
            cost,
            children: children.to_vec(),
        }
    }

    /// A case where greedy per-class choices lose to sharing: the root needs classes 1 and
    /// 2; each has a cheap private node (cost 3) and a node (cost 1) that uses the shared
    /// class 3 (cost 4). Tree-wise 3 < 1 + 4, but sharing class 3 costs 1 + 1 + 4 = 6 = 3 + 3:
    /// make the shared class cost 3.5 so the shared choice wins (5.5 < 6).
    #[test]
    fn finds_the_shared_optimum_and_proves_it() {
        let p = Problem {
            classes: vec![vec![0], vec![1, 2], vec![3, 4], vec![5]],
            nodes: vec![
                node(0, 0.0, &[1, 2]),
                node(1, 3.0, &[]),
                node(1, 1.0, &[3]),
                node(2, 3.0, &[]),
                node(2, 1.0, &[3]),
                node(3, 3.5, &[]),
            ],
            roots: vec![0],
        };
        let warm = vec![Some(0), Some(1), Some(3), None];
        assert_eq!(p.dag_cost(&warm), Ok(6.0));
        let ex = solve(&p, &warm, Some(Duration::from_secs(10)));
        assert!(ex.proven);
        assert!((ex.cost - 5.5).abs() < 1e-9, "{ex:?}");
        assert_eq!(ex.choice, vec![Some(0), Some(2), Some(4), Some(5)]);
        assert!((ex.lower_bound - 5.5).abs() < 1e-6);
    }

    /// A cheap cycle must not be chosen: class 1 = a (cost 10) | f(2) (cost 1), class 2 =
    /// g(1) (cost 1) | b (cost 5). The cheapest valid: 1 = f(2), 2 = b: 6.
    #[test]
    fn breaks_cycles() {
        let p = Problem {
            classes: vec![vec![0], vec![1, 2], vec![3, 4]],
            nodes: vec![
                node(0, 0.0, &[1]),
                node(1, 10.0, &[]),
                node(1, 1.0, &[2]),
                node(2, 1.0, &[1]),
                node(2, 5.0, &[]),
            ],
            roots: vec![0],
        };
        let warm = vec![Some(0), Some(1), None];
        let ex = solve(&p, &warm, Some(Duration::from_secs(10)));
        assert!(ex.proven);
        assert_eq!(p.dag_cost(&ex.choice), Ok(6.0));
        assert_eq!(ex.choice[1], Some(2));
        assert_eq!(ex.choice[2], Some(4));
    }
}
