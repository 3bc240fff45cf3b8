//! Stage 3, the knapsack: an exact 0/1 knapsack over the values a cut bans.
//!
//! Takes items (bytes, cost-model seconds of recomputing them) and a capacity in bytes; gives
//! the items to keep saved (the most recompute time within the capacity). The solver builds
//! one [`Knapsack`] table per cut family and asks it for every budget's capacity.

/// Solves a 0/1 knapsack: `items` are (weight, value); returns the chosen indices, maximising
/// the total value with total weight ≤ `capacity`. Zero-weight items are always taken.
pub fn knapsack(items: &[(u64, f64)], capacity: u64) -> Vec<usize> {
    Knapsack::new(items, capacity).solve(capacity)
}

/// Table cells above which the weight unit is coarsened (doubled).
const MAX_CELLS: u128 = 2_000_000;

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
        let unit = weight_unit(items, &rest, max_capacity);
        let cap = (max_capacity / unit) as usize;
        let w: Vec<usize> = rest
            .iter()
            .map(|&i| items[i].0.div_ceil(unit) as usize)
            .collect();
        let values: Vec<f64> = rest.iter().map(|&i| items[i].1).collect();
        let take = fill_table(&w, &values, cap);
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

/// The weight unit: the gcd of the `rest` items' weights, doubled until the table for
/// `max_capacity` has at most [`MAX_CELLS`] cells.
fn weight_unit(items: &[(u64, f64)], rest: &[usize], max_capacity: u64) -> u64 {
    let mut unit = rest.iter().fold(0u64, |a, &i| gcd(a, items[i].0)).max(1);
    let cells = |unit: u64| (max_capacity / unit + 1) as u128 * rest.len() as u128;
    while cells(unit) > MAX_CELLS {
        unit *= 2;
    }
    unit
}

/// The dynamic programme: per item `k` (weight `w[k]` units, value `values[k]`) and capacity
/// `c ≤ cap`, whether the item is in the optimum of the first `k + 1` items.
fn fill_table(w: &[usize], values: &[f64], cap: usize) -> Vec<bool> {
    let mut best = vec![0.0f64; cap + 1];
    let mut take = vec![false; w.len() * (cap + 1)];
    for (k, (&wk, &vk)) in w.iter().zip(values).enumerate() {
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
    take
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
