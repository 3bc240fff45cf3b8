//! Large graphs, optimised region by region, each distinct region once.
//!
//! A transformer's layers are the same computation on other weights, and saturating a whole
//! deep graph at once costs more than linearly (the e-graph's working set grows with it). So a
//! graph of at least [`RegionOptions::min_graph_nodes`] nodes is [split](split) into regions:
//!
//! * the forward (the nodes that do not depend on a tangent) is cut where the fewest values
//!   cross, i.e. between sub-blocks, where only the residual stream is live, into pieces of at
//!   least [`RegionOptions::min_region_nodes`] forward nodes;
//! * every backward node joins the region of the forward values it reads (the latest one),
//!   or, when it reads none, the region of its users;
//! * small computations every region shares (masks, rotary tables: cones of at most
//!   [`RegionOptions::max_shared_cone`] nodes that depend on no tangent) are copied into each
//!   region that reads them, so that rules which look into them (HF's keep masks) still do.
//!
//! Each region becomes a graph of its own (the values it reads from elsewhere become its
//! placeholders, the values read elsewhere its outputs); regions that are the same graph up to
//! names are optimised once and the result is reused ([`RegionOptions::reuse`]); the results
//! are stitched back together, forward then backward, and duplicate calls merged. A rewrite
//! that needs nodes of two regions is not found; every rewrite made is one the whole-graph
//! optimiser could make, so the numbers are the same. Graphs with random ops or ops that may
//! have effects ([`crate::ops::has_effects`]) are not split (their order must stay as it is).
//!
//! ```
//! use fxsat::passes::regions::{split, RegionOptions};
//! let read = |p: &str| fxsat::io::read_file(p.as_ref()).unwrap();
//! let g = read("tests/fixtures/scale/llama16.joint.json.gz");
//! let regions = split(&g, &RegionOptions::default()).unwrap();
//! assert_eq!(regions.len(), 16); // a region per layer
//! let small = read("tests/fixtures/gpt2.joint.json");
//! assert!(split(&small, &RegionOptions::default()).is_none()); // under 2,000 nodes
//! ```

use crate::error::{Error, Result};
use crate::ir::{Graph, GraphKind, Node, NodeId, NodeKind};
use crate::ops::has_effects;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// When and how [`split`] cuts a graph into regions.
#[derive(Debug, Clone)]
pub struct RegionOptions {
    /// Graphs with fewer nodes are optimised whole (`usize::MAX`: never split).
    pub min_graph_nodes: usize,
    /// Fewest forward nodes in a region (smaller pieces join the next one).
    pub min_region_nodes: usize,
    /// Largest shared cone copied into every region that reads it.
    pub max_shared_cone: usize,
    /// Optimise regions that are the same graph up to names once.
    pub reuse: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        RegionOptions {
            min_graph_nodes: 2000,
            min_region_nodes: 32,
            max_shared_cone: 64,
            reuse: true,
        }
    }
}

impl RegionOptions {
    /// Never split: optimise every graph whole.
    pub fn off() -> Self {
        RegionOptions {
            min_graph_nodes: usize::MAX,
            ..RegionOptions::default()
        }
    }
}

/// One region of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Its nodes, in graph order (copies of shared nodes included).
    pub nodes: Vec<NodeId>,
    /// Values it reads from outside (graph inputs, other regions' outputs), in order of first
    /// use; they become the region graph's placeholders.
    pub inputs: Vec<NodeId>,
    /// Its values read outside it (by other regions or the graph's outputs), in graph order.
    pub outputs: Vec<NodeId>,
    /// Position of its forward piece in the forward (backward nodes run in reverse order).
    pub order: usize,
}

fn is_leaf(n: &Node) -> bool {
    matches!(n.kind, NodeKind::Placeholder | NodeKind::GetAttr(_))
}

fn inputs_of(g: &Graph) -> Vec<Vec<NodeId>> {
    g.nodes
        .iter()
        .map(|n| {
            let mut v = Vec::new();
            n.for_each_input(|x| {
                if !v.contains(&x) {
                    v.push(x)
                }
            });
            v
        })
        .collect()
}

