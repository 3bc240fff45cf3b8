//! A large graph optimised region by region (see [`crate::passes::regions`]): each distinct
//! region once, as a graph of its own, and the results stitched back.

use super::left;
use super::options::Options;
use super::report::{AttentionReport, Optimized, RegionReport, Report};
use super::whole::optimize_whole;
use crate::cost::graph_cost;
use crate::error::Result;
use crate::ir::Graph;
use crate::passes::cse;
use crate::passes::regions::{
    region_graph, same_structure, stitch, structure_hash, Placed, Region, RegionOptions,
};
use crate::progress::{Phase, Progress};
use std::collections::HashMap;
use std::time::Instant;

/// Every region's optimised graph, equal regions optimised once.
struct RegionResults {
    /// The regions optimised: their graph and its optimisation.
    done: Vec<(Graph, Optimized)>,
    /// Per region, its entry in `done`.
    which: Vec<usize>,
    /// Per region, its graph.
    graphs: Vec<Graph>,
}

/// The regions' optimised graphs (equal regions once), stitched back.
pub(super) fn optimize_regions(
    graph: &Graph,
    regions: &[Region],
    opts: &Options,
    t0: Instant,
) -> Result<Optimized> {
    let t_each = Instant::now();
    let mut res = optimize_each(graph, regions, opts, t0)?;
    let optimising: f64 = res.done.iter().map(|(_, o)| o.report.seconds.total).sum();
    // the cut, and making and comparing the region graphs
    let cutting = (t_each - t0).as_secs_f64() + t_each.elapsed().as_secs_f64() - optimising;
    let t_stitch = Instant::now();
    let placed: Vec<Placed<'_>> = regions
        .iter()
        .zip(&res.which)
        .zip(&res.graphs)
        .map(|((region, &i), rg)| Placed {
            region,
            result: &res.done[i].1.graph,
            names: res.done[i]
                .0
                .nodes
                .iter()
                .zip(&rg.nodes)
                .filter(|(a, b)| a.name != b.name)
                .map(|(a, b)| (a.name.clone(), b.name.clone()))
                .collect(),
        })
        .collect();
    let (out, _) = cse(&stitch(graph, &placed)?);
    let mut report = region_report(graph, &out, &res, opts)?;
    report.seconds.import += cutting;
    report.seconds.extract += t_stitch.elapsed().as_secs_f64();
    report.seconds.total = t0.elapsed().as_secs_f64();
    log::info!(
        "{}: {} regions ({} optimised), {} → {} nodes, cost {:.3e} → {:.3e} s",
        graph.name,
        regions.len(),
        res.done.len(),
        report.nodes.before,
        report.nodes.after,
        report.cost.before,
        report.cost.after
    );
    let egraphs = res
        .done
        .iter_mut()
        .flat_map(|(_, o)| std::mem::take(&mut o.egraphs))
        .collect();
    Ok(Optimized {
        graph: out,
        report,
        egraphs,
    })
}

/// Optimises each region (as a graph of its own, whole) or reuses an equal one's result; all
/// within the time limit from `t0`.
fn optimize_each(
    graph: &Graph,
    regions: &[Region],
    opts: &Options,
    t0: Instant,
) -> Result<RegionResults> {
    // the rules are read once, not once per region
    let rules = Some(opts.all_rules()?);
    let mut memo: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut res = RegionResults {
        done: Vec::new(),
        which: Vec::with_capacity(regions.len()),
        graphs: Vec::with_capacity(regions.len()),
    };
    for (k, r) in regions.iter().enumerate() {
        let rg = region_graph(graph, r);
        let key = structure_hash(&rg);
        let same = memo.get(&key).filter(|_| opts.regions.reuse).and_then(|c| {
            c.iter()
                .copied()
                .find(|&i| same_structure(&res.done[i].0, &rg))
        });
        let i = match same {
            Some(i) => i,
            None => {
                let sub = Options {
                    rules: rules.clone(),
                    regions: RegionOptions::off(),
                    progress: Progress::default(),
                    ..opts.with_time(left(t0, opts.limits.time))
                };
                let out = optimize_whole(&rg, &sub)?;
                res.done.push((rg.clone(), out));
                memo.entry(key).or_default().push(res.done.len() - 1);
                res.done.len() - 1
            }
        };
        opts.progress
            .step(Phase::Saturate, k + 1, regions.len(), "regions");
        res.which.push(i);
        res.graphs.push(rg);
    }
    opts.progress.finish(Phase::Saturate);
    Ok(res)
}

/// The report of a region-by-region run: e-graphs and phase times of the regions optimised,
/// rule applications of every region, costs and counts of the whole graphs.
fn region_report(
    graph: &Graph,
    out: &Graph,
    res: &RegionResults,
    opts: &Options,
) -> Result<Report> {
    let mut r = Report {
        regions: RegionReport {
            count: res.which.len(),
            optimized: res.done.len(),
        },
        ..Report::default()
    };
    for (_, o) in &res.done {
        let s = &o.report;
        r.seconds.import += s.seconds.import;
        r.seconds.saturate += s.seconds.saturate;
        r.seconds.extract += s.seconds.extract;
        r.egraph.nodes += s.egraph.nodes;
        r.egraph.classes += s.egraph.classes;
        r.egraph.iterations = r.egraph.iterations.max(s.egraph.iterations);
        if s.egraph.stop_reason.rank() > r.egraph.stop_reason.rank() {
            r.egraph.stop_reason = s.egraph.stop_reason;
        }
        if let Some(e) = &s.exact {
            match &mut r.exact {
                Some(sum) => sum.add(e),
                None => r.exact = Some(e.clone()),
            }
        }
    }
    for &i in &res.which {
        let s = &res.done[i].1.report;
        r.cost.greedy += s.cost.greedy;
        r.nodes.opaque += s.nodes.opaque;
        for (rule, n) in &s.rules {
            *r.rules.entry(rule.clone()).or_insert(0) += n;
        }
    }
    let model = opts.model()?;
    // the whole graphs' costs: the regions' would count the shared nodes once per region
    r.cost.before = graph_cost(graph, &model);
    r.cost.after = graph_cost(out, &model);
    r.nodes.before = graph.nodes.len();
    r.nodes.after = out.nodes.len();
    r.attention = AttentionReport::of(graph, out);
    Ok(r)
}
