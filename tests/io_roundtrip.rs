//! FX-JSON I/O: the Rust writer reproduces the Python exporter's bytes, and
//! export → import → export is a fixed point (fixtures, optimised graphs, tricky floats).

mod common;

use fxsat::io::{read_str, write_string};
use fxsat::{optimize, Options};

/// The first differing line of two texts, for a readable failure.
fn first_diff(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  want: {x}\n  got:  {y}", i + 1);
        }
    }
    format!(
        "same lines, lengths {} vs {} (trailing newline?)",
        a.len(),
        b.len()
    )
}

#[test]
fn writer_reproduces_every_fixture_byte_for_byte() {
    let mut bad = Vec::new();
    for path in common::fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let g = common::load(&path);
        let out = write_string(&g);
        if out != text {
            bad.push(format!(
                "{}: {}",
                common::short(&path),
                first_diff(&text, &out)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "writer differs from the exporter:\n{}",
        bad.join("\n")
    );
}

#[test]
fn export_import_export_is_identical_on_fixtures() {
    for path in common::fixtures() {
        let name = common::short(&path);
        let g = common::load(&path);
        let once = write_string(&g);
        let g2 = read_str(&once, &name).unwrap_or_else(|e| panic!("re-import of {name}: {e}"));
        assert_eq!(g2.nodes.len(), g.nodes.len(), "{name}");
        assert_eq!(g2.outputs, g.outputs, "{name}");
        let twice = write_string(&g2);
        assert!(once == twice, "{name}: {}", first_diff(&once, &twice));
    }
}

#[test]
fn export_import_export_is_identical_on_optimised_graphs() {
    for path in common::fixtures() {
        let name = common::short(&path);
        let g = common::load(&path);
        let opt = optimize(
            &g,
            &Options {
                file: name.clone(),
                ..Options::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let once = write_string(&opt.graph);
        let g2 =
            read_str(&once, &name).unwrap_or_else(|e| panic!("re-import of optimised {name}: {e}"));
        assert_eq!(
            g2, opt.graph,
            "{name}: optimised graph changes through write/read"
        );
        let twice = write_string(&g2);
        assert!(once == twice, "{name}: {}", first_diff(&once, &twice));
    }
}

/// Floats are written as Python's `repr` writes them, and read back to the same bits.
#[test]
fn floats_round_trip_in_python_repr() {
    let cases: &[(&str, f64)] = &[
        ("0.125", 0.125),
        ("1e-05", 1e-5),
        ("0.0001", 1e-4),
        ("0.1", 0.1),
        ("-0.0", -0.0),
        ("2.0", 2.0),
        ("1e+16", 1e16),
        ("1234567890123456.0", 1234567890123456.0),
        ("-3.4028234663852886e+38", -3.4028234663852886e38),
        ("0.3333333333333333", 1.0 / 3.0),
        ("5e-324", 5e-324),
        ("1.7976931348623157e+308", f64::MAX),
        ("{\"float\": \"inf\"}", f64::INFINITY),
        ("{\"float\": \"-inf\"}", f64::NEG_INFINITY),
        ("{\"float\": \"nan\"}", f64::NAN),
    ];
    for (text, value) in cases {
        let doc = format!(
            "{{\"format\": \"fx-json\", \"version\": 1, \"name\": \"f\", \"kind\": \"forward\", \"nodes\": [\n\
             {{\"name\": \"x\", \"op\": \"placeholder\", \"val\": {{\"shape\": [2], \"dtype\": \"float32\", \"stride\": [1]}}}},\n\
             {{\"name\": \"y\", \"op\": \"call_function\", \"target\": \"aten.mul.Tensor\", \"args\": [{{\"node\": \"x\"}}, {text}], \"val\": {{\"shape\": [2], \"dtype\": \"float32\", \"stride\": [1]}}}},\n\
             {{\"name\": \"output\", \"op\": \"output\", \"args\": [[{{\"node\": \"y\"}}]]}}\n]}}\n"
        );
        let g = read_str(&doc, "floats").unwrap_or_else(|e| panic!("{text}: {e}"));
        match &g.nodes[1].kind {
            fxsat::ir::NodeKind::Call { args, .. } => match args[1] {
                fxsat::ir::Arg::Float(x) => {
                    assert!(
                        x.to_bits() == value.to_bits() || (x.is_nan() && value.is_nan()),
                        "{text} read as {x:?}"
                    )
                }
                ref other => panic!("{text} read as {other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert_eq!(
            write_string(&g),
            doc,
            "{text} is not written back as it was"
        );
    }
}
