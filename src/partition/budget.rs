//! The memory budget (PyTorch's `choose_saved_values_set`, with an exact knapsack).
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
//! knapsack re-solved; and the choice is the least recompute time among the candidates that
//! fit (PyTorch returns the first that fits). [`choose`] then picks over a set of budgets at
//! once so that peak memory does not rise as the budget decreases (within the budget, or
//! strictly); within the budget, where every candidate raises the peak, [`Solver::repair`]
//! saves more of the values alive at the simulated peak (those that cut a recompute chain
//! first) until it is back down.

use super::classify::{Classified, FAR};
use super::network::{local_bans, solve_min_cut, solve_min_cut_with, MinCutOptions};
use super::{emit, PartitionOptions};
use crate::cost::{node_cost, Model};
use crate::error::Result;
use crate::ir::{Graph, NodeId, Val};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// One candidate saved set and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Saved values the backward uses, in graph order.
    pub saved: Vec<NodeId>,
    /// Bytes of the storages `saved` keeps alive (see [`storage_bytes`]).
    pub saved_bytes: u64,
    /// Bytes of those storages that are not graph inputs' (see [`storage_bytes`]).
    pub activation_bytes: u64,
    /// The numerator of PyTorch's `get_mem_ratio`: the saved values at their sizes, inputs
    /// included, minus the bytes of all graph inputs (0 when negative). PyTorch's early
    /// returns (the "more aggressive" and "aggressive" cuts) compare this with the budget;
    /// fxsat limits `activation_bytes` instead (see [`Solver::target`]).
    pub budget_used_bytes: u64,
    /// Nodes the backward recomputes.
    pub recomputed: Vec<NodeId>,
    /// Cost-model seconds of the recomputation.
    pub recompute_seconds: f64,
    /// Flops of the recomputation.
    pub recompute_flops: f64,
    /// Peak bytes of the forward+backward schedule.
    pub peak_bytes: u64,
    /// Banned nodes in the cut that produced it.
    pub banned: usize,
}

/// Evaluates a saved set: drops values the backward does not use, costs the rest.
pub fn evaluate(
    g: &Graph,
    c: &Classified,
    model: &Model,
    saved: &[NodeId],
    banned: usize,
) -> Solution {
    evaluate_with(g, c, &|r| node_cost(g, model, r), saved, banned)
}

/// [`evaluate`] with the per-node (seconds, flops) of recomputation given by `cost`.
pub fn evaluate_with(
    g: &Graph,
    c: &Classified,
    cost: &dyn Fn(NodeId) -> (f64, f64),
    saved: &[NodeId],
    banned: usize,
) -> Solution {
    let (bw, stop) = emit::bw_needed(c, saved);
    let saved: Vec<NodeId> = saved.iter().copied().filter(|s| bw[s.index()]).collect();
    let recomputed = emit::recomputed_of(g, c, &bw, &stop);
    let (mut secs, mut flops) = (0.0, 0.0);
    for &r in &recomputed {
        let (s, f) = cost(r);
        secs += s;
        flops += f;
    }
    let (saved_bytes, activation_bytes) = storage_bytes(g, c, &saved);
    let node_bytes = |ids: &[NodeId]| ids.iter().map(|i| g.node(*i).val.bytes()).sum::<u64>();
    let budget_used_bytes = node_bytes(&saved).saturating_sub(node_bytes(&c.primals));
    let (_, peak) = emit::schedule_of(c, &saved, &emit::bw_order_of(g, c, &bw, &stop));
    Solution {
        saved,
        saved_bytes,
        activation_bytes,
        budget_used_bytes,
        recomputed,
        recompute_seconds: secs,
        recompute_flops: flops,
        peak_bytes: peak,
        banned,
    }
}

/// Per node, the node that owns its storage: itself, or for a view (PyTorch's view ops) the
/// owner of its first input's storage.
pub fn storage_roots(g: &Graph, c: &Classified) -> Vec<NodeId> {
    let _ = g;
    let mut root: Vec<NodeId> = (0..c.n).map(|i| NodeId(i as u32)).collect();
    for i in 0..c.n {
        if c.kinds[i].view {
            if let Some(x) = c.inputs[i].first() {
                root[i] = root[x.index()];
            }
        }
    }
    root
}

