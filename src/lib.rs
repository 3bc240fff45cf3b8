//! # fxsat
//!
//! An equality-saturation optimizer for the aten graphs PyTorch's `torch.compile` produces.
//!
//! A graph in [FX-JSON](io) becomes an e-graph; [rules](rules) kept as data grow it with
//! equivalent variants (saturation); a [cost model](cost) and a DAG-aware extractor pick the
//! cheapest graph, which is written back as FX-JSON. A joint (training) graph can then be
//! [partitioned](partition()) into a forward and a backward under a memory budget.
//!
//! ```
//! use fxsat::{optimize, Options};
//! let text = std::fs::read_to_string("tests/fixtures/example_attention.forward.json").unwrap();
//! let graph = fxsat::io::read_str(&text, "attention").unwrap();
//! let out = optimize(&graph, &Options::default()).unwrap();
//! assert!(out.report.cost.after <= out.report.cost.before);
//! assert_eq!(out.graph.outputs.len(), graph.outputs.len());
//! ```
//!
//! ## Layers
//!
//! Each module uses only modules listed before it (`tools/modgraph.py` draws the graph,
//! `tests/layers.rs` keeps it so):
//!
//! | layer | modules |
//! |---|---|
//! | errors, progress | [`error`], [`progress`] |
//! | graph IR | [`ir`] |
//! | where it runs | [`target`]: [`Target`], device [`Profile`]s |
//! | op table | [`ops`] |
//! | FX-JSON | [`io`] |
//! | e-graph | `egraph` (language, analysis, graph ↔ e-graph) |
//! | rules | [`rules`] (rule files, conditions) |
//! | saturation | `saturate` |
//! | cost model | [`cost`] (per e-node and per graph node) |
//! | extraction | `extract` (greedy, DAG, exact; the egraph-serialize dump) |
//! | graph passes | [`passes`] (CSE, regions) |
//! | partitioner | [`partition`] |
//! | pipeline | [`optimize`], [`optimize_and_partition`], [`Options`], [`Report`] |
//! | verification | [`interp`] (reference interpreter), [`check`] (rule checker) |
//! | result cache | [`cache`] (results on disk, keyed by a hash of input, rules, options, build) |
//! | requests | [`request`] (options by name → output text and report document: the CLI's and the Python module's one entry) |
//! | tools | `stats`, `pad_sweep`, `research` (rules report) |
//!
//! Modules without a link are internals: public for the binary, tests and benches only.
#![warn(missing_docs)]

pub mod cache;
pub mod check;
pub mod cost;
pub mod error;
pub mod interp;
pub mod io;
pub mod ir;
pub mod ops;
pub mod partition;
pub mod passes;
pub mod progress;
pub mod request;
pub mod rules;
pub mod target;

#[doc(hidden)]
pub mod egraph;
#[doc(hidden)]
pub mod extract;
#[doc(hidden)]
pub mod pad_sweep;
#[doc(hidden)]
pub mod pipeline;
#[doc(hidden)]
pub mod research;
#[doc(hidden)]
pub mod saturate;
#[doc(hidden)]
pub mod stats;

pub use check::{check_rules, CheckOptions};
pub use cost::{Model, Profile};
pub use error::{Error, ErrorKind, Result};
pub use extract::ExtractOptions;
pub use ir::Graph;
pub use partition::{partition, PartitionOptions, Partitioned};
pub use passes::RegionOptions;
pub use pipeline::{
    optimize, optimize_and_partition, AttentionReport, CostReport, EGraphReport, NodeReport,
    Optimized, Options, RegionReport, Report, Seconds, UsedOptions,
};
pub use rules::{default_rules, load_dir, Rule};
pub use saturate::{Limits, StopReason};
pub use target::Target;

/// The README's code examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
