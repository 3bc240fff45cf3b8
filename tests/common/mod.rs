//! Helpers shared by the integration tests: the fixture graphs, unique temp dirs and random
//! inputs.
#![allow(dead_code)]

use fxsat::ir::Graph;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `tests/fixtures`.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture graph (`tests/fixtures/*.forward.json` and `*.joint.json`; other JSON files
/// there are data, e.g. `index.json`), sorted by name.
pub fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| is_graph_fixture(p))
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "expected the committed fixture graphs, found {}",
        v.len()
    );
    v
}

/// The file name of a path, for messages.
pub fn short(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Reads a fixture, panicking with the error.
pub fn load(p: &Path) -> Graph {
    fxsat::io::read_file(p).unwrap_or_else(|e| panic!("{}: {e}", short(p)))
}

/// Every fixture, loaded.
pub fn all() -> Vec<(String, Graph)> {
    fixtures().iter().map(|p| (short(p), load(p))).collect()
}

/// A fresh empty directory under the system temp dir, unique to this process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "fxsat-test-{tag}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Number of call nodes with this target.
pub fn count_target(g: &Graph, target: &str) -> usize {
    g.nodes
        .iter()
        .filter(|n| n.target() == Some(target))
        .count()
}

/// Number of call nodes.
pub fn calls(g: &Graph) -> usize {
    g.nodes.iter().filter(|n| n.target().is_some()).count()
}

/// Fixture graphs are named `<name>.forward.json` or `<name>.joint.json`.
pub fn is_graph_fixture(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".forward.json") || n.ends_with(".joint.json"))
}

/// A random value for a placeholder: normal floats, 0/1 bools and integers, scalars as given.
pub fn random_input(v: &fxsat::ir::Val, rng: &mut fxsat::check::rng::Rng) -> fxsat::interp::Value {
    use fxsat::interp::{Tensor, Value};
    use fxsat::ir::{DType, Val};
    match v {
        Val::Tensor(t) => {
            let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|_| match t.dtype {
                    DType::Bool => rng.below(2) as f64,
                    d if d.is_float() => rng.normal(),
                    _ => rng.below(2) as f64,
                })
                .collect();
            Value::Tensor(Tensor::new(shape, t.dtype, data))
        }
        Val::Int(i) => Value::Int(*i),
        Val::Float(x) => Value::Float(*x),
        Val::Bool(b) => Value::Bool(*b),
        _ => Value::None,
    }
}