/// Per node: its storage is a graph input's (a primal, or a view of one, through views).
/// Saving such a value allocates nothing.
pub fn input_storage(g: &Graph, c: &Classified) -> Vec<bool> {
    let mut primal = vec![false; c.n];
    c.primals.iter().for_each(|p| primal[p.index()] = true);
    storage_roots(g, c)
        .iter()
        .map(|r| primal[r.index()])
        .collect()
}

/// (saved bytes, activation bytes) of a saved set, counting storage: values that share one
/// storage (a value and its views, or several views of one value) count it once, at its
/// owner's size; activation bytes leave out the storages of graph inputs.
pub fn storage_bytes(g: &Graph, c: &Classified, saved: &[NodeId]) -> (u64, u64) {
    let roots = storage_roots(g, c);
    let mut primal = vec![false; c.n];
    c.primals.iter().for_each(|p| primal[p.index()] = true);
    let mut seen = vec![false; c.n];
    let (mut all, mut act) = (0u64, 0u64);
    for s in saved {
        let r = roots[s.index()];
        if !std::mem::replace(&mut seen[r.index()], true) {
            let b = g.node(r).val.bytes();
            all += b;
            if !primal[r.index()] {
                act += b;
            }
        }
    }
    (all, act)
}

/// Solves a 0/1 knapsack: `items` are (weight, value); returns the chosen indices, maximising
/// the total value with total weight ≤ `capacity`. Zero-weight items are always taken.
pub fn knapsack(items: &[(u64, f64)], capacity: u64) -> Vec<usize> {
    Knapsack::new(items, capacity).solve(capacity)
}

/// A 0/1 knapsack table over fixed items, solved once for a largest capacity and answered for
/// any capacity up to it by backtracking (the table holds the optimum of every smaller
/// capacity too). Weights are in units of their gcd, coarsened (rounded up) until the table
/// has at most 2·10⁶ cells.
pub struct Knapsack {
    /// Indices (into the caller's items) of the zero-weight items: always taken.
    zero: Vec<usize>,
    /// Indices of the other items that fit the largest capacity.
    rest: Vec<usize>,
    /// Their weights in units.
    w: Vec<usize>,
    unit: u64,
    cap: usize,
    /// `take[k × (cap + 1) + c]`: item `rest[k]` is in the optimum of the first `k + 1` items
    /// at capacity `c`.
    take: Vec<bool>,
}

