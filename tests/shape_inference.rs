//! The op table's shape/dtype rules agree with what PyTorch recorded, node by node, on every
//! fixture; and every op the fixtures use is in the op table.

mod common;

use fxsat::egraph::{build, BuildOptions};
use fxsat::ir::NodeKind;
use fxsat::ops::{table, Op};
use std::collections::BTreeMap;

/// Per target: nodes checked, and the mismatches found (`file: node: inferred vs recorded`).
#[derive(Default)]
struct OpTally {
    checked: usize,
    opaque: usize,
    mismatches: Vec<String>,
}

#[test]
fn inferred_meta_matches_recorded_val_for_every_node() {
    let mut per_op: BTreeMap<String, OpTally> = BTreeMap::new();
    let mut build_errors = Vec::new();
    for (name, g) in common::all() {
        let built = match build(
            &g,
            &BuildOptions {
                trust_meta: false,
                file: name.clone(),
            },
        ) {
            Ok(b) => b,
            Err(e) => {
                build_errors.push(e.to_string());
                continue;
            }
        };
        assert_eq!(
            built.nodes.len(),
            g.nodes.len(),
            "{name}: one class per node"
        );
        for (node, &(id, op)) in g.nodes.iter().zip(&built.nodes) {
            let key = match &node.kind {
                NodeKind::Placeholder => "<placeholder>".to_string(),
                NodeKind::GetAttr(_) => "<get_attr>".to_string(),
                NodeKind::Call { target, .. } => target.clone(),
            };
            let tally = per_op.entry(key.clone()).or_default();
            tally.checked += 1;
            if op == Op::OPAQUE {
                tally.opaque += 1;
            }
            let meta = &built.egraph[id].data.meta;
            if !meta.matches_val(&node.val) {
                tally.mismatches.push(format!(
                    "{name}: `{}`: inferred {meta}, recorded {}",
                    node.name, node.val
                ));
            }
        }
    }
    assert!(
        build_errors.is_empty(),
        "build failed without trust_meta:\n{}",
        build_errors.join("\n")
    );
    let mut report = Vec::new();
    for (target, t) in &per_op {
        assert!(t.checked > 0);
        if !t.mismatches.is_empty() {
            report.push(format!(
                "{target}: {} of {} nodes disagree, e.g. {}",
                t.mismatches.len(),
                t.checked,
                t.mismatches[0]
            ));
        }
        // A target the table knows must be typed by its rule, not kept opaque.
        let known = target == "getitem" || table().by_target(target).is_some();
        if known && t.opaque > 0 {
            report.push(format!(
                "{target}: {} of {} nodes became opaque though the op table knows the target",
                t.opaque, t.checked
            ));
        }
    }
    assert!(
        report.is_empty(),
        "shape inference disagrees with the recorded vals:\n{}",
        report.join("\n")
    );
}

#[test]
fn every_fixture_target_is_in_the_op_table() {
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, g) in common::all() {
        for n in &g.nodes {
            if let Some(t) = n.target() {
                let files = uses.entry(t.to_string()).or_default();
                if !files.contains(&name) {
                    files.push(name.clone());
                }
            }
        }
    }
    assert!(
        uses.len() > 20,
        "only {} distinct targets in the fixtures?",
        uses.len()
    );
    let missing: Vec<String> = uses
        .iter()
        .filter(|(t, _)| *t != "getitem" && table().by_target(t).is_none())
        .map(|(t, files)| format!("{t} (in {})", files.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} fixture targets are not in the op table:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// ops.txt (written by the fixture generator) lists exactly the fixtures' targets with their counts.
#[test]
fn ops_txt_lists_the_fixture_targets() {
    let text = std::fs::read_to_string(common::fixture_dir().join("ops.txt")).unwrap();
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut parts = line.split_whitespace();
        let count: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("ops.txt: `{line}`: {e}"));
        listed.insert(parts.next().unwrap().to_string(), count);
    }
    let mut counted: BTreeMap<String, usize> = BTreeMap::new();
    for (_, g) in common::all() {
        for n in &g.nodes {
            if let Some(t) = n.target() {
                *counted.entry(t.to_string()).or_default() += 1;
            }
        }
    }
    assert_eq!(listed, counted, "ops.txt is stale: regenerate the fixtures");
}
