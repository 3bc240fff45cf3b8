//! The saturated e-graph in the egraph-serialize JSON format (the format extraction-gym and
//! e-graph visualisers read), a [`Problem`] made back from such a dump, and a Graphviz
//! picture of a small e-graph.
//!
//! Ids: class `N` is the e-graph's class id `N`; its nodes are `N.0`, `N.1`, … in the class's
//! order. A child is named by the first node of its class (`M.0`), as egraph-serialize's own
//! `from_egg` does: readers map a child node to its class. A node's `cost` is the cost
//! model's seconds for that node alone (what fxsat's extractors sum); a node that must never
//! be chosen (infinite cost) gets `f64::MAX`. `class_data` gives each class's value type
//! (dtype and shape) as `type`. `root_eclasses` are the outputs' and effects' classes.

use super::problem::{self, Problem};
use super::Costs;
use crate::cost::Model;
use crate::egraph::FxEGraph;
use crate::error::{Error, Result};
use egg::{Id, Language};
use egraph_serialize::{ClassData, ClassId, EGraph, Node, NodeId};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The cost written for a node that must never be chosen.
pub const NEVER: f64 = f64::MAX;

/// The whole e-graph, serialized (classes in id order).
pub fn serialize(eg: &FxEGraph, model: &Model, roots: &[Id]) -> EGraph {
    let costs = Costs::new(eg, model);
    let mut out = EGraph::default();
    let mut ids: Vec<Id> = eg.classes().map(|c| c.id).collect();
    ids.sort();
    for &id in &ids {
        for (i, n) in eg[id].nodes.iter().enumerate() {
            let cost = costs.node[&(id, i)];
            let cost = if cost.is_finite() { cost } else { NEVER };
            out.add_node(
                format!("{id}.{i}"),
                Node {
                    op: n.to_string(),
                    children: n
                        .children()
                        .iter()
                        .map(|&c| NodeId::from(format!("{}.0", eg.find(c))))
                        .collect(),
                    eclass: ClassId::from(id.to_string()),
                    cost: egraph_serialize::Cost::new(cost).unwrap_or_default(),
                    subsumed: false,
                },
            );
        }
        out.class_data.insert(
            ClassId::from(id.to_string()),
            ClassData {
                typ: Some(eg[id].data.meta.to_string()),
                extra: Default::default(),
            },
        );
    }
    for &r in roots {
        let c = ClassId::from(eg.find(r).to_string());
        if !out.root_eclasses.contains(&c) {
            out.root_eclasses.push(c);
        }
    }
    out
}

/// The serialized e-graph as JSON text (pretty, deterministic).
pub fn to_json(eg: &EGraph) -> String {
    let mut s = serde_json::to_string_pretty(eg).expect("an e-graph serializes");
    s.push('\n');
    s
}

/// Reads a dump (`file` names it in errors).
pub fn from_json(text: &str, file: &str) -> Result<EGraph> {
    serde_json::from_str(text).map_err(|e| Error::Json {
        file: file.to_string(),
        msg: format!("not an egraph-serialize e-graph: {e}"),
    })
}

/// The extraction problem of a dump: its classes (in the order of their first node), nodes
/// and root classes; also each problem node's id. A cost of [`NEVER`] or more is infinite.
pub fn problem(eg: &EGraph, file: &str) -> Result<(Problem, Vec<NodeId>)> {
    let mut class_ix: HashMap<&ClassId, usize> = HashMap::new();
    let mut p = Problem::default();
    for node in eg.nodes.values() {
        let k = class_ix.len();
        let c = *class_ix.entry(&node.eclass).or_insert(k);
        if c == p.classes.len() {
            p.classes.push(Vec::new());
        }
    }
    let mut node_ids = Vec::with_capacity(eg.nodes.len());
    for (id, node) in &eg.nodes {
        let class = class_ix[&node.eclass];
        let mut children = Vec::with_capacity(node.children.len());
        for ch in &node.children {
            let child = eg.nodes.get(ch).ok_or_else(|| Error::Node {
                file: file.to_string(),
                node: id.to_string(),
                field: "children".into(),
                msg: format!("`{ch}` is no node"),
            })?;
            children.push(class_ix[&child.eclass]);
        }
        let cost = node.cost.into_inner();
        p.classes[class].push(p.nodes.len());
        p.nodes.push(problem::Node {
            class,
            cost: if cost >= NEVER { f64::INFINITY } else { cost },
            children,
        });
        node_ids.push(id.clone());
    }
    for r in &eg.root_eclasses {
        let c = *class_ix.get(r).ok_or_else(|| Error::Document {
            file: file.to_string(),
            field: "root_eclasses".into(),
            msg: format!("class `{r}` has no node"),
        })?;
        if !p.roots.contains(&c) {
            p.roots.push(c);
        }
    }
    Ok((p, node_ids))
}

