//! Equality saturation: egg's Runner with node, iteration and time limits and a backoff
//! scheduler. The node limit also holds inside an iteration: every rule's applier checks it.

use crate::egraph::{FxAnalysis, FxEGraph, Lang};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};
use crate::rules::{multi_root, NodeCount, Rule, RuleApplier, RuleLog};
use egg::{BackoffScheduler, Rewrite, RewriteScheduler, Runner, SearchMatches, Symbol};
use indexmap::IndexMap;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Saturation limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most e-nodes.
    pub nodes: usize,
    /// Most iterations.
    pub iterations: usize,
    /// Wall-clock limit (`Duration::MAX`: none).
    pub time: Duration,
    /// Backoff scheduler: matches a rule may make in one iteration before it is banned for a
    /// while (egg's default, 1,000, bans the view rules on large graphs and triples the
    /// iterations; rules that really explode still hit it).
    pub match_limit: usize,
    /// Multi-pattern rules (`:with`) search only in the first this many iterations...
    pub multi_iterations: usize,
    /// ...and only while the e-graph has fewer e-nodes than this: their searches join
    /// patterns across the whole e-graph, so they get a budget of their own.
    pub multi_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nodes: 200_000,
            iterations: 30,
            time: Duration::from_secs(10),
            match_limit: 50_000,
            multi_iterations: 20,
            multi_nodes: 100_000,
        }
    }
}

/// Why saturation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopReason {
    /// No rule changes the e-graph any more (`saturated`).
    #[default]
    Saturated,
    /// The node limit stopped it, between iterations or inside one (`node-limit`).
    NodeLimit,
    /// The iteration limit stopped it (`iteration-limit`).
    IterLimit,
    /// The time limit stopped it (`time-limit`).
    TimeLimit,
}

