//! Random and opaque calls (random ops, ops the table does not know) are never removed,
//! merged, duplicated or reordered among themselves: by optimize (whole graph; region by
//! region never splits such a graph), by CSE and by the partitioner; the rest still optimises.

mod common;

use fxsat::egraph::{build, is_random, BuildOptions};
use fxsat::ir::Graph;
use fxsat::ops::{has_effects, RANDOM_OPS};
use fxsat::partition::classify::op_kinds;
use fxsat::passes::cse;
use fxsat::passes::regions::{split, RegionOptions};
use fxsat::{optimize, Options};

fn load(name: &str) -> Graph {
    common::load(&common::fixture_dir().join("effects").join(name))
}

/// The calls with effects of a graph, in graph order: (name, target).
fn effect_calls(g: &Graph) -> Vec<(String, String)> {
    g.nodes
        .iter()
        .filter_map(|n| n.target().map(|t| (n.name.clone(), t.to_string())))
        .filter(|(_, t)| is_random(t) || has_effects(t))
        .collect()
}

fn optimized(g: &Graph, exact_random: bool) -> fxsat::Optimized {
    optimize(
        g,
        &Options {
            exact_random,
            ..Options::default()
        },
    )
    .unwrap()
}

fn assert_effects_kept(name: &str) -> fxsat::Optimized {
    let g = load(name);
    let before = effect_calls(&g);
    assert!(!before.is_empty(), "{name}: a fixture with effects");
    for exact in [false, true] {
        let out = optimized(&g, exact);
        assert_eq!(
            effect_calls(&out.graph),
            before,
            "{name} (exact_random {exact}): each call once, in the original order"
        );
    }
    optimized(&g, false)
}

#[test]
fn unused_random_and_opaque_calls_are_kept() {
    // the issue's graph: an unused rand, native_dropout and unknown op were dropped (6 → 3)
    let out = assert_effects_kept("unused.forward.json");
    let targets: Vec<String> = effect_calls(&out.graph).into_iter().map(|x| x.1).collect();
    assert_eq!(
        targets,
        [
            "aten.rand.default",
            "aten.native_dropout.default",
            "mylib.side_effect.default"
        ]
    );
    assert_eq!(
        out.graph.nodes.len(),
        load("unused.forward.json").nodes.len()
    );
}

#[test]
fn attention_next_to_random_calls_still_fuses() {
    let out = assert_effects_kept("attention.forward.json");
    assert_eq!(out.report.attention.fused, 1, "the attention block fuses");
    // the decomposed block is gone: 3 inputs, sdpa, 4 kept calls, add
    assert!(
        out.graph.nodes.len() < 12,
        "{} nodes",
        out.graph.nodes.len()
    );
}

#[test]
fn identical_random_and_opaque_calls_are_not_merged() {
    let g = load("duplicates.forward.json");
    assert_effects_kept("duplicates.forward.json");
    let (c, merged) = cse(&g);
    assert_eq!(merged, 0, "CSE merged a random or opaque call");
    assert_eq!(effect_calls(&c), effect_calls(&g));
}

#[test]
fn cse_still_merges_pure_calls() {
    let text =
        std::fs::read_to_string(common::fixture_dir().join("effects/duplicates.forward.json"))
            .unwrap()
            .replace("mylib.side_effect.default", "aten.relu.default");
    let g = fxsat::io::read_str(&text, "pure.json").unwrap();
    let (_, merged) = cse(&g);
    assert_eq!(merged, 1, "the two relu(x) are one");
}

#[test]
fn graphs_with_effects_are_not_split_into_regions() {
    let o = RegionOptions {
        min_graph_nodes: 0,
        min_region_nodes: 1,
        ..RegionOptions::default()
    };
    for name in [
        "unused.forward.json",
        "attention.forward.json",
        "duplicates.forward.json",
    ] {
        assert!(split(&load(name), &o).is_none(), "{name} was split");
    }
}

