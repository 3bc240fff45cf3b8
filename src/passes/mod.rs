//! Graph-to-graph passes that are not rewriting: common-subexpression elimination (before
//! partitioning, after stitching regions) and cutting a large graph into [regions] that are
//! optimised one by one.

mod cse;
pub mod regions;

pub use cse::cse;
pub use regions::RegionOptions;
