//! Criterion bench on the scaling fixtures (`tests/fixtures/scale/llama{N}.joint.json.gz`, made
//! by `python/fixtures/gen_scale_fixtures.py`): the whole pipeline, read → build e-graph → saturate →
//! extract → partition → export, per size.
//!
//! `cargo bench --bench scale` (or `make bench-scale`); `FXSAT_SCALE_LAYERS=1,4,16` picks the
//! sizes (default all: 1, 4, 16, 32, 64). `fxsat bench` prints the per-phase breakdown.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Duration;

fn layers() -> Vec<usize> {
    match std::env::var("FXSAT_SCALE_LAYERS") {
        Ok(s) => s
            .split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .expect("FXSAT_SCALE_LAYERS: comma-separated integers")
            })
            .collect(),
        Err(_) => vec![1, 4, 16, 32, 64],
    }
}

fn scale(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scale");
    let rules = fxsat::rules::default_rules().expect("default rules load");
    let opts = fxsat::Options {
        rules: Some(rules),
        ..fxsat::Options::default()
    };
    let popts = fxsat::PartitionOptions::default();
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    for n in layers() {
        let path = dir.join(format!("llama{n}.joint.json.gz"));
        group.bench_function(format!("llama{n}.joint"), |b| {
            b.iter(|| {
                let g = fxsat::io::read_file(&path).expect("scaling fixture reads");
                let out = fxsat::optimize(&g, &opts).expect("optimize");
                let p = fxsat::partition(&out.graph, &popts).expect("partition");
                std::hint::black_box(
                    fxsat::io::write_string(&p.fw).len() + fxsat::io::write_string(&p.bw).len(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
