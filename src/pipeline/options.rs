//! What [`optimize`](super::optimize) is asked to do.

use crate::cost::{Model, Profile};
use crate::error::Result;
use crate::extract::ExtractOptions;
use crate::passes::RegionOptions;
use crate::progress::Progress;
use crate::rules::{default_rules, Rule};
use crate::saturate::Limits;
use crate::target::Target;
use serde::Serialize;
use std::time::Duration;

/// Options of [`optimize`](super::optimize).
#[derive(Debug, Clone)]
pub struct Options {
    /// Target device.
    pub target: Target,
    /// Device profile for the cost model (defaults to the target's).
    pub profile: Option<Profile>,
    /// Rules (defaults to the compiled-in rules).
    pub rules: Option<Vec<Rule>>,
    /// Saturation limits; `limits.time` bounds the whole of [`optimize`](super::optimize)
    /// (import, saturation, extraction), region by region too.
    pub limits: Limits,
    /// Keep recorded `val`s that contradict shape rules (those nodes become opaque).
    pub trust_meta: bool,
    /// Name of the input, for error messages.
    pub file: String,
    /// Extraction options.
    pub extract: ExtractOptions,
    /// Assumptions about the inputs that the caller asserts, enabling the rules that need
    /// them (e.g. `no-fully-masked-rows`).
    pub assume: Vec<String>,
    /// Apply no rule that is only equal in distribution (`:in-distribution`: random ops the
    /// rule replaces by a kernel's own randomness, e.g. attention dropout becoming SDPA's
    /// `dropout_p`). Off by default, as Inductor applies its dropout SDPA patterns by default.
    pub exact_random: bool,
    /// Progress of saturation and extraction (default: reported nowhere).
    pub progress: Progress,
    /// Large graphs are optimised region by region (see [`crate::passes::regions`]).
    pub regions: RegionOptions,
    /// Keep each saturated e-graph, serialized, in [`Optimized::egraphs`](super::Optimized).
    pub dump_egraph: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Cpu,
            profile: None,
            rules: None,
            limits: Limits::default(),
            trust_meta: false,
            file: "<input>".into(),
            extract: ExtractOptions::default(),
            assume: Vec::new(),
            exact_random: false,
            progress: Progress::default(),
            regions: RegionOptions::default(),
            dump_egraph: false,
        }
    }
}

impl Options {
    /// The cost model (the profile, or the target's default).
    pub fn model(&self) -> Result<Model> {
        Model::for_target(self.target, self.profile.as_ref())
    }

    /// The rules given, or the compiled-in ones (before target, assumption and randomness
    /// filters).
    pub fn all_rules(&self) -> Result<Vec<Rule>> {
        match &self.rules {
            Some(r) => Ok(r.clone()),
            None => default_rules(),
        }
    }

    /// The rules that apply: those of the target, whose assumptions are made, and, with
    /// `exact_random`, none that is only equal in distribution.
    pub(crate) fn enabled_rules(&self) -> Result<Vec<Rule>> {
        Ok(self
            .all_rules()?
            .into_iter()
            .filter(|r| {
                r.enabled(self.target, &self.assume)
                    && !(self.exact_random && r.in_distribution.is_some())
            })
            .collect())
    }

    /// These options with the time limit `time`.
    pub(crate) fn with_time(&self, time: Duration) -> Options {
        Options {
            limits: Limits {
                time,
                ..self.limits.clone()
            },
            ..self.clone()
        }
    }

    /// What a report records of these options.
    pub fn used(&self) -> UsedOptions {
        UsedOptions {
            target: self.target,
            device: self
                .profile
                .as_ref()
                .map_or(self.target.default_profile(), |p| &p.name)
                .to_string(),
            rules: self
                .rules
                .as_ref()
                .map(|r| format!("{} rules given", r.len())),
            node_limit: self.limits.nodes,
            iter_limit: self.limits.iterations,
            time_limit: seconds_or_none(self.limits.time),
            trust_meta: self.trust_meta,
            assume: self.assume.clone(),
            exact_random: self.exact_random,
            whole: self.regions.min_graph_nodes == usize::MAX,
            extractor: self.extract.extractor,
            extract_time_limit: self.extract.exact_time_limit.map(|d| d.as_secs_f64()),
        }
    }
}

/// `d` in seconds, `None` for no limit.
fn seconds_or_none(d: Duration) -> Option<f64> {
    (d != Duration::MAX).then_some(d.as_secs_f64())
}

/// The options of a run, as its report records them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsedOptions {
    /// `cpu` or `cuda`.
    pub target: Target,
    /// The device profile's name.
    pub device: String,
    /// Where the rules came from (`None`: the compiled-in rules).
    pub rules: Option<String>,
    /// Most e-nodes.
    pub node_limit: usize,
    /// Most iterations.
    pub iter_limit: usize,
    /// Time limit in seconds (`None`: none).
    pub time_limit: Option<f64>,
    /// Recorded vals kept where they contradict shape rules.
    pub trust_meta: bool,
    /// Assumptions asserted.
    pub assume: Vec<String>,
    /// No in-distribution rule applied.
    pub exact_random: bool,
    /// Optimised as one e-graph whatever its size.
    pub whole: bool,
    /// The extractor (not written when it is the default, `dag`).
    #[serde(skip_serializing_if = "is_dag")]
    pub extractor: crate::extract::Extractor,
    /// The exact extractor's time limit per e-graph, seconds (not written when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract_time_limit: Option<f64>,
}

fn is_dag(e: &crate::extract::Extractor) -> bool {
    *e == crate::extract::Extractor::Dag
}