impl Knapsack {
    /// Builds the table for capacities up to `max_capacity`.
    pub fn new(items: &[(u64, f64)], max_capacity: u64) -> Self {
        let zero: Vec<usize> = (0..items.len()).filter(|&i| items[i].0 == 0).collect();
        let rest: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].0 > 0 && items[i].0 <= max_capacity)
            .collect();
        let total: u64 = rest.iter().map(|&i| items[i].0).sum();
        let max_capacity = max_capacity.min(total);
        let gcd = rest.iter().fold(0u64, |a, &i| gcd(a, items[i].0)).max(1);
        let mut unit = gcd;
        let cells = |unit: u64| (max_capacity / unit + 1) as u128 * rest.len() as u128;
        while cells(unit) > 2_000_000 {
            unit *= 2;
        }
        let cap = (max_capacity / unit) as usize;
        let w: Vec<usize> = rest
            .iter()
            .map(|&i| items[i].0.div_ceil(unit) as usize)
            .collect();
        let mut best = vec![0.0f64; cap + 1];
        let mut take = vec![false; rest.len() * (cap + 1)];
        for (k, &i) in rest.iter().enumerate() {
            let (wk, vk) = (w[k], items[i].1);
            if wk > cap {
                continue;
            }
            let row = &mut take[k * (cap + 1)..(k + 1) * (cap + 1)];
            for c in (wk..=cap).rev() {
                let cand = best[c - wk] + vk;
                if cand > best[c] {
                    best[c] = cand;
                    row[c] = true;
                }
            }
        }
        Knapsack {
            zero,
            rest,
            w,
            unit,
            cap,
            take,
        }
    }

    /// The chosen item indices for `capacity` (at most the table's largest capacity is used).
    pub fn solve(&self, capacity: u64) -> Vec<usize> {
        let mut chosen = self.zero.clone();
        let mut c = ((capacity / self.unit) as usize).min(self.cap);
        for k in (0..self.rest.len()).rev() {
            if self.take[k * (self.cap + 1) + c] {
                chosen.push(self.rest[k]);
                c -= self.w[k];
            }
        }
        chosen.sort_unstable();
        chosen
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The solver state shared by the budgets of one graph.
pub struct Solver<'a> {
    g: &'a Graph,
    c: &'a Classified,
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
    costs: Vec<(f64, f64)>,
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
        // the recompute cost of every forward node, once
        let costs: Vec<(f64, f64)> = (0..c.n)
            .map(|i| {
                if c.tangents_closure[i] {
                    (0.0, 0.0)
                } else {
                    node_cost(g, model, NodeId(i as u32))
                }
            })
            .collect();
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
            let is_input = input_storage(self.g, self.c);
            let candidates: Vec<NodeId> = banned
                .into_iter()
                .filter(|b| {
                    let i = b.index();
                    self.c.dist_from_bw[i] < FAR
                        && !is_input[i]
                        && matches!(self.g.nodes[i].val, Val::Tensor(_) | Val::Tuple(_))
                        && !(self.c.kinds[i].random && self.opts.mincut.ban_random)
                        && (self.c.kinds[i].random || !self.c.kinds[i].effects)
                })
                .collect();
            let items: Vec<(u64, f64)> = candidates
                .iter()
                .map(|&b| {
                    let (secs, _) = self.costs[b.index()];
                    (self.g.node(b).val.bytes(), secs.max(1e-12))
                })
                .collect();
            // one table for every budget: the largest capacity asked below budget 1 is the scale
            let table = Knapsack::new(&items, self.scale);
            self.tables
                .insert(family.clone(), Rc::new((candidates, table)));
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
}

/// Peak repair: values added per round are chosen among this many, each evaluated in full.
const REPAIR_TRIES: usize = 1;
/// Peak repair: at most this many rounds.
const REPAIR_ROUNDS: usize = 24;
/// Refill after a peak repair: at most this many values are tried.
const REFILL_TRIES: usize = 16;