/// Nodes whose cone (the node and its non-leaf ancestors) has at most `k` nodes, none of them
/// depending on a tangent, random or with effects.
fn shared_cones(g: &Graph, ins: &[Vec<NodeId>], dep: &[bool], k: usize) -> Vec<bool> {
    let n = g.nodes.len();
    let mut small = vec![false; n];
    let mut stamp = vec![usize::MAX; n];
    for i in 0..n {
        let node = &g.nodes[i];
        if is_leaf(node) || dep[i] || node.target().is_some_and(has_effects) {
            continue;
        }
        if ins[i]
            .iter()
            .any(|x| !is_leaf(g.node(*x)) && !small[x.index()])
        {
            continue;
        }
        let (mut stack, mut count) = (vec![i], 0);
        stamp[i] = i;
        while let Some(v) = stack.pop() {
            count += 1;
            if count > k {
                break;
            }
            for x in &ins[v] {
                let x = x.index();
                if stamp[x] != i && !is_leaf(&g.nodes[x]) {
                    stamp[x] = i;
                    stack.push(x);
                }
            }
        }
        small[i] = count <= k;
    }
    small
}

/// Cuts the forward nodes `fwd` (graph order) where the fewest forward values cross, into
/// pieces of at least `min` nodes; the piece of each.
fn forward_pieces(fwd: &[usize], users: &[Vec<usize>], n: usize, min: usize) -> Vec<usize> {
    let mut pos = vec![usize::MAX; n];
    fwd.iter().enumerate().for_each(|(p, &v)| pos[v] = p);
    // width[p]: values defined before position p and read at p or later
    let mut diff = vec![0i64; fwd.len() + 2];
    for (p, &v) in fwd.iter().enumerate() {
        let last = users[v]
            .iter()
            .filter(|u| pos[**u] != usize::MAX)
            .map(|u| pos[*u])
            .max();
        if let Some(l) = last.filter(|l| *l > p) {
            diff[p + 1] += 1;
            diff[l + 1] -= 1;
        }
    }
    let mut width = vec![0i64; fwd.len() + 1];
    let mut acc = 0;
    for p in 0..=fwd.len() {
        acc += diff[p];
        width[p] = acc;
    }
    let interior = 1..fwd.len();
    let least = interior.clone().map(|p| width[p]).min().unwrap_or(0);
    log::debug!(
        "regions: {} forward nodes, narrowest cut {least} values, {} cuts that narrow",
        fwd.len(),
        interior.clone().filter(|&p| width[p] == least).count()
    );
    let mut piece = vec![0usize; fwd.len()];
    let (mut start, mut k) = (0, 0);
    for p in interior {
        if width[p] == least && p - start >= min && fwd.len() - p >= min {
            k += 1;
            start = p;
        }
        piece[p] = k;
    }
    piece
}

/// Splits `g` into regions (see the module docs); `None` when it is optimised whole (too
/// small, random ops, or a single region).
pub fn split(g: &Graph, o: &RegionOptions) -> Option<Vec<Region>> {
    let n = g.nodes.len();
    if n < o.min_graph_nodes || g.nodes.iter().any(|x| x.target().is_some_and(has_effects)) {
        return None;
    }
    let ins = inputs_of(g);
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, xs) in ins.iter().enumerate() {
        xs.iter().for_each(|x| users[x.index()].push(i));
    }
    let dep = g.tangent_dependent();
    let shared = shared_cones(g, &ins, &dep, o.max_shared_cone);
    let own = |i: usize| !is_leaf(&g.nodes[i]) && !shared[i];
    // the forward: what runs before the first tangent-dependent call (a joint graph's
    // backward also holds calls that read no tangent, e.g. transposed weights)
    let first_bw = (0..n)
        .find(|&i| dep[i] && !is_leaf(&g.nodes[i]))
        .unwrap_or(n);
    let fwd: Vec<usize> = (0..first_bw).filter(|&i| own(i) && !dep[i]).collect();
    let piece = forward_pieces(&fwd, &users, n, o.min_region_nodes.max(1));
    let count = piece.last().map_or(0, |k| k + 1);
    if count < 2 {
        return None;
    }
    let mut region = vec![usize::MAX; n];
    fwd.iter().zip(&piece).for_each(|(&v, &k)| region[v] = k);
    let late: Vec<usize> = (first_bw..n).filter(|&i| own(i)).collect();
    assign_backward(&ins, &users, &late, &mut region, count);
    Some(build_regions(g, &ins, &users, &shared, &region, count))
}

