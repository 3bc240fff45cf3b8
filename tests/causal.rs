//! Causal masks proven by the analysis (`rules/causal.rules`, `src/egraph/mask.rs`): each
//! fixture of `tests/fixtures/causal/` (python/fixtures/gen_causal_fixtures.py) optimised with
//! the default options for the CPU and for CUDA gives exactly the fused attention calls of
//! [`EXPECTED`]: the kernels' forward and backward calls, how many of them run with
//! `is_causal=True` (no mask tensor), how many take a mask, and the matmuls left over.
//! Numbers are checked in PyTorch by python/tests/test_causal_fixtures.py (CPU) and
//! experiments/gpu_causal_check.py (CUDA, on the device).

mod common;

use fxsat::ir::{Arg, Graph, NodeKind};
use fxsat::{optimize, Options, Target};

/// `fixture target: fwd bwd causal masked matmuls`, one line per fixture and target.
/// * hf/gpt2/tril (f32; div, unscaled, keepinf: other scalings and `where(c, s, -inf)`,
///   float32 forward only): purely causal, every target: the causal kernel, no mask, nothing left.
/// * hf5 (transformers 5.x: causal by index AND the packed-sequence overlay of in-graph
///   position ids, all one sequence): purely causal, as hf.
/// * allkept (transformers 5.x's bidirectional mask of an unpadded batch,
///   `where(q_idx >= 0, 0, finfo.min)`: all zeros): fused with no mask at all.
/// * window, rect, packed (hf5 with position ids an input: two packed sequences; the overlay
///   keeps at least the diagonal): keep a key in every row but are not SDPA's square causal
///   mask: fused with their mask, by default (no `--assume`).
/// * pad (causal AND a key-padding input) and shifted (`tril(ones, -1)`, row 0 fully
///   masked): no proof of a kept key per row. Their masks are HF's `where(keep, 0, finfo.min)`
///   (the 0 a `lift_fresh_copy` of a constant), so they fuse forward and backward by the
///   `-keep` rules (fill halved, g/S in the rows with no kept key) on both targets (on CUDA
///   S = 8 keys: the lowering pads the bias to the efficient kernel's 16-element rows).
/// * bfloat16 joints fuse like the float32 ones: their softmax backward (upcast to float32,
///   fma, cast back) is normalised by `rules/forms.rules` (issue 19).
const EXPECTED: &str = "
causal_allkept_bf16.forward cpu: 1 0 0 0 0
causal_allkept_bf16.forward cuda: 1 0 0 0 0
causal_allkept_bf16.joint cpu: 1 1 0 0 0
causal_allkept_bf16.joint cuda: 1 1 0 0 0
causal_allkept_f32.forward cpu: 1 0 0 0 0
causal_allkept_f32.forward cuda: 1 0 0 0 0
causal_allkept_f32.joint cpu: 1 1 0 0 0
causal_allkept_f32.joint cuda: 1 1 0 0 0
causal_hf5_bf16.forward cpu: 1 0 1 0 0
causal_hf5_bf16.forward cuda: 1 0 1 0 0
causal_hf5_bf16.joint cpu: 1 1 2 0 0
causal_hf5_bf16.joint cuda: 1 1 2 0 0
causal_hf5_f32.forward cpu: 1 0 1 0 0
causal_hf5_f32.forward cuda: 1 0 1 0 0
causal_hf5_f32.joint cpu: 1 1 2 0 0
causal_hf5_f32.joint cuda: 1 1 2 0 0
causal_packed_bf16.forward cpu: 1 0 0 1 0
causal_packed_bf16.forward cuda: 1 0 0 1 0
causal_packed_bf16.joint cpu: 1 1 0 2 0
causal_packed_bf16.joint cuda: 1 1 0 2 0
causal_packed_f32.forward cpu: 1 0 0 1 0
causal_packed_f32.forward cuda: 1 0 0 1 0
causal_packed_f32.joint cpu: 1 1 0 2 0
causal_packed_f32.joint cuda: 1 1 0 2 0
causal_div_f32.forward cpu: 1 0 1 0 0
causal_div_f32.forward cuda: 1 0 1 0 0
causal_keepinf_f32.forward cpu: 1 0 1 0 0
causal_keepinf_f32.forward cuda: 1 0 1 0 0
causal_unscaled_f32.forward cpu: 1 0 1 0 0
causal_unscaled_f32.forward cuda: 1 0 1 0 0
causal_windiv_f32.forward cpu: 1 0 0 1 0
causal_windiv_f32.forward cuda: 1 0 0 1 0
causal_winunscaled_f32.forward cpu: 1 0 0 1 0
causal_winunscaled_f32.forward cuda: 1 0 0 1 0
causal_gpt2_bf16.forward cpu: 1 0 1 0 0
causal_gpt2_bf16.forward cuda: 1 0 1 0 0
causal_gpt2_bf16.joint cpu: 1 1 2 0 0
causal_gpt2_bf16.joint cuda: 1 1 2 0 0
causal_gpt2_f32.forward cpu: 1 0 1 0 0
causal_gpt2_f32.forward cuda: 1 0 1 0 0
causal_gpt2_f32.joint cpu: 1 1 2 0 0
causal_gpt2_f32.joint cuda: 1 1 2 0 0
causal_hf_bf16.forward cpu: 1 0 1 0 0
causal_hf_bf16.forward cuda: 1 0 1 0 0
causal_hf_bf16.joint cpu: 1 1 2 0 0
causal_hf_bf16.joint cuda: 1 1 2 0 0
causal_hf_f32.forward cpu: 1 0 1 0 0
causal_hf_f32.forward cuda: 1 0 1 0 0
causal_hf_f32.joint cpu: 1 1 2 0 0
causal_hf_f32.joint cuda: 1 1 2 0 0
causal_pad_bf16.forward cpu: 1 0 0 1 0
causal_pad_bf16.forward cuda: 1 0 0 1 0
causal_pad_bf16.joint cpu: 1 1 0 2 0
causal_pad_bf16.joint cuda: 1 1 0 2 0
causal_pad_f32.forward cpu: 1 0 0 1 0
causal_pad_f32.forward cuda: 1 0 0 1 0
causal_pad_f32.joint cpu: 1 1 0 2 0
causal_pad_f32.joint cuda: 1 1 0 2 0
causal_rect_bf16.forward cpu: 1 0 0 1 0
causal_rect_bf16.forward cuda: 1 0 0 1 0
causal_rect_bf16.joint cpu: 1 1 0 2 0
causal_rect_bf16.joint cuda: 1 1 0 2 0
causal_rect_f32.forward cpu: 1 0 0 1 0
causal_rect_f32.forward cuda: 1 0 0 1 0
causal_rect_f32.joint cpu: 1 1 0 2 0
causal_rect_f32.joint cuda: 1 1 0 2 0
causal_shifted_bf16.forward cpu: 1 0 0 1 0
causal_shifted_bf16.forward cuda: 1 0 0 1 0
causal_shifted_bf16.joint cpu: 1 1 0 2 0
causal_shifted_bf16.joint cuda: 1 1 0 2 0
causal_shifted_f32.forward cpu: 1 0 0 1 0
causal_shifted_f32.forward cuda: 1 0 0 1 0
causal_shifted_f32.joint cpu: 1 1 0 2 0
causal_shifted_f32.joint cuda: 1 1 0 2 0
causal_tril_bf16.forward cpu: 1 0 1 0 0
causal_tril_bf16.forward cuda: 1 0 1 0 0
causal_tril_bf16.joint cpu: 1 1 2 0 0
causal_tril_bf16.joint cuda: 1 1 2 0 0
causal_tril_f32.forward cpu: 1 0 1 0 0
causal_tril_f32.forward cuda: 1 0 1 0 0
causal_tril_f32.joint cpu: 1 1 2 0 0
causal_tril_f32.joint cuda: 1 1 2 0 0
causal_window_bf16.forward cpu: 1 0 0 1 0
causal_window_bf16.forward cuda: 1 0 0 1 0
causal_window_bf16.joint cpu: 1 1 0 2 0
causal_window_bf16.joint cuda: 1 1 0 2 0
causal_window_f32.forward cpu: 1 0 0 1 0
causal_window_f32.forward cuda: 1 0 0 1 0
causal_window_f32.joint cpu: 1 1 0 2 0
causal_window_f32.joint cuda: 1 1 0 2 0
";

