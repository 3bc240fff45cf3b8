//! Equality saturation: egg's Runner with node, iteration and time limits and a backoff
//! scheduler. The node limit also holds inside an iteration: every rule's applier checks it.

use crate::egraph::{FxAnalysis, FxEGraph, Lang};
use crate::error::{Error, Result};
use crate::progress::{Phase, Progress};
use crate::rules::{NodeCount, Rule, RuleApplier, RuleLog};
use egg::{
    BackoffScheduler, MultiPattern, Rewrite, RewriteScheduler, Runner, SearchMatches, StopReason,
    Symbol,
};
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
    /// Wall-clock limit.
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

/// What saturation did.
#[derive(Debug, Clone)]
pub struct SatReport {
    /// Iterations run.
    pub iterations: usize,
    /// Why it stopped: `saturated`, `node-limit`, `iteration-limit`, `time-limit`, or other.
    pub stop_reason: String,
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
    let deadline = std::time::Instant::now() + limits.time;
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
                Rewrite::new(r.name.clone(), multi_pattern(r), applier)
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
    let hook_progress = progress.clone();
    let max_iter = limits.iterations;
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_hook(move |runner| {
            // Every iteration starts on a rebuilt e-graph: take its e-node count once here.
            hook_count.reset(&runner.egraph);
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
    let mut applications: IndexMap<String, usize> =
        rules.iter().map(|r| (r.name.clone(), 0)).collect();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *applications.entry(name.to_string()).or_default() += n;
        }
    }
    let stop_reason = match &runner.stop_reason {
        Some(StopReason::Saturated) => "saturated".to_string(),
        Some(StopReason::NodeLimit(_)) => "node-limit".to_string(),
        Some(StopReason::IterationLimit(_)) => "iteration-limit".to_string(),
        Some(StopReason::TimeLimit(_)) => "time-limit".to_string(),
        Some(StopReason::Other(s)) => s.clone(),
        None => "none".to_string(),
    };
    progress.finish(Phase::Saturate);
    let log = log.lock().unwrap();
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

/// The root variable of a multi-pattern rule: the class that receives the right side.
pub(crate) fn multi_root() -> egg::Var {
    "?__root".parse().expect("a valid variable")
}

/// A rule's left side and its `:with` patterns as one egg multi-pattern.
fn multi_pattern(r: &Rule) -> MultiPattern<Lang> {
    let mut asts = vec![(multi_root(), r.lhs.ast.clone())];
    for (i, w) in r.with.iter().enumerate() {
        let v: egg::Var = format!("?__with{i}").parse().expect("a valid variable");
        asts.push((v, w.clone()));
    }
    MultiPattern::new(asts)
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
                || egraph.total_number_of_nodes() >= self.limits.multi_nodes)
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
