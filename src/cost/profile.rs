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

/// A device: peak throughput, bandwidth, launch overhead and matmul alignment.
#[derive(Debug, Clone, Deserialize)]
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
}

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

    fn validate(&self) -> std::result::Result<(), String> {
        if self.bandwidth.is_nan()
            || self.bandwidth <= 0.0
            || self.launch_overhead.is_nan()
            || self.launch_overhead < 0.0
        {
            return Err("bandwidth must be > 0 and launch_overhead >= 0".into());
        }
        if self.peak_flops.values().any(|&v| v.is_nan() || v <= 0.0)
            || !self.peak_flops.contains_key("float32")
        {
            return Err("peak_flops needs positive values and a float32 entry".into());
        }
        let in_range = |e: f64| e > 0.0 && e <= 1.0;
        if !in_range(self.misaligned_matmul_efficiency)
            || !self
                .misaligned_matmul_efficiency_by_dtype
                .values()
                .all(|&e| in_range(e))
        {
            return Err("misaligned_matmul_efficiency (and per dtype) must be in (0, 1]".into());
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