/// The fused attention calls: `(target, position of is_causal, position of the mask)`.
const KERNELS: &[(&str, usize, usize, bool)] = &[
    ("aten.scaled_dot_product_attention.default", 5, 3, false),
    (
        "aten._scaled_dot_product_flash_attention_for_cpu.default",
        4,
        usize::MAX,
        false,
    ),
    (
        "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
        7,
        usize::MAX,
        true,
    ),
    (
        "aten._scaled_dot_product_efficient_attention.default",
        6,
        3,
        false,
    ),
    (
        "aten._scaled_dot_product_efficient_attention_backward.default",
        11,
        4,
        true,
    ),
    (
        "aten._scaled_dot_product_flash_attention.default",
        4,
        usize::MAX,
        false,
    ),
    (
        "aten._scaled_dot_product_flash_attention_backward.default",
        11,
        usize::MAX,
        true,
    ),
];

/// `fwd bwd causal masked matmuls` of an optimised graph.
fn summary(g: &Graph) -> String {
    let (mut fwd, mut bwd, mut causal, mut masked, mut matmuls) = (0, 0, 0, 0, 0);
    for n in &g.nodes {
        let NodeKind::Call {
            target,
            args,
            kwargs,
        } = &n.kind
        else {
            continue;
        };
        if matches!(
            target.as_str(),
            "aten.bmm.default" | "aten.matmul.default" | "aten.mm.default"
        ) {
            matmuls += 1;
        }
        let Some(&(_, at, mask_at, backward)) = KERNELS.iter().find(|k| k.0 == target) else {
            continue;
        };
        if backward {
            bwd += 1;
        } else {
            fwd += 1;
        }
        if matches!(args.get(at), Some(Arg::Bool(true))) {
            causal += 1;
        }
        if matches!(mask_arg(args, kwargs, mask_at), Some(Arg::Node(_))) {
            masked += 1;
        }
    }
    format!("{fwd} {bwd} {causal} {masked} {matmuls}")
}

