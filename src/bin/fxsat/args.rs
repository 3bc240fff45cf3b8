//! Arguments shared by the subcommands, and checks of option values (a value out of range is
//! bad usage: exit 2, like clap's own usage errors).

use anyhow::Result;
use clap::{Args, ValueEnum};
use fxsat::cost::Profile;
use fxsat::passes::RegionOptions;
use fxsat::Target;
use std::path::PathBuf;
use std::time::Duration;

/// `--target` and `--device`, the same in every subcommand.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Device the result must run on in PyTorch.
    #[arg(long, value_enum, default_value = "cpu")]
    pub target: TargetArg,
    /// Cost-model profile: cpu, a100, h100, h100-tf32, or a JSON file (default: the
    /// target's: cpu → cpu, cuda → h100).
    #[arg(long)]
    pub device: Option<String>,
}

impl DeviceArgs {
    /// The target.
    pub fn target(&self) -> Target {
        match self.target {
            TargetArg::Cpu => Target::Cpu,
            TargetArg::Cuda => Target::Cuda,
        }
    }

    /// The profile named by `--device`, or the target's.
    pub fn profile(&self) -> Result<Profile> {
        Ok(self.target().profile(self.device.as_deref())?)
    }
}

/// `--target`'s values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TargetArg {
    /// Emit ops that run in PyTorch on CPU.
    Cpu,
    /// Emit ops that run in PyTorch on CUDA.
    Cuda,
}

/// Bad usage: an option value out of range (exit 2, like clap's own usage errors).
#[derive(Debug)]
pub struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// A time limit in seconds: positive; huge or infinite is no limit (`Duration::MAX`).
pub fn check_time_limit(secs: f64) -> Result<Duration> {
    check_seconds("--time-limit", secs)
}

/// A time limit `name` in seconds: positive; huge or infinite is no limit (`Duration::MAX`).
pub fn check_seconds(name: &str, secs: f64) -> Result<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(usage(format!(
            "{name} must be a positive number of seconds, got {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A memory budget in [0, 1].
pub fn check_budget(b: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&b) {
        return Err(usage(format!("--budget must be in [0, 1], got {b}")));
    }
    Ok(b)
}

/// A count that must be at least 1.
pub fn at_least_one(name: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(usage(format!("{name} must be at least 1")));
    }
    Ok(n)
}

/// `--cache-dir` and `--no-cache`: the result cache of optimize (see docs/cli.md).
#[derive(Args, Clone, Debug)]
pub struct CacheArgs {
    /// Keep results in (and take them from) this cache directory (default: the cache is
    /// used only when FXSAT_CACHE_DIR is set, in that directory).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use no result cache, even with --cache-dir or FXSAT_CACHE_DIR.
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub fn dir(&self) -> Result<Option<PathBuf>> {
        if self.no_cache {
            return Ok(None);
        }
        Ok(self.cache_dir.clone().or_else(|| {
            std::env::var_os("FXSAT_CACHE_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        }))
    }
}
/// Every `--assume` names an assumption some rule uses.
pub fn check_assume(assume: &[String], rules: &[fxsat::rules::Rule]) -> Result<()> {
    let mut known: Vec<String> = rules
        .iter()
        .flat_map(|r| r.assume.iter().cloned())
        .collect();
    if let Some(a) = assume.iter().find(|a| !known.contains(a)) {
        known.sort();
        known.dedup();
        return Err(usage(format!(
            "--assume {a}: no rule uses this assumption (known: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

/// Region options of `--whole`.
pub fn regions(whole: bool) -> RegionOptions {
    if whole {
        RegionOptions::off()
    } else {
        RegionOptions::default()
    }
}