/// Backward nodes `bwd` (graph order): the latest region among the values they read that
/// have one (forward values, or backward values read no tangent); else (reverse order) the
/// latest among their users'; else the latest among their inputs'.
fn assign_backward(
    ins: &[Vec<NodeId>],
    users: &[Vec<usize>],
    bwd: &[usize],
    region: &mut [usize],
    count: usize,
) {
    let latest = |it: &mut dyn Iterator<Item = usize>, region: &[usize]| {
        it.filter(|&x| region[x] != usize::MAX)
            .map(|x| region[x])
            .max()
    };
    let mut forward = vec![false; region.len()];
    (0..region.len())
        .filter(|&i| region[i] != usize::MAX)
        .for_each(|i| forward[i] = true);
    for &b in bwd {
        let fw_inputs = &mut ins[b].iter().map(|x| x.index()).filter(|&x| forward[x]);
        if let Some(r) = latest(fw_inputs, region) {
            region[b] = r;
        }
    }
    for &b in bwd.iter().rev() {
        if region[b] == usize::MAX {
            if let Some(r) = latest(&mut users[b].iter().copied(), region) {
                region[b] = r;
            }
        }
    }
    for &b in bwd {
        if region[b] == usize::MAX {
            let r = latest(&mut ins[b].iter().map(|x| x.index()), region);
            region[b] = r.unwrap_or(count - 1);
        }
    }
}

fn build_regions(
    g: &Graph,
    ins: &[Vec<NodeId>],
    users: &[Vec<usize>],
    shared: &[bool],
    region: &[usize],
    count: usize,
) -> Vec<Region> {
    let n = g.nodes.len();
    let graph_outputs: HashSet<usize> = g.outputs.iter().flatten().map(|x| x.index()).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    (0..n)
        .filter(|&i| region[i] != usize::MAX)
        .for_each(|i| members[region[i]].push(i));
    // shared values the graph returns are computed (and returned) by the first region
    let returned_shared: Vec<usize> = graph_outputs
        .iter()
        .copied()
        .filter(|&i| shared[i])
        .collect();
    let mut out = Vec::with_capacity(count);
    // `mark[i] == r`: node i is in region r; `input[i] == r`: an input of region r
    let (mut mark, mut input) = (vec![usize::MAX; n], vec![usize::MAX; n]);
    for (r, mut own) in members.into_iter().enumerate() {
        own.iter().for_each(|&i| mark[i] = r);
        let mut stack: Vec<usize> = own
            .iter()
            .flat_map(|&i| ins[i].iter().map(|x| x.index()))
            .collect();
        if r == 0 {
            stack.extend(&returned_shared);
        }
        while let Some(x) = stack.pop() {
            if shared[x] && mark[x] != r {
                mark[x] = r;
                own.push(x);
                stack.extend(ins[x].iter().map(|y| y.index()));
            }
        }
        own.sort_unstable();
        let nodes: Vec<NodeId> = own.iter().map(|&i| NodeId(i as u32)).collect();
        let mut inputs = Vec::new();
        for &v in &nodes {
            for x in &ins[v.index()] {
                if mark[x.index()] != r && input[x.index()] != r {
                    input[x.index()] = r;
                    inputs.push(*x);
                }
            }
        }
        let outputs = nodes
            .iter()
            .copied()
            .filter(|v| {
                let i = v.index();
                (region[i] == r
                    && (graph_outputs.contains(&i) || users[i].iter().any(|&u| region[u] != r)))
                    || (r == 0 && shared[i] && graph_outputs.contains(&i))
            })
            .collect();
        out.push(Region {
            nodes,
            inputs,
            outputs,
            order: r,
        });
    }
    out
}

