//! Issue 15, item 3: device profiles are validated (ranges, unknown fields), sizes computed by
//! rules are checked (an absurd padded matmul is not made), and shape inference does not
//! overflow on absurd shapes.

mod common;

use fxsat::cost::Profile;
use fxsat::io::read_str;
use fxsat::{optimize, Error, Options, Target};

fn profile_error(edit: impl Fn(&mut serde_json::Value)) -> String {
    let text = include_str!("../profiles/h100.json");
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    edit(&mut v);
    let dir = common::temp_dir("profiles");
    let path = dir.join("bad.json");
    std::fs::write(&path, v.to_string()).unwrap();
    match Profile::named(path.to_str().unwrap()) {
        Ok(_) => panic!("accepted {v}"),
        Err(e @ Error::Profile { .. }) => {
            let s = e.to_string();
            assert!(s.contains("bad.json") && !s.contains('\n'), "{s}");
            s
        }
        Err(other) => panic!("expected a profile error, got {other:?}"),
    }
}

#[test]
fn builtin_profiles_are_valid() {
    for name in Profile::builtin_names() {
        Profile::named(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// An edit of a profile's JSON.
type Edit = dyn Fn(&mut serde_json::Value);

#[test]
fn profiles_out_of_range_or_with_unknown_fields_are_refused() {
    let cases: Vec<(&str, Box<Edit>)> = vec![
        (
            "matmul_alignment.float32",
            Box::new(|v| v["matmul_alignment"]["float32"] = (1u64 << 32).into()),
        ),
        (
            "matmul_alignment.float16",
            Box::new(|v| v["matmul_alignment"]["float16"] = 0.into()),
        ),
        (
            "matmul_alignment",
            Box::new(|v| v["matmul_alignment"]["float99"] = 8.into()),
        ),
        ("bandwidth", Box::new(|v| v["bandwidth"] = 1e30.into())),
        ("bandwidth", Box::new(|v| v["bandwidth"] = (-1.0).into())),
        (
            "launch_overhead",
            Box::new(|v| v["launch_overhead"] = 5.0.into()),
        ),
        (
            "peak_flops.bfloat16",
            Box::new(|v| v["peak_flops"]["bfloat16"] = 1.0.into()),
        ),
        (
            "peak_flops",
            Box::new(|v| v["peak_flops"]["floatx"] = 1e12.into()),
        ),
        (
            "misaligned_matmul_efficiency",
            Box::new(|v| v["misaligned_matmul_efficiency"] = 1.5.into()),
        ),
        (
            "matmul_alignmnet",
            Box::new(|v| v["matmul_alignmnet"] = 8.into()),
        ),
    ];
    for (field, edit) in cases {
        let msg = profile_error(edit);
        assert!(msg.contains(field), "`{msg}` does not name `{field}`");
    }
}

#[test]
fn an_absurd_alignment_pads_nothing() {
    let g = common::load(&common::fixture_dir().join("pad/mm_misaligned.forward.json"));
    let run = |align: i64| {
        let mut p = Profile::named("h100-tf32").unwrap();
        // past the profile's validation: the rules must still refuse absurd sizes
        for a in p.matmul_alignment.values_mut() {
            *a = align;
        }
        optimize(
            &g,
            &Options {
                target: Target::Cuda,
                profile: Some(p),
                ..Options::default()
            },
        )
        .unwrap()
    };
    let pads = |o: &fxsat::Optimized| {
        o.graph
            .nodes
            .iter()
            .filter(|n| n.target() == Some("aten.constant_pad_nd.default"))
            .count()
    };
    // a sane alignment pads this fp32 matmul on TF32 (so the check below is not vacuous)
    assert!(pads(&run(8)) > 0, "alignment 8 pads the misaligned matmul");
    for align in [1i64 << 32, 1 << 40, i64::MAX] {
        let out = run(align);
        assert_eq!(pads(&out), 0, "alignment {align} padded");
        for n in &out.graph.nodes {
            if let Some(t) = n.val.tensor() {
                assert!(
                    t.shape.iter().all(|&d| d < 1 << 31),
                    "{}: {:?}",
                    n.name,
                    t.shape
                );
            }
        }
        assert!(out.report.cost.after <= out.report.cost.before);
    }
}

#[test]
fn shape_inference_does_not_overflow() {
    let x = r#"{"name": "x", "op": "placeholder", "val": {"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}}"#;
    let out = r#"{"name": "output", "op": "output", "args": [[{"node": "y"}]]}"#;
    for (args, val) in [
        // a view size whose product overflows i64
        (
            r#"[{"node": "x"}, [4611686018427387904, 4, -1]]"#,
            r#"{"shape": [6], "dtype": "float32", "stride": [1]}"#,
        ),
        (
            r#"[{"node": "x"}, [4611686018427387904, 4]]"#,
            r#"{"shape": [6], "dtype": "float32", "stride": [1]}"#,
        ),
    ] {
        let text = format!(
            r#"{{"format": "fx-json", "version": 1, "name": "g", "kind": "forward", "nodes": [{x}, {{"name": "y", "op": "call_function", "target": "aten.view.default", "args": {args}, "val": {val}}}, {out}]}}"#
        );
        let g = read_str(&text, "big.json").unwrap();
        match optimize(&g, &Options::default()) {
            Err(e @ Error::MetaMismatch { .. }) => {
                let s = e.to_string();
                assert!(s.contains("`y`") && s.contains("view size"), "{s}");
            }
            other => panic!("expected an error naming the node, got {other:?}"),
        }
    }
}
