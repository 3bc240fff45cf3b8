//! Numerical validation of rules: every default rule agrees with its left side on random
//! instances (proptest over seeds, bounded), and the checker catches wrong rules.

mod common;

use fxsat::check::{check_rule, check_rules, check_rules_command, CheckOptions};
use fxsat::rules::{default_rules, load_dir};
use proptest::prelude::*;

/// The text of default rule `name` in `rules/FILE`, from `(rule` to the blank line after it.
fn default_rule_text(file: &str, name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find(&format!("(rule {name}\n")).unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    text[start..end].to_string()
}

fn wrong_dir() -> std::path::PathBuf {
    common::fixture_dir().join("rules_wrong")
}

#[test]
fn every_default_rule_passes() {
    let rules = default_rules().unwrap();
    let opts = CheckOptions {
        cases: 100,
        seed: 0,
    };
    for c in check_rules(&rules, &opts) {
        assert!(c.ok(), "{c}");
        assert!(c.cases >= 25, "only {} cases ran for `{}`", c.cases, c.rule);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]
    /// New seeds on every run, searching for counterexamples. A seed for which a rule's
    /// generator draws no valid instance in its 16 cases (rare for rules whose left side
    /// constrains shapes, e.g. `bmm-clone-rhs`) compared nothing and refutes nothing: that
    /// every rule does get instances is `every_default_rule_passes`'s job (≥ 25 of 100).
    #[test]
    fn default_rules_pass_for_any_seed(seed in any::<u64>()) {
        let rules = default_rules().unwrap();
        for c in check_rules(&rules, &CheckOptions { cases: 16, seed }) {
            prop_assert!(c.ok(), "{}", c);
        }
    }
}

/// A seed for which a rule's generator draws nothing valid is reported as untested, not as a
/// counterexample (seed found by the randomized test above).
#[test]
fn no_valid_instance_is_untested_not_refuted() {
    let rules = default_rules().unwrap();
    let rule = rules.iter().find(|r| r.name == "bmm-clone-rhs").unwrap();
    let c = check_rule(
        rule,
        &CheckOptions {
            cases: 16,
            seed: 8_744_171_416_934_316_213,
        },
    );
    assert!(
        c.untested && c.cases == 0 && c.ok() && c.failure.is_none(),
        "{c}"
    );
    assert!(c.to_string().starts_with("---- bmm-clone-rhs"), "{c}");
    let ok = check_rule(rule, &CheckOptions { cases: 16, seed: 0 });
    assert!(!ok.untested && ok.cases > 0 && ok.ok(), "{ok}");
}

/// Seed found by a search over seeds (`fxsat check-rules --rules DIR --cases 3000 --seed
/// 300000` on the rule without the condition): `sdpa-train-dv-keep` without
/// `keep-correction-exact` draws a CPU case, a bfloat16 block with S = 3 keys and no kept key
/// in a row. Its right side hands the kernel g/3 in those rows, rounded to bfloat16 element by
/// element, and the kernel's sum over the rows cancels (here dv = -0.2422 where the decomposed
/// side gives -0.2617, exactly -0.2604; at the seed before targets were drawn for this rule,
/// -0.4375 against -0.459, exactly -0.4583;
/// `tests/fixtures/interp/op_cases.json` has such a case run by PyTorch's kernels).
/// `keep-correction-exact` (in bfloat16, S a power of two, so g/S is exact) refuses such
/// blocks for the three backward rules, which then pass at this seed; the rule without it
/// still fails there.
#[test]
fn keep_backward_rules_need_an_exact_correction() {
    const SEED: u64 = 301_170;
    let rules = default_rules().unwrap();
    for name in [
        "sdpa-train-dq-keep",
        "sdpa-train-dk-keep",
        "sdpa-train-dv-keep",
    ] {
        let rule = rules.iter().find(|r| r.name == name).unwrap();
        let c = check_rule(
            rule,
            &CheckOptions {
                cases: 16,
                seed: SEED,
            },
        );
        assert!(c.ok() && c.cases > 0, "{c}");
    }
    let rule = default_rule_text("attention_train.rules", "sdpa-train-dv-keep");
    let cond = " (keep-correction-exact ?k)";
    assert!(rule.contains(cond));
    let without = rule.replace(cond, "");
    let rules = fxsat::rules::parse_rules("without.rules", &without).unwrap();
    let c = check_rule(
        &rules[0],
        &CheckOptions {
            cases: 1,
            seed: SEED,
        },
    );
    let f = c
        .failure
        .as_ref()
        .expect("g/3 rounded in bfloat16 is caught");
    assert!(f.message.contains("values differ"), "{c}");
    // bfloat16 with 3 keys (not a power of two)
    let k = &f.bindings[f.bindings.find("?k = ").unwrap()..];
    assert!(k.starts_with("?k = bfloat16["), "{c}");
    let dims: Vec<&str> = k[k.find('[').unwrap() + 1..k.find(']').unwrap()]
        .split(", ")
        .collect();
    assert_eq!(dims.get(2), Some(&"3"), "{c}");
}

