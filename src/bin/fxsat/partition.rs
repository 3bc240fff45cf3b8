//! `fxsat partition`.

use crate::args::{check_budget, DeviceArgs};
use crate::output::{print, ReportFile};
use anyhow::Result;
use clap::{Args, ValueEnum};
use fxsat::partition::{sweep as sweep_curve, PartitionOptions, PeakRule};
use fxsat::request::PartitionRequest;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Partition a joint graph into PREFIX.fw.json and PREFIX.bw.json (min-cut
/// rematerialization under a memory budget).
#[derive(Args)]
pub struct PartitionArgs {
    /// Input joint FX-JSON file (kind "joint").
    input: PathBuf,
    /// Output prefix: writes PREFIX.fw.json and PREFIX.bw.json.
    #[arg(short, long)]
    output: PathBuf,
    /// Memory budget in [0, 1]: 1 = runtime-optimised cut, 0 = save only inputs.
    #[arg(long, default_value_t = 1.0)]
    budget: f64,
    #[command(flatten)]
    device: DeviceArgs,
    /// Write a JSON report (saved values, bytes, recompute cost, peak, timings) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the budget → (activation bytes, recompute cost, peak) curve over 20 budgets
    /// and write PREFIX.sweep.svg.
    #[arg(long)]
    sweep: bool,
    /// How budgets below 1 treat peak memory (see docs/partitioner.md).
    #[arg(long, value_enum, default_value = "within-budget")]
    peak_rule: PeakRuleArg,
}

/// `--peak-rule`'s values.
#[derive(Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum PeakRuleArg {
    /// Honour the budget; among the solutions within it, do not raise the peak where possible.
    WithinBudget,
    /// Never raise the peak as the budget decreases, even above the budget.
    Strict,
    /// Each budget alone: the least recompute time within it.
    Off,
}

impl PartitionArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let t0 = Instant::now();
        let budget = check_budget(self.budget)?;
        let graph = fxsat::io::read_file(&self.input)?;
        let req = PartitionRequest {
            budget,
            target: self.device.target(),
            device: self.device.device.clone(),
            peak_rule: match self.peak_rule {
                PeakRuleArg::WithinBudget => PeakRule::WithinBudget,
                PeakRuleArg::Strict => PeakRule::Strict,
                PeakRuleArg::Off => PeakRule::Off,
            },
        };
        let mut p = fxsat::request::partition(&graph, &req)?;
        if let Some(total) = p.report.pointer_mut("/timings/total") {
            // reading the input counts
            *total = t0.elapsed().as_secs_f64().into();
        }
        let points = if self.sweep {
            let opts = PartitionOptions {
                budget,
                target: req.target,
                profile: Some(self.device.profile()?),
                peak_rule: req.peak_rule,
                ..PartitionOptions::default()
            };
            Some(sweep_curve(&graph, &opts)?)
        } else {
            None
        };
        let with_suffix = |s: &str| {
            let mut os = self.output.as_os_str().to_owned();
            os.push(s);
            PathBuf::from(os)
        };
        let (fw_path, bw_path, svg_path) = (
            with_suffix(".fw.json"),
            with_suffix(".bw.json"),
            with_suffix(".sweep.svg"),
        );
        let r = &p.report;
        let report_text = match &self.report {
            Some(_) => {
                let mut report = r.clone();
                if let Some(sweep) = report.pointer_mut("/options/sweep") {
                    *sweep = self.sweep.into();
                }
                if let Value::Object(m) = &mut report {
                    // the command line does not cache partitions
                    m.shift_remove("cache");
                }
                Some(
                    ReportFile {
                        input: None,
                        output: None,
                        report,
                    }
                    .text()?,
                )
            }
            None => None,
        };
        let svg = points
            .as_ref()
            .map(|pts| crate::sweep_svg::sweep_svg(&graph.name, pts));
        // every output or none
        let mut files: Vec<(&Path, &[u8])> =
            vec![(&fw_path, p.fw.as_bytes()), (&bw_path, p.bw.as_bytes())];
        if let (Some(path), Some(t)) = (&self.report, &report_text) {
            files.push((path, t.as_bytes()));
        }
        if let Some(svg) = &svg {
            files.push((&svg_path, svg.as_bytes()));
        }
        fxsat::io::atomic::write_all(&files)?;
        if let Some(points) = &points {
            print(&sweep_table(points))?;
        }
        let n = |k: &str| r.pointer(k).and_then(Value::as_u64).unwrap_or(0);
        let f = |k: &str| r.pointer(k).and_then(Value::as_f64).unwrap_or(0.0);
        let len = |k: &str| r.pointer(k).and_then(Value::as_array).map_or(0, Vec::len);
        eprintln!(
            "{}: budget {}: saved {} values, {} bytes ({} activation bytes, the budget allows {}, budget 1 saves {}); recomputes {} nodes ({:.3e} s, {:.3e} flops); peak {} bytes; {:.1} ms",
            self.input.display(),
            f("/budget"),
            len("/saved"),
            n("/saved_bytes"),
            n("/activation_bytes"),
            n("/budget_bytes"),
            n("/max_activation_bytes"),
            len("/recomputed"),
            f("/recompute_cost/seconds"),
            f("/recompute_cost/flops"),
            n("/peak_bytes"),
            f("/timings/total") * 1e3
        );
        Ok(())
    }
}

/// The sweep's tab-separated table.
fn sweep_table(points: &[fxsat::partition::SweepPoint]) -> String {
    use std::fmt::Write as _;
    let mut table =
        String::from("budget\tactivation_bytes\trecompute_seconds\trecompute_flops\tpeak_bytes\n");
    for pt in points {
        let _ = writeln!(
            table,
            "{:.2}\t{}\t{:.6e}\t{:.6e}\t{}",
            pt.budget, pt.activation_bytes, pt.recompute_seconds, pt.recompute_flops, pt.peak_bytes
        );
    }
    table
}