impl Solver<'_> {
    /// Evaluates `saved` (any order) with the solver's per-node costs.
    fn evaluate(&self, saved: &[NodeId], banned: usize) -> Solution {
        let mut saved = saved.to_vec();
        saved.sort_unstable();
        saved.dedup();
        evaluate_with(self.g, self.c, &|r| self.costs[r.index()], &saved, banned)
    }

    /// Peak repair: starting from `start`, saves more recomputed values while the activation
    /// bytes stay within `limit`, until the peak is at most `goal` or nothing lowers it. Each
    /// round ranks the candidates ([`Solver::repair_candidates`]) and evaluates in full the
    /// best [`REPAIR_TRIES`] alone and the [`batches`] of them, keeping the lowest peak.
    /// Saving more only removes recomputation, so the recompute cost never rises.
    pub fn repair(&self, start: &Solution, limit: u64, goal: u64) -> Solution {
        let mut cur = start.clone();
        for _ in 0..REPAIR_ROUNDS {
            if cur.peak_bytes <= goal {
                break;
            }
            let slack = limit.saturating_sub(cur.activation_bytes);
            if slack == 0 {
                break;
            }
            let ranked = self.repair_candidates(&cur, slack);
            let mut tries: Vec<Vec<NodeId>> =
                ranked.iter().take(REPAIR_TRIES).map(|&v| vec![v]).collect();
            tries.extend(batches(&ranked, &self.c.bytes, slack));
            let best = tries
                .into_iter()
                .map(|add| {
                    let mut saved = cur.saved.clone();
                    saved.extend(add);
                    self.evaluate(&saved, cur.banned)
                })
                .filter(|s| s.activation_bytes <= limit)
                .min_by_key(|s| (s.peak_bytes, s.activation_bytes));
            match best {
                Some(b) if b.peak_bytes < cur.peak_bytes => cur = b,
                _ => break,
            }
        }
        cur
    }

    /// After a [repair](Solver::repair): saves, one at a time, values that `others` (other
    /// solutions within the budget) save and `sol` recomputes, the most recompute time per
    /// byte first, each kept when it lowers the recompute time while the activation bytes stay
    /// within `limit` and the peak at most `goal` (at most [`REFILL_TRIES`] tried).
    pub fn refill(&self, sol: &Solution, others: &[&Solution], limit: u64, goal: u64) -> Solution {
        let mut recomputed = vec![false; self.c.n];
        sol.recomputed
            .iter()
            .for_each(|r| recomputed[r.index()] = true);
        let mut cands: Vec<NodeId> = others
            .iter()
            .flat_map(|o| o.saved.iter().copied())
            .filter(|v| recomputed[v.index()])
            .collect();
        cands.sort_unstable();
        cands.dedup();
        let per_byte = |v: &NodeId| {
            let b = self.c.bytes[v.index()].max(1) as f64;
            self.costs[v.index()].0 / b
        };
        cands.sort_by(|a, b| per_byte(b).total_cmp(&per_byte(a)));
        let is_input = input_storage(self.g, self.c);
        let mut cur = sol.clone();
        let mut tries = 0;
        for v in cands {
            let b = self.c.bytes[v.index()];
            if cur.saved.contains(&v) || (cur.activation_bytes + b > limit && !is_input[v.index()])
            {
                continue;
            }
            tries += 1;
            if tries > REFILL_TRIES {
                break;
            }
            let mut saved = cur.saved.clone();
            saved.push(v);
            let next = self.evaluate(&saved, cur.banned);
            if next.activation_bytes <= limit
                && next.peak_bytes <= goal
                && next.recompute_seconds < cur.recompute_seconds
            {
                cur = next;
            }
        }
        cur
    }

    /// The recomputed values alive at `sol`'s peak that fit in `slack` more activation bytes,
    /// best first: saving a value that many of the others alive at the peak lead to or come
    /// from cuts the recompute chain that made them alive early (e.g. a residual stream
    /// value: the layers below it are then rebuilt only for their own backward).
    fn repair_candidates(&self, sol: &Solution, slack: u64) -> Vec<NodeId> {
        let (g, c) = (self.g, self.c);
        // the schedule `evaluate` simulated, simulated again keeping what is alive at the peak
        let order = emit::sink_order(c, &emit::bw_order(g, c, &sol.saved));
        let fw = emit::forward_mask(c, &sol.saved);
        let profile = super::report::peak_live(c, &fw, &sol.saved, &order);
        let alive: Vec<NodeId> = profile
            .live
            .iter()
            .filter(|(v, bw)| *bw && !c.tangents_closure[v.index()])
            .map(|(v, _)| *v)
            .collect();
        let is_input = input_storage(g, c);
        let fits = |v: &NodeId| {
            let i = v.index();
            let b = c.bytes[i];
            !is_input[i] && b > 0 && b <= slack && matches!(g.nodes[i].val, Val::Tensor(_))
        };
        let Some(step) = profile.bw_step else {
            return Vec::new();
        };
        let score = chain_scores(c, &order[..=step], &alive);
        let mut ranked: Vec<(u64, NodeId)> = alive
            .iter()
            .zip(score)
            .filter(|(v, _)| fits(v))
            .map(|(v, s)| (s, *v))
            .collect();
        ranked.sort_by(|a, b| b.cmp(a));
        ranked.into_iter().map(|(_, v)| v).collect()
    }
}

/// Sets of candidates (`ranked` best first) to save together within `slack` bytes: the best
/// 4, and as many as fit; every second and every third of them, as many as fit (a
/// residual stream ranks as alternating values of its two adds per layer; one value per
/// layer cuts the chains). Saving a run at once spares a round per layer.
fn batches(ranked: &[NodeId], bytes: &[u64], slack: u64) -> Vec<Vec<NodeId>> {
    let prefix = |stride: usize| -> Vec<NodeId> {
        let mut total = 0u64;
        ranked
            .iter()
            .step_by(stride)
            .take_while(|v| {
                total += bytes[v.index()];
                total <= slack
            })
            .copied()
            .collect()
    };
    let mut out = Vec::new();
    let all = prefix(1);
    if all.len() > 4 {
        out.push(all[..4].to_vec());
    }
    for stride in [2, 3] {
        let p = prefix(stride);
        if p.len() > 1 {
            out.push(p);
        }
    }
    if all.len() > 1 {
        out.push(all);
    }
    out
}

