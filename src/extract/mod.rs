//! DAG-aware extraction: pick one e-node per needed e-class so that the whole graph (a shared
//! node counted once) is cheap, for many outputs at once, never with a cycle.
//!
//! 1. A greedy bottom-up pass (like egg's tree extractor, with the cost model) gives a first
//!    selection.
//! 2. Local search: for each class with alternatives, try each alternative and keep it when
//!    the DAG cost of the whole selection drops. The result is therefore never worse than the
//!    greedy tree selection. The search stops at [`ExtractOptions::deadline`] with the best
//!    selection so far (the greedy one at worst).
//!
//! [`Extractor`] picks what runs: the greedy pass alone, both (the DAG extractor, the
//! default), or both and then the [exact] integer program warm-started from their result.
//! [`serialize`] writes the e-graph in the egraph-serialize format and reads it back as a
//! [`problem::Problem`], the form the exact extractor solves.

use crate::cost::Model;
use crate::egraph::{FxEGraph, Lang, Selection};
use crate::progress::{Phase, Progress};
pub mod exact;
mod local;
pub mod problem;
pub mod serialize;

use egg::{Id, Language};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Extraction result.
#[derive(Debug)]
pub struct Extracted {
    /// The chosen e-node per class (all classes reachable from the roots).
    pub selection: Selection,
    /// DAG cost (seconds) of the selection.
    pub cost: f64,
    /// DAG cost of the greedy tree selection it started from.
    pub greedy_cost: f64,
    /// The deadline cut the local search short.
    pub timed_out: bool,
    /// The exact extractor's figures (with [`Extractor::Exact`] only).
    pub exact: Option<exact::ExactReport>,
}

/// Which extractor runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Extractor {
    /// Greedy bottom-up tree costs only.
    Greedy,
    /// Greedy, then local search on the DAG cost (the default).
    #[default]
    Dag,
    /// The DAG extractor, then the exact integer program warm-started from its result.
    Exact,
}

impl std::str::FromStr for Extractor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "greedy" => Ok(Extractor::Greedy),
            "dag" => Ok(Extractor::Dag),
            "exact" => Ok(Extractor::Exact),
            _ => Err(format!("unknown extractor `{s}` (greedy, dag, exact)")),
        }
    }
}

/// Options for [`extract`].
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Local-search rounds (0 = greedy only).
    pub rounds: usize,
    /// No local-search move after this instant (`None`: no deadline).
    pub deadline: Option<std::time::Instant>,
    /// Which extractor runs.
    pub extractor: Extractor,
    /// Time limit of the exact extractor's solve, per e-graph (`None`: none).
    pub exact_time_limit: Option<std::time::Duration>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            rounds: 2,
            deadline: None,
            extractor: Extractor::Dag,
            exact_time_limit: None,
        }
    }
}

/// Per-node costs, computed once.
pub(crate) struct Costs {
    node: HashMap<(Id, usize), f64>,
}

impl Costs {
    fn new(eg: &FxEGraph, model: &Model) -> Costs {
        let mut node = HashMap::default();
        for class in eg.classes() {
            for (i, n) in class.nodes.iter().enumerate() {
                node.insert((class.id, i), model.node_cost(eg, class.id, n));
            }
        }
        Costs { node }
    }
}

/// Greedy tree-cost selection over all classes (egg's algorithm, with our costs).
pub fn greedy(eg: &FxEGraph, model: &Model) -> Selection {
    let costs = Costs::new(eg, model);
    greedy_with(eg, &costs)
}

/// A per-node cost far below any real one (seconds), to break ties towards fewer nodes.
const NODE_EPSILON: f64 = 1e-12;