/// Every target of the one random-op list, in the spellings graphs use.
fn random_targets() -> Vec<String> {
    let mut v = Vec::new();
    for op in RANDOM_OPS {
        v.push(format!("aten.{op}.default"));
        v.push(format!("aten.{op}_.default"));
        v.push(format!("prims.{op}.default"));
        v.push(format!("rngprims.{op}.default"));
    }
    v.extend(
        [
            "aten.bernoulli.p",
            "aten.bernoulli.Tensor",
            "aten.bernoulli_.float",
            "aten.normal.Tensor_float",
            "aten.normal.float_Tensor",
            "aten.randint.low",
            "aten.rand.generator",
            "aten.exponential.default",
            "aten.multinomial.default",
            "aten.poisson.default",
            "rngprims.philox_rand.default",
            "higher_order.run_and_save_rng_state",
            "higher_order.run_with_rng_state",
        ]
        .map(String::from),
    );
    v
}

#[test]
fn one_random_list_for_the_builder_and_the_partitioner() {
    for t in random_targets() {
        assert!(is_random(&t), "{t}: not random for the e-graph builder");
        assert!(op_kinds(&t).random, "{t}: not random for the partitioner");
        assert!(op_kinds(&t).effects, "{t}: CSE would merge it");
    }
    for t in [
        "aten.native_dropout_backward.default",
        "aten.add.Tensor",
        "aten.randomize_nothing.default",
    ] {
        assert!(!is_random(t), "{t}");
        assert!(!op_kinds(t).random, "{t}");
    }
}

#[test]
fn the_builder_keeps_every_random_target_opaque_and_rooted() {
    for t in random_targets() {
        let text = format!(
            r#"{{"format": "fx-json", "version": 1, "name": "g", "kind": "forward", "nodes": [
{{"name": "x", "op": "placeholder", "val": {{"shape": [2], "dtype": "float32", "stride": [1]}}}},
{{"name": "r", "op": "call_function", "target": "{t}", "args": [{{"node": "x"}}], "val": {{"shape": [2], "dtype": "float32", "stride": [1]}}}},
{{"name": "output", "op": "output", "args": [[{{"node": "x"}}]]}}]}}"#
        );
        let g = fxsat::io::read_str(&text, "g.json").unwrap();
        let b = build(&g, &BuildOptions::default()).unwrap();
        assert_eq!(b.effects.len(), 1, "{t}: not kept by the builder");
        assert_eq!(b.opaque_count, 1, "{t}: not opaque");
        let out = optimized(&g, false);
        assert_eq!(
            effect_calls(&out.graph).len(),
            1,
            "{t}: dropped by optimize"
        );
    }
}

#[test]
fn the_partitioner_keeps_random_calls_in_the_forward_once() {
    let g = load("joint.joint.json");
    let p = fxsat::partition(&g, &fxsat::PartitionOptions::default()).unwrap();
    let names = |g: &Graph| -> Vec<String> { effect_calls(g).into_iter().map(|x| x.0).collect() };
    // the unused rand and library call stay, in order, in the forward; the used rand is not
    // recomputed in the backward (its mask is saved)
    assert_eq!(names(&p.fw), ["rand", "side_effect", "rand_1"]);
    assert!(
        names(&p.bw).is_empty(),
        "the backward draws again: {:?}",
        names(&p.bw)
    );
}

#[test]
fn in_place_calls_come_last_after_every_read() {
    // `mul` reads `buf` before `copy_` writes into it; the used `rand` after `copy_` must not
    // pull the write before that read (random calls keep their order among themselves only)
    let g = load("in_place.forward.json");
    for exact in [false, true] {
        let out = optimized(&g, exact);
        let names: Vec<&str> = out
            .graph
            .nodes
            .iter()
            .filter(|n| n.target().is_some())
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(names.last(), Some(&"copy_"), "{names:?}");
        let pos = |x: &str| names.iter().position(|n| *n == x).unwrap();
        assert!(
            pos("mul") < pos("copy_") && pos("add") < pos("copy_"),
            "{names:?}"
        );
        assert_eq!(names.len(), 6, "every call kept once: {names:?}");
    }
}

#[test]
fn a_read_after_an_in_place_write_is_refused() {
    let g = load("read_after_write.forward.json");
    let err = optimize(&g, &Options::default()).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("node `mul` reads `buf` after `copy_` writes into it"),
        "{msg}"
    );
}
