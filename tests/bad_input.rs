//! Bad input is refused with an error naming the file, the node and the field; the CLI turns
//! it into exit code 2 and one line on stderr. Good input gives a report with every key.

mod common;

use fxsat::io::read_str;
use fxsat::{optimize, Error, Options};
use std::path::Path;
use std::process::Command;

const FILE: &str = "bad.json";
const X: &str = r#"{"name": "x", "op": "placeholder", "val": {"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}}"#;
const Y: &str = r#"{"name": "y", "op": "call_function", "target": "aten.neg.default", "args": [{"node": "x"}], "val": {"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}}"#;
const OUT_Y: &str = r#"{"name": "output", "op": "output", "args": [[{"node": "y"}]]}"#;
const HEADER: &str = r#""format": "fx-json", "version": 1, "name": "g", "kind": "forward""#;

/// A document with this header (the part inside the braces before `nodes`) and these nodes.
fn doc_with(header: &str, nodes: &[&str]) -> String {
    format!("{{{header}, \"nodes\": [\n{}\n]}}\n", nodes.join(",\n"))
}

/// A forward document with these nodes.
fn doc(nodes: &[&str]) -> String {
    doc_with(HEADER, nodes)
}

fn read_err(text: &str) -> Error {
    match read_str(text, FILE) {
        Ok(g) => panic!("accepted a bad document ({} nodes):\n{text}", g.nodes.len()),
        Err(e) => e,
    }
}

