//! Device profiles: data files, compiled in, or read from a path.

use crate::error::{Error, Result};
use crate::ir::DType;
use serde::Deserialize;
use std::collections::BTreeMap;

const BUILTIN: &[(&str, &str)] = &[
    ("cpu", include_str!("../../profiles/cpu.json")),
    ("a100", include_str!("../../profiles/a100.json")),
    ("h100", include_str!("../../profiles/h100.json")),
    ("h100-tf32", include_str!("../../profiles/h100-tf32.json")),
];

/// A device: peak throughput, bandwidth, launch overhead and matmul alignment. Unknown fields
/// are refused, and every number must be in its range (see [`Profile::validate`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name.
    pub name: String,
    /// What device this is.
    #[serde(default)]
    pub description: String,
    /// Where the numbers come from.
    #[serde(default)]
    pub source: String,
    /// Peak flop/s per dtype name (`float32`, `bfloat16`, ..., and `int` for integer types).
    pub peak_flops: BTreeMap<String, f64>,
    /// Memory bandwidth in bytes/s.
    pub bandwidth: f64,
    /// Seconds per kernel launch.
    pub launch_overhead: f64,
    /// Alignment (elements) a matmul dim needs per dtype for full speed; absent = none.
    #[serde(default)]
    pub matmul_alignment: BTreeMap<String, i64>,
    /// Fraction of peak a misaligned matmul reaches.
    #[serde(default = "one")]
    pub misaligned_matmul_efficiency: f64,
    /// The same per dtype name, where it differs from `misaligned_matmul_efficiency`.
    #[serde(default)]
    pub misaligned_matmul_efficiency_by_dtype: BTreeMap<String, f64>,
    /// Where the misaligned efficiencies come from.
    #[serde(default)]
    pub misaligned_source: String,
    /// The measurements the numbers were fit from (free-form record, not read).
    #[serde(default)]
    pub calibration: Option<serde_json::Value>,
}

/// Peak flop/s of any dtype: 10^6 to 10^18.
pub const PEAK_FLOPS_RANGE: (f64, f64) = (1e6, 1e18);
/// Bandwidth in bytes/s: 10^6 to 10^15.
pub const BANDWIDTH_RANGE: (f64, f64) = (1e6, 1e15);
/// Seconds per kernel launch: 0 to 1.
pub const LAUNCH_OVERHEAD_RANGE: (f64, f64) = (0.0, 1.0);
/// Matmul alignment in elements: 1 to 1024.
pub const ALIGNMENT_RANGE: (i64, i64) = (1, 1024);

fn one() -> f64 {
    1.0
}

impl Profile {
    /// Names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in profile by name, or a JSON file by path.
    pub fn named(name_or_path: &str) -> Result<Profile> {
        let (origin, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (n.to_string(), t.to_string()),
            None => {
                let p = std::path::Path::new(name_or_path);
                if !p.exists() {
                    return Err(Error::Profile {
                        name: name_or_path.into(),
                        msg: format!(
                            "not a built-in profile ({}) nor a file",
                            Self::builtin_names().join(", ")
                        ),
                    });
                }
                (
                    name_or_path.to_string(),
                    std::fs::read_to_string(p).map_err(|source| Error::Io {
                        path: p.into(),
                        source,
                    })?,
                )
            }
        };
        let p: Profile = serde_json::from_str(&text).map_err(|e| Error::Profile {
            name: origin.clone(),
            msg: e.to_string(),
        })?;
        p.validate()
            .map_err(|msg| Error::Profile { name: origin, msg })?;
        Ok(p)
    }

    /// Checks every field's range: `peak_flops` values in [`PEAK_FLOPS_RANGE`] with a
    /// `float32` entry, `bandwidth` in [`BANDWIDTH_RANGE`], `launch_overhead` in
    /// [`LAUNCH_OVERHEAD_RANGE`], `matmul_alignment` values in [`ALIGNMENT_RANGE`], the
    /// misaligned efficiencies in (0, 1]; dtype keys must be dtype names (`int` too for
    /// `peak_flops`). The message names the field.
    fn validate(&self) -> std::result::Result<(), String> {
        let range = |field: &str, v: f64, (lo, hi): (f64, f64)| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(format!("field `{field}`: {v} is not in [{lo:e}, {hi:e}]"))
            }
        };
        let dtype_key = |field: &str, k: &str, int_ok: bool| {
            if k.parse::<DType>().is_ok() || (int_ok && k == "int") {
                Ok(())
            } else {
                Err(format!("field `{field}`: `{k}` is not a dtype name"))
            }
        };
        if !self.peak_flops.contains_key("float32") {
            return Err("field `peak_flops`: needs a `float32` entry".into());
        }
        for (k, &v) in &self.peak_flops {
            dtype_key("peak_flops", k, true)?;
            range(&format!("peak_flops.{k}"), v, PEAK_FLOPS_RANGE)?;
        }
        range("bandwidth", self.bandwidth, BANDWIDTH_RANGE)?;
        range(
            "launch_overhead",
            self.launch_overhead,
            LAUNCH_OVERHEAD_RANGE,
        )?;
        for (k, &v) in &self.matmul_alignment {
            dtype_key("matmul_alignment", k, false)?;
            let (lo, hi) = ALIGNMENT_RANGE;
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "field `matmul_alignment.{k}`: {v} is not in [{lo}, {hi}]"
                ));
            }
        }
        let efficiency = |field: &str, e: f64| {
            if e > 0.0 && e <= 1.0 {
                Ok(())
            } else {
                Err(format!("field `{field}`: {e} is not in (0, 1]"))
            }
        };
        efficiency(
            "misaligned_matmul_efficiency",
            self.misaligned_matmul_efficiency,
        )?;
        for (k, &e) in &self.misaligned_matmul_efficiency_by_dtype {
            dtype_key("misaligned_matmul_efficiency_by_dtype", k, false)?;
            efficiency(&format!("misaligned_matmul_efficiency_by_dtype.{k}"), e)?;
        }
        Ok(())
    }

    /// Peak flop/s for a dtype (falls back to float32's).
    pub fn peak(&self, dtype: Option<DType>) -> f64 {
        let key = match dtype {
            Some(d) if d.is_float() => d.name(),
            Some(_) => "int",
            None => "float32",
        };
        self.peak_flops
            .get(key)
            .or(self.peak_flops.get("float32"))
            .copied()
            .unwrap_or(1e12)
    }

    /// Every (dtype, alignment > 1) of the profile, in dtype-name order (unknown names skipped).
    pub fn alignments(&self) -> Vec<(DType, i64)> {
        self.matmul_alignment
            .iter()
            .filter(|(_, &a)| a > 1)
            .filter_map(|(n, &a)| n.parse::<DType>().ok().map(|d| (d, a)))
            .collect()
    }

    /// Fraction of peak a matmul of this dtype with a misaligned dim reaches.
    pub fn misaligned_efficiency(&self, dtype: DType) -> f64 {
        self.misaligned_matmul_efficiency_by_dtype
            .get(dtype.name())
            .copied()
            .unwrap_or(self.misaligned_matmul_efficiency)
    }

    /// The alignment a matmul of this dtype wants, if any.
    pub fn alignment(&self, dtype: DType) -> Option<i64> {
        self.matmul_alignment
            .get(dtype.name())
            .copied()
            .filter(|&a| a > 1)
    }
}
