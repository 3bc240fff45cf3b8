//! Stage 4, solve: the candidate saved sets for a budget, and the best one within it.
//!
//! Takes the graph, its [classification](super::classify), the cost model and the
//! [options](super::PartitionOptions); builds a [`Solver`] holding the runtime-optimised cut
//! (budget 1) and, per budget below 1, gives the candidates PyTorch's
//! `choose_saved_values_set` weighs, with an exact [knapsack](super::knapsack):
//!
//! A budget `b` in [0, 1] asks for at most `b × A` activation bytes, where `A` is the
//! activation bytes of the runtime-optimised cut (budget 1) and 0 means "save only inputs".
//! Budget 1 is the runtime-optimised cut. Below 1 the candidates are, as in PyTorch, the "more
//! aggressive" cut (no far-apart, long-chain, materialized-backward bans), the "aggressive"
//! cut (also denylist mode), and a 0/1 knapsack over the nodes the aggressive cut bans (those
//! the backward needs, not inputs, not random) that keeps saved the ones with the most
//! cost-model runtime within the budget, the rest being allowed to be recomputed, then
//! re-cut. Beyond PyTorch: the same knapsack over the default cut's bans, re-cut with the
//! default options; the knapsack is exact (weights in units of the items' byte gcd;
//! quantised upwards only past 2·10⁶ table cells); when a re-cut overshoots the budget (it may
//! save values the knapsack did not see) the capacity is lowered by the overshoot and the
//! knapsack re-solved; and the choice for one budget alone ([`Solver::solve`]) is the least
//! recompute time among the candidates that fit (PyTorch returns the first that fits). The
//! [policy](super::policy) chooses over several budgets at once.

use super::classify::{Classified, FAR};
use super::knapsack::Knapsack;
use super::network::{local_bans, solve_min_cut, solve_min_cut_with, MinCutOptions};
use super::solution::{evaluate_with, Solution};
use super::storage::input_storage;
use super::PartitionOptions;
use crate::cost::node_cost;
use crate::cost::Model;
use crate::error::Result;
use crate::ir::{Graph, NodeId, Val};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Per node: the cost-model (seconds, flops) of recomputing it, once (0 for the nodes that
/// depend on tangents: the backward computes them anyway).
fn recompute_costs(g: &Graph, c: &Classified, model: &Model) -> Vec<(f64, f64)> {
    (0..c.n)
        .map(|i| {
            if c.tangents_closure[i] {
                (0.0, 0.0)
            } else {
                node_cost(g, model, NodeId(i as u32))
            }
        })
        .collect()
}

/// The solver state shared by the budgets of one graph.
pub struct Solver<'a> {
    pub(super) g: &'a Graph,
    pub(super) c: &'a Classified,
    opts: &'a PartitionOptions,
    /// The runtime-optimised solution (budget 1).
    pub runtime_optimized: Solution,
    default_banned: Vec<NodeId>,
    aggressive: Option<(Solution, Vec<NodeId>)>,
    more_aggressive: Option<Solution>,
    /// The bytes budget 1 stands for: PyTorch's `max_act_size − min_act_size` (see
    /// [`Solver::target`]).
    pub scale: u64,
    /// Min-cuts solved so far (distinct ones: repeated cuts come from `memo`).
    pub cuts: usize,
    memo: HashMap<(String, Vec<NodeId>), (Solution, Vec<NodeId>)>,
    /// Per cut family (its options): the per-node bans.
    local_bans: HashMap<String, Rc<Vec<Option<&'static str>>>>,
    /// Per node: cost-model (seconds, flops) of recomputing it.
    pub(super) costs: Vec<(f64, f64)>,
    /// Per cut family (its options): the knapsack's candidates and table.
    tables: HashMap<String, Rc<(Vec<NodeId>, Knapsack)>>,
}

