//! Stage 2 (the algorithm), max-flow / min-cut by Dinic's algorithm on flat arrays (edge
//! pairs `e`, `e ^ 1`): takes a network with integer capacities, gives the maximum flow and
//! the source side of a minimum cut.
//!
//! Among tied minimum cuts, [`FlowNet::min_cut`] returns the one closest to the sink (the
//! source side is every vertex that cannot reach the sink in the residual graph), which is
//! what networkx and PyTorch's partitioner return.
//!
//! ```
//! use fxsat::partition::maxflow::FlowNet;
//! let mut f = FlowNet::new(4);
//! f.add_edge(0, 1, 3);
//! f.add_edge(0, 2, 2);
//! f.add_edge(1, 3, 2);
//! f.add_edge(2, 3, 3);
//! f.add_edge(1, 2, 1);
//! assert_eq!(f.max_flow(0, 3), 5);
//! ```

const NONE: u32 = u32::MAX;

/// A flow network with integer capacities.
#[derive(Debug, Clone, Default)]
pub struct FlowNet {
    head: Vec<u32>,
    next: Vec<u32>,
    to: Vec<u32>,
    cap: Vec<i64>,
    orig: Vec<i64>,
}

impl FlowNet {
    /// A network of `n` vertices and no edges.
    pub fn new(n: usize) -> Self {
        FlowNet {
            head: vec![NONE; n],
            ..Default::default()
        }
    }

    /// Number of vertices.
    pub fn vertices(&self) -> usize {
        self.head.len()
    }

    /// Number of (forward) edges.
    pub fn edges(&self) -> usize {
        self.to.len() / 2
    }

    /// Adds an edge `u → v` of capacity `c` (≥ 0); returns its index.
    pub fn add_edge(&mut self, u: usize, v: usize, c: i64) -> usize {
        let e = self.to.len();
        for (from, to, c) in [(u, v, c), (v, u, 0)] {
            self.to.push(to as u32);
            self.cap.push(c);
            self.orig.push(c);
            self.next.push(self.head[from]);
            self.head[from] = self.to.len() as u32 - 1;
        }
        e / 2
    }

    /// Tail and head of edge `k` (as returned by [`add_edge`](Self::add_edge)).
    pub fn endpoints(&self, k: usize) -> (usize, usize) {
        (self.to[2 * k + 1] as usize, self.to[2 * k] as usize)
    }

    /// Capacity of edge `k`.
    pub fn capacity(&self, k: usize) -> i64 {
        self.orig[2 * k]
    }

    /// Computes a maximum flow from `s` to `t` (capacities become residuals); returns its value.
    pub fn max_flow(&mut self, s: usize, t: usize) -> i64 {
        let n = self.head.len();
        let mut total: i64 = 0;
        let mut level = vec![-1i32; n];
        let mut it = vec![NONE; n];
        let mut queue = Vec::with_capacity(n);
        let mut path: Vec<u32> = Vec::new();
        loop {
            level.iter_mut().for_each(|l| *l = -1);
            level[s] = 0;
            queue.clear();
            queue.push(s as u32);
            let mut qi = 0;
            while qi < queue.len() {
                let u = queue[qi] as usize;
                qi += 1;
                let mut e = self.head[u];
                while e != NONE {
                    let v = self.to[e as usize] as usize;
                    if self.cap[e as usize] > 0 && level[v] < 0 {
                        level[v] = level[u] + 1;
                        queue.push(v as u32);
                    }
                    e = self.next[e as usize];
                }
            }
            if level[t] < 0 {
                return total;
            }
            it.copy_from_slice(&self.head);
            path.clear();
            let mut u = s;
            loop {
                if u == t {
                    let f = path
                        .iter()
                        .map(|&e| self.cap[e as usize])
                        .min()
                        .unwrap_or(0);
                    let mut first_sat = None;
                    for (k, &e) in path.iter().enumerate() {
                        self.cap[e as usize] -= f;
                        self.cap[(e ^ 1) as usize] += f;
                        if first_sat.is_none() && self.cap[e as usize] == 0 {
                            first_sat = Some(k);
                        }
                    }
                    total = total.saturating_add(f);
                    let k = first_sat.unwrap_or(0);
                    path.truncate(k);
                    u = if k == 0 {
                        s
                    } else {
                        self.to[path[k - 1] as usize] as usize
                    };
                    continue;
                }
                let mut e = it[u];
                while e != NONE {
                    let v = self.to[e as usize] as usize;
                    if self.cap[e as usize] > 0 && level[v] == level[u] + 1 {
                        break;
                    }
                    e = self.next[e as usize];
                }
                it[u] = e;
                if e == NONE {
                    if u == s {
                        break;
                    }
                    level[u] = -1;
                    let back = path.pop().expect("a non-source vertex has a path edge");
                    u = self.to[(back ^ 1) as usize] as usize;
                    it[u] = self.next[it[u] as usize];
                    continue;
                }
                path.push(e);
                u = self.to[e as usize] as usize;
            }
        }
    }

    /// After [`max_flow`](Self::max_flow): `true` for the vertices on the source side of the
    /// minimum cut closest to the sink (those that cannot reach `t` in the residual graph).
    pub fn min_cut(&self, t: usize) -> Vec<bool> {
        let n = self.head.len();
        let mut reaches = vec![false; n];
        reaches[t] = true;
        let mut stack = vec![t];
        while let Some(v) = stack.pop() {
            let mut e = self.head[v];
            while e != NONE {
                // e: v → w; its reverse e^1 is w → v
                let w = self.to[e as usize] as usize;
                if !reaches[w] && self.cap[(e ^ 1) as usize] > 0 {
                    reaches[w] = true;
                    stack.push(w);
                }
                e = self.next[e as usize];
            }
        }
        reaches.iter().map(|&r| !r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::FlowNet;

    #[test]
    fn classic_network() {
        // CLRS figure 26.1: max flow 23
        let mut f = FlowNet::new(6);
        for (u, v, c) in [
            (0, 1, 16),
            (0, 2, 13),
            (1, 3, 12),
            (2, 1, 4),
            (2, 4, 14),
            (3, 2, 9),
            (3, 5, 20),
            (4, 3, 7),
            (4, 5, 4),
        ] {
            f.add_edge(u, v, c);
        }
        assert_eq!(f.max_flow(0, 5), 23);
        let side = f.min_cut(5);
        assert!(side[0] && !side[5]);
        let cut: i64 = (0..f.edges())
            .filter(|&k| {
                let (u, v) = f.endpoints(k);
                side[u] && !side[v]
            })
            .map(|k| f.capacity(k))
            .sum();
        assert_eq!(cut, 23);
    }

    #[test]
    fn tie_picks_cut_closest_to_sink() {
        // s → a → t, both capacity 1: the cut is a → t
        let mut f = FlowNet::new(3);
        f.add_edge(0, 1, 1);
        let last = f.add_edge(1, 2, 1);
        assert_eq!(f.max_flow(0, 2), 1);
        let side = f.min_cut(2);
        assert!(side[0] && side[1] && !side[2]);
        assert_eq!(f.endpoints(last), (1, 2));
    }
}
