//! The crate's layers: no circle between its top-level modules and at most one arrow from a
//! module to a higher layer (`tools/modgraph.py` computes the graph from the `crate::` paths;
//! its `LAYERS` is the order). Skipped where no `python3` runs.

use std::process::Command;

#[test]
fn modules_import_only_downward() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = match Command::new("python3")
        .arg(format!("{root}/tools/modgraph.py"))
        .arg("--check")
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: python3 does not run ({e})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the module graph has a circle or upward arrows:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("circles between modules: 0"), "{text}");
}
