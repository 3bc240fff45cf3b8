//! Criterion bench: import → saturate → extract → export on every fixture graph.
//!
//! `cargo bench --bench pipeline` (or `make bench`) prints one median per fixture.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Graph fixtures are `<name>.forward.json` / `<name>.joint.json`; other JSON there is data.
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".forward.json") || n.ends_with(".joint.json")
        })
        .collect();
    v.sort();
    v
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    let rules = fxsat::rules::default_rules().expect("default rules load");
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let opts = fxsat::Options {
            rules: Some(rules.clone()),
            ..fxsat::Options::default()
        };
        group.bench_function(&name, |b| {
            b.iter(|| {
                let g = fxsat::io::read_str(&text, &name).unwrap();
                let out = fxsat::optimize(&g, &opts).unwrap();
                std::hint::black_box(fxsat::io::write_string(&out.graph))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