/// A document-level error on `field` whose message contains `needle`.
fn assert_doc_err(e: &Error, field: &str, needle: &str) {
    match e {
        Error::Document {
            file,
            field: f,
            msg,
        } => {
            assert_eq!(file, FILE);
            assert_eq!(f, field, "{e}");
            assert!(msg.contains(needle), "message `{msg}` lacks `{needle}`");
        }
        other => panic!("expected a document error on `{field}`, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with(FILE) && text.contains(&format!("`{field}`")),
        "{text}"
    );
}

/// A node error on `node`/`field` whose message contains `needle`.
fn assert_node_err(e: &Error, node: &str, field: &str, needle: &str) {
    match e {
        Error::Node {
            file,
            node: n,
            field: f,
            msg,
        } => {
            assert_eq!(file, FILE);
            assert_eq!((n.as_str(), f.as_str()), (node, field), "{e}");
            assert!(msg.contains(needle), "message `{msg}` lacks `{needle}`");
        }
        other => panic!("expected a node error on `{node}`.`{field}`, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with(FILE)
            && text.contains(&format!("`{node}`"))
            && text.contains(&format!("`{field}`")),
        "{text}"
    );
}

#[test]
fn the_base_document_is_good() {
    let g = read_str(&doc(&[X, Y, OUT_Y]), FILE).unwrap();
    assert_eq!(g.nodes.len(), 2);
    optimize(&g, &Options::default()).unwrap();
}

#[test]
fn malformed_json() {
    let text = doc(&[X, Y, OUT_Y]).replacen("\"op\": \"placeholder\"", "\"op\" \"placeholder\"", 1);
    match read_err(&text) {
        Error::Json { file, msg } => {
            assert_eq!(file, FILE);
            assert!(
                msg.contains("line 2"),
                "the JSON error should give the line: {msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Truncated file.
    let text = doc(&[X, Y, OUT_Y]);
    assert!(matches!(
        read_err(&text[..text.len() / 2]),
        Error::Json { .. }
    ));
}

#[test]
fn not_an_object() {
    assert_doc_err(&read_err("[1, 2]"), "<document>", "object");
}

#[test]
fn wrong_format() {
    let e = read_err(&doc_with(
        &HEADER.replace("fx-json", "onnx"),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "format", "onnx");
    let e = read_err(&doc_with(
        &HEADER.replace("\"format\": \"fx-json\", ", ""),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "format", "missing");
}

#[test]
fn wrong_version() {
    let e = read_err(&doc_with(
        &HEADER.replace("\"version\": 1", "\"version\": 2"),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "version", "2");
    let e = read_err(&doc_with(
        &HEADER.replace("\"version\": 1", "\"version\": \"1\""),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "version", "unsupported");
}

#[test]
fn missing_kind() {
    let e = read_err(&doc_with(
        &HEADER.replace(", \"kind\": \"forward\"", ""),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "kind", "missing");
    let e = read_err(&doc_with(
        &HEADER.replace("forward", "training"),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "kind", "training");
}

#[test]
fn joint_without_num_fwd_outputs() {
    let e = read_err(&doc_with(
        &HEADER.replace("forward", "joint"),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "num_fwd_outputs", "joint");
    // ... and with too many.
    let e = read_err(&doc_with(
        &(HEADER.replace("forward", "joint") + ", \"num_fwd_outputs\": 2"),
        &[X, Y, OUT_Y],
    ));
    assert_doc_err(&e, "num_fwd_outputs", "exceeds");
    // With it, the document is fine.
    let g = read_str(
        &doc_with(
            &(HEADER.replace("forward", "joint") + ", \"num_fwd_outputs\": 1"),
            &[X, Y, OUT_Y],
        ),
        FILE,
    )
    .unwrap();
    assert_eq!(g.num_fwd_outputs, Some(1));
}

#[test]
fn reference_to_an_undefined_node() {
    let y = Y.replace("{\"node\": \"x\"}", "{\"node\": \"nowhere\"}");
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "args", "`nowhere`");
    // In kwargs, and in the output list.
    let y = Y.replace(
        "\"args\": [{\"node\": \"x\"}]",
        "\"args\": [], \"kwargs\": {\"self\": {\"node\": \"ghost\"}}",
    );
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "kwargs", "`ghost`");
    let out = OUT_Y.replace("\"y\"", "\"z\"");
    assert_node_err(
        &read_err(&doc(&[X, Y, &out])),
        "output",
        "args",
        "undefined node `z`",
    );
}

#[test]
fn a_node_referring_to_a_later_node_is_a_cycle() {
    // y uses z, z uses y.
    let y = Y.replace("{\"node\": \"x\"}", "{\"node\": \"z\"}");
    let z = Y.replace("\"name\": \"y\"", "\"name\": \"z\"");
    let out = OUT_Y.replace("\"y\"", "\"z\"");
    assert_node_err(
        &read_err(&doc(&[X, &y, &z, &out])),
        "y",
        "args",
        "defined later",
    );
    // A node using itself.
    let y = Y.replace("{\"node\": \"x\"}", "{\"node\": \"y\"}");
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "args", "`y`");
}

#[test]
fn duplicate_names() {
    assert_node_err(&read_err(&doc(&[X, X, Y, OUT_Y])), "x", "name", "duplicate");
    let y2 = Y.replace("aten.neg.default", "aten.abs.default");
    assert_node_err(
        &read_err(&doc(&[X, Y, &y2, OUT_Y])),
        "y",
        "name",
        "duplicate",
    );
}

#[test]
fn unknown_dtype() {
    let x = X.replace("float32", "float33");
    assert_node_err(&read_err(&doc(&[&x, Y, OUT_Y])), "x", "val", "float33");
    let y = Y.replace(
        "[{\"node\": \"x\"}]",
        "[{\"node\": \"x\"}, {\"dtype\": \"complex256\"}]",
    );
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "args", "complex256");
}

#[test]
fn shape_and_stride_lengths_differ() {
    let x = X.replace("\"stride\": [3, 1]", "\"stride\": [1]");
    assert_node_err(
        &read_err(&doc(&[&x, Y, OUT_Y])),
        "x",
        "val",
        "different lengths",
    );
    let x = X.replace(", \"stride\": [3, 1]", "");
    assert_node_err(&read_err(&doc(&[&x, Y, OUT_Y])), "x", "val", "stride");
}

#[test]
fn absurdly_large_or_negative_shape() {
    let x = X.replace("\"shape\": [2, 3]", "\"shape\": [33554432, 33554432]");
    assert_node_err(
        &read_err(&doc(&[&x, Y, OUT_Y])),
        "x",
        "val",
        "absurdly large",
    );
    // Overflows u64 before the check: must still be refused, not wrap around.
    let x = X.replace(
        "\"shape\": [2, 3]",
        "\"shape\": [9223372036854775807, 9223372036854775807]",
    );
    assert_node_err(
        &read_err(&doc(&[&x, Y, OUT_Y])),
        "x",
        "val",
        "absurdly large",
    );
    let x = X.replace("\"shape\": [2, 3]", "\"shape\": [2, -3]");
    assert_node_err(&read_err(&doc(&[&x, Y, OUT_Y])), "x", "val", "negative");
}

#[test]
fn val_contradicting_the_shape_rule() {
    // neg of a (2, 3) tensor cannot be (3, 2).
    let y = Y.replace(
        "\"val\": {\"shape\": [2, 3], \"dtype\": \"float32\", \"stride\": [3, 1]}",
        "\"val\": {\"shape\": [3, 2], \"dtype\": \"float32\", \"stride\": [2, 1]}",
    );
    let g = read_str(&doc(&[X, &y, OUT_Y]), FILE).expect("the reader does not type-check");
    let opts = Options {
        file: FILE.into(),
        ..Options::default()
    };
    match optimize(&g, &opts) {
        Err(e @ Error::MetaMismatch { .. }) => {
            let Error::MetaMismatch {
                file,
                node,
                op,
                recorded,
                inferred,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(
                (file.as_str(), node.as_str(), op.as_str()),
                (FILE, "y", "aten.neg.default")
            );
            assert!(recorded.contains("[3, 2]"), "recorded: {recorded}");
            assert!(inferred.contains("[2, 3]"), "inferred: {inferred}");
            let text = e.to_string();
            for part in [FILE, "`y`", "aten.neg.default", "[3, 2]", "[2, 3]"] {
                assert!(text.contains(part), "`{text}` lacks {part}");
            }
        }
        Err(other) => panic!("expected MetaMismatch, got {other:?}"),
        Ok(_) => panic!("a val contradicting the op's shape rule was accepted"),
    }
    // trust_meta keeps the recorded val: the node becomes opaque and is exported unchanged.
    let out = optimize(
        &g,
        &Options {
            trust_meta: true,
            ..opts.clone()
        },
    )
    .expect("trust_meta accepts it");
    assert_eq!(out.report.nodes.opaque, 1);
    let y_out = out
        .graph
        .nodes
        .iter()
        .find(|n| n.target() == Some("aten.neg.default"))
        .expect("neg kept");
    assert_eq!(y_out.val, g.nodes[1].val);

    // A dtype contradiction too.
    let y = Y.replace(
        "\"val\": {\"shape\": [2, 3], \"dtype\": \"float32\"",
        "\"val\": {\"shape\": [2, 3], \"dtype\": \"int64\"",
    );
    let g = read_str(&doc(&[X, &y, OUT_Y]), FILE).unwrap();
    assert!(
        matches!(optimize(&g, &opts), Err(Error::MetaMismatch { ref node, .. }) if node == "y")
    );
    optimize(
        &g,
        &Options {
            trust_meta: true,
            ..opts
        },
    )
    .unwrap();
}

#[test]
fn empty_graph() {
    let out = r#"{"name": "output", "op": "output", "args": [[]]}"#;
    assert_doc_err(&read_err(&doc(&[out])), "nodes", "empty");
}

#[test]
fn no_output_node() {
    assert_doc_err(&read_err(&doc(&[X, Y])), "nodes", "no output");
    assert_doc_err(&read_err(&doc(&[])), "nodes", "no output");
    // Output not last.
    let out_x = OUT_Y.replace("\"y\"", "\"x\"");
    assert_node_err(&read_err(&doc(&[X, &out_x, Y])), "y", "op", "output");
}

#[test]
fn unknown_arg_encoding() {
    let y = Y.replace("{\"node\": \"x\"}", "{\"tensor\": \"x\"}");
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "args", "`tensor`");
    let y = Y.replace("{\"node\": \"x\"}", "{\"node\": \"x\", \"extra\": 1}");
    assert_node_err(
        &read_err(&doc(&[X, &y, OUT_Y])),
        "y",
        "args",
        "exactly one key",
    );
    let y = Y.replace(
        "[{\"node\": \"x\"}]",
        "[{\"node\": \"x\"}, {\"float\": \"big\"}]",
    );
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "args", "big");
}

#[test]
fn missing_node_fields() {
    let x = X.replace(
        ", \"val\": {\"shape\": [2, 3], \"dtype\": \"float32\", \"stride\": [3, 1]}",
        "",
    );
    assert_node_err(&read_err(&doc(&[&x, Y, OUT_Y])), "x", "val", "missing");
    let y = Y.replace("\"target\": \"aten.neg.default\", ", "");
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "target", "missing");
    let y = Y.replace("\"op\": \"call_function\"", "\"op\": \"call_method\"");
    assert_node_err(&read_err(&doc(&[X, &y, OUT_Y])), "y", "op", "call_method");
    let x = X.replace("\"name\": \"x\", ", "");
    assert_node_err(&read_err(&doc(&[&x, Y, OUT_Y])), "#0", "name", "missing");
}

// ---------------------------------------------------------------------------------------------
// The command line.

fn fxsat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fxsat"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs `fxsat optimize` on a bad file: exit code 2, one line on stderr naming the file.
fn assert_cli_refuses(dir: &Path, name: &str, text: &str, needle: &str) {
    let input = dir.join(name);
    std::fs::write(&input, text).unwrap();
    let output = dir.join(format!("{name}.out.json"));
    let r = fxsat()
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{name}: stderr: {stderr}");
    assert!(
        r.stdout.is_empty(),
        "{name}: stdout: {}",
        String::from_utf8_lossy(&r.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{name}: stderr should be one line:\n{stderr}"
    );
    assert!(
        lines[0].contains(&input.display().to_string()),
        "{name}: stderr does not name the file: {stderr}"
    );
    assert!(
        lines[0].contains(needle),
        "{name}: stderr lacks `{needle}`: {stderr}"
    );
    assert!(
        !output.exists(),
        "{name}: an output was written for a bad input"
    );
}

#[test]
fn cli_refuses_bad_files_with_exit_code_2() {
    let dir = common::temp_dir("cli-bad");
    assert_cli_refuses(
        &dir,
        "malformed.json",
        "{\"format\": \"fx-json\", ",
        "malformed JSON",
    );
    let y = Y.replace("{\"node\": \"x\"}", "{\"node\": \"nowhere\"}");
    assert_cli_refuses(&dir, "undefined.json", &doc(&[X, &y, OUT_Y]), "`nowhere`");
    let y = Y.replace(
        "\"shape\": [2, 3], \"dtype\": \"float32\", \"stride\": [3, 1]}}",
        "\"shape\": [3, 2], \"dtype\": \"float32\", \"stride\": [2, 1]}}",
    );
    assert_cli_refuses(
        &dir,
        "mismatch.json",
        &doc(&[X, &y, OUT_Y]),
        "aten.neg.default",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_missing_file_is_exit_code_2() {
    let dir = common::temp_dir("cli-missing");
    let input = dir.join("does-not-exist.json");
    let r = fxsat()
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("o.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does-not-exist.json"), "{stderr}");
    let os = std::fs::read(&input).unwrap_err().to_string();
    assert_eq!(
        stderr.matches(&os).count(),
        1,
        "the OS error should appear once: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_optimizes_a_fixture_and_writes_a_report() {
    let dir = common::temp_dir("cli-good");
    let input = common::fixture_dir().join("attn_bshd.forward.json");
    let (output, report) = (dir.join("out.json"), dir.join("R.json"));
    let r = fxsat()
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let g = fxsat::io::read_file(&output).expect("the output is FX-JSON");
    assert_eq!(g.outputs.len(), common::load(&input).outputs.len());

    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap())
        .expect("the report is JSON");
    let get = |path: &str| -> &serde_json::Value {
        path.split('.').fold(&j, |v, k| {
            v.get(k)
                .unwrap_or_else(|| panic!("report lacks `{path}`:\n{j:#}"))
        })
    };
    for k in ["import", "saturate", "extract", "export", "total"] {
        let s = get(&format!("seconds.{k}"))
            .as_f64()
            .unwrap_or_else(|| panic!("seconds.{k} is not a number"));
        assert!(s >= 0.0 && s.is_finite(), "seconds.{k} = {s}");
    }
    assert!(get("seconds.total").as_f64().unwrap() >= get("seconds.saturate").as_f64().unwrap());
    for k in ["nodes", "classes", "iterations"] {
        assert!(
            get(&format!("egraph.{k}")).as_u64().is_some(),
            "egraph.{k} is not a count"
        );
    }
    assert!(get("egraph.nodes").as_u64().unwrap() >= get("egraph.classes").as_u64().unwrap());
    assert!(!get("egraph.stop_reason")
        .as_str()
        .expect("stop_reason is a string")
        .is_empty());
    let (before, after) = (
        get("cost.before").as_f64().unwrap(),
        get("cost.after").as_f64().unwrap(),
    );
    assert!(after > 0.0 && after <= before, "cost {before} -> {after}");
    let rules = get("rules").as_object().expect("rules is an object");
    // One entry per rule that ran: the CPU target's, without assumptions.
    let defaults: Vec<_> = fxsat::rules::default_rules()
        .unwrap()
        .into_iter()
        .filter(|r| r.enabled(fxsat::Target::Cpu, &[]))
        .collect();
    assert_eq!(rules.len(), defaults.len(), "one entry per rule");
    for r in &defaults {
        assert!(
            rules.get(&r.name).and_then(|v| v.as_u64()).is_some(),
            "rules.{} missing",
            r.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_stats_prints_op_counts_and_unknown_ops() {
    let input = common::fixture_dir().join("gpt2.forward.json");
    let r = fxsat().arg("stats").arg(&input).output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(out.contains("unknown ops"), "{out}");
    let g = common::load(&input);
    let mut counts = std::collections::BTreeMap::new();
    for t in g.nodes.iter().filter_map(|n| n.target()) {
        *counts.entry(t).or_insert(0usize) += 1;
    }
    for (t, n) in counts {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(t))
            .unwrap_or_else(|| panic!("no line for {t}:\n{out}"));
        assert_eq!(
            line.split_whitespace().next(),
            Some(n.to_string().as_str()),
            "count of {t}: {line}"
        );
    }
    let calls = common::calls(&g);
    assert!(out.contains(&format!("{calls} calls")), "{out}");
}

#[test]
fn cli_stats_lists_unknown_ops() {
    let dir = common::temp_dir("cli-stats");
    let input = dir.join("unknown.json");
    let y = Y.replace("aten.neg.default", "mylib.frobnicate.default");
    std::fs::write(&input, doc(&[X, &y, OUT_Y])).unwrap();
    let r = fxsat().arg("stats").arg(&input).output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let out = String::from_utf8(r.stdout).unwrap();
    let line = out.lines().find(|l| l.contains("unknown ops")).unwrap();
    assert!(line.trim_end().ends_with('1'), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.contains("mylib.frobnicate.default"))
            .count()
            == 2,
        "listed as unknown and in the op counts:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Issue 15, item 9: strides, duplicate keys, bad literals, argument types, dtypes of matmuls.

/// The first error of reading and optimising `text`.
fn first_error(text: &str) -> Error {
    let g = match read_str(text, FILE) {
        Ok(g) => g,
        Err(e) => return e,
    };
    let opts = Options {
        file: FILE.into(),
        ..Options::default()
    };
    match optimize(&g, &opts) {
        Ok(_) => panic!("accepted a bad document:\n{text}"),
        Err(e) => e,
    }
}

const X_BOOL: &str = r#"{"name": "x", "op": "placeholder", "val": {"shape": [2, 3], "dtype": "bool", "stride": [3, 1]}}"#;
const W_BOOL: &str = r#"{"name": "w", "op": "placeholder", "val": {"shape": [3, 2], "dtype": "bool", "stride": [2, 1]}}"#;

#[test]
fn bad_documents_name_file_node_and_field() {
    let y = |call: &str, val: &str| {
        format!(r#"{{"name": "y", "op": "call_function", {call}, "val": {val}}}"#)
    };
    let v23 = r#"{"shape": [2, 3], "dtype": "float32", "stride": [3, 1]}"#;
    let neg = r#""target": "aten.neg.default", "args": [{"node": "x"}]"#;
    // (what, nodes, node, field, expected substring); field "" = a MetaMismatch (shape rule)
    let cases: Vec<(&str, Vec<String>, &str, &str, &str)> = vec![
        (
            "negative stride",
            vec![
                X.into(),
                y(
                    neg,
                    r#"{"shape": [2, 3], "dtype": "float32", "stride": [-3, 1]}"#,
                ),
            ],
            "y",
            "val",
            "negative stride -3",
        ),
        (
            "stride past 2^62",
            vec![
                X.into(),
                y(
                    neg,
                    r#"{"shape": [2, 3], "dtype": "float32", "stride": [4611686018427387904, 1]}"#,
                ),
            ],
            "y",
            "val",
            "2^62",
        ),
        (
            "{\"float\": \"bogus\"} as a val",
            vec![X.into(), y(neg, r#"{"float": "bogus"}"#)],
            "y",
            "val",
            "\"nan\", \"inf\" or \"-inf\"",
        ),
        (
            "{\"float\": 3} as a val",
            vec![X.into(), y(neg, r#"{"float": 3}"#)],
            "y",
            "val",
            "\"nan\", \"inf\" or \"-inf\"",
        ),
        (
            "{\"float\": \"bogus\"} as an argument",
            vec![
                X.into(),
                y(
                    r#""target": "aten.mul.Tensor", "args": [{"node": "x"}, {"float": "bogus"}]"#,
                    v23,
                ),
            ],
            "y",
            "args",
            "bogus",
        ),
        (
            "alpha: \"x\"",
            vec![
                X.into(),
                y(
                    r#""target": "aten.add.Tensor", "args": [{"node": "x"}, {"node": "x"}], "kwargs": {"alpha": "x"}"#,
                    v23,
                ),
            ],
            "y",
            "args",
            "argument `alpha`",
        ),
        (
            "a string where a tensor goes",
            vec![
                X.into(),
                y(
                    r#""target": "aten.add.Tensor", "args": [{"node": "x"}, "x"]"#,
                    v23,
                ),
            ],
            "y",
            "args",
            "argument `other`",
        ),
        (
            "a float where an int list goes",
            vec![
                X.into(),
                y(
                    r#""target": "aten.view.default", "args": [{"node": "x"}, 6.5]"#,
                    r#"{"shape": [6], "dtype": "float32", "stride": [1]}"#,
                ),
            ],
            "y",
            "args",
            "argument `size`",
        ),
        (
            "args not a list",
            vec![
                X.into(),
                y(
                    r#""target": "aten.neg.default", "args": {"node": "x"}"#,
                    v23,
                ),
            ],
            "y",
            "args",
            "list",
        ),
        (
            "target not a string",
            vec![X.into(), y(r#""target": 7, "args": [{"node": "x"}]"#, v23)],
            "y",
            "target",
            "string",
        ),
        (
            "unknown dtype string",
            vec![
                X.into(),
                y(
                    neg,
                    r#"{"shape": [2, 3], "dtype": "float99", "stride": [3, 1]}"#,
                ),
            ],
            "y",
            "val",
            "float99",
        ),
        (
            "shape past 2^48 elements",
            vec![
                X.into(),
                y(
                    neg,
                    r#"{"shape": [16777216, 16777216, 2], "dtype": "float32", "stride": [33554432, 2, 1]}"#,
                ),
            ],
            "y",
            "val",
            "2^48",
        ),
        (
            "matmul on bool tensors",
            vec![
                X_BOOL.into(),
                W_BOOL.into(),
                y(
                    r#""target": "aten.mm.default", "args": [{"node": "x"}, {"node": "w"}]"#,
                    r#"{"shape": [2, 2], "dtype": "bool", "stride": [2, 1]}"#,
                ),
            ],
            "y",
            "",
            "bool",
        ),
        (
            "getitem index out of range",
            vec![
                X.into(),
                y(r#""target": "getitem", "args": [{"node": "x"}, 5]"#, v23),
            ],
            "y",
            "",
            "out of range",
        ),
    ];
    for (what, nodes, node, field, needle) in cases {
        let mut all: Vec<&str> = nodes.iter().map(|s| s.as_str()).collect();
        all.push(OUT_Y);
        let e = first_error(&doc(&all));
        let text = e.to_string();
        assert!(
            !text.contains('\n') && text.starts_with(FILE) && text.contains(&format!("`{node}`")),
            "{what}: {text}"
        );
        if field.is_empty() {
            assert!(matches!(e, Error::MetaMismatch { .. }), "{what}: {e:?}");
            assert!(text.contains(needle), "{what}: `{text}` lacks `{needle}`");
        } else {
            assert_node_err(&e, node, field, needle);
        }
    }
}

#[test]
fn legal_strides_are_accepted() {
    // an expanded dim (stride 0), any stride on dims of size 1 or 0, overlapping strides
    for (shape, stride) in [
        ("[2, 3]", "[0, 1]"),
        ("[2, 3]", "[0, 0]"),
        ("[1, 3]", "[-5, 1]"),
        ("[0, 3]", "[-1, 1]"),
        ("[2, 3]", "[1, 1]"),
        ("[2, 3]", "[1, 2]"),
    ] {
        let x = X.replace("[2, 3]", shape).replace("[3, 1]", stride);
        let y = Y.replace("[2, 3]", shape);
        read_str(&doc(&[&x, &y, OUT_Y]), FILE)
            .unwrap_or_else(|e| panic!("shape {shape} stride {stride}: {e}"));
    }
}

#[test]
fn duplicate_json_keys_are_refused_anywhere() {
    let cases = [
        // document level
        doc_with(&format!("{HEADER}, \"name\": \"again\""), &[X, Y, OUT_Y]),
        // a node
        doc(&[
            X,
            &Y.replace("\"op\": ", "\"op\": \"call_function\", \"op\": "),
            OUT_Y,
        ]),
        // a val
        doc(&[
            X,
            &Y.replace(
                "\"dtype\": \"float32\"",
                "\"dtype\": \"float32\", \"dtype\": \"float32\"",
            ),
            OUT_Y,
        ]),
        // an argument object
        doc(&[
            X,
            &Y.replace("{\"node\": \"x\"}", "{\"node\": \"x\", \"node\": \"x\"}"),
            OUT_Y,
        ]),
    ];
    for text in cases {
        match read_err(&text) {
            Error::Json { file, msg } => {
                assert_eq!(file, FILE);
                assert!(msg.contains("duplicate key"), "{msg}");
                assert!(msg.contains("line"), "no position: {msg}");
            }
            other => panic!("expected a duplicate-key error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 15, item 4: deep nesting, through the real binary (a stack overflow would abort it,
// failing the test instead of killing the test harness).

fn deep(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn deeply_nested_rules_and_json_are_refused() {
    let dir = common::temp_dir("deep");
    for depth in [30_000, 1_000_000] {
        // a rule file
        let rules = dir.join(format!("rules{depth}"));
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(
            rules.join("deep.rules"),
            format!("(rule deep {} (neg ?x))\n", deep(depth, "(neg ", ")")),
        )
        .unwrap();
        let good = common::fixture_dir().join("attn_div.forward.json");
        let r = fxsat()
            .arg("optimize")
            .arg(&good)
            .arg("--rules")
            .arg(&rules)
            .arg("-o")
            .arg(dir.join("out.json"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.code().is_some(), "killed by a signal: {stderr}");
        assert_ne!(r.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("deep.rules:1:") && stderr.contains("nesting deeper than 256"),
            "{stderr}"
        );
        // a graph with a deeply nested argument list
        let y = Y.replace(
            "[{\"node\": \"x\"}]",
            &format!("[{{\"node\": \"x\"}}, {}]", deep(depth, "[", "]")),
        );
        let input = dir.join(format!("deep{depth}.json"));
        std::fs::write(&input, doc(&[X, &y, OUT_Y])).unwrap();
        let r = fxsat()
            .arg("optimize")
            .arg(&input)
            .arg("-o")
            .arg(dir.join("out.json"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.code().is_some(), "killed by a signal: {stderr}");
        assert_ne!(r.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("nesting deeper than 128"), "{stderr}");
    }
}
