//! Matmul padding and randperm index patterns on the fixtures made from PyTorch
//! (`tests/fixtures/pad/`, `tests/fixtures/index/`, `python/fixtures/gen_pad_index_fixtures.py`), whose
//! `cases.json` says what fxsat must do with each: pad / keep, match / keep.

mod common;

use fxsat::cost::Profile;
use fxsat::egraph::{build, BuildOptions, Lang};
use fxsat::ir::Graph;
use fxsat::Target;
use fxsat::{optimize, Options};
use std::path::PathBuf;

fn cases(sub: &str) -> Vec<(String, String, Graph)> {
    let dir = common::fixture_dir().join(sub);
    let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = v["cases"].as_array().unwrap();
    assert!(!list.is_empty());
    list.iter()
        .map(|c| {
            let file = c["file"].as_str().unwrap().to_string();
            let g = common::load(&PathBuf::from(&dir).join(&file));
            (file, c["expect"].as_str().unwrap().to_string(), g)
        })
        .collect()
}

fn run(g: &Graph, device: &str) -> fxsat::Optimized {
    optimize(
        g,
        &Options {
            target: Target::Cpu,
            profile: Some(Profile::named(device).unwrap()),
            ..Options::default()
        },
    )
    .unwrap()
}

const PAD: &str = "aten.constant_pad_nd.default";

#[test]
fn h100_tf32_pads_the_compute_bound_misaligned_matmuls_and_nothing_else() {
    for (file, expect, g) in cases("pad") {
        let out = run(&g, "h100-tf32");
        let pads = common::count_target(&out.graph, PAD);
        match expect.as_str() {
            "pad" => {
                assert!(pads > 0, "{file}: not padded");
                assert!(
                    out.report.cost.after < out.report.cost.before,
                    "{file}: padding chosen but cost did not go down"
                );
            }
            "keep" => assert_eq!(pads, 0, "{file}: padded"),
            other => panic!("{file}: unknown expectation {other}"),
        }
        assert_eq!(out.graph.outputs.len(), g.outputs.len());
        // The padded graph keeps the outputs' shapes and dtypes (not their strides: a
        // sliced-back result is a strided view of the padded buffer).
        let val = |gr: &Graph, i: usize| {
            let t = gr.nodes[gr.outputs[i].unwrap().index()]
                .val
                .tensor()
                .cloned()
                .unwrap();
            (t.shape, t.dtype)
        };
        for i in 0..g.outputs.len() {
            assert_eq!(val(&out.graph, i), val(&g, i), "{file}: output {i}");
        }
    }
}

#[test]
fn float32_on_h100_without_tf32_is_never_padded() {
    // Measured: no alignment penalty on CUDA cores, so the padded forms never pay.
    for (file, _, g) in cases("pad") {
        let out = run(&g, "h100");
        assert_eq!(common::count_target(&out.graph, PAD), 0, "{file}");
    }
}

#[test]
fn the_cpu_profile_has_no_alignment_so_no_padding_rule_fires() {
    for (file, _, g) in cases("pad") {
        let out = run(&g, "cpu");
        assert_eq!(common::count_target(&out.graph, PAD), 0, "{file}");
        let fired: usize = ["pad-mm", "pad-bmm", "pad-addmm", "pad-matmul"]
            .iter()
            .map(|r| out.report.rules[*r])
            .sum();
        assert_eq!(fired, 0, "{file}: a padding rule fired on the cpu profile");
    }
}

#[test]
fn padding_only_what_is_misaligned() {
    let dir = common::fixture_dir().join("pad");
    let load = |f: &str| common::load(&dir.join(f));
    // Only K: both operands padded, nothing to slice back.
    let out = run(&load("mm_k_only.forward.json"), "h100-tf32");
    assert_eq!(common::count_target(&out.graph, PAD), 2);
    assert_eq!(common::count_target(&out.graph, "aten.slice.Tensor"), 0);
    // Only M: mat1 padded, rows sliced back.
    let out = run(&load("mm_m_only.forward.json"), "h100-tf32");
    assert_eq!(common::count_target(&out.graph, PAD), 1);
    assert_eq!(common::count_target(&out.graph, "aten.slice.Tensor"), 1);
    // A 1-D bias of addmm is padded along N.
    let out = run(&load("addmm_bias.forward.json"), "h100-tf32");
    let bias_pad = out
        .graph
        .nodes
        .iter()
        .find(|n| n.target() == Some(PAD) && n.val.tensor().is_some_and(|t| t.shape.len() == 1))
        .expect("padded bias");
    assert_eq!(bias_pad.val.tensor().unwrap().shape, vec![1796]);
}

