//! The min-cut partitioner on the joint fixtures: well-formed fw/bw graphs, byte bounds,
//! budgets, errors, and the comparison with PyTorch's own partitioner
//! (`tests/fixtures/pytorch_partition.json`, made by `experiments/pytorch_partition.py`).

mod common;

use fxsat::cost::node_cost;
use fxsat::cost::{Model, Profile};
use fxsat::ir::{Graph, GraphKind, NodeId, NodeKind};
use fxsat::partition::{
    classify::classify, knapsack, partition, sweep, PartitionOptions, PeakRule,
};
use std::collections::{HashMap, HashSet};

fn joints() -> Vec<(String, Graph)> {
    let mut paths: Vec<_> = std::fs::read_dir(common::fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| common::short(p).ends_with(".joint.json"))
        .collect();
    paths.sort();
    let v: Vec<_> = paths
        .iter()
        .map(|p| (common::short(p), common::load(p)))
        .collect();
    assert!(v.len() >= 5, "expected the joint fixtures");
    v
}

fn opts(budget: f64) -> PartitionOptions {
    PartitionOptions {
        budget,
        ..PartitionOptions::default()
    }
}

/// Every argument refers to an earlier node; the output list to existing nodes.
fn assert_well_formed(name: &str, g: &Graph) {
    let mut names = HashSet::new();
    for (i, n) in g.nodes.iter().enumerate() {
        assert!(names.insert(&n.name), "{name}: duplicate node {}", n.name);
        n.for_each_input(|x| {
            assert!(
                x.index() < i,
                "{name}: node {} uses undefined input #{}",
                n.name,
                x.index()
            )
        });
    }
    for o in g.outputs.iter().flatten() {
        assert!(o.index() < g.nodes.len(), "{name}: undefined output");
    }
    // and it survives a write/read round trip (the reader checks references)
    let text = fxsat::io::write_string(g);
    fxsat::io::read_str(&text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Bytes of every value computed without tangents that the backward uses directly: the
/// "save everything" baseline.
fn save_everything_bytes(g: &Graph) -> u64 {
    let c = classify(g).unwrap();
    let mut used = HashSet::new();
    for i in 0..g.nodes.len() {
        if c.tangents_closure[i] {
            g.nodes[i].for_each_input(|x| {
                if !c.tangents_closure[x.index()] {
                    used.insert(x);
                }
            });
        }
    }
    for x in c.grads.iter().flatten() {
        if !c.tangents_closure[x.index()] {
            used.insert(*x);
        }
    }
    used.iter().map(|x| g.node(*x).val.bytes()).sum()
}

#[test]
fn fw_and_bw_are_well_formed_on_every_joint_fixture() {
    for (name, g) in joints() {
        let nf = g.num_fwd_outputs.unwrap();
        let tangents = g
            .nodes
            .iter()
            .filter(|n| n.name.starts_with("tangents"))
            .count();
        for budget in [1.0, 0.5, 0.0] {
            let p = partition(&g, &opts(budget)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let saved = p.report.saved.len();
            assert_eq!(p.fw.kind, GraphKind::Fw);
            assert_eq!(p.bw.kind, GraphKind::Bw);
            assert_eq!(p.fw.outputs.len(), nf + saved, "{name}: fw outputs");
            assert_eq!(
                p.bw.outputs.len(),
                g.outputs.len() - nf,
                "{name}: bw outputs"
            );
            assert_eq!(p.bw.placeholders().len(), saved + tangents, "{name}");
            for (k, o) in g.outputs[nf..].iter().enumerate() {
                assert_eq!(
                    o.is_none(),
                    p.bw.outputs[k].is_none(),
                    "{name}: gradient {k}"
                );
            }
            // fw's saved outputs and bw's first placeholders are the same values
            for (k, s) in p.report.saved.iter().enumerate() {
                let fw_node = p.fw.node(p.fw.outputs[nf + k].unwrap());
                let bw_node = p.bw.node(p.bw.placeholders()[k]);
                assert_eq!(fw_node.name, s.name, "{name}");
                assert_eq!(bw_node.name, s.name, "{name}");
                assert_eq!(fw_node.val, bw_node.val, "{name}");
            }
            assert_well_formed(&name, &p.fw);
            assert_well_formed(&name, &p.bw);
            let all = save_everything_bytes(&g);
            assert!(
                p.report.saved_bytes <= all,
                "{name} at {budget}: saves {} bytes, saving everything the backward uses is {all}",
                p.report.saved_bytes
            );
            assert!(p.report.activation_bytes <= p.report.saved_bytes);
        }
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let fwd = common::load(&common::fixture_dir().join("gpt2.forward.json"));
    let e = partition(&fwd, &opts(1.0)).unwrap_err().to_string();
    assert!(e.contains("joint"), "{e}");

    let joint = common::load(&common::fixture_dir().join("example_attention.joint.json"));
    for b in [1.5, -0.1, f64::NAN] {
        let e = partition(&joint, &opts(b)).unwrap_err().to_string();
        assert!(e.contains("budget") && e.contains("[0, 1]"), "{e}");
    }
    let mut no_nf = joint.clone();
    no_nf.num_fwd_outputs = None;
    let e = partition(&no_nf, &opts(1.0)).unwrap_err().to_string();
    assert!(e.contains("num_fwd_outputs"), "{e}");

    let mut too_many = joint.clone();
    too_many.num_fwd_outputs = Some(99);
    let e = partition(&too_many, &opts(1.0)).unwrap_err().to_string();
    assert!(e.contains("num_fwd_outputs"), "{e}");

    let mut renamed = joint.clone();
    renamed.nodes[0].name = "x".into();
    let e = partition(&renamed, &opts(1.0)).unwrap_err().to_string();
    assert!(e.contains("primals_") && e.contains("`x`"), "{e}");
}

fn rule(budget: f64, peak_rule: PeakRule) -> PartitionOptions {
    PartitionOptions {
        budget,
        peak_rule,
        ..PartitionOptions::default()
    }
}

/// The 20-point sweep: with the strict peak rule the peak never rises as the budget decreases;
/// with the default (within-budget) rule every budget is honoured and the peak does not rise
/// either (peak repair, sunk backward schedule); both match single partitions.
#[test]
fn sweep_peak_is_monotone_and_budgets_are_honoured() {
    let mut rises = Vec::new();
    for (name, g) in joints() {
        let strict = sweep(&g, &rule(1.0, PeakRule::Strict)).unwrap();
        assert_eq!(strict.len(), 20, "{name}");
        for w in strict.windows(2) {
            assert!(w[0].budget > w[1].budget);
            assert!(
                w[1].peak_bytes <= w[0].peak_bytes,
                "{name} (strict): peak rises from {} at {} to {} at {}",
                w[0].peak_bytes,
                w[0].budget,
                w[1].peak_bytes,
                w[1].budget
            );
        }
        let points = sweep(&g, &PartitionOptions::default()).unwrap();
        let full = partition(&g, &opts(1.0)).unwrap().report;
        let floor = partition(&g, &opts(0.0)).unwrap().report.activation_bytes;
        for (k, pt) in points.iter().enumerate() {
            let target = if pt.budget >= 1.0 {
                full.activation_bytes
            } else {
                (pt.budget * full.budget_scale_bytes as f64 * (1.0 + 1e-12)).floor() as u64
            };
            assert!(
                pt.activation_bytes <= target.max(floor),
                "{name}: budget {} allows {target} bytes, saves {}",
                pt.budget,
                pt.activation_bytes
            );
            if k > 0 && pt.peak_bytes > points[k - 1].peak_bytes {
                rises.push(format!(
                    "{name}: {} → {} bytes at {:.2}",
                    points[k - 1].peak_bytes,
                    pt.peak_bytes,
                    pt.budget
                ));
            }
        }
        // the sweep makes the same choices as single partitions
        for (curve, r) in [
            (&points, PeakRule::WithinBudget),
            (&strict, PeakRule::Strict),
        ] {
            for pt in [&curve[0], &curve[10], &curve[18]] {
                let p = partition(&g, &rule(pt.budget, r)).unwrap();
                assert_eq!(p.report.activation_bytes, pt.activation_bytes, "{name}");
                assert_eq!(p.report.peak_bytes, pt.peak_bytes, "{name}");
            }
        }
    }
    assert!(
        rises.is_empty(),
        "peak rises under the within-budget rule:\n{}",
        rises.join("\n")
    );
}

/// The default rule's sweep on the 32-layer LLaMA-style joint graph
/// (`tests/fixtures/scale/llama32.joint.json.gz`, 8,889 nodes): every budget honoured, and the
/// peak rises by at most 0.2 % at any point (before peak repair it rose by 61 % at 0.05: with
/// almost nothing saved the backward rebuilt the whole forward at its start and held it).
/// Two rises of 0.17 % remain, at 0.10 and 0.05 (printed): no solution within those budgets
/// that the repair reaches keeps the last layer's backward as low as at 0.15.
#[test]
fn sweep_peak_on_32_layers() {
    let path = common::fixture_dir().join("scale/llama32.joint.json.gz");
    let g = fxsat::io::read_file(&path).unwrap();
    let points = sweep(&g, &PartitionOptions::default()).unwrap();
    let full = partition(&g, &opts(1.0)).unwrap().report;
    let mut rises = Vec::new();
    for (k, pt) in points.iter().enumerate() {
        if pt.budget < 1.0 {
            let target =
                (pt.budget * full.budget_scale_bytes as f64 * (1.0 + 1e-12)).floor() as u64;
            assert!(pt.activation_bytes <= target, "budget {}", pt.budget);
        }
        let prev = if k > 0 {
            points[k - 1].peak_bytes
        } else {
            u64::MAX
        };
        if pt.peak_bytes > prev {
            let rise = pt.peak_bytes as f64 / prev as f64 - 1.0;
            rises.push(format!(
                "{prev} → {} bytes at {:.2} (+{:.2} %)",
                pt.peak_bytes,
                pt.budget,
                rise * 100.0
            ));
            assert!(
                rise <= 0.002,
                "peak rises by more than 0.2 %:\n{}",
                rises.join("\n")
            );
        }
    }
    // from budget 1 to 0.05 the peak falls by 42 %
    assert!(points[19].peak_bytes as f64 <= 0.6 * points[0].peak_bytes as f64);
    println!("peak rises:\n{}", rises.join("\n"));
}

/// The forward then the backward reproduce the joint graph's forward outputs and gradients
/// bit for bit in the reference interpreter (random inputs), at budgets 1, 0.5, 0.05 and 0:
/// recomputation and the reordered backward schedule compute the same values.
#[test]
fn fw_then_bw_reproduce_the_joint_graph() {
    use fxsat::check::rng::Rng;
    use fxsat::interp::{eval_graph, Value};
    let same = |a: &Option<Value>, b: &Option<Value>| format!("{a:?}") == format!("{b:?}");
    let mut ran = 0;
    for (name, g) in joints() {
        let mut rng = Rng::new(7);
        let inputs: Vec<Value> = g
            .placeholders()
            .iter()
            .map(|&i| common::random_input(&g.node(i).val, &mut rng))
            .collect();
        let Ok(want) = eval_graph(&g, &inputs) else {
            continue;
        };
        ran += 1;
        let nf = g.num_fwd_outputs.unwrap();
        let by_name: HashMap<&str, &Value> = g
            .placeholders()
            .iter()
            .zip(&inputs)
            .map(|(&i, v)| (g.node(i).name.as_str(), v))
            .collect();
        for budget in [1.0, 0.5, 0.05, 0.0] {
            let p = partition(&g, &opts(budget)).unwrap();
            let fw_in: Vec<Value> =
                p.fw.placeholders()
                    .iter()
                    .map(|&i| by_name[p.fw.node(i).name.as_str()].clone())
                    .collect();
            let fw_out = eval_graph(&p.fw, &fw_in).unwrap_or_else(|e| panic!("{name}: fw: {e}"));
            for k in 0..nf {
                assert!(same(&fw_out[k], &want[k]), "{name} at {budget}: output {k}");
            }
            let saved: HashMap<&str, Option<Value>> = p
                .report
                .saved
                .iter()
                .zip(&fw_out[nf..])
                .map(|(s, v)| (s.name.as_str(), v.clone()))
                .collect();
            let bw_in: Vec<Value> =
                p.bw.placeholders()
                    .iter()
                    .map(|&i| {
                        let n = p.bw.node(i).name.as_str();
                        match saved.get(n) {
                            Some(v) => v.clone().expect("a saved value"),
                            None => by_name[n].clone(),
                        }
                    })
                    .collect();
            let bw_out = eval_graph(&p.bw, &bw_in).unwrap_or_else(|e| panic!("{name}: bw: {e}"));
            for (k, w) in want[nf..].iter().enumerate() {
                assert!(same(&bw_out[k], w), "{name} at {budget}: gradient {k}");
            }
        }
    }
    assert!(ran >= 4, "the interpreter ran only {ran} joint fixtures");
}

fn pytorch() -> serde_json::Value {
    let text =
        std::fs::read_to_string(common::fixture_dir().join("pytorch_partition.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Cost-model seconds of recomputing the named nodes of `g` (names not in `g` are skipped).
fn cost_of(g: &Graph, names: &[String]) -> f64 {
    let model = Model::new(Profile::named("cpu").unwrap());
    let by_name: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    names
        .iter()
        .filter_map(|n| by_name.get(n.as_str()))
        .map(|&i| node_cost(g, &model, NodeId(i as u32)).0)
        .sum()
}

/// At budget 1.0 fxsat saves no more activation bytes than PyTorch's partitioner and
/// recomputes no more (cost model, both priced by node name on the joint graph).
#[test]
fn no_more_activation_bytes_than_pytorch_at_budget_1() {
    let pt = pytorch();
    let (mut lines, mut worse) = (Vec::new(), Vec::new());
    for (name, g) in joints() {
        let (their_act, their_cost) = pytorch_point(&pt, &name, &g, "1.0");
        let p = partition(&g, &opts(1.0)).unwrap();
        let ours_rec = cost_of(&g, &p.report.recomputed);
        let line = format!(
            "{name} 1.0: fxsat {} bytes / {ours_rec:.3e} s, PyTorch {their_act} bytes / {their_cost:.3e} s",
            p.report.activation_bytes
        );
        if p.report.activation_bytes > their_act || ours_rec > their_cost * (1.0 + 1e-9) {
            worse.push(line.clone());
        }
        lines.push(line);
    }
    println!("{}", lines.join("\n"));
    assert!(
        worse.is_empty(),
        "PyTorch does better:\n{}",
        worse.join("\n")
    );
}

/// PyTorch's recorded saved set and recomputed nodes at `budget` (its activation bytes, its
/// recompute time priced by fxsat's cost model).
fn pytorch_point(pt: &serde_json::Value, name: &str, g: &Graph, budget: &str) -> (u64, f64) {
    let theirs = &pt["fixtures"][name][budget];
    assert!(
        theirs.is_object(),
        "{name} {budget}: not in pytorch_partition.json (rerun experiments/pytorch_partition.py)"
    );
    let rec: Vec<String> = theirs["recomputed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (
        theirs["activation_bytes"].as_u64().unwrap(),
        cost_of(g, &rec),
    )
}

/// PyTorch's saved set at `budget` (from `pytorch_partition.json`) evaluated like fxsat's own
/// choices: on the CSE'd joint graph that [`partition`] works on, with fxsat's cost model and
/// peak simulation.
fn pytorch_eval(
    pt: &serde_json::Value,
    name: &str,
    g: &Graph,
    budget: &str,
) -> fxsat::partition::Solution {
    let g = fxsat::passes::cse(g).0;
    let c = classify(&g).unwrap();
    let by_name: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let ids: Vec<NodeId> = pt["fixtures"][name][budget]["saved"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| by_name.get(s["name"].as_str().unwrap()))
        .map(|&i| NodeId(i as u32))
        .collect();
    let model = Model::new(Profile::named("cpu").unwrap());
    fxsat::partition::evaluate(&g, &c, &model, &ids, 0)
}

/// PyTorch's memory limit. `budget_scale_bytes` is PyTorch's `max_act_size − min_act_size`
/// (its recorded budget-1 saved values at their sizes, inputs included, minus the bytes of all
/// inputs) and at 0.5 and 0.1 fxsat's activation bytes stay within `b × scale` (PyTorch's
/// knapsack capacity, `budget_bytes`). Against PyTorch's recorded choice (its saved set
/// evaluated by fxsat's cost model on the same graph): fxsat saves no more activation bytes
/// and recomputes no more time, except where PyTorch's own activation bytes exceed that limit
/// (its early returns compare `size(saved) − size(all inputs)`, which credits the inputs it
/// does not save, and its knapsack limits only the knapsack's items, which the re-cut may add
/// to): there fxsat, within the limit, saves fewer bytes (printed).
#[test]
fn same_limit_as_pytorch_no_more_bytes_at_no_more_recompute() {
    let pt = pytorch();
    let (mut lines, mut worse, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for (name, g) in joints() {
        let max_act: u64 = pt["fixtures"][&name]["1.0"]["saved"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["bytes"].as_u64().unwrap())
            .sum();
        let min_act: u64 = g
            .nodes
            .iter()
            .filter(|n| n.kind == fxsat::ir::NodeKind::Placeholder && n.name.starts_with("primals"))
            .map(|n| n.val.bytes())
            .sum();
        let scale = max_act.saturating_sub(min_act);
        for budget in ["0.5", "0.1"] {
            let b: f64 = budget.parse().unwrap();
            let p = partition(&g, &opts(b)).unwrap().report;
            assert_eq!(p.budget_scale_bytes, scale, "{name}: PyTorch's scale");
            let limit = (b * scale as f64 * (1.0 + 1e-12)).floor() as u64;
            assert_eq!(p.budget_bytes, limit, "{name} {budget}");
            assert!(
                p.activation_bytes <= limit,
                "{name} {budget}: {} activation bytes over the limit {limit}",
                p.activation_bytes
            );
            let (their_act, their_cost) = pytorch_point(&pt, &name, &g, budget);
            let theirs = pytorch_eval(&pt, &name, &g, budget);
            let ours = cost_of(&g, &p.recomputed);
            let line = format!(
                "{name} {budget} (limit {limit}): fxsat {} bytes / {ours:.3e} s / {:.3e} flops / \
                 peak {}, PyTorch {their_act} bytes / {their_cost:.3e} s / {:.3e} flops / peak {}",
                p.activation_bytes,
                p.recompute_flops,
                p.peak_bytes,
                theirs.recompute_flops,
                theirs.peak_bytes
            );
            let met = p.activation_bytes <= their_act && ours <= their_cost * (1.0 + 1e-9);
            if !met {
                if their_act > limit {
                    over.push(line.clone());
                } else {
                    worse.push(line.clone());
                }
            }
            lines.push(line);
        }
    }
    println!("{}", lines.join("\n"));
    println!(
        "not dominated, PyTorch over the limit:\n{}",
        over.join("\n")
    );
    assert!(
        worse.is_empty(),
        "PyTorch does better within the limit:\n{}",
        worse.join("\n")
    );
}

#[test]
fn knapsack_is_exact() {
    // brute force on small pseudo-random sets
    let mut seed = 12345u64;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for _ in 0..200 {
        let n = 1 + rnd(10) as usize;
        let items: Vec<(u64, f64)> = (0..n)
            .map(|_| (rnd(5) * 512 + 512 * rnd(2), (1 + rnd(100)) as f64))
            .collect();
        let cap = rnd(20) * 256;
        let chosen = knapsack(&items, cap);
        let w: u64 = chosen.iter().map(|&i| items[i].0).sum();
        let v: f64 = chosen.iter().map(|&i| items[i].1).sum();
        assert!(w <= cap);
        let mut best = 0.0f64;
        for mask in 0u32..(1 << n) {
            let (mut bw, mut bv) = (0, 0.0);
            for (i, it) in items.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    bw += it.0;
                    bv += it.1;
                }
            }
            if bw <= cap {
                best = best.max(bv);
            }
        }
        assert_eq!(v, best, "items {items:?} cap {cap}");
    }
}

/// A joint graph written by hand: `y = f(x)` with the given forward nodes and backward nodes.
fn joint(nodes: &str, outputs: &str) -> Graph {
    let text = format!(
        r#"{{"format": "fx-json", "version": 1, "name": "t", "kind": "joint", "num_fwd_outputs": 1, "nodes": [{nodes},
{{"name": "output", "op": "output", "args": [{outputs}]}}]}}"#
    );
    fxsat::io::read_str(&text, "<test>").unwrap()
}

const T: &str = r#"{"shape": [512, 512], "dtype": "float32", "stride": [512, 1]}"#;

fn call(name: &str, target: &str, args: &str) -> String {
    format!(
        r#"{{"name": "{name}", "op": "call_function", "target": "{target}", "args": [{args}], "val": {T}}}"#
    )
}

fn ph(name: &str) -> String {
    format!(r#"{{"name": "{name}", "op": "placeholder", "val": {T}}}"#)
}

fn n(x: &str) -> String {
    format!(r#"{{"node": "{x}"}}"#)
}

#[test]
fn cos_chain_saves_only_the_input() {
    // x.cos().cos().cos(): PyTorch's test_aotdispatch saves only the input (fw: 1 in, 2 out)
    let nodes = [
        ph("primals_1"),
        ph("tangents_1"),
        call("cos", "aten.cos.default", &n("primals_1")),
        call("cos_1", "aten.cos.default", &n("cos")),
        call("cos_2", "aten.cos.default", &n("cos_1")),
        call("sin", "aten.sin.default", &n("cos_1")),
        call("neg", "aten.neg.default", &n("sin")),
        call(
            "mul",
            "aten.mul.Tensor",
            &format!("{}, {}", n("tangents_1"), n("neg")),
        ),
        call("sin_1", "aten.sin.default", &n("cos")),
        call("neg_1", "aten.neg.default", &n("sin_1")),
        call(
            "mul_1",
            "aten.mul.Tensor",
            &format!("{}, {}", n("mul"), n("neg_1")),
        ),
        call("sin_2", "aten.sin.default", &n("primals_1")),
        call("neg_2", "aten.neg.default", &n("sin_2")),
        call(
            "mul_2",
            "aten.mul.Tensor",
            &format!("{}, {}", n("mul_1"), n("neg_2")),
        ),
    ]
    .join(",\n");
    let g = joint(&nodes, &format!("[{}, {}]", n("cos_2"), n("mul_2")));
    let p = partition(&g, &opts(1.0)).unwrap();
    let saved: Vec<&str> = p.report.saved.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(saved, ["primals_1"]);
    assert_eq!(p.fw.outputs.len(), 2);
    assert_eq!(p.report.activation_bytes, 0);
}

#[test]
fn mm_then_tanh_saves_the_mm() {
    // mm(x, w).tanh().tanh(): the mm is compute-intensive, so it is saved, not recomputed
    let nodes = [
        ph("primals_1"),
        ph("primals_2"),
        ph("tangents_1"),
        call(
            "mm",
            "aten.mm.default",
            &format!("{}, {}", n("primals_1"), n("primals_2")),
        ),
        call("tanh", "aten.tanh.default", &n("mm")),
        call("tanh_1", "aten.tanh.default", &n("tanh")),
        // d tanh_1 = t * (1 - tanh_1^2); d tanh = that * (1 - tanh^2)
        call(
            "mul",
            "aten.mul.Tensor",
            &format!("{}, {}", n("tanh_1"), n("tanh_1")),
        ),
        call("rsub", "aten.rsub.Scalar", &format!("{}, 1", n("mul"))),
        call(
            "mul_1",
            "aten.mul.Tensor",
            &format!("{}, {}", n("tangents_1"), n("rsub")),
        ),
        call(
            "mul_2",
            "aten.mul.Tensor",
            &format!("{}, {}", n("tanh"), n("tanh")),
        ),
        call("rsub_1", "aten.rsub.Scalar", &format!("{}, 1", n("mul_2"))),
        call(
            "mul_3",
            "aten.mul.Tensor",
            &format!("{}, {}", n("mul_1"), n("rsub_1")),
        ),
        call(
            "permute",
            "aten.permute.default",
            &format!("{}, [1, 0]", n("primals_1")),
        ),
        call(
            "mm_1",
            "aten.mm.default",
            &format!("{}, {}", n("permute"), n("mul_3")),
        ),
    ]
    .join(",\n");
    let g = joint(&nodes, &format!("[{}, null, {}]", n("tanh_1"), n("mm_1")));
    let p = partition(&g, &opts(1.0)).unwrap();
    let saved: HashSet<&str> = p.report.saved.iter().map(|s| s.name.as_str()).collect();
    assert!(saved.contains("mm"), "saved {saved:?}");
    assert!(!p.report.recomputed.contains(&"mm".to_string()));
    assert!(p.report.recomputed.contains(&"tanh".to_string()));
    // at budget 0 the mm is recomputed and nothing but inputs is saved
    let p0 = partition(&g, &opts(0.0)).unwrap();
    assert_eq!(p0.report.activation_bytes, 0, "{:?}", p0.report.saved);
}

#[test]
fn dead_code_and_kinds() {
    // placeholder check on a graph whose nodes are fine but kind is fw
    let mut g = common::load(&common::fixture_dir().join("example_attention.joint.json"));
    g.kind = GraphKind::Fw;
    assert!(partition(&g, &opts(1.0)).is_err());
    assert!(matches!(g.nodes[0].kind, NodeKind::Placeholder));
}

/// PyTorch 2.15's op sets on every target of the joint fixtures (R recomputable, V view,
/// F fusible, C compute-intensive, X random), as `get_default_op_list()` reports them.
const PYTORCH_OP_SETS: &str = "
aten._unsafe_masked_index_put_accumulate.default -----
aten.add.Tensor R-F--
aten.addmm.default ---C-
aten.alias.default RVF--
aten.amax.default R-F--
aten.bitwise_and.Tensor R-F--
aten.bitwise_not.default R-F--
aten.bmm.default ---C-
aten.cat.default -----
aten.clone.default R-F--
aten.convolution.default ---C-
aten.convolution_backward.default ---C-
aten.cos.default R-F--
aten.div.Scalar R-F--
aten.div.Tensor R-F--
aten.embedding.default -----
aten.erf.default R-F--
aten.exp.default R-F--
aten.expand.default RVF--
aten.full.default R-F--
aten.gather.default R-F--
aten.ge.Scalar R-F--
aten.index.Tensor R-F--
aten.le.Tensor R-F--
aten.lt.Scalar R-F--
aten.mean.dim R-F--
aten.mm.default ---C-
aten.mul.Scalar R-F--
aten.mul.Tensor R-F--
aten.ne.Scalar R-F--
aten.neg.default R-F--
aten.permute.default RVF--
aten.pow.Tensor_Scalar R-F--
aten.rsqrt.default R-F--
aten.scalar_tensor.default R-F--
aten.select.int RVF--
aten.select_scatter.default -----
aten.sigmoid.default R-F--
aten.sin.default R-F--
aten.slice.Tensor RVF--
aten.slice_scatter.default -----
aten.split.Tensor RVF--
aten.squeeze.dim RVF--
aten.sub.Tensor R-F--
aten.sum.dim_IntList R-F--
aten.tanh.default R-F--
aten.unsqueeze.default RVF--
aten.var_mean.correction R-F--
aten.view.default RVF--
aten.where.self R-F--
getitem R-F--
prims.convert_element_type.default R-F--
prims.fma.default -----
prims.iota.default R-F--
aten.native_dropout.default ---XF
";

#[test]
fn op_sets_match_pytorch() {
    use fxsat::partition::classify::op_kinds;
    for line in PYTORCH_OP_SETS.lines().filter(|l| !l.trim().is_empty()) {
        let (target, flags) = line.split_once(' ').unwrap();
        let k = op_kinds(target);
        let want = |c: char| flags.contains(c);
        assert_eq!(k.recomputable, want('R'), "{target}: recomputable");
        assert_eq!(k.view, want('V'), "{target}: view");
        assert_eq!(k.fusible(), want('F'), "{target}: fusible");
        assert_eq!(
            k.compute_intensive,
            want('C'),
            "{target}: compute-intensive"
        );
        assert_eq!(k.random, want('X'), "{target}: random");
    }
}

/// With PyTorch's weights (primals not free to save: the fixtures do not mark parameters), the
/// cut at budget 1 saves exactly what PyTorch's partitioner saves.
#[test]
fn pytorch_weights_give_pytorch_saved_set() {
    let pt = pytorch();
    let mut diffs = Vec::new();
    for (name, g) in joints() {
        let mut o = opts(1.0);
        o.mincut.inputs_free_to_save = false;
        let p = partition(&g, &o).unwrap();
        let ours: HashSet<String> = p.report.saved.iter().map(|s| s.name.clone()).collect();
        let theirs: HashSet<String> = pt["fixtures"][&name]["1.0"]["saved"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        if ours != theirs {
            let mut a: Vec<_> = ours.difference(&theirs).collect();
            let mut b: Vec<_> = theirs.difference(&ours).collect();
            a.sort();
            b.sort();
            diffs.push(format!("{name}: fxsat only {a:?}, PyTorch only {b:?}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn optimize_then_partition() {
    let g = common::load(&common::fixture_dir().join("gpt2.joint.json"));
    let opt = fxsat::optimize(&g, &fxsat::Options::default()).unwrap();
    let p = partition(&opt.graph, &PartitionOptions::default()).unwrap();
    assert_eq!(opt.graph.kind, GraphKind::Joint);
    let nf = g.num_fwd_outputs.unwrap();
    assert_eq!(p.fw.outputs.len(), nf + p.report.saved.len());
    assert_eq!(p.bw.outputs.len(), g.outputs.len() - nf);
    assert_well_formed("gpt2 optimised fw", &p.fw);
    assert_well_formed("gpt2 optimised bw", &p.bw);
}

/// PyTorch's `test_rematerializes_cheap`: `mm(cos(x), w).sum()`. Budget 1 saves the cos output
/// (1 MiB: the backward's weight-gradient matmul materialises it anyway), with PyTorch's
/// weights or fxsat's; budget 0.5 saves nothing but inputs. The matmul is never recomputed.
#[test]
fn rematerializes_cheap() {
    let s = r#"{"shape": [], "dtype": "float32", "stride": []}"#;
    let nodes = [
        ph("primals_1"),
        ph("primals_2"),
        format!(r#"{{"name": "tangents_1", "op": "placeholder", "val": {s}}}"#),
        call("cos", "aten.cos.default", &n("primals_1")),
        call("mm", "aten.mm.default", &format!("{}, {}", n("cos"), n("primals_2"))),
        format!(
            r#"{{"name": "sum", "op": "call_function", "target": "aten.sum.default", "args": [{}], "val": {s}}}"#,
            n("mm")
        ),
        call("e", "aten.expand.default", &format!("{}, [512, 512]", n("tangents_1"))),
        call("ct", "aten.permute.default", &format!("{}, [1, 0]", n("cos"))),
        call("gw", "aten.mm.default", &format!("{}, {}", n("ct"), n("e"))),
        call("wt", "aten.permute.default", &format!("{}, [1, 0]", n("primals_2"))),
        call("gc", "aten.mm.default", &format!("{}, {}", n("e"), n("wt"))),
        call("sn", "aten.sin.default", &n("primals_1")),
        call("nn", "aten.neg.default", &n("sn")),
        call("gx", "aten.mul.Tensor", &format!("{}, {}", n("gc"), n("nn"))),
    ]
    .join(",\n");
    let g = joint(&nodes, &format!("[{}, {}, {}]", n("sum"), n("gx"), n("gw")));
    let mut pytorch_weights = opts(1.0);
    pytorch_weights.mincut.inputs_free_to_save = false;
    let p = partition(&g, &pytorch_weights).unwrap();
    assert_eq!(p.report.activation_bytes, 1 << 20, "{:?}", p.report.saved);
    assert!(p
        .report
        .saved
        .iter()
        .any(|s| s.name == "cos" || s.name == "ct"));
    let p = partition(&g, &opts(1.0)).unwrap();
    assert_eq!(p.report.activation_bytes, 1 << 20, "{:?}", p.report.saved);
    let p = partition(&g, &opts(0.5)).unwrap();
    assert_eq!(p.report.activation_bytes, 0, "{:?}", p.report.saved);
    assert!(!p.report.recomputed.contains(&"mm".to_string()));
}

/// PyTorch's `MemoryBudgetTest` (`test/functorch/test_ac.py`) as fixtures
/// (`tests/fixtures/partition/`, `python/fixtures/gen_partition_fixtures.py`; every 512×512 fp32
/// value is 1 MiB): at each budget the test asks for, fxsat with each budget solved alone
/// (`PeakRule::Off`, PyTorch's semantics) makes the test's expected choice — the activation
/// MiB (rounded to 0.1 MiB as the test does) and which matmuls / attention are recomputed — and
/// so does PyTorch's own partitioner on the same graphs (recorded under `partition_tests`),
/// except where noted:
///
/// * `test_matmul_even_chain` at 6–9/10: PyTorch saves 5 MiB (its "more aggressive" cut is
///   the first candidate that fits, and it returns it); fxsat saves b MiB, recomputes no matmul
///   either, and recomputes fewer `cos` nodes, so its recompute time is strictly lower (tested)
///   while staying within the budget (b × 10 MiB).
/// * `test_attention_vs_linear`: on the CPU graphs PyTorch 2.15 always recomputes the
///   attention, because `_scaled_dot_product_flash_attention_for_cpu` is not in its
///   compute-intensive list (the test runs on CUDA, where the kernel is); fxsat lists it and
///   makes the test's choice: it recomputes whichever of attention and matmul costs less.
///
/// The default rule (`WithinBudget`) honours each budget too.
#[test]
fn pytorch_memory_budget_tests() {
    const MIB: u64 = 1 << 20;
    let dir = common::fixture_dir().join("partition");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let pt = pytorch();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in index["fixtures"].as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let g = common::load(&dir.join(file));
        let theirs = pt["partition_tests"][file].as_array().unwrap_or_else(|| {
            panic!("{file}: not in pytorch_partition.json (rerun experiments/pytorch_partition.py)")
        });
        let full = partition(&g, &opts(1.0)).unwrap().report;
        let (max_act, scale) = (full.activation_bytes, full.budget_scale_bytes);
        for (k, b) in e["budgets"].as_array().unwrap().iter().enumerate() {
            let budget = b["budget"].as_f64().unwrap();
            let exp = &b["expected"];
            let p = partition(&g, &rule(budget, PeakRule::Off)).unwrap().report;
            let mib = |bytes: u64| (bytes as f64 / MIB as f64 * 10.0).round() / 10.0;
            let mm = |rec: &[String]| -> Vec<String> {
                rec.iter()
                    .filter(|r| r.starts_with("mm"))
                    .cloned()
                    .collect()
            };
            let attn = |rec: &[String]| rec.iter().any(|r| r.contains("scaled_dot_product"));
            let row = &theirs[k];
            assert_eq!(row["budget"].as_f64(), Some(budget), "{file}");
            let their_rec: Vec<String> = row["recomputed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let their_act = row["activation_bytes"].as_u64().unwrap();
            let want_mib = exp["mem_mib"].as_f64().unwrap();
            let mut ok = mib(p.activation_bytes) == want_mib;
            let mut theirs_ok = mib(their_act) == want_mib;
            if let Some(n) = exp["recomputed_mm"].as_u64() {
                ok &= mm(&p.recomputed).len() as u64 == n;
                theirs_ok &= mm(&their_rec).len() as u64 == n;
            }
            if let Some(names) = exp["recomputed_mm"].as_array() {
                let names: Vec<String> = names
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let (mut a, mut t) = (mm(&p.recomputed), mm(&their_rec));
                a.sort();
                t.sort();
                ok &= a == names;
                theirs_ok &= t == names;
            }
            if let Some(which) = exp["recomputed"].as_str() {
                let want_attn = which == "attn";
                ok &= attn(&p.recomputed) == want_attn && mm(&p.recomputed).is_empty() == want_attn;
                theirs_ok = true; // PyTorch's CPU choice differs (see the doc comment)
            }
            let tenths = (budget * 10.0).round() as u64;
            if file == "even_chain.joint.json" && (6..=9).contains(&tenths) {
                // fxsat: b MiB, no matmul, less recompute time than PyTorch's 5 MiB cut
                let their_cost = cost_of(&g, &their_rec);
                ok = p.activation_bytes == tenths * MIB
                    && mm(&p.recomputed).is_empty()
                    && p.recompute_seconds < their_cost;
            }
            if !ok {
                failures.push(format!(
                    "{file} at {budget:.3}: fxsat {} MiB, recomputes {:?}; expected {exp}",
                    mib(p.activation_bytes),
                    p.recomputed
                ));
            }
            if !theirs_ok {
                failures.push(format!(
                    "{file} at {budget:.3}: the recorded PyTorch result ({} MiB, {:?}) is not the test's {exp}",
                    mib(their_act),
                    mm(&their_rec)
                ));
            }
            let d = partition(&g, &opts(budget)).unwrap().report;
            let target = if budget >= 1.0 {
                max_act
            } else {
                (budget * scale as f64 * (1.0 + 1e-12)).floor() as u64
            };
            if d.activation_bytes > target {
                failures.push(format!(
                    "{file} at {budget:.3}: default rule saves {} bytes, budget {target}",
                    d.activation_bytes
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