/// The most e-nodes [`dot`] draws.
pub const DOT_LIMIT: usize = 2_000;

/// A Graphviz picture: one box per class (its nodes inside, with their costs), an arrow
/// from a node to each child class; root classes drawn bold. Refuses above [`DOT_LIMIT`]
/// e-nodes (no one reads a bigger picture).
pub fn dot(eg: &EGraph, name: &str) -> Result<String> {
    if eg.nodes.len() > DOT_LIMIT {
        return Err(Error::Invalid(format!(
            "{name}: the e-graph has {} e-nodes, more than the {DOT_LIMIT} a picture may have; dump it with --dump-egraph instead",
            eg.nodes.len()
        )));
    }
    let mut s =
        String::from("digraph egraph {\n  compound=true;\n  node [shape=box, fontsize=10];\n");
    let esc = |t: &str| t.replace('\\', "\\\\").replace('"', "\\\"");
    for (cid, class) in eg.classes() {
        let bold = if eg.root_eclasses.contains(cid) {
            ", style=bold"
        } else {
            ""
        };
        let typ = eg
            .class_data
            .get(cid)
            .and_then(|d| d.typ.as_deref())
            .unwrap_or("");
        let _ = writeln!(
            s,
            "  subgraph \"cluster_{}\" {{\n    label=\"{} {}\"{bold};",
            esc(cid.as_ref()),
            esc(cid.as_ref()),
            esc(typ)
        );
        for nid in &class.nodes {
            let n = &eg[nid];
            let cost = n.cost.into_inner();
            let cost = if cost >= NEVER {
                "never".to_string()
            } else {
                format!("{cost:.3e}")
            };
            let _ = writeln!(
                s,
                "    \"{}\" [label=\"{}\\n{cost}\"];",
                esc(nid.as_ref()),
                esc(&n.op)
            );
        }
        s.push_str("  }\n");
    }
    for (nid, n) in &eg.nodes {
        for ch in &n.children {
            let target = eg.nid_to_cid(ch);
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [lhead=\"cluster_{}\"];",
                esc(nid.as_ref()),
                esc(ch.as_ref()),
                esc(target.as_ref())
            );
        }
    }
    s.push_str("}\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_dump_names_file_node_and_field() {
        let text = r#"{"nodes": {"0.0": {"op": "f", "children": ["9.0"], "eclass": "0", "cost": 1.0}},
                       "root_eclasses": ["0"]}"#;
        let eg = from_json(text, "d.json").unwrap();
        let e = problem(&eg, "d.json").unwrap_err().to_string();
        assert!(
            e.contains("d.json") && e.contains("0.0") && e.contains("children"),
            "{e}"
        );
        let text = r#"{"nodes": {"0.0": {"op": "a", "eclass": "0", "cost": 1.0}},
                       "root_eclasses": ["7"]}"#;
        let e = problem(&from_json(text, "d.json").unwrap(), "d.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("root_eclasses") && e.contains("`7`"), "{e}");
        let e = from_json("{\"nodes\": 3}", "d.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.json: malformed JSON"), "{e}");
        // a leaf read back: cost and class kept; NEVER is infinite
        let text = r#"{"nodes": {"0.0": {"op": "a", "eclass": "0", "cost": 2.5},
                                 "0.1": {"op": "b", "eclass": "0", "cost": 1.7976931348623157e308}},
                       "root_eclasses": ["0"]}"#;
        let (p, ids) = problem(&from_json(text, "d.json").unwrap(), "d.json").unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(p.nodes[0].cost, 2.5);
        assert!(p.nodes[1].cost.is_infinite());
        assert_eq!(p.greedy(), vec![Some(0)]);
    }
}
