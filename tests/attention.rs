//! Attention fusion on the fixtures: the number of `aten.scaled_dot_product_attention` calls in
//! each optimized inference graph equals the fixture's attention blocks (`index.json`).
//! Numbers are checked in PyTorch by python/tests/test_optimized_fixtures.py.

mod common;

use fxsat::{optimize, Options};

/// Forward fixtures not fused yet, each with the reason. The test asserts they stay at 0, so
/// fusing one forces this list (and the closing note) to be updated.
const NOT_YET_FUSED: &[(&str, &str)] = &[];

fn blocks(file: &str) -> usize {
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture_dir().join("index.json")).unwrap(),
    )
    .unwrap();
    let entry = index["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file);
    entry.unwrap_or_else(|| panic!("{file} not in index.json"))["attention_blocks"]
        .as_u64()
        .unwrap() as usize
}

#[test]
fn every_attention_block_of_inference_fixtures_is_fused() {
    let mut failures = Vec::new();
    for path in common::fixtures() {
        let file = common::short(&path);
        if !file.ends_with(".forward.json") {
            continue;
        }
        let g = common::load(&path);
        let out = optimize(
            &g,
            &Options {
                file: file.clone(),
                ..Options::default()
            },
        )
        .unwrap();
        let fused = common::count_target(&out.graph, "aten.scaled_dot_product_attention.default");
        let want = if NOT_YET_FUSED.iter().any(|(f, _)| *f == file) {
            0
        } else {
            blocks(&file)
        };
        if fused != want {
            failures.push(format!("{file}: {fused} SDPA calls, expected {want}"));
        }
        // Fusion replaces the unfused math: no softmax remains where every block was fused.
        if want > 0 && want == blocks(&file) {
            let left = common::count_target(&out.graph, "aten._softmax.default")
                + common::count_target(&out.graph, "aten.amax.default");
            if left != 0 {
                failures.push(format!(
                    "{file}: {left} softmax pieces left after fusing every block"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fused_graphs_are_cheaper() {
    for file in [
        "attn_mul_scale.forward.json",
        "gpt2.forward.json",
        "llama.forward.json",
    ] {
        let g = common::load(&common::fixture_dir().join(file));
        let out = optimize(&g, &Options::default()).unwrap();
        assert!(
            out.report.cost.after < out.report.cost.before,
            "{file}: {:?}",
            out.report.cost
        );
        assert!(
            out.report.rules["bmm-as-matmul"] > 0 && out.report.rules["softmax-decomposed"] > 0
        );
    }
}
