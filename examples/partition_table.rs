//! fxsat's partitioner against PyTorch's on every joint fixture, as a Markdown table.
//!
//! ```text
//! cargo run --release --example partition_table [-- FIXTURE_DIR]
//! ```
//!
//! For budgets 1.0, 0.5 and 0.1: the activation bytes the budget allows (PyTorch's knapsack
//! capacity in bytes), then activation bytes, recompute time (CPU cost model), recompute flops
//! and the simulated peak of fxsat's default rule (`within-budget`), of each budget solved
//! alone (`--peak-rule off`), and of PyTorch's own partitioner
//! (`tests/fixtures/pytorch_partition.json`, recorded by `experiments/pytorch_partition.py`; its
//! saved set is evaluated with fxsat's cost model and peak simulation, so the columns are
//! comparable). The last column says whether fxsat's default saves no more bytes at no more
//! recompute time than PyTorch, or else whether PyTorch's choice exceeds the limit.

use fxsat::cost::{Model, Profile};
use fxsat::ir::NodeId;
use fxsat::partition::{classify, evaluate, partition, PartitionOptions, PeakRule};
use fxsat::passes::cse;
use std::path::PathBuf;

fn cell(act: u64, secs: f64, flops: f64, peak: u64) -> String {
    format!(
        "{act} B {:.1} µs {:.2} MFLOP {:.0} kB",
        secs * 1e6,
        flops / 1e6,
        peak as f64 / 1e3
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("tests/fixtures"), PathBuf::from);
    let text = std::fs::read_to_string(dir.join("pytorch_partition.json"))?;
    let pt: serde_json::Value = serde_json::from_str(&text)?;
    let fixtures = pt["fixtures"]
        .as_object()
        .ok_or("pytorch_partition.json: no `fixtures`")?;
    let model = Model::new(Profile::named("cpu")?);
    println!("| fixture | budget | limit | fxsat (default rule) | fxsat (each budget alone) | PyTorch | fxsat vs PyTorch |");
    println!("|---|---|---|---|---|---|---|");
    for (name, per) in fixtures {
        let g0 = fxsat::io::read_file(&dir.join(name))?;
        let g = cse(&g0).0;
        let c = classify::classify(&g)?;
        for b in ["1.0", "0.5", "0.1"] {
            let budget: f64 = b.parse()?;
            let run = |rule: PeakRule, budget: f64| {
                partition(
                    &g0,
                    &PartitionOptions {
                        budget,
                        peak_rule: rule,
                        ..PartitionOptions::default()
                    },
                )
            };
            let ours = run(PeakRule::WithinBudget, budget)?.report;
            let alone = run(PeakRule::Off, budget)?.report;
            let names: Vec<&str> = per[b]["saved"]
                .as_array()
                .ok_or("no saved list")?
                .iter()
                .filter_map(|s| s["name"].as_str())
                .collect();
            let ids: Vec<NodeId> = names
                .iter()
                .filter_map(|n| g.nodes.iter().position(|x| x.name == *n))
                .map(|i| NodeId(i as u32))
                .collect();
            let theirs = evaluate(&g, &c, &model, &ids, 0);
            let verdict = if ours.activation_bytes <= theirs.activation_bytes
                && ours.recompute_seconds <= theirs.recompute_seconds * (1.0 + 1e-9)
            {
                "≤ bytes, ≤ time".to_string()
            } else if theirs.activation_bytes > ours.budget_bytes {
                format!(
                    "PyTorch over the limit ({:.2}×; by its own ratio, which credits unsaved inputs: {:.2})",
                    theirs.activation_bytes as f64 / ours.budget_bytes.max(1) as f64,
                    theirs.budget_used_bytes as f64 / ours.budget_scale_bytes.max(1) as f64,
                )
            } else {
                "NOT MET".to_string()
            };
            println!(
                "| {} | {b} | {} B | {} | {} | {}{} | {verdict} |",
                name.trim_end_matches(".joint.json"),
                ours.budget_bytes,
                cell(
                    ours.activation_bytes,
                    ours.recompute_seconds,
                    ours.recompute_flops,
                    ours.peak_bytes
                ),
                cell(
                    alone.activation_bytes,
                    alone.recompute_seconds,
                    alone.recompute_flops,
                    alone.peak_bytes
                ),
                cell(
                    theirs.activation_bytes,
                    theirs.recompute_seconds,
                    theirs.recompute_flops,
                    theirs.peak_bytes
                ),
                if ids.len() < names.len() {
                    " (names missing)"
                } else {
                    ""
                },
            );
        }
    }
    Ok(())
}
