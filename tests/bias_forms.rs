//! The attention forms of `rules/bias.rules` (issue 19, part 2), data-driven: each fixture
//! `tests/fixtures/train_forms/train_form_<form>_<dtype>[_<variant>].<kind>.json` of
//! `python/fixtures/gen_bias_fixtures.py` optimised for the CPU and for CUDA, by default and
//! with `--assume no-fully-masked-rows`, must hold exactly the expected number of SDPA forward
//! and backward kernel calls, and no decomposed softmax where the whole block is fused. Every
//! such fixture must be listed. Numerics: `python/tests/test_bias_forms.py` (CPU) and
//! `experiments/gpu_bias_check.py` (CUDA).

mod common;

use fxsat::{optimize, Options, Target};

/// Expected `(forward calls, backward calls, softmax left)` (forward calls: the target's
/// kernel or the composite SDPA) per fixture for CPU default, CPU
/// with the assumption, CUDA default, CUDA with the assumption. "softmax left": the graph
/// still holds a decomposed `_softmax` (T5 under the assumption keeps the softmax whose
/// backward gives the learned bias its gradient).
type Case = (u32, u32, bool);
const EXPECTED: &[(&str, [Case; 4], &str)] = &[
    // DistilBERT's -inf fill: fused by default on both targets (bias.rules' -ninf rules).
    // CUDA at L = S = 128 keeps the decomposed softmax for the output and dv: the extraction's
    // one-class-at-a-time search does not flip both NaN-wrapped outputs at once (at 512 it does).
    (
        "train_form_distilbert_fp32_tangent.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, fully masked rows",
    ),
    (
        "train_form_distilbert_fp32_loss.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, loss in the graph",
    ),
    (
        "train_form_distilbert_fp32.forward.json",
        [(1, 0, false), (1, 0, false), (1, 0, false), (1, 0, false)],
        "-inf fill, inference",
    ),
    (
        "train_form_distilbert_bf16.forward.json",
        [(1, 0, false), (1, 0, false), (1, 0, false), (1, 0, false)],
        "-inf fill, inference, bf16",
    ),
    // bf16 joint graphs: the softmax is upcast to float32 and its backward too; forms.rules
    // (issue 19, part 1) brings them to the fp32 spelling, and they fuse as fp32 does.
    (
        "train_form_distilbert_bf16_tangent.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, bf16 softmax upcast",
    ),
    (
        "train_form_distilbert_bf16_loss.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, bf16 softmax upcast, loss in the graph",
    ),
    (
        "train_form_distilbert_mul_fp32.forward.json",
        [(1, 0, false); 4],
        "-inf fill, scale multiplied, inference",
    ),
    (
        "train_form_distilbert_mul_fp32_tangent.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, scale multiplied (zero-rows-mul)",
    ),
    (
        "train_form_distilbert_mul_fp32_loss.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, scale multiplied (zero-rows-mul)",
    ),
    (
        "train_form_distilbert_mul_bf16.forward.json",
        [(1, 0, false); 4],
        "-inf fill, scale multiplied, inference",
    ),
    (
        "train_form_distilbert_mul_bf16_tangent.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, scale multiplied (zero-rows-mul)",
    ),
    (
        "train_form_distilbert_mul_bf16_loss.joint.json",
        [(1, 1, false), (1, 1, false), (1, 1, true), (1, 1, true)],
        "-inf fill, scale multiplied (zero-rows-mul)",
    ),
    (
        "train_form_dropout_mask_fp32.forward.json",
        [(0, 0, true), (0, 0, true), (0, 0, true), (1, 0, false)],
        "train-mode dropout and a float mask, inference (CUDA, under the assumption)",
    ),
    (
        "train_form_dropout_mask_bf16.forward.json",
        [(0, 0, true), (0, 0, true), (0, 0, true), (1, 0, false)],
        "train-mode dropout and a float mask, inference (CUDA, under the assumption)",
    ),
    // Dropout kept in an inference graph: CUDA's kernel takes dropout_p (in distribution).
    (
        "train_form_dropout_fp32.forward.json",
        [(0, 0, true), (0, 0, true), (1, 0, false), (1, 0, false)],
        "train-mode dropout, inference",
    ),
    (
        "train_form_dropout_bf16.forward.json",
        [(0, 0, true), (0, 0, true), (1, 0, false), (1, 0, false)],
        "train-mode dropout, inference, bf16",
    ),
    // T5: a learned bias is an arbitrary float mask: under the assumption only; its gradient
    // comes from the kept softmax backward (the CPU kernel returns none).
    (
        "train_form_t5_fp32_tangent.joint.json",
        [(0, 0, true), (1, 1, true), (0, 0, true), (1, 1, true)],
        "learned position bias",
    ),
    (
        "train_form_t5_fp32_loss.joint.json",
        [(0, 0, true), (1, 1, true), (0, 0, true), (1, 1, true)],
        "learned position bias, loss in the graph",
    ),
    (
        "train_form_t5_fp32.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "position bias, inference",
    ),
    (
        "train_form_t5_bf16.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "position bias, inference, bf16",
    ),
    (
        "train_form_t5_bf16_tangent.joint.json",
        [(0, 0, true), (0, 0, true), (0, 0, true), (1, 1, true)],
        "learned position bias, bf16 (fused on CUDA only)",
    ),
    (
        "train_form_t5_bf16_loss.joint.json",
        [(0, 0, true), (0, 0, true), (0, 0, true), (1, 1, true)],
        "learned position bias, bf16 (fused on CUDA only)",
    ),
    // ALiBi through baddbmm on (B·H, L, ·): inference fuses (sdpa-baddbmm); the joint graph's
    // backward (3-D bmm, the scale after the product) fuses under the assumption in fp32
    // (softmax-backward-scale-into-*); bf16 joint graphs do not fuse.
    (
        "train_form_alibi_fp32.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "baddbmm ALiBi, inference",
    ),
    (
        "train_form_alibi_bf16.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "baddbmm ALiBi, inference, bf16",
    ),
    (
        "train_form_alibi_learned_fp32.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "baddbmm learned bias, inference",
    ),
    (
        "train_form_alibi_learned_bf16.forward.json",
        [(1, 0, false), (1, 0, false), (0, 0, true), (1, 0, false)],
        "baddbmm learned bias, inference, bf16",
    ),
    (
        "train_form_alibi_fp32_tangent.joint.json",
        [(0, 0, true), (1, 1, false), (0, 0, true), (1, 1, false)],
        "baddbmm ALiBi: a float bias, under the assumption",
    ),
    (
        "train_form_alibi_fp32_loss.joint.json",
        [(0, 0, true), (1, 1, false), (0, 0, true), (1, 1, false)],
        "baddbmm ALiBi: a float bias, under the assumption",
    ),
    (
        "train_form_alibi_bf16_tangent.joint.json",
        [(0, 0, true); 4],
        "baddbmm ALiBi, 3-D backward",
    ),
    (
        "train_form_alibi_bf16_loss.joint.json",
        [(0, 0, true); 4],
        "baddbmm ALiBi, 3-D backward",
    ),
    (
        "train_form_alibi_learned_fp32_tangent.joint.json",
        [(0, 0, true), (1, 1, true), (0, 0, true), (1, 1, true)],
        "baddbmm learned bias: its gradient from the kept softmax backward",
    ),
    (
        "train_form_alibi_learned_fp32_loss.joint.json",
        [(0, 0, true), (1, 1, true), (0, 0, true), (1, 1, true)],
        "baddbmm learned bias: its gradient from the kept softmax backward",
    ),
    (
        "train_form_alibi_learned_bf16_tangent.joint.json",
        [(0, 0, true); 4],
        "baddbmm learned bias, 3-D backward",
    ),
    (
        "train_form_alibi_learned_bf16_loss.joint.json",
        [(0, 0, true); 4],
        "baddbmm learned bias, 3-D backward",
    ),
];