/// A kernel call's mask: its argument at `mask_at`, else its `attn_mask` keyword.
fn mask_arg<'a>(args: &'a [Arg], kwargs: &'a [(String, Arg)], mask_at: usize) -> Option<&'a Arg> {
    args.get(mask_at).or_else(|| {
        kwargs
            .iter()
            .find(|(k, _)| k == "attn_mask")
            .map(|(_, a)| a)
    })
}

#[test]
fn causal_fixtures_fuse_as_expected_on_each_target() {
    let dir = common::fixture_dir().join("causal");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::is_graph_fixture(p))
        .collect();
    files.sort();
    assert!(files.len() >= 45, "found {} causal fixtures", files.len());
    let mut got = Vec::new();
    for p in &files {
        let g = common::load(p);
        let stem = common::short(p).trim_end_matches(".json").to_string();
        for target in [Target::Cpu, Target::Cuda] {
            let out = optimize(
                &g,
                &Options {
                    file: stem.clone(),
                    target,
                    ..Options::default()
                },
            )
            .unwrap_or_else(|e| panic!("{stem} {target}: {e}"));
            got.push(format!("{stem} {target}: {}", summary(&out.graph)));
        }
    }
    let want: Vec<&str> = EXPECTED.trim().lines().collect();
    let diff: Vec<String> = got
        .iter()
        .filter(|g| !want.contains(&g.as_str()))
        .cloned()
        .collect();
    assert!(
        diff.is_empty() && got.len() == want.len(),
        "fused calls differ from EXPECTED:\n{}\n(all:\n{})",
        diff.join("\n"),
        got.join("\n")
    );
}

