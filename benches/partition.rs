//! Criterion bench: the min-cut partitioner (`fxsat::partition`, graph already in memory) on
//! every joint fixture at budgets 1.0 and 0.5, and on a large joint graph (budgets 1.0, 0.5
//! and 0.1) when
//! `FXSAT_SCALE_JOINT` names one (e.g. the 32-layer LLaMA-style graph of
//! `python/fixtures/gen_scale_llama.py`):
//!
//! ```text
//! cargo bench --bench partition
//! FXSAT_SCALE_JOINT=/tmp/llama32.joint.json cargo bench --bench partition -- scale
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use fxsat::partition::{partition, PartitionOptions};
use std::path::PathBuf;
use std::time::Duration;

fn joints() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".joint.json"))
        .collect();
    v.sort();
    v
}

fn opts(budget: f64) -> PartitionOptions {
    PartitionOptions {
        budget,
        ..PartitionOptions::default()
    }
}

fn fixtures(c: &mut Criterion) {
    let mut group = c.benchmark_group("partition");
    group.sample_size(20);
    for path in joints() {
        let g = fxsat::io::read_file(&path).expect("fixture loads");
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".joint.json")
            .to_string();
        for budget in [1.0, 0.5] {
            group.bench_function(format!("{name}/{budget}"), |b| {
                b.iter(|| std::hint::black_box(partition(&g, &opts(budget)).unwrap()))
            });
        }
    }
    group.finish();
}

fn scale(c: &mut Criterion) {
    let Ok(path) = std::env::var("FXSAT_SCALE_JOINT") else {
        eprintln!("FXSAT_SCALE_JOINT not set: skipping the large joint graph");
        return;
    };
    let g = fxsat::io::read_file(path.as_ref())
        .unwrap_or_else(|e| panic!("FXSAT_SCALE_JOINT={path}: {e}"));
    let name = g.name.clone();
    eprintln!("{path}: {} nodes", g.nodes.len());
    let mut group = c.benchmark_group("scale");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for budget in [1.0, 0.5, 0.1] {
        group.bench_function(format!("{name}/{budget}"), |b| {
            b.iter(|| std::hint::black_box(partition(&g, &opts(budget)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, fixtures, scale);
criterion_main!(benches);
