//! The scaling fixtures (`tests/fixtures/scale/`, LLaMA-style, 1-64 layers, gzip'd FX-JSON):
//! reading `.gz`, the pipeline on the small ones, progress reporting, and `fxsat bench`.
//! Speed is measured by `fxsat bench` / `cargo bench --bench scale`, not here.

mod common;

use fxsat::progress::{Phase, Progress};
use fxsat::{optimize, partition, Options, PartitionOptions};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

fn scale_dir() -> PathBuf {
    common::fixture_dir().join("scale")
}

fn index() -> serde_json::Value {
    let text = std::fs::read_to_string(scale_dir().join("index.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_scaling_fixture_reads_with_the_indexed_node_count() {
    let idx = index();
    let entries = idx["fixtures"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        10,
        "1, 4, 16, 32, 64 layers × forward, joint"
    );
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let g = common::load(&scale_dir().join(file));
        // The index counts the output node too.
        assert_eq!(
            g.nodes.len() + 1,
            e["nodes"].as_u64().unwrap() as usize,
            "{file}"
        );
        assert_eq!(
            format!("{:?}", g.kind).to_lowercase(),
            e["kind"].as_str().unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_corrupt_gzip_file_is_an_error_naming_the_file() {
    let dir = common::temp_dir("scale-gz");
    let path = dir.join("broken.json.gz");
    let mut bytes = std::fs::read(scale_dir().join("llama1.forward.json.gz")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&path, &bytes).unwrap();
    let err = fxsat::io::read_file(&path).unwrap_err().to_string();
    assert!(err.contains("broken.json.gz"), "{err}");
    std::fs::write(&path, b"not gzip at all").unwrap();
    let err = fxsat::io::read_file(&path).unwrap_err().to_string();
    assert!(err.contains("broken.json.gz"), "{err}");
}

#[test]
fn small_scaling_graphs_fuse_every_attention_block_and_partition_deterministically() {
    for n in [1, 4] {
        let fwd = common::load(&scale_dir().join(format!("llama{n}.forward.json.gz")));
        let out = optimize(&fwd, &Options::default()).unwrap();
        assert_eq!(out.report.attention.fused, n, "llama{n}.forward");

        let joint = common::load(&scale_dir().join(format!("llama{n}.joint.json.gz")));
        let a = optimize(&joint, &Options::default()).unwrap();
        let b = optimize(&joint, &Options::default()).unwrap();
        let (wa, wb) = (
            fxsat::io::write_string(&a.graph),
            fxsat::io::write_string(&b.graph),
        );
        assert_eq!(wa, wb, "llama{n}.joint: same input, same bytes");
        let p = partition(&a.graph, &PartitionOptions::default()).unwrap();
        assert_eq!(
            p.bw.outputs.len(),
            joint.outputs.len() - joint.num_fwd_outputs.unwrap()
        );
    }
}

#[test]
fn progress_hook_sees_saturation_and_extraction_and_the_default_is_silent() {
    let g = common::load(&scale_dir().join("llama4.joint.json.gz"));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let opts = Options {
        progress: Progress::new(move |e| {
            sink.lock()
                .unwrap()
                .push((e.phase, e.done, e.total, e.finished))
        }),
        ..Options::default()
    };
    let with = optimize(&g, &opts).unwrap();
    let without = optimize(&g, &Options::default()).unwrap();
    assert_eq!(
        fxsat::io::write_string(&with.graph),
        fxsat::io::write_string(&without.graph),
        "a progress hook does not change the result"
    );
    let ev = events.lock().unwrap();
    let sat: Vec<_> = ev.iter().filter(|e| e.0 == Phase::Saturate).collect();
    let ext: Vec<_> = ev.iter().filter(|e| e.0 == Phase::Extract).collect();
    assert_eq!(
        sat.iter().filter(|e| !e.3).count(),
        with.report.egraph.iterations,
        "one saturation event per iteration"
    );
    assert!(sat.iter().all(|e| e.3 || e.1 < e.2), "done < total");
    assert!(
        sat.last().unwrap().3,
        "saturation ends with a finished event"
    );
    assert!(ext.len() >= 2 && ext.last().unwrap().3, "{ext:?}");
}

#[test]
fn bench_command_reports_every_phase_as_json() {
    let dir = common::temp_dir("scale-bench");
    let json = dir.join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .args(["bench", "--runs", "1", "--warmup", "0", "--json"])
        .arg(&json)
        .arg(scale_dir().join("llama1.joint.json.gz"))
        .arg(scale_dir().join("llama1.forward.json.gz"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("llama1.joint.json.gz"), "{table}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let graphs = j["graphs"].as_array().unwrap();
    assert_eq!(graphs.len(), 2);
    for g in graphs {
        for phase in [
            "read",
            "build",
            "saturate",
            "extract",
            "partition",
            "export",
            "total",
        ] {
            let s = g["median_seconds"][phase].as_f64().unwrap();
            assert!((0.0..60.0).contains(&s), "{phase}: {s}");
        }
        assert!(g["egraph"]["nodes"].as_u64().unwrap() > 0);
    }
    assert_eq!(graphs[1]["attention"]["sdpa_out"], 1);

    let missing = Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .args(["bench", "no/such/graph.json"])
        .output()
        .unwrap();
    // a missing input is bad input
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no/such/graph.json"), "{err}");
}

/// The 16-layer joint graph is cut into regions by default: equal layers are optimised once,
/// every block still fuses forward and backward, the result costs no more and has no more
/// nodes than the whole-graph optimisation's, the bytes are deterministic and it partitions.
#[test]
fn large_graphs_are_optimised_region_by_region_no_worse_than_whole() {
    let g = common::load(&scale_dir().join("llama16.joint.json.gz"));
    let split = optimize(&g, &Options::default()).unwrap();
    let again = optimize(&g, &Options::default()).unwrap();
    let whole = optimize(
        &g,
        &Options {
            regions: fxsat::passes::RegionOptions::off(),
            ..Options::default()
        },
    )
    .unwrap();
    let r = &split.report;
    assert_eq!(r.regions.count, 16, "{:?}", r.regions);
    assert!(r.regions.optimized <= 4, "{:?}", r.regions);
    assert_eq!(whole.report.regions.count, 0);
    assert_eq!((r.attention.fused, r.attention.fused_backward), (16, 16));
    assert!(
        r.cost.after <= whole.report.cost.after * (1.0 + 1e-9),
        "{} > {}",
        r.cost.after,
        whole.report.cost.after
    );
    assert!(r.nodes.after <= whole.report.nodes.after);
    assert_eq!(
        fxsat::io::write_string(&split.graph),
        fxsat::io::write_string(&again.graph)
    );
    let p = partition(&split.graph, &PartitionOptions::default()).unwrap();
    assert_eq!(
        p.bw.outputs.len(),
        g.outputs.len() - g.num_fwd_outputs.unwrap()
    );
}