impl StopReason {
    /// The name in reports: `saturated`, `node-limit`, `iteration-limit`, `time-limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Saturated => "saturated",
            StopReason::NodeLimit => "node-limit",
            StopReason::IterLimit => "iteration-limit",
            StopReason::TimeLimit => "time-limit",
        }
    }

    /// How much a stop says about a run that combines several (regions): a limit beats
    /// saturation, the time limit (which also cut every later region short) beats the rest.
    pub fn rank(self) -> u8 {
        match self {
            StopReason::Saturated => 0,
            StopReason::IterLimit => 1,
            StopReason::NodeLimit => 2,
            StopReason::TimeLimit => 3,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What saturation did.
#[derive(Debug, Clone)]
pub struct SatReport {
    /// Iterations run.
    pub iterations: usize,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// E-nodes at the end.
    pub nodes: usize,
    /// E-classes at the end.
    pub classes: usize,
    /// Applications per rule (rules that never fired are listed with 0).
    pub applications: IndexMap<String, usize>,
}

/// Runs the rules on `egraph` until saturation or a limit.
pub fn saturate(
    egraph: FxEGraph,
    rules: &[Rule],
    limits: &Limits,
) -> Result<(FxEGraph, SatReport)> {
    saturate_with(egraph, rules, limits, &Progress::default())
}

/// [`saturate`], reporting each iteration to `progress`.
pub fn saturate_with(
    egraph: FxEGraph,
    rules: &[Rule],
    limits: &Limits,
    progress: &Progress,
) -> Result<(FxEGraph, SatReport)> {
    let log = Arc::new(Mutex::new(RuleLog::default()));
    let count = Arc::new(NodeCount::default());
    let deadline = std::time::Instant::now().checked_add(limits.time);
    let mut multi = HashSet::new();
    let rewrites: Vec<Rewrite<Lang, FxAnalysis>> = rules
        .iter()
        .map(|r| {
            let applier = RuleApplier::new(r.clone(), limits.nodes, deadline, log.clone())
                .with_node_count(count.clone());
            let rw = if r.with.is_empty() {
                Rewrite::new(r.name.clone(), r.lhs.clone(), applier)
            } else {
                multi.insert(Symbol::from(&r.name));
                // The loader guarantees every `:with` pattern shares a variable.
                let join = JoinSearcher::new(r).ok_or_else(|| {
                    Error::Rules(vec![format!(
                        "{}: rule `{}`: a `:with` pattern shares no variable",
                        r.origin, r.name
                    )])
                })?;
                Rewrite::new(r.name.clone(), join, applier)
            };
            rw.map_err(|e| Error::Rules(vec![format!("{}: rule `{}`: {e}", r.origin, r.name)]))
        })
        .collect::<Result<_>>()?;
    let scheduler = Scheduler {
        inner: BackoffScheduler::default().with_initial_match_limit(limits.match_limit),
        multi,
        limits: limits.clone(),
    };
    let hook_count = count.clone();
    let hook_log = log.clone();
    let hook_progress = progress.clone();
    let max_iter = limits.iterations;
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_hook(move |runner| {
            // Every iteration starts on a rebuilt e-graph: take its e-node count once here.
            hook_count.reset(&runner.egraph);
            hook_log.lock().unwrap().new_iteration();
            if hook_progress.is_enabled() {
                let i = runner.iterations.len();
                let detail = format!(
                    "iteration {}: {} e-nodes, {} e-classes",
                    i + 1,
                    runner.egraph.total_size(),
                    runner.egraph.number_of_classes()
                );
                hook_progress.step(Phase::Saturate, i, max_iter, &detail);
            }
            Ok(())
        })
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .with_scheduler(scheduler)
        .run(&rewrites);
    if log::log_enabled!(log::Level::Debug) {
        let mut sizes: Vec<(usize, egg::Id)> = runner
            .egraph
            .classes()
            .map(|c| (c.nodes.len(), c.id))
            .collect();
        sizes.sort_by(|a, b| b.cmp(a));
        let mut fan: Vec<(usize, egg::Id)> = runner
            .egraph
            .classes()
            .map(|c| (c.parents().len(), c.id))
            .collect();
        fan.sort_by(|a, b| b.cmp(a));
        let fan: Vec<String> = fan[..fan.len().min(6)]
            .iter()
            .map(|&(n, id)| format!("{n} {:?}", runner.egraph[id].nodes[0]))
            .collect();
        log::debug!(
            "largest classes (nodes, id): {:?}; most parents: {fan:?}",
            &sizes[..sizes.len().min(8)]
        );
    }
    let mut applications: IndexMap<String, usize> =
        rules.iter().map(|r| (r.name.clone(), 0)).collect();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *applications.entry(name.to_string()).or_default() += n;
        }
    }
    progress.finish(Phase::Saturate);
    let log = log.lock().unwrap();
    // egg reports `Saturated` when an iteration changed nothing, also when the appliers
    // refused every match because of the node limit or the deadline: that is the limit.
    let stop_reason = match &runner.stop_reason {
        Some(egg::StopReason::NodeLimit(_)) => StopReason::NodeLimit,
        Some(egg::StopReason::IterationLimit(_)) => StopReason::IterLimit,
        Some(egg::StopReason::TimeLimit(_)) => StopReason::TimeLimit,
        _ if log.time_limited => StopReason::TimeLimit,
        _ if log.node_limited => StopReason::NodeLimit,
        // `Saturated` (our hook never stops the runner with `Other`)
        _ => StopReason::Saturated,
    };
    if let Some((rule, l, r)) = log.refused.first() {
        return Err(Error::UnsoundMerge {
            rule: rule.clone(),
            left: l.to_string(),
            right: r.to_string(),
        });
    }
    if let Some(c) = runner.egraph.analysis.conflicts.first() {
        return Err(Error::UnsoundMerge {
            rule: "<congruence>".into(),
            left: c.left.to_string(),
            right: c.right.to_string(),
        });
    }
    let report = SatReport {
        iterations: runner.iterations.len(),
        stop_reason,
        nodes: runner.egraph.total_number_of_nodes(),
        classes: runner.egraph.number_of_classes(),
        applications,
    };
    Ok((runner.egraph, report))
}

/// egg's backoff scheduler, plus the multi-pattern rules' own budget.
struct Scheduler {
    inner: BackoffScheduler,
    multi: HashSet<Symbol>,
    limits: Limits,
}

impl RewriteScheduler<Lang, FxAnalysis> for Scheduler {
    fn can_stop(&mut self, iteration: usize) -> bool {
        RewriteScheduler::<Lang, FxAnalysis>::can_stop(&mut self.inner, iteration)
    }

    fn search_rewrite<'a>(
        &mut self,
        iteration: usize,
        egraph: &FxEGraph,
        rewrite: &'a Rewrite<Lang, FxAnalysis>,
    ) -> Vec<SearchMatches<'a, Lang>> {
        if self.multi.contains(&rewrite.name)
            && (iteration >= self.limits.multi_iterations
                || egraph.total_size() >= self.limits.multi_nodes)
        {
            return Vec::new();
        }
        self.inner.search_rewrite(iteration, egraph, rewrite)
    }

    fn apply_rewrite(
        &mut self,
        iteration: usize,
        egraph: &mut FxEGraph,
        rewrite: &Rewrite<Lang, FxAnalysis>,
        matches: Vec<SearchMatches<Lang>>,
    ) -> usize {
        self.inner
            .apply_rewrite(iteration, egraph, rewrite, matches)
    }
}

