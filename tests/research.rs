//! Research tools: the egraph-serialize dump read back (schema, and extraction over it
//! reproducing fxsat's costs), the exact extractor on fixtures, the `--dump-dot` size limit,
//! the per-region dump names, and the rules report.

mod common;

use fxsat::extract::{exact, serialize, Extractor};
use fxsat::{optimize, ExtractOptions, Options};
use std::process::Command;
use std::time::Duration;

fn opts(extractor: Extractor, dump: bool) -> Options {
    Options {
        extract: ExtractOptions {
            extractor,
            exact_time_limit: Some(Duration::from_secs(20)),
            ..ExtractOptions::default()
        },
        dump_egraph: dump,
        ..Options::default()
    }
}

/// The dump has extraction-gym's shape: every node's `op`, `children` (node ids that
/// exist), `eclass` and finite `cost`, the root classes among the classes, `class_data`
/// for every class.
fn check_schema(text: &str) {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let nodes = v["nodes"].as_object().expect("nodes is a map");
    assert!(!nodes.is_empty());
    let mut classes = std::collections::HashSet::new();
    for (id, n) in nodes {
        assert!(n["op"].is_string(), "{id}: op");
        assert!(n["eclass"].is_string(), "{id}: eclass");
        assert!(n["cost"].as_f64().is_some_and(|c| c >= 0.0), "{id}: cost");
        for ch in n["children"].as_array().expect("children") {
            assert!(nodes.contains_key(ch.as_str().unwrap()), "{id}: child {ch}");
        }
        classes.insert(n["eclass"].as_str().unwrap().to_string());
    }
    let roots = v["root_eclasses"].as_array().expect("root_eclasses");
    assert!(!roots.is_empty());
    for r in roots {
        assert!(classes.contains(r.as_str().unwrap()), "root {r}");
    }
    let data = v["class_data"].as_object().expect("class_data");
    assert_eq!(data.len(), classes.len());
}

#[test]
fn dump_reads_back_and_extraction_over_it_reproduces_fxsats_costs() {
    for name in [
        "example_attention.forward.json",
        "example_attention.joint.json",
        "bert.forward.json",
        "attention/x_einsum_fp32_b1.forward.json",
    ] {
        let path = common::fixture_dir().join(name);
        let g = fxsat::io::read_file(&path).unwrap();
        let dag = optimize(&g, &opts(Extractor::Dag, true)).unwrap();
        let ex = optimize(&g, &opts(Extractor::Exact, false)).unwrap();
        assert_eq!(dag.egraphs.len(), 1, "{name}: optimised whole");
        assert!(ex.egraphs.is_empty(), "{name}: no dump unless asked");
        let text = serialize::to_json(&dag.egraphs[0]);
        check_schema(&text);
        let back = serialize::from_json(&text, name).unwrap();
        assert_eq!(back, dag.egraphs[0], "{name}: JSON round trip");
        let (p, ids) = serialize::problem(&back, name).unwrap();
        assert_eq!(ids.len(), back.nodes.len());
        // extraction over the dump alone: greedy, then exact from it
        let warm = p.greedy();
        let warm_cost = p.dag_cost(&warm).unwrap();
        let opt = exact::solve(&p, &warm, Some(Duration::from_secs(20)));
        assert!(opt.proven, "{name}: the dump's optimum proven");
        assert_eq!(p.dag_cost(&opt.choice), Ok(opt.cost));
        assert!(opt.cost <= warm_cost);
        let e = ex.report.exact.as_ref().expect("exact figures");
        assert_eq!(e.proven, 1, "{name}: fxsat's exact extraction proven");
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-30);
        assert!(
            rel(opt.cost, e.best_cost) < 1e-9,
            "{name}: the dump's optimum {} vs fxsat's exact {}",
            opt.cost,
            e.best_cost
        );
        // fxsat's DAG extraction is a valid extraction of the same problem: never below it
        assert!(rel(e.dag_cost, dag.report.cost.after) < 1e-12, "{name}");
        assert!(dag.report.cost.after >= opt.cost * (1.0 - 1e-9), "{name}");
        assert!(ex.report.cost.after <= dag.report.cost.after * (1.0 + 1e-12));
        assert_eq!(ex.graph.outputs.len(), g.outputs.len());
    }
}

