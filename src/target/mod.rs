//! Where the optimised graph runs: the [`Target`] (which aten ops may be emitted) and the
//! device [`Profile`] the cost model reads (data files under `profiles/`, compiled in, or a
//! JSON file).
//!
//! A run names a target and, optionally, a profile; without one, the target's default
//! profile is used ([`Target::default_profile`], [`Target::profile`]).
//!
//! ```
//! use fxsat::Target;
//! assert_eq!(Target::Cuda.profile(None).unwrap().name, "h100");
//! assert_eq!(Target::Cpu.profile(Some("a100")).unwrap().name, "a100");
//! ```

mod profile;

pub use profile::Profile;

use crate::error::Result;

/// Where the optimised graph will run: decides which aten ops may be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// PyTorch on CPU.
    #[default]
    Cpu,
    /// PyTorch on CUDA.
    Cuda,
}

impl Target {
    /// The default device profile of the target.
    pub fn default_profile(self) -> &'static str {
        match self {
            Target::Cpu => "cpu",
            Target::Cuda => "h100",
        }
    }

    /// The profile named `device` (a built-in name or a JSON file), or the target's default.
    pub fn profile(self, device: Option<&str>) -> Result<Profile> {
        Profile::named(device.unwrap_or(self.default_profile()))
    }

    /// `profile` if given, else the target's default profile.
    pub fn profile_or_default(self, profile: Option<&Profile>) -> Result<Profile> {
        match profile {
            Some(p) => Ok(p.clone()),
            None => self.profile(None),
        }
    }

    /// The target's name as the command line and rule files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Target::Cpu => "cpu",
            Target::Cuda => "cuda",
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
