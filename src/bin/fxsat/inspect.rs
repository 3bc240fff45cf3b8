//! `fxsat stats`, `fxsat pad-sweep` and `fxsat check-rules`: commands that print.

use crate::args::{at_least_one, DeviceArgs};
use crate::output::{print, Checked};
use anyhow::Result;
use clap::Args;
use fxsat::cost::Model;
use std::io::Write as _;
use std::path::PathBuf;

/// Print what a graph contains: ops, node counts, unknown ops, total flops and bytes.
#[derive(Args)]
pub struct StatsArgs {
    /// Input FX-JSON file.
    input: PathBuf,
    /// The cost-model profile of the time estimate.
    #[command(flatten)]
    device: DeviceArgs,
    /// Keep recorded vals that contradict shape rules.
    #[arg(long)]
    trust_meta: bool,
}

impl StatsArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let graph = fxsat::io::read_file(&self.input)?;
        let model = Model::new(self.device.profile()?);
        let file = self.input.display().to_string();
        let s = fxsat::stats::stats(&graph, &model, self.trust_meta, &file)?;
        print(&s.to_string())
    }
}

/// Matmul padding over a sweep of M, K, N and dtypes: fxsat's decision (padding rules +
/// cost model) beside Inductor's rule (misaligned and compute-bound), with the reason for
/// every disagreement.
#[derive(Args)]
pub struct PadSweepArgs {
    /// The cost-model profile (padding is decided for CUDA whatever the target; pass
    /// `--target cuda` or `--device h100` for a GPU's alignments).
    #[command(flatten)]
    device: DeviceArgs,
}

impl PadSweepArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let profile = self.device.profile()?;
        let rows = fxsat::pad_sweep::sweep(&profile, &fxsat::pad_sweep::default_cases())?;
        print(&fxsat::pad_sweep::table_text(&profile, &rows))
    }
}

/// Check every rule numerically: random instances of its left side that satisfy its
/// conditions, evaluated against its right side by the reference interpreter. Prints one
/// line per rule; exits 1 if any rule fails (with a counterexample and its seed).
#[derive(Args)]
pub struct CheckRulesArgs {
    /// Directory of .rules files to check (default: the compiled-in rules).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Cases per rule.
    #[arg(long, default_value_t = 100)]
    cases: usize,
    /// Base seed; case i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl CheckRulesArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        at_least_one("--cases", self.cases)?;
        let opts = fxsat::check::CheckOptions {
            cases: self.cases,
            seed: self.seed,
        };
        let mut out = Checked {
            inner: std::io::stdout().lock(),
            error: None,
        };
        let failed = fxsat::check::check_rules_command(self.rules.as_deref(), &opts, &mut out)?;
        let _ = out.flush();
        if let Some(e) = out.error {
            return Err(fxsat::io::atomic::stdout_error(e).into());
        }
        anyhow::ensure!(failed == 0, "check-rules: {failed} rule(s) failed");
        Ok(())
    }
}
