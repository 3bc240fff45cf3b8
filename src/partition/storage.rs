//! Storage accounting: which storage each value lives in, and the bytes a saved set keeps.
//!
//! Takes the [classification](super::classify) (its view flags and primals) and a saved set;
//! gives per-node storage owners, whether a value's storage is a graph input's, and the saved
//! and activation bytes of the set (a storage shared by a value and its views counts once).

use super::classify::Classified;
use crate::ir::{Graph, NodeId};

/// Per node, the node that owns its storage: itself, or for a view (PyTorch's view ops) the
/// owner of its first input's storage.
pub fn storage_roots(c: &Classified) -> Vec<NodeId> {
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

/// Per node: whether it is a primal (a graph input).
fn primal_mask(c: &Classified) -> Vec<bool> {
    let mut primal = vec![false; c.n];
    c.primals.iter().for_each(|p| primal[p.index()] = true);
    primal
}

/// Per node: its storage is a graph input's (a primal, or a view of one, through views).
/// Saving such a value allocates nothing.
pub fn input_storage(c: &Classified) -> Vec<bool> {
    let primal = primal_mask(c);
    storage_roots(c).iter().map(|r| primal[r.index()]).collect()
}

/// (saved bytes, activation bytes) of a saved set, counting storage: values that share one
/// storage (a value and its views, or several views of one value) count it once, at its
/// owner's size; activation bytes leave out the storages of graph inputs.
pub fn storage_bytes(g: &Graph, c: &Classified, saved: &[NodeId]) -> (u64, u64) {
    let roots = storage_roots(c);
    let primal = primal_mask(c);
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
