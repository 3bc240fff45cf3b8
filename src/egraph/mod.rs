//! The e-graph: language, analysis, graph ⇄ e-graph.

mod analysis;
mod build;
pub mod dropout;
mod lang;
pub mod mask;
mod to_graph;

pub use analysis::{
    class_int, node_meta, ClassData, Conflict, Facts, FxAnalysis, FxEGraph, Input, Opaque,
};
pub use build::{add_arg, build, is_random, BuildOptions, Built};
pub use lang::{param_list, Attr, Lang, LangKind, F64};
pub use to_graph::{to_graph, view_strides, Selection, Template};
