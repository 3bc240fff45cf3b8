//! What [`optimize`](super::optimize) reports: timings, e-graph size, costs, rule
//! applications. Serialised, these are the fields of `fxsat optimize --report`.

use crate::ir::Graph;
use crate::saturate::StopReason;
use indexmap::IndexMap;
use serde::Serialize;

/// Timings, sizes and costs of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Seconds per phase.
    pub seconds: Seconds,
    /// E-graph size and saturation outcome.
    pub egraph: EGraphReport,
    /// Cost-model seconds before and after.
    pub cost: CostReport,
    /// Nodes in and out, opaque nodes.
    pub nodes: NodeReport,
    /// Attention calls in the output graph.
    pub attention: AttentionReport,
    /// Regions the graph was split into (0: optimised whole) and how many were optimised
    /// (the others reused an equal region's result).
    pub regions: RegionReport,
    /// Applications per rule.
    #[serde(serialize_with = "in_order")]
    pub rules: IndexMap<String, usize>,
    /// The exact extractor's figures (`--extractor exact` only; region by region: summed
    /// over the regions optimised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<crate::extract::exact::ExactReport>,
}

/// A map in its own order.
fn in_order<S: serde::Serializer>(m: &IndexMap<String, usize>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m)
}

/// Region figures (see [`crate::passes::regions`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegionReport {
    /// Regions (0 when the graph was optimised whole).
    pub count: usize,
    /// Regions saturated and extracted; the rest reused one of these.
    pub optimized: usize,
}

/// Attention figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttentionReport {
    /// Forward `scaled_dot_product_attention` calls (any variant) in the output graph.
    pub fused: usize,
    /// Their backward calls (`_scaled_dot_product_*_backward`).
    pub fused_backward: usize,
    /// Forward SDPA calls the input graph already had (a graph written with the kernels).
    pub input_fused: usize,
    /// Backward SDPA calls the input graph already had.
    pub input_fused_backward: usize,
}

impl AttentionReport {
    /// The SDPA forward and backward calls of an optimisation's output and of its input.
    pub fn of(input: &Graph, output: &Graph) -> Self {
        let (fused, fused_backward) = sdpa_calls(output);
        let (input_fused, input_fused_backward) = sdpa_calls(input);
        AttentionReport {
            fused,
            fused_backward,
            input_fused,
            input_fused_backward,
        }
    }
}

/// SDPA forward and backward calls (any variant) of a graph.
fn sdpa_calls(g: &Graph) -> (usize, usize) {
    let sdpa = |backward: bool| {
        g.nodes
            .iter()
            .filter_map(|n| n.target())
            .filter(|t| t.contains("scaled_dot_product") && t.contains("backward") == backward)
            .count()
    };
    (sdpa(false), sdpa(true))
}

/// Seconds per phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seconds {
    /// Graph → e-graph (region by region: the regions' summed, and the cut).
    pub import: f64,
    /// Saturation (region by region: the optimised regions' summed).
    pub saturate: f64,
    /// Extraction and graph rebuild (region by region: the regions' summed, and the stitch).
    pub extract: f64,
    /// Serialisation (filled by the caller that writes).
    pub export: f64,
    /// Everything.
    pub total: f64,
}

/// E-graph figures (region by region: the optimised regions' e-graphs summed, the most
/// iterations, the strongest stop reason: `time-limit`, else `node-limit`, else
/// `iteration-limit`, else `saturated`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EGraphReport {
    /// E-nodes after saturation.
    pub nodes: usize,
    /// E-classes after saturation.
    pub classes: usize,
    /// Iterations.
    pub iterations: usize,
    /// Why saturation stopped (`time-limit` also when the time ran out in extraction).
    pub stop_reason: StopReason,
}

/// Costs (cost-model seconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CostReport {
    /// The input graph (region by region: node by node, duplicates included).
    pub before: f64,
    /// The output graph.
    pub after: f64,
    /// Greedy tree extraction's result, for comparison (region by region: the sum over the
    /// regions).
    #[serde(rename = "greedy_tree")]
    pub greedy: f64,
}

/// Node counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeReport {
    /// Nodes in the input (without the output node).
    pub before: usize,
    /// Nodes in the output.
    pub after: usize,
    /// Input nodes kept opaque (unknown ops).
    pub opaque: usize,
}

/// An optimised graph and its report.
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The graph.
    pub graph: Graph,
    /// What happened.
    pub report: Report,
    /// The saturated e-graphs, serialized (with [`Options::dump_egraph`](super::Options)
    /// only): the whole graph's, or one per region optimised, in region order.
    pub egraphs: Vec<egraph_serialize::EGraph>,
}
