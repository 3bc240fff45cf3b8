//! FX-JSON v1 ⇄ [`Graph`](crate::ir::Graph). The only place serde types live.
//!
//! ```
//! let text = r#"{"format": "fx-json", "version": 1, "name": "g", "kind": "forward", "nodes": [
//! {"name": "x", "op": "placeholder", "val": {"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}},
//! {"name": "y", "op": "call_function", "target": "aten.neg.default", "args": [{"node": "x"}], "val": {"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}},
//! {"name": "output", "op": "output", "args": [[{"node": "y"}]]}
//! ]}
//! "#;
//! let g = fxsat::io::read_str(text, "<doc>").unwrap();
//! assert_eq!(g.nodes.len(), 2);
//! assert_eq!(fxsat::io::write_string(&g), text);
//! ```

mod read;
mod write;

pub mod atomic;

pub use read::{read_file, read_str};
pub use write::{write_file, write_string};
