//! The matmul-padding sweep (`fxsat pad-sweep`): on the h100 profile fxsat decides like
//! Inductor's static rule (misaligned and compute-bound) except for the cases listed, with
//! their reason, in `tests/fixtures/pad/sweep_disagreements.txt` — a list this test keeps exact.

mod common;

use fxsat::cost::Profile;
use fxsat::pad_sweep::{default_cases, sweep, threshold};
use std::collections::BTreeSet;

/// The cases listed under `kind:` (`rule` or `bench`), each with its reason.
fn listed(kind: &str) -> BTreeSet<String> {
    let p = common::fixture_dir().join("pad/sweep_disagreements.txt");
    std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{kind}: ")))
        .map(|l| {
            let (id, why) = l.split_once('|').expect("`case | reason`");
            assert!(!why.trim().is_empty(), "{l}: no reason given");
            id.trim().to_string()
        })
        .collect()
}

/// `case -> (original us, padded us)` measured on an H100 (`tests/fixtures/pad/h100_measured.txt`).
fn measured() -> std::collections::BTreeMap<String, (f64, f64)> {
    let p = common::fixture_dir().join("pad/h100_measured.txt");
    std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (id, t) = l.split_once('|').unwrap();
            let t: Vec<f64> = t.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (id.trim().to_string(), (t[0], t[1]))
        })
        .collect()
}

#[test]
fn h100_agrees_with_inductors_measured_benchmark_except_the_listed_cases() {
    let p = Profile::named("h100").unwrap();
    let rows = sweep(&p, &default_cases()).unwrap();
    let times = measured();
    assert_eq!(
        times.len(),
        rows.len(),
        "h100_measured.txt covers the sweep"
    );
    let differ: BTreeSet<String> = rows
        .iter()
        .filter(|r| {
            let (orig, padded) = times[&r.case.id()];
            // Inductor: its rule, then pad iff original > 1.1 x padded.
            let bench = r.inductor && orig > 1.1 * padded;
            bench != r.fxsat
        })
        .map(|r| r.case.id())
        .collect();
    assert_eq!(differ, listed("bench"));
    assert!(
        differ.len() <= 2,
        "fxsat should match the measured decision"
    );
}

#[test]
fn h100_agrees_with_inductor_except_the_listed_cases() {
    let p = Profile::named("h100").unwrap();
    let rows = sweep(&p, &default_cases()).unwrap();
    assert!(rows.len() >= 50);
    let differ: BTreeSet<String> = rows
        .iter()
        .filter(|r| !r.agrees())
        .map(|r| r.case.id())
        .collect();
    assert_eq!(
        differ,
        listed("rule"),
        "disagreements changed: update tests/fixtures/pad/sweep_disagreements.txt (with reasons)"
    );
    for r in &rows {
        // Every disagreement is explained by the cost model; agreements need no explanation.
        assert_eq!(r.agrees(), r.why.is_empty(), "{}", r.case.id());
        // fxsat pads only what is misaligned, and only where the padded form is cheaper.
        if r.fxsat {
            assert!(r.misaligned, "{}", r.case.id());
            assert!(r.cost_padded < r.cost_plain, "{}", r.case.id());
        }
        // Where Inductor's filter says memory-bound, fxsat never pads either.
        if r.misaligned && r.intensity <= r.threshold {
            assert!(!r.fxsat, "{}", r.case.id());
        }
    }
    // The sweep covers both answers on both sides.
    assert!(rows.iter().any(|r| r.fxsat && r.inductor));
    assert!(rows.iter().any(|r| !r.fxsat && !r.inductor && r.misaligned));
    assert!(rows.iter().any(|r| !r.misaligned));
}

#[test]
fn inductor_thresholds_come_from_the_profile() {
    let p = Profile::named("h100").unwrap();
    // The calibrated h100 profile: 0.5 * 698 TFLOP/s / 2.93 TB/s and 0.5 * 51.1 / 2.93.
    assert!((threshold(&p, fxsat::ir::DType::F16) - 119.1).abs() < 0.1);
    assert!((threshold(&p, fxsat::ir::DType::F32) - 8.72).abs() < 0.01);
}

#[test]
fn the_cpu_profile_pads_nothing() {
    let p = Profile::named("cpu").unwrap();
    let rows = sweep(&p, &default_cases()).unwrap();
    assert!(rows.iter().all(|r| !r.fxsat && !r.misaligned));
}