/// Per value of `alive` (recomputed values alive at a peak): the bytes of the other values
/// of `alive` it dominates in the backward's demand up to the peak, i.e. that the nodes run
/// up to the peak (`prefix`, a topological order) need only through it. Saving it, they are
/// no longer rebuilt before the peak (a residual stream value dominates the layers below it;
/// a value inside a layer, whose siblings need the same inputs, dominates little).
fn chain_scores(c: &Classified, prefix: &[NodeId], alive: &[NodeId]) -> Vec<u64> {
    const ROOT: usize = usize::MAX;
    let mut pos = vec![usize::MAX; c.n];
    for (k, id) in prefix.iter().enumerate() {
        pos[id.index()] = k;
    }
    // immediate dominators in the reversed graph (users first), as prefix positions
    let len = prefix.len();
    let mut idom = vec![ROOT; len];
    let mut depth = vec![1usize; len];
    for k in (0..len).rev() {
        let i = prefix[k].index();
        if c.tangents_closure[i] {
            continue;
        }
        let mut dom: Option<usize> = None;
        for u in &c.users[i] {
            let p = pos[u.index()];
            if p == usize::MAX {
                continue;
            }
            dom = Some(match dom {
                None => p,
                Some(d) => lca(&idom, &depth, d, p),
            });
            if dom == Some(ROOT) {
                break;
            }
        }
        if let Some(d) = dom.filter(|&d| d != ROOT) {
            idom[k] = d;
            depth[k] = depth[d] + 1;
        }
    }
    let mut sub = vec![0u64; len];
    for v in alive {
        if let Some(&p) = pos.get(v.index()).filter(|&&p| p != usize::MAX) {
            sub[p] = c.bytes[v.index()];
        }
    }
    let own = sub.clone();
    for k in 0..len {
        if idom[k] != ROOT {
            sub[idom[k]] += sub[k];
        }
    }
    alive
        .iter()
        .map(|v| {
            let p = pos[v.index()];
            if p == usize::MAX {
                0
            } else {
                sub[p] - own[p]
            }
        })
        .collect()
}

/// The nearest common dominator of prefix positions `a` and `b` (`usize::MAX`: the root).
fn lca(idom: &[usize], depth: &[usize], mut a: usize, mut b: usize) -> usize {
    while a != b {
        if a == usize::MAX || b == usize::MAX {
            return usize::MAX;
        }
        if depth[a] >= depth[b] {
            a = idom[a];
        } else {
            b = idom[b];
        }
    }
    a
}