/// The region as a graph of its own: its inputs as placeholders (same names and values), its
/// nodes, and its outputs.
pub fn region_graph(g: &Graph, r: &Region) -> Graph {
    let mut local: HashMap<NodeId, NodeId> = HashMap::new();
    let mut nodes = Vec::with_capacity(r.inputs.len() + r.nodes.len());
    for &x in &r.inputs {
        local.insert(x, NodeId(nodes.len() as u32));
        let src = g.node(x);
        nodes.push(Node {
            name: src.name.clone(),
            kind: NodeKind::Placeholder,
            val: src.val.clone(),
        });
    }
    for &v in &r.nodes {
        let node = g.node(v).map_inputs(|x| local[&x]);
        local.insert(v, NodeId(nodes.len() as u32));
        nodes.push(node);
    }
    Graph {
        name: format!("{}.region{}", g.name, r.order),
        kind: GraphKind::Forward,
        num_fwd_outputs: None,
        nodes,
        outputs: r.outputs.iter().map(|o| Some(local[o])).collect(),
    }
}

/// A hash equal for region graphs that are the same graph up to node names (see
/// [`same_structure`]).
pub fn structure_hash(g: &Graph) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    for n in &g.nodes {
        n.structural_hash().hash(&mut h);
    }
    g.outputs.hash(&mut h);
    h.finish()
}

/// Whether two graphs are the same up to node names.
pub fn same_structure(a: &Graph, b: &Graph) -> bool {
    a.outputs == b.outputs
        && a.nodes.len() == b.nodes.len()
        && a.nodes
            .iter()
            .zip(&b.nodes)
            .all(|(x, y)| x.same_computation(y))
}

/// Where a stitched value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A node of the stitched list.
    Node(usize),
    /// The same value as this original node (a region returned one of its inputs).
    Alias(NodeId),
}

/// One region's optimised graph placed in the whole: `result` computes `region`'s outputs
/// from its inputs; `names` renames `result`'s nodes (the representative's original names
/// to this region's).
pub struct Placed<'a> {
    /// The region.
    pub region: &'a Region,
    /// Its optimised graph (placeholders = the region's inputs, outputs = its outputs).
    pub result: &'a Graph,
    /// Node names of the graph `result` was optimised from → this region's names.
    pub names: HashMap<String, String>,
}