impl<'a> Solver<'a> {
    /// Solves the budget-1 cut. With `inputs_free_to_save` on, the cut with PyTorch's weights
    /// (inputs not free) is solved too and the better of the two (fewer activation bytes, then
    /// less recompute time) is the runtime-optimised solution.
    pub fn new(
        g: &'a Graph,
        c: &'a Classified,
        model: &'a Model,
        opts: &'a PartitionOptions,
    ) -> Result<Self> {
        let costs = recompute_costs(g, c, model);
        let cost = |r: NodeId| costs[r.index()];
        let mut cuts = 1;
        let cut = solve_min_cut(g, c, &opts.mincut, &HashSet::new())?;
        let mut runtime_optimized = evaluate_with(g, c, &cost, &cut.saved, cut.banned.len());
        let mut default_banned: Vec<NodeId> = cut.banned.iter().map(|b| b.0).collect();
        // PyTorch's memory scale: the bytes its budget-1 cut saves (each saved node at its
        // size, inputs included) minus the bytes of all inputs
        let mut scale = runtime_optimized.budget_used_bytes;
        if opts.mincut.inputs_free_to_save {
            let o = MinCutOptions {
                inputs_free_to_save: false,
                ..opts.mincut.clone()
            };
            cuts += 1;
            let cut = solve_min_cut(g, c, &o, &HashSet::new())?;
            let alt = evaluate_with(g, c, &cost, &cut.saved, cut.banned.len());
            scale = alt.budget_used_bytes;
            let key = |s: &Solution| (s.activation_bytes, s.recompute_seconds);
            if key(&alt) < key(&runtime_optimized) {
                runtime_optimized = alt;
                default_banned = cut.banned.iter().map(|b| b.0).collect();
            }
        }
        Ok(Solver {
            g,
            c,
            opts,
            runtime_optimized,
            default_banned,
            scale,
            aggressive: None,
            more_aggressive: None,
            cuts,
            memo: HashMap::new(),
            tables: HashMap::new(),
            local_bans: HashMap::new(),
            costs,
        })
    }

    fn cut(
        &mut self,
        opts: &MinCutOptions,
        dont_ban: &HashSet<NodeId>,
    ) -> Result<(Solution, Vec<NodeId>)> {
        // budgets close to each other often ask for the same cut: solve it once
        let mut key: Vec<NodeId> = dont_ban.iter().copied().collect();
        key.sort_unstable();
        let key = (format!("{opts:?}"), key);
        if let Some(hit) = self.memo.get(&key) {
            return Ok(hit.clone());
        }
        self.cuts += 1;
        let local = Rc::clone(
            self.local_bans
                .entry(key.0.clone())
                .or_insert_with(|| Rc::new(local_bans(self.g, self.c, opts))),
        );
        let cut = solve_min_cut_with(self.g, self.c, opts, dont_ban, &local)?;
        let banned = cut.banned.iter().map(|b| b.0).collect();
        let res = (
            evaluate_with(
                self.g,
                self.c,
                &|r| self.costs[r.index()],
                &cut.saved,
                cut.banned.len(),
            ),
            banned,
        );
        self.memo.insert(key, res.clone());
        Ok(res)
    }

    /// The choice for `budget`: the least recompute time among the solutions that fit.
    pub fn solve(&mut self, budget: f64) -> Result<Solution> {
        let target = self.target(budget);
        let all = self.solve_all(budget)?;
        Ok(best_fit(&all, target).clone())
    }

    /// The activation bytes budget `b` allows: PyTorch's knapsack capacity in bytes. PyTorch
    /// normalises sizes by `scale = max_act_size − min_act_size`, `max_act_size` being the
    /// size of the values its budget-1 cut saves (each saved node at its size, inputs
    /// included) and `min_act_size` that of all graph inputs, and gives its knapsack (over
    /// activations) a capacity of `b`: `b × scale` bytes. fxsat holds its whole activation
    /// bytes (not only the knapsack's items) to that, rounded down (after a 1e-12 relative allowance, so that a budget written
    /// as `k / n` of a scale divisible by `n` gives exactly `k × scale / n` despite
    /// floating-point rounding). Budget 1 is the runtime-optimised cut whatever its bytes.
    pub fn target(&self, budget: f64) -> u64 {
        if budget >= 1.0 || (self.scale == 0 && budget > 0.0) {
            return self.runtime_optimized.activation_bytes;
        }
        let x = budget * self.scale as f64;
        (x + x * 1e-12).floor() as u64
    }