/// An explicit `--assume no-fully-masked-rows` changes nothing for a block already proven:
/// the causal call is as cheap as it gets, with or without the assumption.
#[test]
fn the_assumption_does_not_change_proven_causal_blocks() {
    let p = common::fixture_dir().join("causal/causal_hf_f32.joint.json");
    let g = common::load(&p);
    for target in [Target::Cpu, Target::Cuda] {
        let run = |assume: Vec<String>| {
            let out = optimize(
                &g,
                &Options {
                    target,
                    assume,
                    ..Options::default()
                },
            )
            .unwrap();
            summary(&out.graph)
        };
        assert_eq!(
            run(vec![]),
            run(vec!["no-fully-masked-rows".into()]),
            "{target}"
        );
    }
}

/// A `-inf` fill whose mask the analysis knows nothing of (a bool input) is NaN in the rows it
/// masks everywhere, and 0 after the kernels: it keeps `attention.rules`' NaN-row fix-up
/// (`where(all(c, -1), NaN, ..)`) instead of becoming a bare additive mask.
#[test]
fn an_unproven_neg_inf_fill_keeps_its_nan_rows() {
    for name in [
        "attention/x_masked_fill_bool_fp32_b1.forward.json",
        "attention/trap_mask_eq0_values012_fp32_b2.forward.json",
    ] {
        let g = common::load(&common::fixture_dir().join(name));
        let out = optimize(&g, &Options::default()).unwrap();
        let targets: Vec<&str> = out
            .graph
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Call { target, .. } => Some(target.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            targets.contains(&"aten._scaled_dot_product_flash_attention_for_cpu.default")
                && targets.contains(&"aten.all.dims"),
            "{name}: {targets:?}"
        );
    }
}

/// A padding mask AND-ed with a query term proven true everywhere (transformers 5.x's
/// bidirectional mask: BERT's fixture, `[B, 1, 1, S]` keys AND `q_idx >= 0` over `[1, 1, L, 1]`)
/// reaches the kernels broadcast: behind the views each kernel reads as its mask lies a tensor
/// of B·S elements, not the B·L·S the graph materialised (`rules/causal.rules`,
/// `and-all-true-*`, `where-of-expanded-condition`).
#[test]
fn a_padding_mask_reaches_the_kernels_broadcast_not_materialised() {
    const VIEWS: &[&str] = &[
        "aten.expand.default",
        "aten.view.default",
        "aten.slice.Tensor",
        "aten.unsqueeze.default",
        "aten.permute.default",
    ];
    let g = common::load(&common::fixture_dir().join("bert.joint.json"));
    for target in [Target::Cpu, Target::Cuda] {
        let out = optimize(
            &g,
            &Options {
                target,
                ..Options::default()
            },
        )
        .unwrap();
        let nodes = &out.graph.nodes;
        let mut masks = Vec::new();
        for n in nodes {
            let NodeKind::Call {
                target: t,
                args,
                kwargs,
            } = &n.kind
            else {
                continue;
            };
            let Some(&(_, _, mask_at, _)) = KERNELS.iter().find(|k| k.0 == t) else {
                continue;
            };
            let Some(Arg::Node(mut id)) = mask_arg(args, kwargs, mask_at).cloned() else {
                continue;
            };
            // through the views to the tensor that holds the data
            while let NodeKind::Call {
                target: v, args, ..
            } = &nodes[id.index()].kind
            {
                match args.first() {
                    Some(Arg::Node(src)) if VIEWS.contains(&v.as_str()) => id = *src,
                    _ => break,
                }
            }
            masks.push(match &nodes[id.index()].val {
                fxsat::ir::Val::Tensor(t) => t.shape.clone(),
                v => panic!("{target}: mask data {v:?}"),
            });
        }
        assert!(
            masks.len() >= 4,
            "{target}: {} masked kernel calls",
            masks.len()
        );
        for m in &masks {
            assert_eq!(
                m.iter().product::<i64>(),
                2 * 16,
                "{target}: mask data {m:?}"
            );
        }
    }
}
