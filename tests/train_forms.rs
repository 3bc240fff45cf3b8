//! Attention forms fused in inference that training graphs spell differently (issue 19,
//! part 1: einsum, hand-written softmax, 3-D bmm, MBart's view dance, bf16 softmax upcast):
//! the fixtures of `tests/fixtures/train_forms/` (made by
//! `python/fixtures/gen_train_forms.py`), their SDPA calls per target and assumption, and the
//! "Training vs inference" table of docs/attention.md (made by `experiments/train_forms.py`),
//! recomputed here. Numbers are checked in PyTorch by
//! `python/tests/test_train_forms.py`.

mod common;

use fxsat::ir::Graph;
use fxsat::{optimize, Options, Target};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The forms of `gen_train_forms.py`: each has a forward graph and two joint graphs (tangent
/// fed, loss in the graph) in fp32 and bf16.
const FORMS: &[&str] = &[
    "einsum",
    "handsoftmax",
    "bmm3d",
    "mbart",
    "llama_upcast",
    "float_upcast",
    "bert",
    "llama_mask",
    "upcast_div",
    "upcast_unscaled",
    "upcast_div_mask",
    "upcast_unscaled_mask",
];

/// Per fixture stem (`train_form_<form>_<dtype>[_<variant>]`, kind from the suffix): SDPA
/// calls expected on `--target cpu`, `--target cuda`, and both with
/// `--assume no-fully-masked-rows`. For a joint graph the number is the forward calls, the
/// backward calls, and (when it equals the blocks) no softmax or softmax backward left.
/// Masked forms (an arbitrary float mask: mbart, bert, llama_mask, upcast_*_mask) fuse only
/// under the assumption;
/// inference on CUDA keeps masked blocks unfused without it too (attention.rules).
const EXPECTED: &[(&str, [usize; 4])] = &[
    ("train_form_einsum_fp32.forward", [1, 1, 1, 1]),
    ("train_form_einsum_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_einsum_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_einsum_bf16.forward", [1, 1, 1, 1]),
    ("train_form_einsum_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_einsum_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_handsoftmax_fp32.forward", [1, 1, 1, 1]),
    ("train_form_handsoftmax_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_handsoftmax_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_handsoftmax_bf16.forward", [1, 1, 1, 1]),
    ("train_form_handsoftmax_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_handsoftmax_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_bmm3d_fp32.forward", [1, 1, 1, 1]),
    ("train_form_bmm3d_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_bmm3d_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_bmm3d_bf16.forward", [1, 1, 1, 1]),
    ("train_form_bmm3d_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_bmm3d_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_mbart_fp32.forward", [1, 0, 1, 1]),
    ("train_form_mbart_fp32_tangent.joint", [0, 0, 1, 1]),
    ("train_form_mbart_fp32_loss.joint", [0, 0, 1, 1]),
    ("train_form_mbart_bf16.forward", [1, 0, 1, 1]),
    ("train_form_mbart_bf16_tangent.joint", [0, 0, 1, 1]),
    ("train_form_mbart_bf16_loss.joint", [0, 0, 1, 1]),
    ("train_form_llama_upcast_fp32.forward", [1, 1, 1, 1]),
    ("train_form_llama_upcast_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_llama_upcast_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_llama_upcast_bf16.forward", [1, 1, 1, 1]),
    ("train_form_llama_upcast_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_llama_upcast_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_float_upcast_fp32.forward", [1, 1, 1, 1]),
    ("train_form_float_upcast_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_float_upcast_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_float_upcast_bf16.forward", [1, 1, 1, 1]),
    ("train_form_float_upcast_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_float_upcast_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_bert_fp32.forward", [1, 0, 1, 1]),
    ("train_form_bert_fp32_tangent.joint", [0, 0, 1, 1]),
    ("train_form_bert_fp32_loss.joint", [0, 0, 1, 1]),
    ("train_form_bert_bf16.forward", [1, 0, 1, 1]),
    ("train_form_bert_bf16_tangent.joint", [0, 0, 1, 1]),
    ("train_form_bert_bf16_loss.joint", [0, 0, 1, 1]),
    ("train_form_llama_mask_fp32.forward", [1, 0, 1, 1]),
    ("train_form_llama_mask_fp32_tangent.joint", [0, 0, 1, 1]),
    ("train_form_llama_mask_fp32_loss.joint", [0, 0, 1, 1]),
    ("train_form_llama_mask_bf16.forward", [1, 0, 1, 1]),
    ("train_form_llama_mask_bf16_tangent.joint", [0, 0, 1, 1]),
    ("train_form_llama_mask_bf16_loss.joint", [0, 0, 1, 1]),
    ("train_form_upcast_div_fp32.forward", [1, 1, 1, 1]),
    ("train_form_upcast_div_fp32_tangent.joint", [1, 1, 1, 1]),
    ("train_form_upcast_div_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_upcast_div_bf16.forward", [1, 1, 1, 1]),
    ("train_form_upcast_div_bf16_tangent.joint", [1, 1, 1, 1]),
    ("train_form_upcast_div_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_upcast_unscaled_fp32.forward", [1, 1, 1, 1]),
    (
        "train_form_upcast_unscaled_fp32_tangent.joint",
        [1, 1, 1, 1],
    ),
    ("train_form_upcast_unscaled_fp32_loss.joint", [1, 1, 1, 1]),
    ("train_form_upcast_unscaled_bf16.forward", [1, 1, 1, 1]),
    (
        "train_form_upcast_unscaled_bf16_tangent.joint",
        [1, 1, 1, 1],
    ),
    ("train_form_upcast_unscaled_bf16_loss.joint", [1, 1, 1, 1]),
    ("train_form_upcast_div_mask_fp32.forward", [1, 0, 1, 1]),
    (
        "train_form_upcast_div_mask_fp32_tangent.joint",
        [0, 0, 1, 1],
    ),
    ("train_form_upcast_div_mask_fp32_loss.joint", [0, 0, 1, 1]),
    ("train_form_upcast_div_mask_bf16.forward", [1, 0, 1, 1]),
    (
        "train_form_upcast_div_mask_bf16_tangent.joint",
        [0, 0, 1, 1],
    ),
    ("train_form_upcast_div_mask_bf16_loss.joint", [0, 0, 1, 1]),
    ("train_form_upcast_unscaled_mask_fp32.forward", [1, 0, 1, 1]),
    (
        "train_form_upcast_unscaled_mask_fp32_tangent.joint",
        [0, 0, 1, 1],
    ),
    (
        "train_form_upcast_unscaled_mask_fp32_loss.joint",
        [0, 0, 1, 1],
    ),
    ("train_form_upcast_unscaled_mask_bf16.forward", [1, 0, 1, 1]),
    (
        "train_form_upcast_unscaled_mask_bf16_tangent.joint",
        [0, 0, 1, 1],
    ),
    (
        "train_form_upcast_unscaled_mask_bf16_loss.joint",
        [0, 0, 1, 1],
    ),
];

const SOFTMAX: &[&str] = &[
    "aten._softmax.default",
    "aten._safe_softmax.default",
    "aten.amax.default",
];
const SOFTMAX_BWD: &[&str] = &["aten._softmax_backward_data.default", "prims.fma.default"];
const ASSUME: &str = "no-fully-masked-rows";

fn dir() -> PathBuf {
    common::fixture_dir().join("train_forms")
}

fn count_any(g: &Graph, targets: &[&str]) -> usize {
    targets.iter().map(|t| common::count_target(g, t)).sum()
}

/// SDPA calls (every kernel and the composite): (forward, backward).
fn sdpa_calls(g: &Graph) -> (usize, usize) {
    let mut f = 0;
    let mut b = 0;
    for n in &g.nodes {
        if let Some(t) = n.target() {
            if t.contains("scaled_dot_product") {
                if t.contains("backward") {
                    b += 1;
                } else {
                    f += 1;
                }
            }
        }
    }
    (f, b)
}

fn run(path: &Path, target: Target, assume: bool) -> Graph {
    let g = common::load(path);
    optimize(
        &g,
        &Options {
            file: common::short(path),
            target,
            assume: if assume {
                vec![ASSUME.to_string()]
            } else {
                vec![]
            },
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", common::short(path)))
    .graph
}

/// Blocks fused, as `experiments/train_forms.py` counts them: SDPA calls of an inference
/// graph; for a joint graph the least of the forward calls, the backward calls and the
/// blocks whose softmax and softmax backward are both gone.
fn fused(path: &Path, blocks: usize, target: Target, assume: bool) -> (usize, Graph) {
    let out = run(path, target, assume);
    let (f, b) = sdpa_calls(&out);
    let n = if common::short(path).ends_with(".forward.json") {
        f
    } else {
        let left = count_any(&out, SOFTMAX).max(count_any(&out, SOFTMAX_BWD));
        f.min(b).min(blocks.saturating_sub(left))
    };
    (n, out)
}

const SETTINGS: [(Target, bool); 4] = [
    (Target::Cpu, false),
    (Target::Cuda, false),
    (Target::Cpu, true),
    (Target::Cuda, true),
];

#[test]
fn train_form_fixtures_fuse_as_expected() {
    let mut failures = Vec::new();
    for &(stem, want) in EXPECTED {
        let path = dir().join(format!("{stem}.json"));
        let g = common::load(&path);
        let blocks = count_any(&g, SOFTMAX);
        assert_eq!(blocks, 1, "{stem}: one attention block");
        for (i, &(target, assume)) in SETTINGS.iter().enumerate() {
            let (n, out) = fused(&path, blocks, target, assume);
            let (f, b) = sdpa_calls(&out);
            let joint = stem.ends_with(".joint");
            let ok = if joint {
                n == want[i] && f == want[i] && b == want[i]
            } else {
                f == want[i] && b == 0
            };
            if !ok {
                failures.push(format!(
                    "{stem} ({target:?}, assume {assume}): {f} forward / {b} backward SDPA calls ({n} blocks fused), expected {}",
                    want[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every fixture of these forms is in `EXPECTED`, and each form has its six graphs.
#[test]
fn every_train_form_fixture_is_listed() {
    let mut listed = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let form = FORMS
            .iter()
            .filter(|f| {
                stem.starts_with(&format!("train_form_{f}_fp32"))
                    || stem.starts_with(&format!("train_form_{f}_bf16"))
            })
            .count();
        if form > 0 {
            assert!(
                EXPECTED.iter().any(|e| e.0 == stem),
                "{name}: not in EXPECTED"
            );
            listed += 1;
        }
    }
    assert_eq!(listed, EXPECTED.len());
    assert_eq!(EXPECTED.len(), FORMS.len() * 6);
}

/// The `train_form_<form>_<dtype>[_<variant>].<kind>.json` convention: (form, dtype, kind).
fn parse_name(name: &str) -> Option<(String, String, String)> {
    let rest = name.strip_prefix("train_form_")?.strip_suffix(".json")?;
    let (stem, kind) = rest.rsplit_once('.')?;
    if kind != "forward" && kind != "joint" {
        return None;
    }
    for dt in ["fp32", "bf16", "fp16", "fp64"] {
        let tag = format!("_{dt}");
        if let Some(i) = stem.find(&tag) {
            let after = &stem[i + tag.len()..];
            if after.is_empty() || after.starts_with('_') {
                return Some((stem[..i].to_string(), dt.to_string(), kind.to_string()));
            }
        }
    }
    None
}

/// The fxsat columns of docs/attention.md's "Training vs inference" table, recomputed from
/// every `train_form_*` fixture of the folder (other generators' forms included): the table
/// must be regenerated (`experiments/train_forms.py`) when a fixture or a rule changes them.
#[test]
fn docs_table_matches_the_fixtures() {
    let mut groups: BTreeMap<(String, String), Vec<(PathBuf, String)>> = BTreeMap::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        if let Some((form, dt, kind)) = parse_name(&common::short(&p)) {
            groups.entry((form, dt)).or_default().push((p, kind));
        }
    }
    let mut want = Vec::new();
    let mut tot = [0usize; 8];
    for ((form, dt), files) in &groups {
        let mut c = [0usize; 8]; // blocks fwd, joint; inf cpu, cuda; def cpu, cuda; ass cpu, cuda
        for (p, kind) in files {
            let g = common::load(p);
            let blocks = count_any(&g, SOFTMAX);
            let settings: &[(usize, Target, bool)] = if kind == "forward" {
                c[0] += blocks;
                &[(2, Target::Cpu, false), (3, Target::Cuda, false)]
            } else {
                c[1] += blocks;
                &[
                    (4, Target::Cpu, false),
                    (5, Target::Cuda, false),
                    (6, Target::Cpu, true),
                    (7, Target::Cuda, true),
                ]
            };
            for &(i, target, assume) in settings {
                c[i] += fused(p, blocks, target, assume).0;
            }
        }
        for i in 0..8 {
            tot[i] += c[i];
        }
        want.push(format!(
            "| {form} | {dt} | {} / {} | {} / {} | {} / {} | {} / {} |",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        ));
    }
    want.push(format!(
        "| **all** | | {} / {} | {} / {} | {} / {} | {} / {} |",
        tot[0], tot[1], tot[2], tot[3], tot[4], tot[5], tot[6], tot[7]
    ));
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/attention.md"),
    )
    .unwrap();
    let section = doc
        .split("## Training vs inference")
        .nth(1)
        .expect("docs/attention.md has a \"Training vs inference\" section");
    // The table's rows after the header, without the Inductor column (computed in Python).
    let got: Vec<String> = section
        .lines()
        .skip_while(|l| !l.starts_with("| form |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            format!("{}|", cells[..7].join("|"))
        })
        .collect();
    assert_eq!(
        got.join("\n"),
        want.join("\n"),
        "docs/attention.md's table is stale: regenerate it with experiments/train_forms.py"
    );
}

#[test]
fn names_parse_by_the_convention() {
    let p = |s: &str| parse_name(s).map(|(a, b, c)| format!("{a} {b} {c}"));
    assert_eq!(
        p("train_form_llama_upcast_bf16_loss.joint.json").as_deref(),
        Some("llama_upcast bf16 joint")
    );
    assert_eq!(
        p("train_form_einsum_fp32.forward.json").as_deref(),
        Some("einsum fp32 forward")
    );
    assert_eq!(p("train_form_x.forward.json"), None);
    assert_eq!(p("attn_div.joint.json"), None);
}
