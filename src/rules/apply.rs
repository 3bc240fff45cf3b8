//! Applying a rule: check conditions, build the right side, check it agrees with the matched
//! class's meta, union — and never go past the node limit.

use super::cond::Env;
use super::{CondArg, Rhs, Rule};
use crate::egraph::{add_arg, Facts, FxEGraph, Lang};
use crate::ops::Meta;
use egg::{Applier, Id, PatternAst, Subst, Symbol, Var};
use rustc_hash::FxHashSet as HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The root variable of a multi-pattern rule: the class that receives the right side (bound
/// by the saturation's join searcher).
pub(crate) fn multi_root() -> Var {
    "?__root".parse().expect("a valid variable")
}

/// The e-graph's e-node count during an iteration, without walking every class on each
/// application: [`reset`](NodeCount::reset) at the start of an iteration (a runner hook), then
/// the count is the count then plus the e-nodes added since (the hash-cons grows by one per new
/// e-node; unions do not change the count until the next rebuild). Exactly
/// `egraph.total_number_of_nodes()` between a reset and the next rebuild.
#[derive(Debug, Default)]
pub struct NodeCount {
    base: AtomicUsize,
    memo: AtomicUsize,
}

impl NodeCount {
    /// Takes the count of `egraph` now.
    pub fn reset(&self, egraph: &FxEGraph) {
        self.base
            .store(egraph.total_number_of_nodes(), Ordering::Relaxed);
        self.memo.store(egraph.total_size(), Ordering::Relaxed);
    }

    /// The e-nodes of `egraph` now (it must not have been rebuilt since the reset).
    pub fn get(&self, egraph: &FxEGraph) -> usize {
        let base = self.base.load(Ordering::Relaxed);
        let memo = self.memo.load(Ordering::Relaxed);
        base + egraph.total_size().saturating_sub(memo)
    }
}

/// What happened while rules were applied: unsound merges that were refused, per rule.
#[derive(Debug, Default)]
pub struct RuleLog {
    /// `(rule, meta of the matched class, meta of the right side)`.
    pub refused: Vec<(String, Meta, Meta)>,
    /// Right sides that were ill-typed for a match (skipped), per rule.
    pub ill_typed: Vec<(String, String)>,
    /// A match was not applied because of the node limit (since the last [`Self::new_iteration`]).
    pub node_limited: bool,
    /// A match was not applied because of the deadline (since the last [`Self::new_iteration`]).
    pub time_limited: bool,
}

impl RuleLog {
    /// Forgets the limits hit in the previous iteration.
    pub fn new_iteration(&mut self) {
        self.node_limited = false;
        self.time_limited = false;
    }
}

/// A match as `[class, vars...]`: inline up to 8 ids, so most keys allocate nothing.
type MatchKey = smallvec::SmallVec<[Id; 8]>;

/// The applier of one rule.
pub struct RuleApplier {
    rule: Rule,
    node_limit: usize,
    /// Upper bound on the e-nodes one application can add.
    rhs_size: usize,
    /// No application after this instant (if any), so the time limit holds inside an
    /// iteration too.
    deadline: Option<std::time::Instant>,
    log: Arc<Mutex<RuleLog>>,
    /// Kept e-node count; `None`: count the e-graph's classes on each application.
    count: Option<Arc<NodeCount>>,
    /// The left side's variables, in the order of the keys of `done`.
    vars: Vec<Var>,
    /// Matches already applied: `[class, vars...]` as canonical ids at that time. The outcome
    /// of a match depends only on the metas of its classes (conditions, computed attributes,
    /// the right side's type), which do not change once valid; after a merge, applying it again
    /// adds no e-node and unions nothing. So a match seen again is skipped: saturation re-finds
    /// every old match in every iteration, and re-applying them was most of its time.
    done: Mutex<HashSet<MatchKey>>,
    /// Whether a condition or computed attribute reads the analysis's facts (which grow when
    /// classes merge): such a rule's outcomes are not settled, and are never skipped.
    reads_facts: bool,
}

fn rhs_reads_facts(rhs: &Rhs) -> bool {
    match rhs {
        Rhs::Var(_) => false,
        Rhs::Node(_, c) => c.iter().any(rhs_reads_facts),
        Rhs::Compute(f, c) => f.sees_env || c.iter().any(rhs_reads_facts),
    }
}

impl RuleApplier {
    /// Wraps `rule`; the e-graph never grows past `node_limit` nodes through it, and nothing is
    /// applied after `deadline` (if any).
    pub fn new(
        rule: Rule,
        node_limit: usize,
        deadline: Option<std::time::Instant>,
        log: Arc<Mutex<RuleLog>>,
    ) -> Self {
        let rhs_size = rhs_bound(&rule.rhs);
        let vars = rule.vars();
        let reads_facts = rule.conds.iter().any(|c| c.cond.sees_env) || rhs_reads_facts(&rule.rhs);
        RuleApplier {
            vars,
            reads_facts,
            done: Mutex::new(HashSet::default()),
            rule,
            node_limit,
            rhs_size,
            deadline,
            log,
            count: None,
        }
    }

    /// Reads the e-node count from `count` (which the caller resets at the start of every
    /// iteration) instead of summing over every class on each application.
    pub fn with_node_count(mut self, count: Arc<NodeCount>) -> Self {
        self.count = Some(count);
        self
    }

    /// Checks the conditions, adds the right side and merges it into `eclass`; whether the
    /// merge changed the e-graph.
    fn apply_match(&self, egraph: &mut FxEGraph, eclass: Id, subst: &Subst) -> bool {
        if !self.conditions_hold(egraph, subst) {
            return false;
        }
        // A multi-pattern rule's right side goes to its left side's class, not to the class
        // where egg's search of the joined patterns started.
        let eclass = if self.rule.with.is_empty() {
            eclass
        } else {
            egraph.find(subst[multi_root()])
        };
        let Some(new) = self.instantiate(egraph, subst, &self.rule.rhs) else {
            return false;
        };
        let (left, right) = (&egraph[eclass].data.meta, &egraph[new].data.meta);
        if let Meta::Invalid(why) = right {
            self.log
                .lock()
                .unwrap()
                .ill_typed
                .push((self.rule.name.clone(), why.clone()));
            return false;
        }
        if !left.same_as(right) {
            let (l, r) = (left.clone(), right.clone());
            self.log
                .lock()
                .unwrap()
                .refused
                .push((self.rule.name.clone(), l, r));
            return false;
        }
        egraph.union(eclass, new)
    }

    /// `[class, vars...]`, canonical ids now.
    fn key(&self, egraph: &FxEGraph, eclass: Id, subst: &Subst) -> Option<MatchKey> {
        let mut key = MatchKey::new();
        key.push(egraph.find(eclass));
        for v in &self.vars {
            key.push(egraph.find(*subst.get(*v)?));
        }
        Some(key)
    }

    /// No class of the key has an invalid meta (an invalid meta may still become valid, and
    /// with it the outcome of the match; a valid one never changes). Checked only when a key
    /// is stored: a key that holds an invalid meta now held it at every earlier time too, so
    /// it was never stored, and looking it up misses without the check.
    fn settled(egraph: &FxEGraph, key: &MatchKey) -> bool {
        key.iter()
            .all(|&id| !matches!(egraph[id].data.meta, Meta::Invalid(_)))
    }

    fn nodes(&self, egraph: &FxEGraph) -> usize {
        match &self.count {
            Some(c) => c.get(egraph),
            None => egraph.total_number_of_nodes(),
        }
    }

    fn meta_of(egraph: &FxEGraph, subst: &Subst, a: &CondArg) -> Meta {
        match a {
            CondArg::Var(v) => egraph[subst[*v]].data.meta.clone(),
            CondArg::Lit(l) => match l {
                Lang::Int(i) => Meta::Int(*i),
                Lang::Float(x) => Meta::Float(x.get()),
                Lang::Bool(b) => Meta::Bool(*b),
                Lang::Dtype(d) => Meta::Dtype(*d),
                Lang::Attr(a) => Meta::Attr(a.to_string()),
                Lang::Call(..) => Meta::None,
            },
        }
    }

    fn conditions_hold(&self, egraph: &FxEGraph, subst: &Subst) -> bool {
        self.rule.conds.iter().all(|c| {
            let metas: Vec<Meta> = c
                .args
                .iter()
                .map(|a| Self::meta_of(egraph, subst, a))
                .collect();
            let facts: Vec<Facts> = c
                .args
                .iter()
                .map(|a| match a {
                    CondArg::Var(v) => egraph[subst[*v]].data.facts,
                    CondArg::Lit(_) => Facts::default(),
                })
                .collect();
            let refs: Vec<&Meta> = metas.iter().collect();
            let env = Env {
                alignment: &egraph.analysis.matmul_alignment,
                facts: &facts,
                target: egraph.analysis.target,
            };
            (c.cond.test)(&env, &refs)
        })
    }

    /// Adds the right side; `None` when a computed attribute does not exist for this match.
    fn instantiate(&self, egraph: &mut FxEGraph, subst: &Subst, rhs: &Rhs) -> Option<Id> {
        match rhs {
            Rhs::Var(v) => Some(subst[*v]),
            Rhs::Node(n, children) => {
                let ids = children
                    .iter()
                    .map(|c| self.instantiate(egraph, subst, c))
                    .collect::<Option<Vec<Id>>>()?;
                let node = match n {
                    Lang::Call(op, _) => Lang::Call(*op, ids.into()),
                    leaf => leaf.clone(),
                };
                Some(egraph.add(node))
            }
            Rhs::Compute(c, args) => {
                let ids = args
                    .iter()
                    .map(|a| self.instantiate(egraph, subst, a))
                    .collect::<Option<Vec<Id>>>()?;
                let metas: Vec<Meta> = ids.iter().map(|&i| egraph[i].data.meta.clone()).collect();
                let facts: Vec<Facts> = ids.iter().map(|&i| egraph[i].data.facts).collect();
                let refs: Vec<&Meta> = metas.iter().collect();
                let env = Env {
                    alignment: &egraph.analysis.matmul_alignment,
                    facts: &facts,
                    target: egraph.analysis.target,
                };
                let value = (c.eval)(&env, &refs)?;
                if arg_size(&value) > COMPUTED_BOUND {
                    return None;
                }
                Some(add_arg(egraph, &[], &value))
            }
        }
    }
}

/// Most e-nodes a computed attribute adds (a list of up to this many ints, and the list).
const COMPUTED_BOUND: usize = 65;

/// Upper bound on the e-nodes instantiating `rhs` adds, so the node limit holds exactly.
fn rhs_bound(rhs: &Rhs) -> usize {
    match rhs {
        Rhs::Var(_) => 0,
        Rhs::Node(_, c) => 1 + c.iter().map(rhs_bound).sum::<usize>(),
        Rhs::Compute(_, c) => COMPUTED_BOUND + c.iter().map(rhs_bound).sum::<usize>(),
    }
}

impl Applier<Lang, crate::egraph::FxAnalysis> for RuleApplier {
    fn apply_one(
        &self,
        egraph: &mut FxEGraph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<Lang>>,
        _name: Symbol,
    ) -> Vec<Id> {
        if self
            .key(egraph, eclass, subst)
            .is_some_and(|k| self.done.lock().unwrap().contains(&k))
        {
            return vec![];
        }
        let full = self.nodes(egraph) + self.rhs_size > self.node_limit;
        if full || self.deadline.is_some_and(|d| std::time::Instant::now() > d) {
            // Not marked done: the match may apply in a later run with more room.
            let mut log = self.log.lock().unwrap();
            if full {
                log.node_limited = true;
            } else {
                log.time_limited = true;
            }
            return vec![];
        }
        let merged = self.apply_match(egraph, eclass, subst);
        // Whatever the outcome (conditions false, no computed attribute, ill-typed, merged),
        // it depends only on the metas of the match's classes, which no longer change.
        if let Some(k) = self.key(egraph, eclass, subst) {
            if !self.reads_facts && Self::settled(egraph, &k) {
                self.done.lock().unwrap().insert(k);
            }
        }
        if merged {
            vec![eclass]
        } else {
            vec![]
        }
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }
}

fn arg_size(a: &crate::ir::Arg) -> usize {
    match a {
        crate::ir::Arg::List(items) => 1 + items.iter().map(arg_size).sum::<usize>(),
        _ => 1,
    }
}
