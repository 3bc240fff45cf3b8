//! # fxsat
//!
//! An equality-saturation optimizer for the aten graphs PyTorch's `torch.compile` produces.
//!
//! A graph in [FX-JSON](io) becomes an [e-graph](egraph); [rules](rules) kept as data grow it
//! with equivalent variants ([saturation](saturate)); a [cost model](cost) and a DAG-aware
//! [extractor](extract) pick the cheapest graph, which is written back as FX-JSON.
//!
//! ```
//! use fxsat::{optimize, Options};
//! let text = std::fs::read_to_string("tests/fixtures/example_attention.forward.json").unwrap();
//! let graph = fxsat::io::read_str(&text, "attention").unwrap();
//! let out = optimize(&graph, &Options::default()).unwrap();
//! assert!(out.report.cost.after <= out.report.cost.before);
//! assert_eq!(out.graph.outputs.len(), graph.outputs.len());
//! ```
#![warn(missing_docs)]

pub mod check;
pub mod cost;
pub mod egraph;
pub mod error;
pub mod extract;
pub mod interp;
pub mod io;
pub mod ir;
pub mod ops;
pub mod pad_sweep;
pub mod partition;
pub mod passes;
pub mod pipeline;
pub mod progress;
pub mod rules;
pub mod saturate;
pub mod stats;
pub mod target;

pub use error::{Error, ErrorKind, Result};
pub use partition::{partition, PartitionOptions, Partitioned};
pub use pipeline::{optimize, optimize_and_partition, Optimized, Options, Report, UsedOptions};
pub use target::Target;

/// The README's code examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