    /// Every candidate solution for `budget`: PyTorch's "more aggressive" and "aggressive"
    /// cuts, the knapsack over the aggressive cut's bans re-cut with aggressive options
    /// (PyTorch's), and the knapsack over the default cut's bans re-cut with default options
    /// (fxsat's: a gentler curve near budget 1).
    pub fn solve_all(&mut self, budget: f64) -> Result<Vec<Solution>> {
        // as PyTorch: when the budget-1 cut saves no more than the inputs' bytes, it is the
        // answer for every budget above 0
        let max_act = self.runtime_optimized.activation_bytes;
        if budget >= 1.0 || max_act == 0 || (self.scale == 0 && budget > 0.0) {
            return Ok(vec![self.runtime_optimized.clone()]);
        }
        let target = self.target(budget);
        if self.more_aggressive.is_none() {
            let o = self.opts.mincut.more_aggressive();
            self.more_aggressive = Some(self.cut(&o, &HashSet::new())?.0);
        }
        if self.aggressive.is_none() {
            let o = self.opts.mincut.aggressive();
            self.aggressive = Some(self.cut(&o, &HashSet::new())?);
        }
        let more = self.more_aggressive.clone().expect("just set");
        let (aggr, aggr_banned) = self.aggressive.clone().expect("just set");
        let mut all = vec![more, aggr];
        let aggressive = self.opts.mincut.aggressive();
        if let Some(s) = self.knapsack_cut(&aggressive, aggr_banned, target)? {
            all.push(s);
        }
        let default = self.opts.mincut.clone();
        let banned = self.default_banned.clone();
        if let Some(s) = self.knapsack_cut(&default, banned, target)? {
            all.push(s);
        }
        Ok(all)
    }

    /// Knapsack over `banned` (those the backward needs, not inputs, not random), re-cut with
    /// `opts`, lowering the capacity by the overshoot up to 8 rounds.
    fn knapsack_cut(
        &mut self,
        opts: &MinCutOptions,
        banned: Vec<NodeId>,
        target: u64,
    ) -> Result<Option<Solution>> {
        let family = format!("{opts:?}");
        if !self.tables.contains_key(&family) {
            let table = self.knapsack_table(banned);
            self.tables.insert(family.clone(), Rc::new(table));
        }
        let entry = Rc::clone(&self.tables[&family]);
        let (candidates, table) = (&entry.0, &entry.1);
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut capacity = target;
        let mut found: Vec<Solution> = Vec::new();
        for _ in 0..8 {
            let keep = table.solve(capacity);
            let mut dont_ban: HashSet<NodeId> = candidates.iter().copied().collect();
            for k in keep {
                dont_ban.remove(&candidates[k]);
            }
            let (sol, _) = self.cut(opts, &dont_ban)?;
            let over = sol.activation_bytes.saturating_sub(target);
            found.push(sol);
            if over == 0 || capacity == 0 {
                break;
            }
            capacity = capacity.saturating_sub(over);
        }
        Ok(Some(best_fit(&found, target).clone()))
    }

    /// The knapsack's candidates among `banned` (those the backward needs, not inputs, tensor
    /// values, not random when random ops are banned, no effects unless random) and its table
    /// over (bytes, recompute seconds). One table serves every budget: the largest capacity
    /// asked below budget 1 is the scale.
    fn knapsack_table(&self, banned: Vec<NodeId>) -> (Vec<NodeId>, Knapsack) {
        let (g, c) = (self.g, self.c);
        let is_input = input_storage(c);
        let candidates: Vec<NodeId> = banned
            .into_iter()
            .filter(|b| {
                let i = b.index();
                c.dist_from_bw[i] < FAR
                    && !is_input[i]
                    && matches!(g.nodes[i].val, Val::Tensor(_) | Val::Tuple(_))
                    && !(c.kinds[i].random && self.opts.mincut.ban_random)
                    && (c.kinds[i].random || !c.kinds[i].effects)
            })
            .collect();
        let items: Vec<(u64, f64)> = candidates
            .iter()
            .map(|&b| {
                let (secs, _) = self.costs[b.index()];
                (g.node(b).val.bytes(), secs.max(1e-12))
            })
            .collect();
        let table = Knapsack::new(&items, self.scale);
        (candidates, table)
    }
}

impl Solver<'_> {
    /// Evaluates `saved` (any order) with the solver's per-node costs.
    pub(super) fn evaluate(&self, saved: &[NodeId], banned: usize) -> Solution {
        let mut saved = saved.to_vec();
        saved.sort_unstable();
        saved.dedup();
        evaluate_with(self.g, self.c, &|r| self.costs[r.index()], &saved, banned)
    }
}

/// Among `sols` (not empty), the least recompute time among those within the budget's limit
/// `target` (ties: fewer activation bytes); if none fits, the fewest bytes.
pub(super) fn best_fit(sols: &[Solution], target: u64) -> &Solution {
    let key = |s: &Solution| (s.recompute_seconds, s.activation_bytes);
    sols.iter()
        .filter(|s| s.activation_bytes <= target)
        .min_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .or_else(|| {
            sols.iter()
                .min_by_key(|s| (s.activation_bytes, s.peak_bytes))
        })
        .expect("at least one solution")
}