fn randperms(g: &Graph) -> usize {
    common::count_target(g, "aten.randperm.default")
}

#[test]
fn randperm_indices_become_unchecked_and_non_accumulating_only_where_proved() {
    for (file, expect, g) in cases("index") {
        for device in ["cpu", "h100"] {
            let out = run(&g, device);
            let o = &out.graph;
            let unsafe_ops = common::count_target(o, "aten._unsafe_index.Tensor")
                + common::count_target(o, "aten._unsafe_index_put.default");
            match expect.as_str() {
                "match" => {
                    assert!(unsafe_ops > 0, "{file} ({device}): not rewritten");
                    assert_eq!(
                        common::count_target(o, "aten.index_put.default"),
                        0,
                        "{file}"
                    );
                    assert_eq!(common::count_target(o, "aten.index.Tensor"), 0, "{file}");
                }
                "keep" => {
                    assert_eq!(unsafe_ops, 0, "{file} ({device}): rewritten");
                    assert_eq!(common::calls(o), common::calls(&g), "{file}");
                }
                other => panic!("{file}: unknown expectation {other}"),
            }
            // Random ops are never merged nor duplicated.
            assert_eq!(randperms(o), randperms(&g), "{file} ({device})");
        }
    }
}

#[test]
fn the_analysis_proves_distinct_indices_for_randperm_prefixes_only() {
    let dir = common::fixture_dir().join("index");
    let fact_of = |file: &str, target: &str| -> Option<i64> {
        let g = common::load(&dir.join(file));
        let built = build(&g, &BuildOptions::default()).unwrap();
        let (i, _) = g
            .nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.target() == Some(target))
            .unwrap_or_else(|| panic!("{file}: no {target}"));
        let id = built.nodes[i].0;
        built.egraph[id].data.facts.distinct_below
    };
    assert_eq!(
        fact_of("add_full.forward.json", "aten.randperm.default"),
        Some(8)
    );
    assert_eq!(
        fact_of("add_sliced.forward.json", "aten.slice.Tensor"),
        Some(8)
    );
    assert_eq!(
        fact_of("index_view.forward.json", "aten.view.default"),
        Some(8)
    );
    assert_eq!(
        fact_of("miss_other_n.forward.json", "aten.slice.Tensor"),
        Some(6)
    );
    assert_eq!(
        fact_of("miss_not_prefix.forward.json", "aten.slice.Tensor"),
        None
    );
    assert_eq!(
        fact_of("miss_randint.forward.json", "aten.randint.low"),
        None
    );
    // An opaque randperm stays one e-node of its own class.
    let g = common::load(&dir.join("add_full.forward.json"));
    let built = build(&g, &BuildOptions::default()).unwrap();
    let opaque = built
        .egraph
        .classes()
        .flat_map(|c| c.nodes.iter())
        .filter(|n| matches!(n, Lang::Call(op, _) if *op == fxsat::ops::Op::OPAQUE))
        .count();
    assert_eq!(opaque, 1);
}

/// The committed fixtures are canonical FX-JSON (they round-trip byte for byte).
#[test]
fn pad_and_index_fixtures_are_canonical() {
    for sub in ["pad", "index"] {
        let dir = common::fixture_dir().join(sub);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if common::is_graph_fixture(&p) {
                let text = std::fs::read_to_string(&p).unwrap();
                assert_eq!(
                    fxsat::io::write_string(&common::load(&p)),
                    text,
                    "{}",
                    p.display()
                );
                n += 1;
            }
        }
        assert!(n >= 7, "{sub}: {n} fixtures");
    }
}
