//! fxsat's partitioner against PyTorch's on every joint fixture, as a Markdown table.
//!
//! ```text
//! cargo run --release --example partition_table [-- FIXTURE_DIR]
//! ```
//!
//! For budgets 1.0, 0.5 and 0.1: activation bytes, recompute time (CPU cost model) and the
//! simulated peak of fxsat's default rule (`within-budget`), of the `strict` peak rule, and of
//! PyTorch's own partitioner (`tests/fixtures/pytorch_partition.json`, recorded by
//! `python/pytorch_partition.py`; its saved set is evaluated with fxsat's cost model and peak
//! simulation, so the columns are comparable). The last column is fxsat at the budget PyTorch
//! actually reached (its activation bytes over fxsat's budget-1 bytes): same bytes allowed.

use fxsat::cost::{Model, Profile};
use fxsat::ir::NodeId;
use fxsat::partition::{budget, classify, cse, partition, PartitionOptions, PeakRule};
use std::path::PathBuf;

fn cell(act: u64, secs: f64, peak: u64) -> String {
    format!("{act} B {:.1} µs {:.0} kB", secs * 1e6, peak as f64 / 1e3)
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
    println!("| fixture | budget | fxsat (within-budget) | fxsat (strict peak) | PyTorch | fxsat at PyTorch's bytes |");
    println!("|---|---|---|---|---|---|");
    for (name, per) in fixtures {
        let g0 = fxsat::io::read_file(&dir.join(name))?;
        let g = cse::cse(&g0).0;
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
            let strict = run(PeakRule::Strict, budget)?.report;
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
            let theirs = budget::evaluate(&g, &c, &model, &ids, 0);
            let same = if ours.max_activation_bytes > 0 {
                let r =
                    (theirs.activation_bytes as f64 / ours.max_activation_bytes as f64).min(1.0);
                let s = run(PeakRule::WithinBudget, r)?.report;
                format!(
                    "{} ({r:.3})",
                    cell(s.activation_bytes, s.recompute_seconds, s.peak_bytes)
                )
            } else {
                "-".into()
            };
            println!(
                "| {} | {b} | {} | {} | {}{} | {same} |",
                name.trim_end_matches(".joint.json"),
                cell(
                    ours.activation_bytes,
                    ours.recompute_seconds,
                    ours.peak_bytes
                ),
                cell(
                    strict.activation_bytes,
                    strict.recompute_seconds,
                    strict.peak_bytes
                ),
                cell(
                    theirs.activation_bytes,
                    theirs.recompute_seconds,
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