#[test]
fn exact_never_worse_than_dag_and_greedy_never_better() {
    for name in [
        "gpt2.forward.json",
        "vit.forward.json",
        "attn_div_mask.joint.json",
    ] {
        let g = fxsat::io::read_file(&common::fixture_dir().join(name)).unwrap();
        let greedy = optimize(&g, &opts(Extractor::Greedy, false)).unwrap();
        let dag = optimize(&g, &opts(Extractor::Dag, false)).unwrap();
        let ex = optimize(&g, &opts(Extractor::Exact, false)).unwrap();
        let e = ex.report.exact.as_ref().unwrap();
        assert!(
            dag.report.cost.after <= greedy.report.cost.after * (1.0 + 1e-12),
            "{name}"
        );
        assert!(e.best_cost <= e.dag_cost, "{name}");
        assert!(e.lower_bound <= e.best_cost * (1.0 + 1e-9), "{name}");
        assert!((0.0..=1.0).contains(&e.gap), "{name}");
        assert!(greedy.report.exact.is_none() && dag.report.exact.is_none());
        // the default path is the DAG extractor
        let default = optimize(&g, &Options::default()).unwrap();
        assert_eq!(
            fxsat::io::write_string(&default.graph),
            fxsat::io::write_string(&dag.graph),
            "{name}"
        );
    }
}

#[test]
fn per_region_dumps_and_dot_limit_on_the_command_line() {
    let dir = common::temp_dir("research");
    let input = common::fixture_dir().join("scale/llama32.forward.json.gz");
    let out = Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .arg("optimize")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("o.json"))
        .arg("--report")
        .arg(dir.join("r.json"))
        .arg("--dump-egraph")
        .arg(dir.join("eg.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let n = r["regions"]["optimized"].as_u64().unwrap() as usize;
    assert!(n > 1, "the graph is cut");
    for k in 0..n {
        let text = std::fs::read_to_string(dir.join(format!("eg.{k}.json"))).unwrap();
        check_schema(&text);
    }
    assert!(!dir.join(format!("eg.{n}.json")).exists());
    assert!(!dir.join("eg.json").exists());
    // the default report has no exact section and no extractor option
    assert!(r.get("exact").is_none() && r["options"].get("extractor").is_none());

    // a picture of a large e-graph is refused: usage error, nothing written
    let out = Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .arg("optimize")
        .arg(common::fixture_dir().join("scale/llama16.forward.json.gz"))
        .arg("-o")
        .arg(dir.join("o2.json"))
        .arg("--dump-dot")
        .arg(dir.join("eg.dot"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than the 2000"), "{err}");
    assert!(!dir.join("eg.dot").exists() && !dir.join("o2.json").exists());

    // a small one is drawn
    let out = Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .arg("optimize")
        .arg(common::fixture_dir().join("example_attention.forward.json"))
        .arg("-o")
        .arg(dir.join("o3.json"))
        .arg("--dump-dot")
        .arg(dir.join("small.dot"))
        .arg("--extractor")
        .arg("exact")
        .arg("--report")
        .arg(dir.join("r3.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = std::fs::read_to_string(dir.join("small.dot")).unwrap();
    assert!(dot.starts_with("digraph egraph {") && dot.contains("cluster_"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r3.json")).unwrap()).unwrap();
    assert_eq!(r["options"]["extractor"], "exact");
    assert_eq!(r["exact"]["proven"], 1);
}

#[test]
fn rules_report_counts_firings_and_finds_rules_that_never_fire() {
    let names = ["example_attention.forward.json", "attn_div.forward.json"];
    let graphs: Vec<(String, fxsat::Graph)> = names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                fxsat::io::read_file(&common::fixture_dir().join(n)).unwrap(),
            )
        })
        .collect();
    let opts = Options::default();
    let mut lines = 0;
    let r = fxsat::research::rules_report(&graphs, &opts, &mut |_| lines += 1).unwrap();
    assert_eq!(r.graphs.len(), 2);
    assert!(r.failed.is_empty());
    // the applications add up to what optimize reports
    for (name, g) in &graphs {
        let o = optimize(g, &opts).unwrap();
        for (rule, &n) in &o.report.rules {
            let f = r.rules.iter().find(|f| &f.name == rule).unwrap();
            assert!(f.applications >= n, "{name}: {rule}");
        }
    }
    let fired: Vec<_> = r.rules.iter().filter(|f| f.applications > 0).collect();
    assert!(!fired.is_empty());
    // a progress line per run: 2 with all rules, one per (fired rule, graph)
    let runs: usize = fired.iter().map(|f| f.graphs_fired).sum();
    assert_eq!(lines, 2 + runs);
    // the attention fusion saves cost: removing every rule that fired costs more in total
    assert!(fired.iter().any(|f| f.cost_change > 0.0));
    // a rule of the corpus that fires nowhere is listed; training rules do not fire on
    // forward graphs
    assert!(!r.never_fired.is_empty());
    for n in &r.never_fired {
        let f = r.rules.iter().find(|f| &f.name == n).unwrap();
        assert!(f.enabled && f.applications == 0 && f.cost_change == 0.0);
    }
    assert!(r.text().contains("never fired"));
}
