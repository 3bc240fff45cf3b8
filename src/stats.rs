//! `fxsat stats`: what a graph contains.

use crate::cost::Model;
use crate::egraph::{build, BuildOptions};
use crate::error::Result;
use crate::ir::{Graph, NodeKind};
use crate::ops::table;
use std::collections::BTreeMap;
use std::fmt;

/// Summary of a graph.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Graph name.
    pub name: String,
    /// Graph kind.
    pub kind: &'static str,
    /// Placeholders and get_attrs.
    pub inputs: usize,
    /// Call nodes.
    pub calls: usize,
    /// Outputs.
    pub outputs: usize,
    /// Calls per target.
    pub ops: BTreeMap<String, usize>,
    /// Calls whose target the op table does not know (kept opaque).
    pub unknown: BTreeMap<String, usize>,
    /// Total estimated flops.
    pub flops: f64,
    /// Total estimated bytes moved.
    pub bytes: f64,
    /// Cost-model seconds (sum over nodes).
    pub seconds: f64,
}

/// Computes [`Stats`] of a graph.
pub fn stats(graph: &Graph, model: &Model, trust_meta: bool, file: &str) -> Result<Stats> {
    let built = build(
        graph,
        &BuildOptions {
            trust_meta,
            file: file.into(),
        },
    )?;
    let eg = &built.egraph;
    let mut s = Stats {
        name: graph.name.clone(),
        kind: graph.kind.as_str(),
        inputs: 0,
        calls: 0,
        outputs: graph.outputs.len(),
        ops: BTreeMap::new(),
        unknown: BTreeMap::new(),
        flops: 0.0,
        bytes: 0.0,
        seconds: 0.0,
    };
    let mut seen = std::collections::HashSet::new();
    for (node, &(id, _)) in graph.nodes.iter().zip(&built.nodes) {
        match &node.kind {
            NodeKind::Placeholder | NodeKind::GetAttr(_) => s.inputs += 1,
            NodeKind::Call { target, .. } => {
                s.calls += 1;
                *s.ops.entry(target.clone()).or_default() += 1;
                if target != "getitem" && table().by_target(target).is_none() {
                    *s.unknown.entry(target.clone()).or_default() += 1;
                }
                let id = eg.find(id);
                if seen.insert(id) {
                    if let Some(n) = eg[id].nodes.first() {
                        let w = model.work(eg, id, n);
                        s.flops += w.flops;
                        s.bytes += w.bytes;
                        s.seconds += model.node_cost(eg, id, n);
                    }
                }
            }
        }
    }
    Ok(s)
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph: {} ({})", self.name, self.kind)?;
        writeln!(
            f,
            "nodes: {} inputs, {} calls, {} outputs",
            self.inputs, self.calls, self.outputs
        )?;
        writeln!(
            f,
            "flops: {:.4e}  bytes: {:.4e}  est. time: {:.4e} s",
            self.flops, self.bytes, self.seconds
        )?;
        writeln!(
            f,
            "unknown ops (kept opaque): {}",
            if self.unknown.is_empty() {
                "none".to_string()
            } else {
                self.unknown.len().to_string()
            }
        )?;
        for (t, n) in &self.unknown {
            writeln!(f, "  {n:>6}  {t}")?;
        }
        writeln!(f, "ops:")?;
        let mut ops: Vec<_> = self.ops.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (t, n) in ops {
            writeln!(f, "  {n:>6}  {t}")?;
        }
        Ok(())
    }
}