/// The searcher of a multi-pattern rule: the left side is searched as usual; each `:with`
/// pattern is then searched only at the classes a fixed number of parent steps above the
/// class of a variable the left side has bound (the anchor), instead of at every class as
/// egg's `MultiPattern` does, and joined on the shared variables. Binds `?__root` (the left
/// side's class) and `?__withI` (each `:with` pattern's class).
struct JoinSearcher {
    main: egg::Pattern<Lang>,
    /// Each `:with` pattern, its anchor variable and the anchor's depth in it.
    with: Vec<WithPart>,
    vars: Vec<egg::Var>,
}

/// One `:with` pattern of a [`JoinSearcher`].
struct WithPart {
    pattern: egg::Pattern<Lang>,
    /// Its variables.
    vars: Vec<egg::Var>,
    /// A variable bound before it, and that variable's depth in it.
    anchor: egg::Var,
    depth: usize,
    /// The shallowest proper subterm whose variables are all bound before it (its index in
    /// the pattern's AST) and its depth: its class, looked up from the bound variables, is
    /// a closer anchor with fewer ancestors to try than the variable's.
    shared: Option<(egg::Id, usize)>,
    /// `?__withI`: the variable its class is bound to.
    class_var: egg::Var,
}

/// The shallowest e-node subterm of `ast` below its root whose variables all lie in
/// `bound`, and its depth.
fn shared_subterm(ast: &egg::PatternAst<Lang>, bound: &[egg::Var]) -> Option<(egg::Id, usize)> {
    use egg::ENodeOrVar;
    let nodes = ast.as_ref();
    let closed = |id: egg::Id| -> bool {
        let mut stack = vec![id];
        while let Some(i) = stack.pop() {
            match &nodes[usize::from(i)] {
                ENodeOrVar::Var(v) if !bound.contains(v) => return false,
                ENodeOrVar::Var(_) => {}
                ENodeOrVar::ENode(n) => stack.extend(egg::Language::children(n).iter().copied()),
            }
        }
        true
    };
    let mut level = vec![egg::Id::from(nodes.len() - 1)];
    for d in 1.. {
        let next: Vec<egg::Id> = level
            .iter()
            .flat_map(|&i| match &nodes[usize::from(i)] {
                ENodeOrVar::ENode(n) => egg::Language::children(n).to_vec(),
                ENodeOrVar::Var(_) => Vec::new(),
            })
            .collect();
        if next.is_empty() {
            return None;
        }
        if let Some(&i) = next
            .iter()
            .find(|&&i| matches!(nodes[usize::from(i)], ENodeOrVar::ENode(_)) && closed(i))
        {
            return Some((i, d));
        }
        level = next;
    }
    None
}

/// The class of subterm `id` of `ast` with its variables bound by `subst`, if the e-graph
/// holds it.
fn lookup_subterm(
    egraph: &FxEGraph,
    ast: &egg::PatternAst<Lang>,
    id: egg::Id,
    subst: &egg::Subst,
) -> Option<egg::Id> {
    match &ast.as_ref()[usize::from(id)] {
        egg::ENodeOrVar::Var(v) => subst.get(*v).map(|&c| egraph.find(c)),
        egg::ENodeOrVar::ENode(n) => {
            let mut node = n.clone();
            for c in egg::Language::children_mut(&mut node) {
                *c = lookup_subterm(egraph, ast, *c, subst)?;
            }
            egraph.lookup(node)
        }
    }
}

/// The depth of the shallowest occurrence of a variable of `bound` in `ast` (root 0).
fn anchor(ast: &egg::PatternAst<Lang>, bound: &[egg::Var]) -> Option<(egg::Var, usize)> {
    use egg::ENodeOrVar;
    let nodes = ast.as_ref();
    let mut best: Option<(egg::Var, usize)> = None;
    let mut stack = vec![(egg::Id::from(nodes.len() - 1), 0usize)];
    while let Some((id, d)) = stack.pop() {
        match &nodes[usize::from(id)] {
            ENodeOrVar::Var(v) if bound.contains(v) => {
                if best.map_or(true, |(_, bd)| d < bd) {
                    best = Some((*v, d));
                }
            }
            ENodeOrVar::Var(_) => {}
            ENodeOrVar::ENode(n) => {
                for &c in egg::Language::children(n) {
                    stack.push((c, d + 1));
                }
            }
        }
    }
    best
}