/// The fixtures of this family (the folder holds other helpers' fixtures too).
const FORMS: &[&str] = &[
    "t5",
    "alibi",
    "alibi_learned",
    "distilbert",
    "distilbert_mul",
    "dropout",
    "dropout_mask",
];

fn mine(name: &str) -> bool {
    FORMS.iter().any(|f| {
        name.strip_prefix(&format!("train_form_{f}_"))
            .is_some_and(|rest| rest.starts_with("fp32") || rest.starts_with("bf16"))
    })
}

#[test]
fn bias_forms_fuse_as_expected() {
    let dir = common::fixture_dir().join("train_forms");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/train_forms")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && mine(n))
        .collect();
    files.sort();
    assert_eq!(files.len(), EXPECTED.len(), "fixtures: {files:?}");
    let assumed = vec!["no-fully-masked-rows".to_string()];
    let mut failures = Vec::new();
    for file in &files {
        let Some((_, cases, _)) = EXPECTED.iter().find(|e| e.0 == file) else {
            failures.push(format!("{file}: not in EXPECTED"));
            continue;
        };
        let g = common::load(&dir.join(file));
        let runs = [
            (Target::Cpu, vec![]),
            (Target::Cpu, assumed.clone()),
            (Target::Cuda, vec![]),
            (Target::Cuda, assumed.clone()),
        ];
        for ((target, assume), &(want_f, want_b, want_softmax)) in runs.iter().zip(cases) {
            let (fwd, bwd) = match target {
                Target::Cpu => (
                    "aten._scaled_dot_product_flash_attention_for_cpu.default",
                    "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
                ),
                Target::Cuda => (
                    "aten._scaled_dot_product_efficient_attention.default",
                    "aten._scaled_dot_product_efficient_attention_backward.default",
                ),
            };
            let out = optimize(
                &g,
                &Options {
                    file: file.clone(),
                    target: *target,
                    assume: assume.clone(),
                    ..Options::default()
                },
            )
            .unwrap();
            // The composite SDPA (kept where the kernel does not take the call, e.g. 3-D
            // inputs) counts as a fused forward too.
            let f = (common::count_target(&out.graph, fwd)
                + common::count_target(&out.graph, "aten.scaled_dot_product_attention.default"))
                as u32;
            let b = common::count_target(&out.graph, bwd) as u32;
            let softmax = common::count_target(&out.graph, "aten._softmax.default")
                + common::count_target(&out.graph, "aten.amax.default")
                > 0;
            if (f, b, softmax) != (want_f, want_b, want_softmax) {
                failures.push(format!(
                    "{file} ({target:?}, assume {assume:?}): {f} forward, {b} backward calls, softmax left {softmax}; expected {want_f}, {want_b}, {want_softmax}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// DistilBERT's fused joint graph puts NaN back exactly where the decomposed one has it: the
/// forward's rows that the mask covers everywhere (`where(all(c, -1), NaN, ·)`) and the
/// gradient of v of each (batch, head) slice holding such a row (`where(any(.., -2), NaN, ·)`).
#[test]
fn distilbert_nan_rows_are_put_back() {
    let dir = common::fixture_dir().join("train_forms");
    let g = common::load(&dir.join("train_form_distilbert_fp32_tangent.joint.json"));
    let out = optimize(
        &g,
        &Options {
            file: "distilbert".into(),
            target: Target::Cpu,
            ..Options::default()
        },
    )
    .unwrap();
    let targets: Vec<&str> = out.graph.nodes.iter().filter_map(|n| n.target()).collect();
    let has = |p: &str| targets.iter().any(|t| t.starts_with(p));
    assert!(has("aten.all."), "the forward's NaN rows: {targets:?}");
    assert!(has("aten.any."), "dv's NaN slices: {targets:?}");
    assert!(
        !has("prims.fma"),
        "the softmax backward is gone: {targets:?}"
    );
    assert_eq!(out.report.rules["sdpa-train-dv-ninf"], 1);
    assert_eq!(out.report.rules["ninf-softmax-backward"], 1);
}
