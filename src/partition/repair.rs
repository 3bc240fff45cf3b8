//! Stage 6 (policy), the peak repair: saving more values until the peak comes back down.
//!
//! Takes a [`Solver`] and a [`Solution`] whose peak is above a goal, an activation-bytes
//! limit and the goal; gives a solution within the limit with a lower peak where one is found
//! ([`Solver::repair`]), then with less recompute time where other candidates show how
//! ([`Solver::refill`]). Candidates are the recomputed values alive at the simulated peak
//! ([`memory`](super::memory)), those that cut a recompute chain first. The
//! [policy](super::policy) calls it where every candidate within a budget raises the peak.

use super::classify::Classified;
use super::memory::peak_live;
use super::schedule::{bw_order, forward_mask, sink_order};
use super::solution::Solution;
use super::solve::Solver;
use super::storage::input_storage;
use crate::ir::{NodeId, Val};

/// Peak repair: values added per round are chosen among this many, each evaluated in full.
const REPAIR_TRIES: usize = 1;
/// Peak repair: at most this many rounds.
const REPAIR_ROUNDS: usize = 24;
/// Refill after a peak repair: at most this many values are tried.
const REFILL_TRIES: usize = 16;

impl Solver<'_> {
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
        let is_input = input_storage(self.c);
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
        let order = sink_order(c, &bw_order(g, c, &sol.saved));
        let fw = forward_mask(c, &sol.saved);
        let profile = peak_live(c, &fw, &sol.saved, &order);
        let alive: Vec<NodeId> = profile
            .live
            .iter()
            .filter(|(v, bw)| *bw && !c.tangents_closure[v.index()])
            .map(|(v, _)| *v)
            .collect();
        let is_input = input_storage(c);
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
