//! Snapshot tests of small rule sets, driven by data under `tests/fixtures/rules/<set>/`:
//! the set's `*.rules` files, optional tiny graphs (`*.json`), and `expect.txt`, whose lines are
//! `<graph> <target> <fewer|none|same|more>`: how the count of `<target>` call nodes in the
//! optimised graph compares with the input's. Graphs are looked up in the set's directory, then
//! in `tests/fixtures`. Every rule of a set must fire on at least one of its graphs, and a rule
//! named like a default rule must be the default rule.

mod common;

use fxsat::rules::{default_rules, load_dir, Rule};
use fxsat::{optimize, Options};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn sets_dir() -> PathBuf {
    common::fixture_dir().join("rules")
}

fn rule_sets() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sets_dir())
        .expect("tests/fixtures/rules exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no rule sets under tests/fixtures/rules");
    v
}

/// A rule as text, for comparing a set's copy with the default.
fn signature(r: &Rule) -> String {
    format!("{} => {:?} if {:?}", r.lhs, r.rhs, r.conds)
}

struct Expectation {
    line: usize,
    graph: PathBuf,
    target: String,
    relation: String,
}

fn expectations(set: &Path) -> Vec<Expectation> {
    let text = std::fs::read_to_string(set.join("expect.txt"))
        .unwrap_or_else(|e| panic!("{}: expect.txt: {e}", set.display()));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f.len(),
            3,
            "{}/expect.txt:{}: want `graph target relation`",
            set.display(),
            i + 1
        );
        assert!(
            ["fewer", "none", "same", "more"].contains(&f[2]),
            "{}/expect.txt:{}: unknown relation {}",
            set.display(),
            i + 1,
            f[2]
        );
        let local = set.join(f[0]);
        let graph = if local.exists() {
            local
        } else {
            common::fixture_dir().join(f[0])
        };
        assert!(
            graph.exists(),
            "{}/expect.txt:{}: no graph {}",
            set.display(),
            i + 1,
            f[0]
        );
        out.push(Expectation {
            line: i + 1,
            graph,
            target: f[1].to_string(),
            relation: f[2].to_string(),
        });
    }
    assert!(
        !out.is_empty(),
        "{}: expect.txt has no cases",
        set.display()
    );
    out
}

#[test]
fn rule_sets_do_what_their_expectations_say() {
    let defaults: HashMap<String, String> = default_rules()
        .unwrap()
        .iter()
        .map(|r| (r.name.clone(), signature(r)))
        .collect();
    let mut failures = Vec::new();
    for set in rule_sets() {
        let set_name = common::short(&set);
        let rules = load_dir(&set).unwrap_or_else(|e| panic!("{set_name}: {e}"));
        for r in &rules {
            if let Some(d) = defaults.get(&r.name) {
                assert_eq!(
                    &signature(r),
                    d,
                    "{set_name}: rule `{}` differs from the default rule of that name",
                    r.name
                );
            }
        }
        let mut fired: HashMap<String, usize> = rules.iter().map(|r| (r.name.clone(), 0)).collect();
        for e in expectations(&set) {
            let gname = common::short(&e.graph);
            let g = common::load(&e.graph);
            let opts = Options {
                rules: Some(rules.clone()),
                file: gname.clone(),
                ..Options::default()
            };
            let out = optimize(&g, &opts).unwrap_or_else(|err| panic!("{set_name}/{gname}: {err}"));
            for (rule, n) in &out.report.rules {
                *fired.get_mut(rule).unwrap() += n;
            }
            assert_eq!(
                out.graph.outputs.len(),
                g.outputs.len(),
                "{set_name}/{gname}"
            );
            assert!(
                out.report.cost.after <= out.report.cost.before,
                "{set_name}/{gname}: cost went up"
            );
            let (before, after) = (
                common::count_target(&g, &e.target),
                common::count_target(&out.graph, &e.target),
            );
            let ok = match e.relation.as_str() {
                "fewer" => after < before,
                "none" => after == 0 && before > 0,
                "same" => after == before,
                _ => after > before,
            };
            if !ok {
                failures.push(format!(
                    "{set_name}/expect.txt:{}: {gname}: {} {} -> {after}, expected {}",
                    e.line, e.target, before, e.relation
                ));
            }
        }
        for (rule, n) in fired {
            if n == 0 {
                failures.push(format!(
                    "{set_name}: rule `{rule}` fires on none of the set's graphs"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The set's own tiny graphs are canonical FX-JSON (they round-trip byte for byte).
#[test]
fn rule_set_graphs_are_canonical() {
    for set in rule_sets() {
        for entry in std::fs::read_dir(&set).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let text = std::fs::read_to_string(&p).unwrap();
                assert_eq!(
                    fxsat::io::write_string(&common::load(&p)),
                    text,
                    "{}",
                    p.display()
                );
            }
        }
    }
}
