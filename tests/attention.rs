//! Attention fusion on the fixtures: the number of SDPA calls (the composite
//! `aten.scaled_dot_product_attention`, or the fused kernel it lowers to where the kernel takes
//! the call: `src/ops/lower.rs`) in each optimized inference graph equals the fixture's
//! attention blocks (`index.json`).
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
        let fused = [
            "aten.scaled_dot_product_attention.default",
            "aten._scaled_dot_product_flash_attention_for_cpu.default",
        ]
        .iter()
        .map(|t| common::count_target(&out.graph, t))
        .sum::<usize>();
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

/// The attention fixture set (tests/fixtures/attention/index.json): Inductor's 30 patterns,
/// model attention, forms outside Inductor's list, and traps. Each entry states how many SDPA
/// calls a correct optimizer produces (0 for a trap where fusing would change numbers).
///
/// `tests/fixtures/attention/gaps.txt` lists, one `file count` per line, the fixtures fxsat does
/// not fuse as it should yet, with the count it gives today. The test fails when a fixture
/// outside that list is wrong, and when a listed fixture changes (fixed: remove the line; a
/// regression: investigate) — so the list is always the true state, never a silent skip.
#[test]
fn attention_fixture_set_fuses_exactly_what_it_should() {
    let dir = common::fixture_dir().join("attention");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let entries = index
        .as_array()
        .or_else(|| index["fixtures"].as_array())
        .expect("index is a list of entries");
    let gaps: std::collections::BTreeMap<String, usize> =
        std::fs::read_to_string(dir.join("gaps.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (f, n) = l.split_once(' ').expect("`file count`");
                (f.to_string(), n.trim().parse().expect("count"))
            })
            .collect();
    let (mut ok, mut failures, mut now) = (0, Vec::new(), Vec::new());
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let want = e["expected_sdpa"].as_u64().unwrap() as usize;
        let g = common::load(&dir.join(file));
        let out = optimize(
            &g,
            &Options {
                file: file.into(),
                ..Options::default()
            },
        )
        .unwrap_or_else(|err| panic!("{file}: {err}"));
        let got = out.report.attention.fused;
        if got != want {
            now.push(format!("{file} {got}"));
        }
        match gaps.get(file) {
            None if got == want => ok += 1,
            None => failures.push(format!(
                "{file} ({}): {got} SDPA calls, expected {want} — {}",
                e["group"], e["why"]
            )),
            Some(&g) if g == got && got != want => {}
            Some(&g) => failures.push(format!(
                "{file}: listed in gaps.txt with {g}, now {got} (expected {want}): update gaps.txt"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{ok}/{} fixtures right, {} known gaps; problems:\n{}\n\ncurrent gaps (for gaps.txt):\n{}",
        entries.len(),
        gaps.len(),
        failures.join("\n"),
        now.join("\n")
    );
}

/// Joint fixtures: SDPA forward/backward pairs per mode. The kernels' backward is wrong in
/// rows whose mask is all finfo.min (see rules/attention_train.rules): on CPU a block with
/// HF's where(keep, 0, finfo.min) mask fuses by default (the `-keep` rules correct those
/// rows); any other mask fuses only under `--assume no-fully-masked-rows`, and on CUDA every
/// mask does. `(file, default cpu, assumed cpu, assumed cuda)`.
const JOINT_EXPECTED: &[(&str, usize, usize, usize, &str)] = &[
    ("attn_bshd.joint.json", 1, 1, 1, "no mask"),
    ("attn_causal_bool.joint.json", 0, 0, 0, "where(keep, scores, finfo.min) also masks the gradient of the scores; the fused backward does not, and differs in fully masked rows"),
    ("attn_div.joint.json", 1, 1, 1, "no mask"),
    ("attn_div_mask.joint.json", 0, 1, 1, "mask (CUDA: S = 8, the bias padded to 16 by the lowering)"),
    ("attn_mul_scale.joint.json", 1, 1, 1, "no mask"),
    ("attn_unscaled.joint.json", 1, 1, 1, "no mask"),
    ("attn_unscaled_mask.joint.json", 0, 1, 1, "mask (CUDA: S = 8, the bias padded to 16)"),
    ("bert.joint.json", 2, 2, 2, "HF where(keep, 0, finfo.min) padding mask"),
    ("example_attention.joint.json", 1, 1, 1, "no mask"),
    ("gpt2.joint.json", 2, 2, 2, "HF where(keep, 0, finfo.min) causal + padding mask"),
    ("llama.joint.json", 2, 2, 2, "HF where(keep, 0, finfo.min) causal + padding mask"),
    ("vit.joint.json", 2, 2, 2, "no mask"),
];

#[test]
fn joint_fixtures_fuse_forward_and_backward_together() {
    use fxsat::Target;
    let mut failures = Vec::new();
    let mut seen = 0;
    for path in common::fixtures() {
        let file = common::short(&path);
        if !file.ends_with(".joint.json") {
            continue;
        }
        seen += 1;
        let Some(&(_, plain, cpu, cuda, _)) = JOINT_EXPECTED.iter().find(|e| e.0 == file) else {
            failures.push(format!("{file}: not in JOINT_EXPECTED"));
            continue;
        };
        assert!(
            plain.max(cpu).max(cuda) <= blocks(&file),
            "{file}: more pairs than blocks"
        );
        let g = common::load(&path);
        let assumed = vec!["no-fully-masked-rows".to_string()];
        for (target, assume, want, fwd, bwd) in [
            (
                Target::Cpu,
                vec![],
                plain,
                "aten._scaled_dot_product_flash_attention_for_cpu.default",
                "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
            ),
            (
                Target::Cpu,
                assumed.clone(),
                cpu,
                "aten._scaled_dot_product_flash_attention_for_cpu.default",
                "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
            ),
            (
                Target::Cuda,
                assumed.clone(),
                cuda,
                "aten._scaled_dot_product_efficient_attention.default",
                "aten._scaled_dot_product_efficient_attention_backward.default",
            ),
        ] {
            let out = optimize(
                &g,
                &Options {
                    file: file.clone(),
                    target,
                    assume: assume.clone(),
                    ..Options::default()
                },
            )
            .unwrap();
            let (f, b) = (
                common::count_target(&out.graph, fwd),
                common::count_target(&out.graph, bwd),
            );
            if f != want || b != want {
                failures.push(format!(
                    "{file} ({target:?}, assume {assume:?}): {f} forward and {b} backward calls, expected {want}"
                ));
            }
            // Where every block fused, no softmax (forward or backward) is left.
            if want == blocks(&file) {
                let left = common::count_target(&out.graph, "aten._softmax.default")
                    + common::count_target(&out.graph, "aten._softmax_backward_data.default")
                    + common::count_target(&out.graph, "prims.fma.default");
                if left != 0 {
                    failures.push(format!("{file} ({target:?}): {left} softmax pieces left"));
                }
            }
        }
    }
    assert_eq!(
        seen,
        JOINT_EXPECTED.len(),
        "joint fixtures and JOINT_EXPECTED differ"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A learned additive bias (T5-style position bias, `tests/fixtures/train/`) gets a gradient,
/// which SDPA's CPU backward does not return: under the assumption, q, k and v take their
/// gradients from the fused pair while the bias's is still computed from the softmax backward
/// (numbers: python/tests/test_optimized_fixtures.py).
#[test]
fn a_learned_bias_keeps_its_own_gradient() {
    let path = common::fixture_dir().join("train/attn_learned_bias.joint.json");
    let g = common::load(&path);
    let run = |assume: Vec<String>| {
        optimize(
            &g,
            &Options {
                assume,
                ..Options::default()
            },
        )
        .unwrap()
        .graph
    };
    let fwd = "aten._scaled_dot_product_flash_attention_for_cpu.default";
    let bwd = "aten._scaled_dot_product_flash_attention_for_cpu_backward.default";
    let plain = run(vec![]);
    assert_eq!(
        common::count_target(&plain, fwd),
        0,
        "a mask needs the assumption"
    );
    let out = run(vec!["no-fully-masked-rows".into()]);
    assert_eq!(common::count_target(&out, fwd), 1);
    assert_eq!(common::count_target(&out, bwd), 1);
    // Outputs: forward result, then the gradients of k, q, bias, v (AOTAutograd's order). The
    // bias gradient is a reduction of the scores' gradient, not an output of the kernel.
    let bias_grad = out.outputs[3].expect("bias gradient");
    let node = &out.nodes[bias_grad.index()];
    assert_eq!(node.target(), Some("aten.sum.dim_IntList"), "{node:?}");
    assert_eq!(
        common::count_target(&out, "aten._softmax_backward_data.default"),
        1
    );
}

/// Training-mode attention dropout (`tests/fixtures/train/`: a hand-written block with p = 0.1
/// and transformers GPT-2 with attn_pdrop = 0.1, causal mask): on CUDA each block becomes one
/// efficient-attention forward/backward pair with `dropout_p = 0.1`, the backward reads the
/// philox seed and offset of its own forward, and no `rand` is left; `--exact-random` and the
/// CPU target (whose flash kernel refuses dropout) keep the dropout and fuse nothing.
#[test]
fn attention_dropout_becomes_dropout_p_on_cuda() {
    use fxsat::ir::{Arg, Graph, NodeKind};
    use fxsat::Target;
    let fwd = "aten._scaled_dot_product_efficient_attention.default";
    let bwd = "aten._scaled_dot_product_efficient_attention_backward.default";
    let rand = "aten.rand.default";
    let args = |g: &Graph, i: usize| -> Vec<Arg> {
        match &g.nodes[i].kind {
            NodeKind::Call { args, .. } => args.clone(),
            _ => vec![],
        }
    };
    // The forward node behind `getitem(fw, k)`: (fw, k).
    let getitem_of = |g: &Graph, a: &Arg| -> Option<(usize, i64)> {
        let Arg::Node(n) = a else { return None };
        match args(g, n.index()).as_slice() {
            [Arg::Node(f), Arg::Int(k)] if g.nodes[n.index()].target() == Some("getitem") => {
                Some((f.index(), *k))
            }
            _ => None,
        }
    };
    for (file, blocks, needs_assume) in [
        ("train/attn_dropout.joint.json", 1, false),
        ("train/gpt2_dropout.joint.json", 2, true),
    ] {
        let g = common::load(&common::fixture_dir().join(file));
        assert_eq!(common::count_target(&g, rand), blocks, "{file}: rand calls");
        let private = fxsat::egraph::dropout::private_dropout_rands(&g);
        assert_eq!(private.len(), blocks, "{file}: private dropout masks");
        let run = |target, assume: bool, exact_random| {
            optimize(
                &g,
                &Options {
                    target,
                    assume: if assume {
                        vec!["no-fully-masked-rows".into()]
                    } else {
                        vec![]
                    },
                    exact_random,
                    ..Options::default()
                },
            )
            .unwrap()
            .graph
        };
        let o = run(Target::Cuda, needs_assume, false);
        assert_eq!(common::count_target(&o, fwd), blocks, "{file}: forwards");
        assert_eq!(common::count_target(&o, bwd), blocks, "{file}: backwards");
        assert_eq!(common::count_target(&o, rand), 0, "{file}: rand left");
        for (i, n) in o.nodes.iter().enumerate() {
            let a = args(&o, i);
            if n.target() == Some(fwd) {
                assert!(matches!(a[5], Arg::Float(p) if p == 0.1), "{file}: {a:?}");
            }
            if n.target() == Some(bwd) {
                assert!(matches!(a[9], Arg::Float(p) if p == 0.1), "{file}: {a:?}");
                let from: Vec<_> = [5, 6, 7, 8].map(|j| getitem_of(&o, &a[j])).to_vec();
                let f = from[0].expect("out is a getitem").0;
                assert_eq!(
                    from,
                    vec![Some((f, 0)), Some((f, 1)), Some((f, 2)), Some((f, 3))],
                    "{file}: the backward reads out, logsumexp, seed and offset of one forward"
                );
                assert_eq!(args(&o, f)[5], a[9], "{file}: one dropout_p");
            }
        }
        for (what, o) in [
            ("--exact-random", run(Target::Cuda, needs_assume, true)),
            ("--target cpu", run(Target::Cpu, needs_assume, false)),
        ] {
            assert_eq!(
                common::count_target(&o, rand),
                blocks,
                "{file} {what}: rand"
            );
            assert_eq!(common::count_target(&o, fwd), 0, "{file} {what}");
            assert_eq!(
                common::count_target(
                    &o,
                    "aten._scaled_dot_product_flash_attention_for_cpu.default"
                ),
                0,
                "{file} {what}"
            );
        }
        if needs_assume {
            let o = run(Target::Cuda, false, false);
            assert_eq!(
                common::count_target(&o, fwd),
                0,
                "{file}: a mask needs the assumption"
            );
            assert_eq!(common::count_target(&o, rand), blocks, "{file}");
        }
    }
}

/// A dropout mask that something else reads is not private: here the dropped weights are
/// also a graph output (as `output_attentions` returns them), so the kernel's own mask would
/// no longer match the returned weights; the block keeps its `rand` and is not fused.
#[test]
fn a_dropout_mask_used_elsewhere_is_not_replaced() {
    use fxsat::Target;
    let mut g = common::load(&common::fixture_dir().join("train/attn_dropout.joint.json"));
    let d = g
        .nodes
        .iter()
        .position(|n| n.name == "mul_2")
        .expect("the dropped weights `mul_2`");
    // Return them as one more forward output.
    let k = g.num_fwd_outputs.unwrap();
    g.outputs.insert(k, Some(fxsat::ir::NodeId(d as u32)));
    g.num_fwd_outputs = Some(k + 1);
    assert!(fxsat::egraph::dropout::private_dropout_rands(&g).is_empty());
    let o = optimize(
        &g,
        &Options {
            target: Target::Cuda,
            ..Options::default()
        },
    )
    .unwrap()
    .graph;
    assert_eq!(common::count_target(&o, "aten.rand.default"), 1);
    assert_eq!(
        common::count_target(&o, "aten._scaled_dot_product_efficient_attention.default"),
        0
    );
}

/// Two dropouts of weights the e-graph holds as one class (`train/attn_dropout_twice`: the
/// same block computed twice, each with its own mask) would become one kernel call, one mask
/// for two independent ones (without the guard the result has 1 efficient-attention call and
/// no rand): neither rand is private, both blocks keep their dropout.
#[test]
fn two_dropouts_of_one_weights_class_are_not_replaced() {
    let g = common::load(&common::fixture_dir().join("train/attn_dropout_twice.joint.json"));
    assert_eq!(fxsat::egraph::dropout::private_dropout_rands(&g).len(), 2);
    let o = optimize(
        &g,
        &Options {
            target: fxsat::Target::Cuda,
            ..Options::default()
        },
    )
    .unwrap()
    .graph;
    assert_eq!(common::count_target(&o, "aten.rand.default"), 2);
    assert_eq!(
        common::count_target(&o, "aten._scaled_dot_product_efficient_attention.default"),
        0
    );
}

/// The pipeline's last guard: an output where a dropout's kernel was emitted while its
/// `rand` is still used (replaced in part) is detected (and `optimize` then redoes the graph
/// without the in-distribution rules); whole replacements and kept dropouts pass.
#[test]
fn a_partly_replaced_dropout_is_detected() {
    use fxsat::egraph::dropout::whole_dropouts_replaced;
    let g = common::load(&common::fixture_dir().join("train/attn_dropout.joint.json"));
    let run = |exact_random| {
        optimize(
            &g,
            &Options {
                target: fxsat::Target::Cuda,
                exact_random,
                ..Options::default()
            },
        )
        .unwrap()
        .graph
    };
    let (fused, kept) = (run(false), run(true));
    assert!(whole_dropouts_replaced(&g, &fused));
    assert!(whole_dropouts_replaced(&g, &kept));
    assert!(whole_dropouts_replaced(&g, &g));
    let mut partly = fused.clone();
    let rand = g.nodes.iter().find(|n| n.name == "rand").unwrap().clone();
    partly.nodes.push(rand);
    assert!(!whole_dropouts_replaced(&g, &partly));
}

/// The CUDA memory-efficient kernel reads its bias at 16-element aligned strides: a mask whose
/// key length (8 here) is not a multiple of 16 reaches it padded with zeros and sliced back,
/// as PyTorch's own dispatch does, so every stride but the last is 0 or a multiple of 16 and
/// the values it reads are the mask's.
#[test]
fn cuda_attention_bias_is_aligned_to_16_elements() {
    use fxsat::ir::{Arg, NodeKind, Val};
    use fxsat::Target;
    let g = common::load(&common::fixture_dir().join("attn_div_mask.forward.json"));
    let out = optimize(
        &g,
        &Options {
            file: "attn_div_mask.forward.json".into(),
            target: Target::Cuda,
            assume: vec!["no-fully-masked-rows".into()],
            ..Options::default()
        },
    )
    .unwrap()
    .graph;
    let kernel = "aten._scaled_dot_product_efficient_attention.default";
    let mut seen = 0;
    for n in &out.nodes {
        let NodeKind::Call { args, .. } = &n.kind else {
            continue;
        };
        if n.target() != Some(kernel) {
            continue;
        }
        seen += 1;
        let Arg::Node(b) = &args[3] else {
            panic!("bias is not a node: {args:?}")
        };
        let bias = &out.nodes[b.index()];
        assert_eq!(bias.target(), Some("aten.slice.Tensor"), "{bias:?}");
        let Val::Tensor(t) = &bias.val else {
            panic!("{bias:?}")
        };
        assert_eq!(t.shape.last(), Some(&8), "{t:?}");
        let (last, lead) = t.stride.split_last().unwrap();
        assert_eq!(*last, 1, "{t:?}");
        assert!(lead.iter().all(|s| s % 16 == 0), "{t:?}");
    }
    assert_eq!(seen, 1);
}