#[test]
fn wrong_permute_composition_is_reported_with_a_reproducing_seed() {
    let rules = load_dir(&wrong_dir()).unwrap();
    let rule = rules
        .iter()
        .find(|r| r.name == "permute-permute-swapped")
        .unwrap();
    let c = check_rule(
        rule,
        &CheckOptions {
            cases: 100,
            seed: 0,
        },
    );
    let f = c.failure.as_ref().expect("the wrong composition is caught");
    assert!(
        f.message.contains("values differ") || f.message.contains("unsound merge"),
        "{c}"
    );
    let text = c.to_string();
    assert!(
        text.contains("permute-permute-swapped") && text.contains("reproduce"),
        "{text}"
    );
    // The printed seed reproduces the counterexample as the first case.
    let again = check_rule(
        rule,
        &CheckOptions {
            cases: 1,
            seed: f.seed,
        },
    );
    let g = again.failure.expect("the seed reproduces the failure");
    assert_eq!(g.lhs, f.lhs);
    assert_eq!(g.bindings, f.bindings);
}

/// The dims of `?x` in a counterexample's bindings (`?x = float32[1, 2]; ...`).
fn x_dims(bindings: &str) -> Vec<i64> {
    let x = bindings.split(';').next().unwrap();
    let inner = &x[x.find('[').unwrap() + 1..x.find(']').unwrap()];
    inner
        .split(", ")
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().unwrap())
        .collect()
}

/// A failing case is shrunk to a minimal counterexample: the wrong composition needs rank >= 3
/// (permutations of fewer dims commute) and two distinct sizes, and shrinks to sizes <= 2
/// (rank 3 for seed 0); dropping a view shrinks to a tensor of ones.
#[test]
fn counterexamples_are_shrunk_to_minimal_ones() {
    let rules = load_dir(&wrong_dir()).unwrap();
    let find = |n: &str| rules.iter().find(|r| r.name == n).unwrap();
    for seed in [0, 7, 1234] {
        let opts = CheckOptions { cases: 100, seed };
        let f = check_rule(find("permute-permute-swapped"), &opts)
            .failure
            .expect("caught");
        let dims = x_dims(&f.bindings);
        assert!(dims.iter().all(|&d| d <= 2), "seed {seed}: {}", f.bindings);
        assert!(seed != 0 || dims.len() == 3, "seed {seed}: {}", f.bindings);
        let g = check_rule(find("view-drop"), &opts)
            .failure
            .expect("caught");
        assert!(
            x_dims(&g.bindings).iter().all(|&d| d == 1),
            "seed {seed}: {}",
            g.bindings
        );
    }
}

#[test]
fn a_right_side_of_another_shape_is_an_unsound_merge() {
    let rules = load_dir(&wrong_dir()).unwrap();
    let rule = rules.iter().find(|r| r.name == "view-drop").unwrap();
    let c = check_rule(
        rule,
        &CheckOptions {
            cases: 100,
            seed: 0,
        },
    );
    let f = c.failure.expect("caught");
    assert!(f.message.contains("unsound merge"), "{}", f.message);
}

