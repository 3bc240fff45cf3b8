//! Sets `FXSAT_SOURCE_HASH`: a hash of the sources the library is built from (`src/`,
//! `rules/`, `profiles/`, `Cargo.toml`), part of the result cache's keys (`src/cache.rs`) and
//! of `fxsat.version()`, so that a cached result never outlives the code that computed it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    for d in ["src", "rules", "profiles"] {
        println!("cargo:rerun-if-changed={d}");
        walk(&root.join(d), &mut files);
    }
    println!("cargo:rerun-if-changed=Cargo.toml");
    files.push(root.join("Cargo.toml"));
    let mut rel: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|p| {
            let r = p.strip_prefix(&root).unwrap_or(&p).to_string_lossy();
            (r.replace('\\', "/"), p)
        })
        .collect();
    rel.sort();
    let mut h = Sha256::new();
    for (name, path) in rel {
        let bytes = std::fs::read(&path).unwrap_or_default();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let hex: String = h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=FXSAT_SOURCE_HASH={hex}");
}
