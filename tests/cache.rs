//! The result cache from the command line: `--cache-dir` / `FXSAT_CACHE_DIR` / `--no-cache`,
//! a second process hitting with the same bytes, several processes filling one key at once,
//! corrupt entries ignored and logged, `fxsat cache stats|clear`; and `.pt2` input without a
//! Python that converts it (one line, exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fxsat");
const GRAPH: &str = "tests/fixtures/gpt2.joint.json";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fxsat-cache-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fxsat(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("FXSAT_CACHE_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn entries(d: &Path) -> usize {
    let out = fxsat(&["cache", "stats", "--cache-dir", s(d)], &[]);
    ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("entries\t")).unwrap();
    line["entries\t".len()..].parse().unwrap()
}

fn report(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn second_process_hits_with_the_same_bytes() {
    let d = dir("hit");
    let cache = d.join("cache");
    let (a, b, r) = (d.join("a.json"), d.join("b.json"), d.join("r.json"));
    let first = ok(&fxsat(
        &[
            "optimize",
            GRAPH,
            "-o",
            s(&a),
            "--cache-dir",
            s(&cache),
            "--report",
            s(&r),
        ],
        &[],
    ));
    assert!(first.contains("cache miss"), "{first}");
    let r1 = report(&r);
    assert_eq!(r1["cache"]["hit"], false);
    let second = ok(&fxsat(
        &[
            "optimize",
            GRAPH,
            "-o",
            s(&b),
            "--cache-dir",
            s(&cache),
            "--report",
            s(&r),
        ],
        &[],
    ));
    assert!(second.contains("cache hit"), "{second}");
    let r2 = report(&r);
    assert_eq!(r2["cache"]["hit"], true);
    assert_eq!(r2["cache"]["hits"], 1);
    assert_eq!(r2["cache"]["key"], r1["cache"]["key"]);
    assert_eq!(r2["egraph"], r1["egraph"]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // without the cache: the same bytes again
    let c = d.join("c.json");
    ok(&fxsat(&["optimize", GRAPH, "-o", s(&c)], &[]));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    assert_eq!(entries(&cache), 1);
    // another option, another entry
    ok(&fxsat(
        &[
            "optimize",
            GRAPH,
            "-o",
            s(&c),
            "--cache-dir",
            s(&cache),
            "--target",
            "cuda",
        ],
        &[],
    ));
    assert_eq!(entries(&cache), 2);
    let cleared = fxsat(&["cache", "clear", "--cache-dir", s(&cache)], &[]);
    ok(&cleared);
    assert!(String::from_utf8_lossy(&cleared.stdout).contains("removed 2 entries"));
    assert_eq!(entries(&cache), 0);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn env_dir_and_no_cache() {
    let d = dir("env");
    let cache = d.join("cache");
    let o = d.join("o.json");
    let env = [("FXSAT_CACHE_DIR", s(&cache))];
    ok(&fxsat(
        &["optimize", GRAPH, "-o", s(&o), "--no-cache"],
        &env,
    ));
    assert_eq!(entries(&cache), 0);
    // the default: no cache without FXSAT_CACHE_DIR
    let err = ok(&fxsat(&["optimize", GRAPH, "-o", s(&o)], &[]));
    assert!(!err.contains("cache"), "{err}");
    ok(&fxsat(&["optimize", GRAPH, "-o", s(&o)], &env));
    assert_eq!(entries(&cache), 1);
    let stats = fxsat(&["cache", "stats"], &env);
    ok(&stats);
    assert!(String::from_utf8_lossy(&stats.stdout).contains(&format!("dir\t{}", s(&cache))));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn many_processes_one_key() {
    let d = dir("many");
    let cache = d.join("cache");
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(BIN)
                .args(["optimize", GRAPH, "-o"])
                .arg(d.join(format!("o{i}.json")))
                .arg("--cache-dir")
                .arg(&cache)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let first = std::fs::read(d.join("o0.json")).unwrap();
    for i in 1..4 {
        assert_eq!(std::fs::read(d.join(format!("o{i}.json"))).unwrap(), first);
    }
    assert_eq!(entries(&cache), 1);
    let mut files = Vec::new();
    for sub in std::fs::read_dir(&cache).unwrap() {
        files.extend(std::fs::read_dir(sub.unwrap().path()).unwrap());
    }
    assert_eq!(files.len(), 1, "a temporary file left: {files:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corrupt_entries_are_ignored_and_logged() {
    let d = dir("corrupt");
    let cache = d.join("cache");
    let (o, r) = (d.join("o.json"), d.join("r.json"));
    let args = [
        "optimize",
        GRAPH,
        "-o",
        s(&o),
        "--cache-dir",
        s(&cache),
        "--report",
        s(&r),
    ];
    ok(&fxsat(&args, &[]));
    let good = std::fs::read(&o).unwrap();
    let key = report(&r)["cache"]["key"].as_str().unwrap().to_string();
    let entry = cache.join(&key[..2]).join(format!("{key}.json"));
    let full = std::fs::read_to_string(&entry).unwrap();
    for bad in [&full[..full.len() / 3], "{}", "null"] {
        std::fs::write(&entry, bad).unwrap();
        let err = ok(&fxsat(&args, &[]));
        assert!(err.contains("corrupt entry ignored"), "{err}");
        assert!(err.contains("cache miss"), "{err}");
        assert_eq!(std::fs::read(&o).unwrap(), good);
        // replaced
        let err = ok(&fxsat(&args, &[]));
        assert!(err.contains("cache hit"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pt2_without_python_is_one_line() {
    let d = dir("pt2");
    let pt2 = d.join("model.pt2");
    std::fs::write(&pt2, b"PK").unwrap();
    let o = d.join("o.json");
    let missing = d.join("no-python");
    let out = fxsat(
        &["optimize", s(&pt2), "-o", s(&o)],
        &[("FXSAT_PYTHON", s(&missing))],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("model.pt2") && err.contains("FXSAT_PYTHON"),
        "{err}"
    );
    assert!(!o.exists());
    // a missing .pt2 file is an unreadable input
    let out = fxsat(&["optimize", s(&d.join("none.pt2")), "-o", s(&o)], &[]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&d);
}
