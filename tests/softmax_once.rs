//! Extraction never computes one softmax twice where the input computed it once.
//!
//! OPT's main joint graph on the H100 (session 11: the causal mask an input after a graph
//! break, so nothing fuses) keeps OPT's `softmax(x, dtype=float32).to(bf16)` per block: the
//! forward reads the cast weights, the backward the float32 ones. The e-graph holds the cast
//! weights' class twice over: `to_bf16(softmax(to_f32(x)))` and `softmax(x)` in bf16
//! (`softmax-upcast`). Priced as a kernel of its own, the cast (read 4 bytes, write 2) cost more
//! than the bf16 softmax (read 2, write 2), so the result computed both softmaxes, two
//! `_softmax` per block for the input's one. The cost model now prices a cast as fused into
//! the kernel that produces its operand (`cost::Model::work`), as Inductor compiles it.

mod common;

use fxsat::ir::Graph;
use fxsat::{optimize, Options, Target};
use std::path::Path;

/// Softmax-like row reductions: each decomposed softmax or log-softmax has one `amax`.
const SOFTMAXES: &[&str] = &[
    "aten._softmax.default",
    "aten._log_softmax.default",
    "aten._safe_softmax.default",
    "aten.amax.default",
];

fn softmaxes(g: &Graph) -> usize {
    SOFTMAXES.iter().map(|t| common::count_target(g, t)).sum()
}

/// Optimises `path` for `target` and checks that the result computes no more softmaxes than
/// the input and costs no more; returns the result's `_softmax` calls.
fn check(path: &Path, target: Target) -> usize {
    let g = common::load(path);
    let out = optimize(
        &g,
        &Options {
            file: common::short(path),
            target,
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", common::short(path)));
    let name = format!("{} ({target:?})", common::short(path));
    assert!(
        softmaxes(&out.graph) <= softmaxes(&g),
        "{name}: {} softmaxes in the result for the input's {}",
        softmaxes(&out.graph),
        softmaxes(&g)
    );
    assert!(
        out.report.cost.after <= out.report.cost.before,
        "{name}: cost {} > {}",
        out.report.cost.after,
        out.report.cost.before
    );
    common::count_target(&out.graph, "aten._softmax.default")
}

/// `tests/fixtures/train/opt_bf16_opaque_mask.joint.json` (`python/fixtures/gen_opt_fixtures.py`):
/// two attention blocks and a loss (three `amax`), nothing fused: one float32 `_softmax` per
/// block (read by the backward; the forward reads its cast), not two.
#[test]
fn opt_bf16_computes_each_softmax_once() {
    let path = common::fixture_dir().join("train/opt_bf16_opaque_mask.joint.json");
    for target in [Target::Cpu, Target::Cuda] {
        assert_eq!(check(&path, target), 2, "{target:?}");
    }
}

/// Every training fixture (`tests/fixtures/train/`, `tests/fixtures/train_forms/`): the bf16
/// forms whose backward reads float32 weights (`llama_mask`, `upcast_*_mask`: nothing fused
/// without the assumption) computed theirs twice too.
#[test]
fn no_training_fixture_computes_a_softmax_twice() {
    for sub in ["train", "train_forms"] {
        let mut paths: Vec<_> = std::fs::read_dir(common::fixture_dir().join(sub))
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| common::is_graph_fixture(p))
            .collect();
        paths.sort();
        for p in &paths {
            for target in [Target::Cpu, Target::Cuda] {
                check(p, target);
            }
        }
    }
}