/// Puts the optimised regions back into one graph: `g`'s placeholders, then every region's
/// nodes, forward nodes in region order, then backward nodes in reverse region order; `g`'s
/// outputs. An error when the regions' results depend on each other in a cycle.
pub fn stitch(g: &Graph, placed: &[Placed<'_>]) -> Result<Graph> {
    let n = g.nodes.len();
    let mut all: Vec<Node> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new(); // (region order, local index)
    let mut leaf_at = vec![usize::MAX; n];
    for (i, node) in g.nodes.iter().enumerate().filter(|(_, x)| is_leaf(x)) {
        leaf_at[i] = all.len();
        all.push(node.clone());
        origin.push((0, i));
    }
    let leaves = all.len();
    // first pass: where every region's result nodes and outputs go
    let mut produced: HashMap<NodeId, Source> = HashMap::new();
    let mut bases = Vec::with_capacity(placed.len());
    for p in placed {
        let base = all.len();
        bases.push(base);
        let np = p.region.inputs.len();
        for (j, node) in p.result.nodes.iter().enumerate().skip(np) {
            let name = p.names.get(&node.name).unwrap_or(&node.name).clone();
            all.push(Node {
                name,
                ..node.clone()
            });
            origin.push((p.region.order, j));
        }
        for (o, r) in p.region.outputs.iter().zip(&p.result.outputs) {
            let r = r.ok_or_else(|| Error::Internal("a region lost an output".into()))?;
            let src = if r.index() < np {
                Source::Alias(p.region.inputs[r.index()])
            } else {
                Source::Node(base + r.index() - np)
            };
            produced.insert(*o, src);
        }
    }
    let resolve = |mut x: NodeId| -> Result<usize> {
        for _ in 0..=n {
            if leaf_at[x.index()] != usize::MAX {
                return Ok(leaf_at[x.index()]);
            }
            match produced.get(&x) {
                Some(Source::Node(k)) => return Ok(*k),
                Some(Source::Alias(y)) => x = *y,
                None => break,
            }
        }
        Err(Error::Internal(format!(
            "region stitching: no region computes `{}`",
            g.node(x).name
        )))
    };
    // second pass: arguments
    for (p, &base) in placed.iter().zip(&bases) {
        let np = p.region.inputs.len();
        let at: Vec<u32> = p
            .region
            .inputs
            .iter()
            .map(|&x| resolve(x).map(|k| k as u32))
            .collect::<Result<_>>()?;
        for node in &mut all[base..base + p.result.nodes.len() - np] {
            node.remap_inputs(|x| match at.get(x.index()) {
                Some(&k) => NodeId(k),
                None => NodeId((base + x.index() - np) as u32),
            });
        }
    }
    let outputs: Vec<Option<usize>> = g
        .outputs
        .iter()
        .map(|o| o.map(&resolve).transpose())
        .collect::<Result<_>>()?;
    let order = schedule(&all, &origin, leaves)?;
    Ok(assemble(g, all, &order, &outputs))
}

/// A topological order of `all` (leaves first): forward nodes by (region, local index), then
/// backward nodes by (reverse region, local index).
fn schedule(all: &[Node], origin: &[(usize, usize)], leaves: usize) -> Result<Vec<usize>> {
    let m = all.len();
    let mut dep = vec![false; m];
    let mut indeg = vec![0usize; m];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); m];
    for (i, node) in all.iter().enumerate() {
        dep[i] = node.kind == NodeKind::Placeholder && node.name.starts_with("tangents");
        node.for_each_input(|x| {
            indeg[i] += 1;
            users[x.index()].push(i);
        });
    }
    // tangent dependence in any topological order first
    let mut ready: Vec<usize> = (0..m).filter(|&i| indeg[i] == 0).collect();
    let mut left = indeg.clone();
    let mut seen = 0;
    while let Some(v) = ready.pop() {
        seen += 1;
        for &u in &users[v] {
            dep[u] |= dep[v];
            left[u] -= 1;
            if left[u] == 0 {
                ready.push(u);
            }
        }
    }
    if seen != m {
        return Err(Error::Internal(
            "region stitching: the optimised regions depend on each other in a cycle".into(),
        ));
    }
    let last = origin.iter().map(|o| o.0).max().unwrap_or(0);
    let key = |i: usize| {
        let (r, j) = origin[i];
        let r = if dep[i] { last - r } else { r };
        std::cmp::Reverse((i >= leaves, dep[i], r, j, i))
    };
    let mut heap: BinaryHeap<_> = (0..m).filter(|&i| indeg[i] == 0).map(key).collect();
    let mut order = Vec::with_capacity(m);
    while let Some(std::cmp::Reverse((.., v))) = heap.pop() {
        order.push(v);
        for &u in &users[v] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                heap.push(key(u));
            }
        }
    }
    Ok(order)
}

/// The stitched graph in `order`, names made unique, with `g`'s name, kind and outputs.
fn assemble(g: &Graph, all: Vec<Node>, order: &[usize], outputs: &[Option<usize>]) -> Graph {
    let mut at = vec![0u32; all.len()];
    order
        .iter()
        .enumerate()
        .for_each(|(k, &i)| at[i] = k as u32);
    let mut taken: HashSet<String> = HashSet::with_capacity(all.len());
    let mut nodes = Vec::with_capacity(all.len());
    let mut all: Vec<Option<Node>> = all.into_iter().map(Some).collect();
    for &i in order {
        let mut node = all[i].take().expect("each node once");
        node.remap_inputs(|x| NodeId(at[x.index()]));
        if !taken.insert(node.name.clone()) {
            let mut k = 1;
            while !taken.insert(format!("{}_{k}", node.name)) {
                k += 1;
            }
            node.name = format!("{}_{k}", node.name);
        }
        nodes.push(node);
    }
    Graph {
        name: g.name.clone(),
        kind: g.kind,
        num_fwd_outputs: g.num_fwd_outputs,
        nodes,
        outputs: outputs.iter().map(|o| o.map(|i| NodeId(at[i]))).collect(),
    }
}