#[test]
fn the_command_names_each_failing_rule_and_passes_the_right_one() {
    let mut out = Vec::new();
    let failed = check_rules_command(
        Some(&wrong_dir()),
        &CheckOptions {
            cases: 100,
            seed: 7,
        },
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(failed, 2, "{text}");
    assert!(text.contains("FAIL permute-permute-swapped"), "{text}");
    assert!(text.contains("FAIL view-drop"), "{text}");
    assert!(text.contains("ok   transpose-transpose"), "{text}");
}

#[test]
fn saturation_reports_an_unsound_merge_by_rule_name() {
    let rules = load_dir(&wrong_dir()).unwrap();
    let unsound: Vec<_> = rules
        .into_iter()
        .filter(|r| r.name == "view-drop")
        .collect();
    let g = common::load(&common::fixture_dir().join("attn_mul_scale.forward.json"));
    let opts = fxsat::Options {
        rules: Some(unsound),
        ..fxsat::Options::default()
    };
    let err = fxsat::optimize(&g, &opts).unwrap_err();
    match &err {
        fxsat::Error::UnsoundMerge { rule, .. } => assert_eq!(rule, "view-drop"),
        other => panic!("expected an unsound merge, got {other}"),
    }
    assert!(err.to_string().contains("view-drop"), "{err}");
}

#[test]
fn cli_exits_1_naming_the_wrong_rule_and_0_on_the_defaults() {
    let bin = env!("CARGO_BIN_EXE_fxsat");
    let out = std::process::Command::new(bin)
        .args(["check-rules", "--cases", "50", "--rules"])
        .arg(wrong_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL permute-permute-swapped"), "{stdout}");
    assert!(
        stdout.contains("--rules") && stdout.contains("--seed"),
        "{stdout}"
    );
    let out = std::process::Command::new(bin)
        .args(["check-rules", "--cases", "20", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let rules = default_rules().unwrap();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        rules.len(),
        "{stdout}"
    );
}

/// `check-rules --cases 1`: a rule for which the one case draws no instance is untested
/// (`----`, counted in the summary), not failed, and the exit code stays 0.
#[test]
fn cli_cases_1_reports_untested_rules_not_failures() {
    let bin = env!("CARGO_BIN_EXE_fxsat");
    let out = std::process::Command::new(bin)
        .args(["check-rules", "--cases", "1", "--seed", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let untested: Vec<&str> = stdout.lines().filter(|l| l.starts_with("---- ")).collect();
    assert!(
        !untested.is_empty(),
        "seed 0 with one case leaves some rule untested: {stdout}"
    );
    assert!(
        untested.iter().all(|l| l.contains("[untested:")),
        "{stdout}"
    );
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.contains(", 0 failed, ")
            && summary.contains(&format!("{} untested", untested.len())),
        "{summary}"
    );
    // The known generator miss (seed found by the randomized test) is untested via the CLI.
    let out = std::process::Command::new(bin)
        .args([
            "check-rules",
            "--cases",
            "1",
            "--seed",
            "8744171416934316213",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("---- bmm-clone-rhs"), "{stdout}");
}

/// `:in-distribution` rules are checked on a coupling (the kernel's dropout draws taken from
/// the left side's `rand`), not skipped: the default dropout rule passes, and the same rule
/// with a wrong `dropout_p` (0.5, or 0: no dropout) on its right side fails on values.
#[test]
fn in_distribution_rules_are_checked_on_a_coupling() {
    let rules = default_rules().unwrap();
    let fw = rules
        .iter()
        .find(|r| r.name == "sdpa-train-dropout-forward")
        .unwrap();
    let c = check_rule(fw, &CheckOptions { cases: 20, seed: 0 });
    assert!(c.ok() && c.cases >= 10 && c.coupled, "{c}");
    assert!(c.to_string().contains("coupling"), "{c}");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/attention_train.rules"),
    )
    .unwrap();
    let start = text
        .find(";; dropout(attention_weights(q, k, None, s), p)·v")
        .unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let rule = &text[start..end];
    for (what, wrong) in [
        (
            "dropout_p 0.5",
            rule.replace("(none) ?dp ?s) 0)", "(none) 0.5 ?s) 0)"),
        ),
        (
            "no dropout",
            rule.replace("(none) ?dp ?s) 0)", "(none) 0.0 ?s) 0)"),
        ),
    ] {
        let r = &fxsat::rules::parse_rules("w.rules", &wrong).unwrap()[0];
        let c = check_rule(r, &CheckOptions { cases: 20, seed: 0 });
        let f = c
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: not caught: {c}"));
        assert!(f.message.contains("values differ"), "{what}: {c}");
    }
}

/// The `-keep` rules hand the kernel the mask with its absorbing fill halved
/// (`where(c, 0, fill/2)`): CUDA's memory-efficient kernel drops scores below about -2.36e38
/// (`fxsat::interp::with_kernel_target`), so with finfo.min itself a row with no kept key
/// comes out 0 there instead of the decomposed softmax's uniform average. `check-rules` draws
/// these rules for both targets and evaluates the right side as each target's kernel computes
/// it: the forward rule with the fill as it is fails on CUDA (and passes on the CPU, whose
/// kernel keeps such rows), the rule as written passes on both.
#[test]
fn keep_rules_halve_the_fill_for_cudas_efficient_kernel() {
    let text = default_rule_text("attention_train.rules", "sdpa-train-forward-keep");
    let halved = "(where ?c 0.0 (mul ?fill 0.5))";
    assert!(text.contains(halved));
    let opts = CheckOptions { cases: 60, seed: 0 };
    for (target, fill, fails) in [
        ("cuda", halved, false),
        ("cpu", halved, false),
        ("cuda", "(keep_mask ?c ?f ?fill)", true),
        ("cpu", "(keep_mask ?c ?f ?fill)", false),
    ] {
        let body = text.replace(halved, fill);
        let rule = format!("{}\n  :target {target})", body.strip_suffix(')').unwrap());
        let rules = fxsat::rules::parse_rules("t.rules", &rule).unwrap();
        let c = check_rule(&rules[0], &opts);
        assert!(c.cases > 0, "{target} {fill}: {c}");
        match &c.failure {
            Some(f) => {
                assert!(fails, "{target} {fill}: {c}");
                assert!(f.message.contains("values differ"), "{c}");
            }
            None => assert!(!fails && c.ok(), "{target} {fill}: {c}"),
        }
    }
}
