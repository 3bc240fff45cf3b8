//! Byte identity across refactors: every fixture graph under `tests/fixtures` (forward and
//! joint, the scaling family included) optimised for the CPU, for CUDA and with
//! `--assume no-fully-masked-rows`, and every joint result partitioned at budgets 1, 0.5 and
//! 0.1, must give exactly the bytes recorded in `tests/fixtures/snapshots.txt` (an FNV-1a hash
//! of each output, or of the error message). A change of output is then a visible, reviewed
//! change of that file: `FXSAT_BLESS=1 cargo test --release --test snapshot` rewrites it.

mod common;

use fxsat::{optimize, partition, Options, PartitionOptions, Target};
use std::path::{Path, PathBuf};

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn graphs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            graphs(&p, out);
        } else if [".forward.json", ".joint.json"]
            .iter()
            .any(|s| name.ends_with(s) || name.ends_with(&format!("{s}.gz")))
        {
            out.push(p);
        }
    }
}

fn hash_or_error<T>(r: fxsat::Result<T>, f: impl Fn(&T) -> Vec<u8>) -> (String, Option<T>) {
    match r {
        Ok(x) => (format!("{:016x}", fnv(&f(&x))), Some(x)),
        Err(e) => (
            format!("error {:016x}", fnv(e.to_string().as_bytes())),
            None,
        ),
    }
}

/// One line per (fixture, variant): `path variant hash`.
fn snapshot() -> Vec<String> {
    let root = common::fixture_dir();
    let mut files = Vec::new();
    graphs(&root, &mut files);
    assert!(
        files.len() > 150,
        "found only {} fixture graphs",
        files.len()
    );
    let mut lines = Vec::new();
    for p in &files {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let g = match fxsat::io::read_file(p) {
            Ok(g) => g,
            Err(e) => {
                lines.push(format!(
                    "{rel} read error {:016x}",
                    fnv(e.to_string().as_bytes())
                ));
                continue;
            }
        };
        let variants = [
            ("cpu", Target::Cpu, vec![]),
            ("cuda", Target::Cuda, vec![]),
            (
                "cpu-assume",
                Target::Cpu,
                vec!["no-fully-masked-rows".to_string()],
            ),
        ];
        for (tag, target, assume) in variants {
            let opts = Options {
                target,
                assume,
                file: rel.clone(),
                ..Options::default()
            };
            let (h, out) = hash_or_error(optimize(&g, &opts), |o| {
                fxsat::io::write_string(&o.graph).into_bytes()
            });
            lines.push(format!("{rel} {tag} {h}"));
            let Some(out) = out else { continue };
            if tag != "cpu" || out.graph.kind != fxsat::ir::GraphKind::Joint {
                continue;
            }
            for budget in [1.0, 0.5, 0.1] {
                let popts = PartitionOptions {
                    budget,
                    ..PartitionOptions::default()
                };
                let (h, _) = hash_or_error(partition(&out.graph, &popts), |p| {
                    let mut b = fxsat::io::write_string(&p.fw).into_bytes();
                    b.extend(fxsat::io::write_string(&p.bw).into_bytes());
                    b
                });
                lines.push(format!("{rel} partition-{budget} {h}"));
            }
        }
    }
    lines
}

#[test]
fn every_fixture_output_has_its_recorded_bytes() {
    let file = common::fixture_dir().join("snapshots.txt");
    let now = snapshot();
    if std::env::var_os("FXSAT_BLESS").is_some() {
        let mut text = String::from(
            "# tests/snapshot.rs: FNV-1a of every fixture's outputs (FXSAT_BLESS=1 rewrites)\n",
        );
        for l in &now {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&file, text).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&file).expect("tests/fixtures/snapshots.txt");
    let recorded: Vec<&str> = recorded.lines().filter(|l| !l.starts_with('#')).collect();
    let diff: Vec<String> = now
        .iter()
        .filter(|l| !recorded.contains(&l.as_str()))
        .map(|l| format!("now:      {l}"))
        .chain(
            recorded
                .iter()
                .filter(|l| !now.contains(&l.to_string()))
                .map(|l| format!("recorded: {l}")),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "{} outputs differ from tests/fixtures/snapshots.txt (FXSAT_BLESS=1 to accept):\n{}",
        diff.len(),
        diff.join("\n")
    );
}
