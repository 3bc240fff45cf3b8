//! Stage 6, policy: which candidate each budget takes, across budgets.
//!
//! Takes a [`Solver`] (the candidates of every budget) and the asked budgets with a
//! [`PeakRule`]; gives one [`Solution`] per budget. Solved together, the budgets of a
//! 20-point grid ([`sweep_budgets`]), 0 and the asked one share one pool of candidates, and
//! walking down from budget 1 the peak memory is kept from rising where the budget allows
//! ([`choose`]); where every candidate within a budget raises the peak, one is
//! [repaired](super::repair). With [`PeakRule::Off`] each budget takes its own best fit.

use super::options::PeakRule;
use super::solution::Solution;
use super::solve::{best_fit, Solver};
use crate::error::Result;
use std::cmp::Ordering;

/// The 20 budgets of a sweep: 1.0, 0.95, ..., 0.05.
pub fn sweep_budgets() -> Vec<f64> {
    (0..20).map(|k| 1.0 - k as f64 * 0.05).collect()
}

/// The choice at `budget` under `rule` (what [`partition`](super::partition) saves): budget 1
/// is the runtime-optimised cut; with [`PeakRule::Off`] the budget is solved alone; else it is
/// chosen together with the [`sweep_budgets`] and 0.
pub fn choose_at(solver: &mut Solver, budget: f64, rule: PeakRule) -> Result<Solution> {
    if budget >= 1.0 {
        return Ok(solver.runtime_optimized.clone());
    }
    if rule == PeakRule::Off {
        return solver.solve(budget);
    }
    let mut budgets = sweep_budgets();
    budgets.push(0.0);
    budgets.push(budget);
    let all = choose(solver, &budgets, rule == PeakRule::Strict)?;
    Ok(all
        .into_iter()
        .find(|(b, _)| *b == budget)
        .map(|(_, s)| s)
        .expect("the asked budget is among the solved ones"))
}

/// The choices at the [`sweep_budgets`] and 0 under `rule` (what [`sweep`](super::sweep)
/// reports), highest budget first.
pub fn choose_sweep(solver: &mut Solver, rule: PeakRule) -> Result<Vec<(f64, Solution)>> {
    let mut budgets = sweep_budgets();
    budgets.push(0.0);
    if rule != PeakRule::Off {
        choose(solver, &budgets, rule == PeakRule::Strict)
    } else {
        budgets
            .iter()
            .map(|&b| solver.solve(b).map(|s| (b, s)))
            .collect()
    }
}

/// Solutions for `budgets` (any order) chosen together, so that peak memory does not rise as
/// the budget decreases where the budget allows it. Every candidate solution computed for any
/// of the budgets forms a pool (a solution found for a low budget also fits the higher ones).
/// Walking from the highest budget down, each budget takes, among the pool solutions that fit
/// it (activation bytes ≤ budget × A; where none does, those with the fewest bytes), the least
/// recompute time among those whose peak is not above the previous budget's choice.
///
/// With `strict` off ([`PeakRule::WithinBudget`]), when every fitting
/// solution raises the peak, the budget wins: fitting solutions are
/// [repaired](Solver::repair) (values saved within the budget until the peak is back down;
/// repaired solutions join the pool), else the fitting solution with the lowest peak is taken
/// (the peak rises there). With `strict` on ([`PeakRule::Strict`]), the
/// peak wins: the fewest bytes among the pool solutions not raising it, even above the budget.
/// Budget 1 is the runtime-optimised cut (its only candidate).
pub fn choose(solver: &mut Solver, budgets: &[f64], strict: bool) -> Result<Vec<(f64, Solution)>> {
    let mut sorted: Vec<f64> = budgets.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.dedup();
    let (own, mut pool) = candidate_pool(solver, &sorted)?;
    let min_act = pool.iter().map(|s| s.activation_bytes).min().unwrap_or(0);
    let mut chosen = Vec::with_capacity(sorted.len());
    let mut prev_peak = u64::MAX;
    for (&b, own_b) in sorted.iter().zip(&own) {
        let limit = solver.target(b).max(min_act);
        let pick = pick(solver, &mut pool, own_b, limit, prev_peak, strict);
        prev_peak = if strict {
            prev_peak.min(pick.peak_bytes)
        } else {
            pick.peak_bytes
        };
        chosen.push(pick);
    }
    Ok(sorted.into_iter().zip(chosen).collect())
}

/// Per budget of `sorted`, its own best fit; and the pool: every candidate of every budget,
/// one per saved set.
fn candidate_pool(solver: &mut Solver, sorted: &[f64]) -> Result<(Vec<Solution>, Vec<Solution>)> {
    let mut own: Vec<Solution> = Vec::new();
    let mut pool: Vec<Solution> = Vec::new();
    for &b in sorted {
        let all = solver.solve_all(b)?;
        own.push(best_fit(&all, solver.target(b)).clone());
        pool.extend(all);
    }
    pool.sort_by(|a, b| a.saved.cmp(&b.saved));
    pool.dedup_by(|a, b| a.saved == b.saved);
    Ok((own, pool))
}

/// One budget's pick (see [`choose`]): among the pool and its `own` best fit, those within
/// `limit` activation bytes and not above `prev_peak`, the least recompute time (then peak,
/// then bytes); else, with `strict`, the fewest bytes not above `prev_peak`; else a
/// [repair](repair_peak) (which joins the pool), or `own`.
fn pick(
    solver: &Solver,
    pool: &mut Vec<Solution>,
    own: &Solution,
    limit: u64,
    prev_peak: u64,
    strict: bool,
) -> Solution {
    let fits = |s: &Solution| s.activation_bytes <= limit;
    let keeps_peak = pool
        .iter()
        .chain(std::iter::once(own))
        .filter(|s| fits(s) && s.peak_bytes <= prev_peak)
        .min_by(|a, b| by_time_peak_bytes(a, b));
    match keeps_peak {
        Some(s) => s.clone(),
        None if strict => pool
            .iter()
            .filter(|s| s.peak_bytes <= prev_peak)
            .min_by_key(|s| (s.activation_bytes, s.peak_bytes))
            .unwrap_or(own)
            .clone(),
        None => {
            let fitting: Vec<&Solution> = pool
                .iter()
                .chain(std::iter::once(own))
                .filter(|s| fits(s))
                .collect();
            let repaired = repair_peak(solver, &fitting, limit, prev_peak);
            let pick = repaired.clone().unwrap_or_else(|| own.clone());
            pool.extend(repaired);
            pick
        }
    }
}

/// Orders by (recompute seconds, peak bytes, activation bytes).
fn by_time_peak_bytes(a: &Solution, b: &Solution) -> Ordering {
    let key = |s: &Solution| (s.recompute_seconds, s.peak_bytes, s.activation_bytes);
    key(a).partial_cmp(&key(b)).unwrap_or(Ordering::Equal)
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
