//! The whole optimisation: import → saturate → extract → export-ready graph, with a report;
//! and the training pipeline, optimisation then partition.
//!
//! * [`options`]: what a run is asked ([`Options`]), and what its report records of it;
//! * [`report`]: what it reports ([`Report`]);
//! * `whole`: a graph as one e-graph; `by_region`: a large graph region by region.

mod by_region;
mod options;
mod report;
mod whole;

pub use options::{Options, UsedOptions};
pub use report::{
    AttentionReport, CostReport, EGraphReport, NodeReport, Optimized, RegionReport, Report, Seconds,
};

use crate::error::Result;
use crate::ir::Graph;
use crate::partition::{PartitionOptions, Partitioned};
use crate::passes::regions::split;
use std::time::{Duration, Instant};

/// Optimises a graph: same inputs, same outputs in the same order. A graph of at least
/// [`RegionOptions::min_graph_nodes`](crate::passes::RegionOptions::min_graph_nodes) nodes is
/// optimised [region by region](crate::passes::regions) (and whole if that fails).
pub fn optimize(graph: &Graph, opts: &Options) -> Result<Optimized> {
    let t0 = Instant::now();
    if let Some(regions) = split(graph, &opts.regions) {
        match by_region::optimize_regions(graph, &regions, opts, t0) {
            Ok(out) => return Ok(out),
            Err(e) => log::warn!(
                "{}: optimising region by region failed ({e}); optimising the whole graph",
                graph.name
            ),
        }
        // what is left of the time limit
        return whole::optimize_whole(graph, &opts.with_time(left(t0, opts.limits.time)));
    }
    whole::optimize_whole(graph, opts)
}

/// The training pipeline: [`optimize`] a joint graph, then [partition](crate::partition())
/// the optimised joint graph. The budget and the graph's kind are checked first.
pub fn optimize_and_partition(
    g: &Graph,
    options: &Options,
    popts: &PartitionOptions,
) -> Result<(Optimized, Partitioned)> {
    crate::partition::check_input(g, popts)?;
    let optimized = optimize(g, options)?;
    let parts = crate::partition::partition(&optimized.graph, popts)?;
    Ok((optimized, parts))
}

/// What is left at this instant of `limit` from `start` (`Duration::MAX` stays no limit).
fn left(start: Instant, limit: Duration) -> Duration {
    match start.checked_add(limit) {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    }
}
