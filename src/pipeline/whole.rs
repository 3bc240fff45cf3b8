//! A graph optimised as one e-graph: import, saturate, extract, rebuild.

use super::left;
use super::options::Options;
use super::report::{
    AttentionReport, CostReport, EGraphReport, NodeReport, Optimized, RegionReport, Report, Seconds,
};
use crate::egraph::{build, to_graph, BuildOptions, Template};
use crate::error::Result;
use crate::extract::{dag_cost, extract_with, greedy, ExtractOptions};
use crate::ir::Graph;
use crate::saturate::{saturate_with, Limits, SatReport, StopReason};
use std::time::Instant;

/// Optimises a graph as one e-graph, within `opts.limits.time` from now.
pub(super) fn optimize_whole(graph: &Graph, opts: &Options) -> Result<Optimized> {
    let t0 = Instant::now();
    let deadline = t0.checked_add(opts.limits.time);
    let model = opts.model()?;
    let rules = opts.enabled_rules()?;
    let mut built = build(
        graph,
        &BuildOptions {
            trust_meta: opts.trust_meta,
            file: opts.file.clone(),
        },
    )?;
    // Rules that depend on the device (matmul padding) read its alignment from the analysis.
    built.egraph.analysis.matmul_alignment = model.profile.alignments();
    built.egraph.analysis.target = model.target;
    // Calls with effects are roots too (an unused `rand` still draws; an unknown op may have
    // effects), except a private dropout `rand` that an in-distribution rule may replace.
    let effects: Vec<egg::Id> = built
        .effects
        .iter()
        .copied()
        .filter(|&e| opts.exact_random || !built.egraph[e].data.facts.private_dropout)
        .collect();
    let roots: Vec<egg::Id> = built
        .outputs
        .iter()
        .flatten()
        .chain(&effects)
        .copied()
        .collect();
    let before = dag_cost(
        &built.egraph,
        &model,
        &greedy(&built.egraph, &model),
        &roots,
    )
    .unwrap_or(f64::NAN);
    let t_import = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let limits = Limits {
        time: left(t0, opts.limits.time),
        ..opts.limits.clone()
    };
    let (egraph, sat): (_, SatReport) =
        saturate_with(built.egraph, &rules, &limits, &opts.progress)?;
    let t_sat = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let extract = ExtractOptions {
        deadline: match (deadline, opts.extract.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        ..opts.extract.clone()
    };
    let egraphs = if opts.dump_egraph {
        vec![crate::extract::serialize::serialize(
            &egraph, &model, &roots,
        )]
    } else {
        Vec::new()
    };
    let ex = extract_with(&egraph, &model, &roots, &extract, &opts.progress);
    let out = to_graph(
        &egraph,
        &ex.selection,
        &Template {
            graph,
            nodes: &built.nodes,
            outputs: &built.outputs,
            effects: &effects,
            target: model.target,
        },
    )?;
    let t_ext = t2.elapsed().as_secs_f64();
    // In-distribution rules must replace a dropout whole (its forward and backward one
    // kernel pair, its `rand` gone); if one was replaced in part, redo without them.
    let in_distribution_applied = rules.iter().any(|r| {
        r.in_distribution.is_some() && sat.applications.get(&r.name).is_some_and(|&n| n > 0)
    });
    if in_distribution_applied && !crate::egraph::dropout::whole_dropouts_replaced(graph, &out) {
        log::warn!(
            "{}: a dropout was replaced in part by the in-distribution rules; optimising again without them",
            graph.name
        );
        return optimize_whole(
            graph,
            &Options {
                exact_random: true,
                ..opts.with_time(left(t0, opts.limits.time))
            },
        );
    }

    let report = Report {
        seconds: Seconds {
            import: t_import,
            saturate: t_sat,
            extract: t_ext,
            export: 0.0,
            total: t0.elapsed().as_secs_f64(),
        },
        egraph: EGraphReport {
            nodes: sat.nodes,
            classes: sat.classes,
            iterations: sat.iterations,
            stop_reason: if ex.timed_out {
                StopReason::TimeLimit
            } else {
                sat.stop_reason
            },
        },
        cost: CostReport {
            before,
            after: ex.cost,
            greedy: ex.greedy_cost,
        },
        rules: sat.applications,
        nodes: NodeReport {
            before: graph.nodes.len(),
            after: out.nodes.len(),
            opaque: built.opaque_count,
        },
        attention: AttentionReport::of(graph, &out),
        regions: RegionReport::default(),
        exact: ex.exact.clone(),
    };
    log::info!(
        "{}: {} → {} nodes, cost {:.3e} → {:.3e} s, {} e-nodes, stop: {}",
        graph.name,
        report.nodes.before,
        report.nodes.after,
        report.cost.before,
        report.cost.after,
        report.egraph.nodes,
        report.egraph.stop_reason
    );
    Ok(Optimized {
        graph: out,
        report,
        egraphs,
    })
}