fn greedy_with(eg: &FxEGraph, costs: &Costs) -> Selection {
    let mut best: HashMap<Id, (f64, usize)> = HashMap::default();
    let mut ids: Vec<Id> = eg.classes().map(|c| c.id).collect();
    ids.sort();
    // A worklist: a class is looked at again only when one of its children got cheaper
    // (full passes to a fixpoint cost O(n) each, and their number grows with the graph's
    // depth). The first sweep is in id order (the input graph's own nodes first), and a
    // choice changes only for a strictly cheaper node, as in the passes.
    let mut queued: HashSet<Id> = ids.iter().copied().collect();
    let mut work: std::collections::VecDeque<Id> = ids.into_iter().collect();
    while let Some(id) = work.pop_front() {
        queued.remove(&id);
        let class = &eg[id];
        let mut changed = false;
        for (i, n) in class.nodes.iter().enumerate() {
            // A tiny per-node epsilon makes free nodes strictly positive, so the greedy
            // fixpoint never closes a zero-cost cycle.
            let mut total = costs.node[&(class.id, i)] + NODE_EPSILON;
            let mut ok = true;
            for &c in n.children() {
                match best.get(&eg.find(c)) {
                    Some((k, _)) => total += k,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && best.get(&id).map_or(true, |&(k, _)| total < k) {
                best.insert(id, (total, i));
                changed = true;
            }
        }
        if changed {
            for p in class.parents() {
                let p = eg.find(p);
                if queued.insert(p) {
                    work.push_back(p);
                }
            }
        }
    }
    best.into_iter()
        .map(|(id, (_, i))| (id, eg[id].nodes[i].clone()))
        .collect()
}

/// DAG cost of a selection from `roots`, or `None` if it has a cycle or misses a class.
pub fn dag_cost(eg: &FxEGraph, model: &Model, sel: &Selection, roots: &[Id]) -> Option<f64> {
    let mut cache = HashMap::default();
    dag_cost_cached(eg, sel, roots, &mut |id, n| {
        *cache
            .entry((id, n.clone()))
            .or_insert_with(|| model.node_cost(eg, id, n))
    })
}

fn dag_cost_cached(
    eg: &FxEGraph,
    sel: &Selection,
    roots: &[Id],
    cost: &mut impl FnMut(Id, &Lang) -> f64,
) -> Option<f64> {
    // Iterative DFS with colours: 1 = on the stack, 2 = done.
    let mut colour: HashMap<Id, u8> = HashMap::default();
    let mut total = 0.0;
    for &r in roots {
        let mut stack = vec![(eg.find(r), false)];
        while let Some((id, done)) = stack.pop() {
            if done {
                colour.insert(id, 2);
                continue;
            }
            match colour.get(&id) {
                Some(2) => continue,
                Some(1) => return None,
                _ => {}
            }
            colour.insert(id, 1);
            let n = sel.get(&id)?;
            total += cost(id, n);
            stack.push((id, true));
            for &c in n.children() {
                let c = eg.find(c);
                match colour.get(&c) {
                    Some(1) => return None,
                    Some(2) => {}
                    _ => stack.push((c, false)),
                }
            }
        }
    }
    Some(total)
}

/// Extracts the selection for `roots`.
pub fn extract(eg: &FxEGraph, model: &Model, roots: &[Id], opts: &ExtractOptions) -> Extracted {
    extract_with(eg, model, roots, opts, &Progress::default())
}

/// [`extract`], reporting the local search's progress to `progress`.
pub fn extract_with(
    eg: &FxEGraph,
    model: &Model,
    roots: &[Id],
    opts: &ExtractOptions,
    progress: &Progress,
) -> Extracted {
    let out = match opts.extractor {
        Extractor::Greedy => extract_inner(
            eg,
            model,
            roots,
            &ExtractOptions {
                rounds: 0,
                ..opts.clone()
            },
            progress,
        ),
        Extractor::Dag => extract_inner(eg, model, roots, opts, progress),
        Extractor::Exact => {
            let dag = extract_inner(eg, model, roots, opts, progress);
            extract_exact(eg, model, roots, opts, dag)
        }
    };
    progress.finish(Phase::Extract);
    out
}

/// The exact extractor, warm-started from the DAG extractor's result `dag`.
fn extract_exact(
    eg: &FxEGraph,
    model: &Model,
    roots: &[Id],
    opts: &ExtractOptions,
    dag: Extracted,
) -> Extracted {
    let t0 = std::time::Instant::now();
    let costs = Costs::new(eg, model);
    let (p, ids) = problem::Problem::from_egraph(eg, &costs, roots);
    let warm = p.choice_of(eg, &ids, &dag.selection);
    let ex = exact::solve(&p, &warm, opts.exact_time_limit);
    let report = exact::ExactReport::of(dag.cost, &ex, t0.elapsed().as_secs_f64());
    log::info!(
        "exact extraction: DAG {:.6e} s, best {:.6e} s, bound {:.6e} s ({}), {} binaries, {:.3} s",
        report.dag_cost,
        report.best_cost,
        report.lower_bound,
        if ex.proven { "proven" } else { "not proven" },
        report.variables,
        report.seconds
    );
    if ex.cost >= dag.cost {
        return Extracted {
            exact: Some(report),
            ..dag
        };
    }
    let selection = p.selection_of(eg, &ids, &ex.choice);
    // checked again on the e-graph itself: every needed class chosen, no cycle
    match dag_cost(eg, model, &selection, roots) {
        Some(cost) if cost <= dag.cost => Extracted {
            selection,
            cost,
            exact: Some(report.with_best(cost)),
            ..dag
        },
        _ => {
            log::warn!("exact extraction: its selection is not valid on the e-graph; keeping the DAG extractor's");
            Extracted {
                exact: Some(report.with_best(dag.cost)),
                ..dag
            }
        }
    }
}

fn extract_inner(
    eg: &FxEGraph,
    model: &Model,
    roots: &[Id],
    opts: &ExtractOptions,
    progress: &Progress,
) -> Extracted {
    let costs = Costs::new(eg, model);
    let sel = greedy_with(eg, &costs);
    let cost_of = |id: Id, i: usize| costs.node[&(id, i)];
    // The local search counts a tiny cost per node too, so among equally cheap graphs it
    // keeps the one with fewer nodes (free views left over from the greedy start).
    let search_cost = |id: Id, i: usize| cost_of(id, i) + NODE_EPSILON;
    let node_cost = |id: Id, n: &Lang| -> f64 {
        eg[id]
            .nodes
            .iter()
            .position(|m| m == n)
            .map_or(0.0, |i| cost_of(id, i))
    };
    let greedy_cost =
        dag_cost_cached(eg, &sel, roots, &mut |id, n| node_cost(id, n)).unwrap_or(f64::INFINITY);
    let choice: HashMap<Id, usize> = sel
        .iter()
        .map(|(&id, n)| {
            (
                id,
                eg[id]
                    .nodes
                    .iter()
                    .position(|m| m == n)
                    .expect("chosen node is in its class"),
            )
        })
        .collect();
    let sel_greedy = sel;
    let greedy_result = |timed_out: bool| Extracted {
        selection: reachable(eg, &sel_greedy, roots)
            .into_iter()
            .map(|id| (id, sel_greedy[&id].clone()))
            .collect(),
        cost: greedy_cost,
        greedy_cost,
        timed_out,
        exact: None,
    };
    if opts.deadline.is_some_and(|d| std::time::Instant::now() > d) {
        // out of time already: the greedy selection, without building the search's state
        return greedy_result(true);
    }
    let mut dag = local::Dag::new(eg, choice, &search_cost, roots);
    dag.deadline = opts.deadline;
    for round in 0..opts.rounds {
        if dag.out_of_time() {
            break;
        }
        let report = |done: usize, total: usize| {
            if progress.is_enabled() {
                let detail = format!("local search, round {}/{}", round + 1, opts.rounds);
                progress.step(Phase::Extract, done, total, &detail);
            }
        };
        let single = dag.improve(roots, &report);
        let groups = dag.improve_groups(roots);
        if !single && !groups {
            break;
        }
    }
    log::debug!(
        "extract: topological order rebuilt {} times, raised {} times",
        dag.renumbered,
        dag.raised
    );
    let sel: Selection = dag
        .choice
        .iter()
        .map(|(&id, &i)| (id, eg[id].nodes[i].clone()))
        .collect();
    let keep = reachable(eg, &sel, roots);
    let selection: Selection = keep.into_iter().map(|id| (id, sel[&id].clone())).collect();
    // Recompute exactly (the incremental sum drifts by rounding) and never return worse than greedy.
    let cost = dag_cost_cached(eg, &selection, roots, &mut |id, n| node_cost(id, n))
        .unwrap_or(f64::INFINITY);
    if cost > greedy_cost {
        return greedy_result(dag.timed_out);
    }
    Extracted {
        selection,
        cost,
        greedy_cost,
        timed_out: dag.timed_out,
        exact: None,
    }
}

/// Classes reachable from `roots` under `sel`, in a stable order.
fn reachable(eg: &FxEGraph, sel: &Selection, roots: &[Id]) -> Vec<Id> {
    let mut seen = HashSet::default();
    let mut order = Vec::new();
    let mut stack: Vec<Id> = roots.iter().rev().map(|&r| eg.find(r)).collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        order.push(id);
        if let Some(n) = sel.get(&id) {
            for &c in n.children().iter().rev() {
                stack.push(eg.find(c));
            }
        }
    }
    order
}