/// Among `sols` (not empty), the least recompute time among those within the budget's limit
/// `target` (ties: fewer activation bytes); if none fits, the fewest bytes.
fn best_fit(sols: &[Solution], target: u64) -> &Solution {
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

/// Solutions for `budgets` (any order) chosen together, so that peak memory does not rise as
/// the budget decreases where the budget allows it. Every candidate solution computed for any
/// of the budgets forms a pool (a solution found for a low budget also fits the higher ones).
/// Walking from the highest budget down, each budget takes, among the pool solutions that fit
/// it (activation bytes ≤ budget × A; where none does, those with the fewest bytes), the least
/// recompute time among those whose peak is not above the previous budget's choice.
///
/// With `strict` off ([`PeakRule::WithinBudget`](super::PeakRule)), when every fitting
/// solution raises the peak, the budget wins: fitting solutions are
/// [repaired](Solver::repair) (values saved within the budget until the peak is back down;
/// repaired solutions join the pool), else the fitting solution with the lowest peak is taken
/// (the peak rises there). With `strict` on ([`PeakRule::Strict`](super::PeakRule)), the
/// peak wins: the fewest bytes among the pool solutions not raising it, even above the budget.
/// Budget 1 is the runtime-optimised cut (its only candidate).
pub fn choose(solver: &mut Solver, budgets: &[f64], strict: bool) -> Result<Vec<(f64, Solution)>> {
    let mut sorted: Vec<f64> = budgets.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.dedup();
    let mut own: Vec<Solution> = Vec::new();
    let mut pool: Vec<Solution> = Vec::new();
    for &b in &sorted {
        let all = solver.solve_all(b)?;
        own.push(best_fit(&all, solver.target(b)).clone());
        pool.extend(all);
    }
    pool.sort_by(|a, b| a.saved.cmp(&b.saved));
    pool.dedup_by(|a, b| a.saved == b.saved);
    let min_act = pool.iter().map(|s| s.activation_bytes).min().unwrap_or(0);
    let targets: Vec<u64> = sorted.iter().map(|&b| solver.target(b)).collect();
    let fits = |j: usize, s: &Solution| s.activation_bytes <= targets[j].max(min_act);
    let cmp = |a: (f64, u64, u64), b: (f64, u64, u64)| {
        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
    };
    let key = |s: &Solution| (s.recompute_seconds, s.peak_bytes, s.activation_bytes);
    let mut chosen = Vec::with_capacity(sorted.len());
    let mut prev_peak = u64::MAX;
    for (j, own_j) in own.iter().enumerate() {
        let keeps_peak = pool
            .iter()
            .chain(std::iter::once(own_j))
            .filter(|s| fits(j, s) && s.peak_bytes <= prev_peak)
            .min_by(|a, b| cmp(key(a), key(b)));
        let pick = match keeps_peak {
            Some(s) => s.clone(),
            None if strict => pool
                .iter()
                .filter(|s| s.peak_bytes <= prev_peak)
                .min_by_key(|s| (s.activation_bytes, s.peak_bytes))
                .unwrap_or(own_j)
                .clone(),
            None => {
                let fitting: Vec<&Solution> = pool
                    .iter()
                    .chain(std::iter::once(own_j))
                    .filter(|s| fits(j, s))
                    .collect();
                let limit = targets[j].max(min_act);
                let repaired = repair_peak(solver, &fitting, limit, prev_peak);
                let pick = repaired.clone().unwrap_or_else(|| own_j.clone());
                pool.extend(repaired);
                pick
            }
        };
        prev_peak = if strict {
            prev_peak.min(pick.peak_bytes)
        } else {
            pick.peak_bytes
        };
        chosen.push(pick);
    }
    Ok(sorted.into_iter().zip(chosen).collect())
}

/// Where every solution within the budget raises the peak above `goal`: the one with the
/// fewest bytes (the most room to save more) [repaired](Solver::repair) within `limit`, and
/// [refilled](Solver::refill) when it reaches `goal`; among it and the lowest-peak one
/// unrepaired, the least recompute time among those not above `goal`, else the lowest peak
/// (then the least recompute time). `None` when nothing fits.
fn repair_peak(solver: &Solver, fitting: &[&Solution], limit: u64, goal: u64) -> Option<Solution> {
    let time = |s: &Solution| (s.recompute_seconds, s.activation_bytes);
    let by_time = |a: &&Solution, b: &&Solution| {
        time(a)
            .partial_cmp(&time(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let lowest = fitting
        .iter()
        .min_by(|a, b| a.peak_bytes.cmp(&b.peak_bytes).then(by_time(a, b)))?;
    let fewest = fitting.iter().min_by(|a, b| {
        a.activation_bytes
            .cmp(&b.activation_bytes)
            .then(by_time(a, b))
    })?;
    let repaired = solver.repair(fewest, limit, goal);
    let repaired = if repaired.peak_bytes <= goal {
        solver.refill(&repaired, fitting, limit, goal)
    } else {
        repaired
    };
    let tried = [(*lowest).clone(), repaired];
    let ok: Vec<&Solution> = tried.iter().filter(|s| s.peak_bytes <= goal).collect();
    let best = if ok.is_empty() {
        tried
            .iter()
            .min_by(|a, b| a.peak_bytes.cmp(&b.peak_bytes).then(by_time(a, b)))
    } else {
        ok.into_iter().min_by(by_time)
    };
    best.cloned()
}