use egg::Searcher as _;

impl JoinSearcher {
    /// `None` when a `:with` pattern shares no variable with what comes before it.
    fn new(r: &Rule) -> Option<Self> {
        let main = r.lhs.clone();
        let mut bound = main.vars();
        let mut with = Vec::new();
        for (i, w) in r.with.iter().enumerate() {
            let (anchor, depth) = anchor(w, &bound)?;
            let shared = shared_subterm(w, &bound).filter(|&(_, d)| d < depth);
            let pattern = egg::Pattern::new(w.clone());
            let vars = pattern.vars();
            for x in &vars {
                if !bound.contains(x) {
                    bound.push(*x);
                }
            }
            let class_var = format!("?__with{i}").parse().expect("a valid variable");
            with.push(WithPart {
                pattern,
                vars,
                anchor,
                depth,
                shared,
                class_var,
            });
        }
        let mut vars = bound;
        vars.push(multi_root());
        vars.extend(with.iter().map(|w| w.class_var));
        Some(JoinSearcher { main, with, vars })
    }

    /// Classes `depth` parent steps above `id`, canonical, sorted.
    fn ancestors(egraph: &FxEGraph, id: egg::Id, depth: usize) -> Vec<egg::Id> {
        let mut level = vec![egraph.find(id)];
        for _ in 0..depth {
            let mut next: Vec<egg::Id> = level
                .iter()
                .flat_map(|&c| egraph[c].parents().map(|p| egraph.find(p)))
                .collect();
            next.sort();
            next.dedup();
            level = next;
        }
        level
    }

    fn extend(&self, egraph: &FxEGraph, root: egg::Id, subst: egg::Subst) -> Vec<egg::Subst> {
        let mut partial = vec![subst];
        partial[0].insert(multi_root(), root);
        for w in &self.with {
            let mut next = Vec::new();
            for s in &partial {
                let (from, depth) = match w.shared {
                    Some((id, d)) => match lookup_subterm(egraph, &w.pattern.ast, id, s) {
                        Some(c) => (c, d),
                        // The with-pattern needs that subterm: no match.
                        None => continue,
                    },
                    None => (s[w.anchor], w.depth),
                };
                for c in Self::ancestors(egraph, from, depth) {
                    let Some(m) = w.pattern.search_eclass(egraph, c) else {
                        continue;
                    };
                    for ws in m.substs {
                        let agrees = w.vars.iter().all(|x| match s.get(*x) {
                            Some(&y) => egraph.find(y) == egraph.find(ws[*x]),
                            None => true,
                        });
                        if agrees {
                            let mut joined = s.clone();
                            for &x in &w.vars {
                                if joined.get(x).is_none() {
                                    joined.insert(x, ws[x]);
                                }
                            }
                            joined.insert(w.class_var, c);
                            next.push(joined);
                        }
                    }
                }
            }
            partial = next;
        }
        partial
    }
}

impl egg::Searcher<Lang, FxAnalysis> for JoinSearcher {
    fn search_eclass_with_limit(
        &self,
        egraph: &FxEGraph,
        eclass: egg::Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Lang>> {
        let m = self.main.search_eclass_with_limit(egraph, eclass, limit)?;
        let substs: Vec<egg::Subst> = m
            .substs
            .into_iter()
            .flat_map(|s| self.extend(egraph, eclass, s))
            .take(limit)
            .collect();
        (!substs.is_empty()).then_some(SearchMatches {
            eclass,
            substs,
            ast: None,
        })
    }

    fn search_with_limit(&self, egraph: &FxEGraph, limit: usize) -> Vec<SearchMatches<'_, Lang>> {
        let mut left = limit;
        let mut out = Vec::new();
        for m in self.main.search_with_limit(egraph, limit) {
            if left == 0 {
                break;
            }
            let substs: Vec<egg::Subst> = m
                .substs
                .into_iter()
                .flat_map(|s| self.extend(egraph, m.eclass, s))
                .take(left)
                .collect();
            left -= substs.len();
            if !substs.is_empty() {
                out.push(SearchMatches {
                    eclass: m.eclass,
                    substs,
                    ast: None,
                });
            }
        }
        out
    }

    fn vars(&self) -> Vec<egg::Var> {
        self.vars.clone()
    }
}
