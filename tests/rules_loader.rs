//! Rule files: every mistake is reported with file:line:col; duplicate names across files are
//! caught; the default rules load, are documented, and each one fires on the fixtures.

mod common;

use fxsat::rules::{default_rules, load_dir, parse_rules};
use fxsat::{optimize, Error, Options, Target};
use indexmap::IndexMap;
use std::path::Path;

const MISTAKES: &str = ";; fine
(rule good (permute ?x ?p) ?x :if (identity-perm ?p))
;; unknown op
(rule bad-op (frobnicate ?x) ?x)
;; wrong arity
(rule bad-arity (permute ?x) ?x)
;; unknown condition
(rule bad-cond (permute ?x ?p) ?x :if (no-such-cond ?p))
;; unbound variable on the right side
(rule bad-var (permute ?x ?p) (permute ?y ?p))
;; unknown computed attribute
(rule bad-computed (permute ?x ?p) (permute ?x (no-such-attr ?p)))
;; computed attribute with the wrong arity
(rule bad-computed-arity (permute (permute ?x ?p) ?q) (permute ?x (compose-perm ?p)))
;; condition with the wrong arity
(rule bad-cond-arity (permute ?x ?p) ?x :if (identity-perm ?p ?x))
;; unknown option
(rule bad-option (permute ?x ?p) ?x :when (identity-perm ?p))
";

/// `(line:col, words the message must contain)` of every mistake in [`MISTAKES`].
const EXPECTED: &[(&str, &[&str])] = &[
    ("4:15", &["unknown op", "`frobnicate`"]),
    ("6:18", &["`permute`", "takes 2", "got 1"]),
    ("8:40", &["unknown condition", "`no-such-cond`"]),
    ("10:40", &["`?y`", "not bound"]),
    ("12:49", &["`no-such-attr`"]),
    ("14:68", &["`compose-perm`", "takes 2", "got 1"]),
    ("16:46", &["`identity-perm`", "takes 1", "got 2"]),
    ("18:37", &["`:when`"]),
];

/// A rule file whose last form never closes.
const UNCLOSED: &str = ";; the parenthesis of this rule never closes
(rule unclosed
  (permute ?x ?p)
  ?x
";

/// The error lines of a failed load.
fn errors(r: fxsat::Result<Vec<fxsat::rules::Rule>>) -> Vec<String> {
    match r {
        Ok(rules) => panic!("loaded {} rules from bad files", rules.len()),
        Err(Error::Rules(lines)) => lines,
        Err(other) => panic!("expected Error::Rules, got {other:?}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Asserts `errs` holds exactly one line starting with each `prefix` and containing its words,
/// and nothing else.
fn assert_errors(errs: &[String], expected: &[(String, Vec<&str>)]) {
    for (prefix, words) in expected {
        let hits: Vec<&String> = errs
            .iter()
            .filter(|e| e.starts_with(prefix.as_str()))
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "expected one error at `{prefix}`, got {hits:?}\nall errors:\n{}",
            errs.join("\n")
        );
        for w in words {
            assert!(hits[0].contains(w), "error `{}` lacks `{w}`", hits[0]);
        }
    }
    assert_eq!(
        errs.len(),
        expected.len(),
        "unexpected extra errors:\n{}",
        errs.join("\n")
    );
}

#[test]
fn every_mistake_in_a_file_is_reported_with_its_location() {
    let errs = errors(parse_rules("m.rules", MISTAKES));
    let expected: Vec<(String, Vec<&str>)> = EXPECTED
        .iter()
        .map(|(loc, words)| (format!("m.rules:{loc}: "), words.to_vec()))
        .collect();
    assert_errors(&errs, &expected);
}

#[test]
fn load_dir_reports_every_error_of_every_file() {
    let dir = common::temp_dir("rules-bad");
    write(&dir, "mistakes.rules", MISTAKES);
    write(&dir, "unclosed.rules", UNCLOSED);
    // Same name as `good` in mistakes.rules; loaded after it (files are sorted).
    write(&dir, "z_dup.rules", ";; again\n(rule good (alias ?x) ?x)\n");
    write(&dir, "notes.txt", "(not a rule file");
    let errs = errors(load_dir(&dir));
    let file = |name: &str| dir.join(name).display().to_string();
    let mut expected: Vec<(String, Vec<&str>)> = EXPECTED
        .iter()
        .map(|(loc, words)| {
            (
                format!("{}:{loc}: ", file("mistakes.rules")),
                words.to_vec(),
            )
        })
        .collect();
    expected.push((
        format!("{}:2:1: ", file("unclosed.rules")),
        vec!["unclosed"],
    ));
    let first = format!("{}:2", file("mistakes.rules"));
    expected.push((
        format!("{}:2: ", file("z_dup.rules")),
        vec!["`good`", "already defined", &first],
    ));
    assert_errors(&errs, &expected);
    // The CLI shows them all and exits with 2.
    let out = dir.join("o.json");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_fxsat"))
        .env_remove("RUST_LOG")
        .arg("optimize")
        .arg(common::fixture_dir().join("attn_bshd.forward.json"))
        .arg("-o")
        .arg(&out)
        .arg("--rules")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    for (prefix, _) in &expected {
        assert!(
            stderr.contains(prefix.as_str()),
            "CLI output lacks `{prefix}`:\n{stderr}"
        );
    }
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn duplicate_rule_names_across_files_are_reported() {
    let dir = common::temp_dir("rules-dup");
    write(
        &dir,
        "a.rules",
        ";; one\n(rule same (alias ?x) ?x)\n\n;; two\n(rule other (detach ?x) ?x)\n",
    );
    write(
        &dir,
        "b.rules",
        ";; three\n\n;; four\n(rule same (permute ?x ?p) ?x :if (identity-perm ?p))\n",
    );
    let errs = errors(load_dir(&dir));
    let (a, b) = (
        dir.join("a.rules").display().to_string(),
        dir.join("b.rules").display().to_string(),
    );
    assert_eq!(
        errs,
        vec![format!("{b}:4: rule `same` is already defined at {a}:2")]
    );
    // Within one file too.
    let errs = errors(parse_rules(
        "one.rules",
        ";; a\n(rule r (alias ?x) ?x)\n;; b\n(rule r (detach ?x) ?x)\n",
    ));
    assert_eq!(
        errs,
        vec!["one.rules:4: rule `r` is already defined at one.rules:2".to_string()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_dir_refuses_an_empty_or_missing_directory() {
    let dir = common::temp_dir("rules-empty");
    let errs = errors(load_dir(&dir));
    assert!(
        errs.len() == 1 && errs[0].contains("no .rules files"),
        "{errs:?}"
    );
    let missing = dir.join("missing");
    assert!(matches!(load_dir(&missing), Err(Error::Io { ref path, .. }) if *path == missing));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rules_load_from_a_directory_with_their_docs_and_origins() {
    let dir = common::temp_dir("rules-good");
    write(
        &dir,
        "a.rules",
        ";; header, dropped by the blank line\n\n;; alias(x) = x\n(rule alias-id (alias ?x) ?x)\n",
    );
    let rules = load_dir(&dir).unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].name, "alias-id");
    assert_eq!(rules[0].doc, "alias(x) = x");
    assert_eq!(
        rules[0].origin,
        format!("{}:4", dir.join("a.rules").display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_rules_load_and_each_has_a_one_line_doc() {
    let rules = default_rules().unwrap();
    assert!(!rules.is_empty());
    let undocumented: Vec<&str> = rules
        .iter()
        .filter(|r| r.doc.trim().is_empty() || r.doc.contains('\n'))
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "rules without a one-line doc comment: {undocumented:?}"
    );
    // The compiled-in rules are the rules/ directory's.
    let on_disk = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
    let names = |rs: &[fxsat::rules::Rule]| {
        rs.iter()
            .map(|r| (r.name.clone(), r.doc.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&rules),
        names(&on_disk),
        "DEFAULT_RULES and rules/*.rules differ"
    );
}

/// Applications of every default rule summed over all fixtures.
fn applications_over_fixtures() -> IndexMap<String, usize> {
    let mut total: IndexMap<String, usize> = default_rules()
        .unwrap()
        .into_iter()
        .map(|r| (r.name, 0))
        .collect();
    // The model/attention fixtures, plus the tiny graphs of the rule-set fixtures
    // (tests/fixtures/rules/*/*.json), which hold the spellings the models never use
    // (aten.transpose.int, aten.t.default, a same-dtype cast).
    let mut graphs = common::all();
    let mut extra: Vec<std::path::PathBuf> = std::fs::read_dir(common::fixture_dir().join("rules"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    // ... and the attention fixtures (tests/fixtures/attention/), which hold every way models
    // write attention (scale on q or k, split scales, pre-divided q, ...).
    // ... and the training fixtures (tests/fixtures/train/: a learned bias, attention dropout;
    // tests/fixtures/train_forms/: einsum, hand-written softmax, 3-D bmm, bf16 upcasts;
    // tests/fixtures/causal/: masks the analysis proves causal).
    for sub in ["attention", "train", "train_forms", "causal"] {
        if let Ok(rd) = std::fs::read_dir(common::fixture_dir().join(sub)) {
            extra.extend(
                rd.map(|e| e.unwrap().path())
                    .filter(|p| common::is_graph_fixture(p)),
            );
        }
    }
    extra.sort();
    graphs.extend(extra.iter().map(|p| (common::short(p), common::load(p))));
    // ... and the matmul-padding and index fixtures (tests/fixtures/{pad,index}/), optimised
    // for the h100 profile: padding rules need a device with matmul alignment.
    let mut device_graphs = Vec::new();
    for sub in ["pad", "index"] {
        let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(common::fixture_dir().join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| common::is_graph_fixture(p))
            .collect();
        v.sort();
        device_graphs.extend(v.iter().map(|p| (common::short(p), common::load(p))));
    }
    let h100 = fxsat::cost::Profile::named("h100").unwrap();
    // Every graph also runs for CUDA with every assumption asserted, and joint graphs for
    // CPU with them, so the rules of each target and the rules behind an assumption are
    // exercised too.
    let assumed: Vec<String> = default_rules()
        .unwrap()
        .iter()
        .flat_map(|r| r.assume.clone())
        .collect();
    let graphs = graphs.into_iter().map(|(n, g)| (n, g, None)).chain(
        device_graphs
            .into_iter()
            .map(|(n, g)| (n, g, Some(h100.clone()))),
    );
    for (name, g, profile) in graphs {
        let mut runs = vec![Options {
            profile,
            ..Options::default()
        }];
        // CUDA without assumptions too: the rules that fuse what they prove (causal.rules)
        // are the only ones that fire there.
        runs.push(Options {
            target: Target::Cuda,
            ..Options::default()
        });
        for target in [Target::Cpu, Target::Cuda] {
            if target == Target::Cuda || g.kind == fxsat::ir::GraphKind::Joint {
                runs.push(Options {
                    target,
                    assume: assumed.clone(),
                    ..Options::default()
                });
            }
        }
        for opts in runs {
            let out = optimize(
                &g,
                &Options {
                    file: name.clone(),
                    ..opts
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            for (rule, n) in out.report.rules {
                *total
                    .get_mut(&rule)
                    .unwrap_or_else(|| panic!("{name}: report names unknown rule {rule}")) += n;
            }
        }
    }
    total
}

#[test]
fn every_default_rule_fires_on_some_fixture() {
    let total = applications_over_fixtures();
    let never: Vec<&str> = total
        .iter()
        .filter(|(_, &n)| n == 0)
        .map(|(r, _)| r.as_str())
        .collect();
    assert!(
        never.is_empty(),
        "default rules that never fire on any fixture: {never:?}\n(applications: {total:?})"
    );
}

#[test]
fn rule_options_are_checked() {
    let text = ";; d\n(rule r (neg ?x) ?x :with (exp ?y) :target tpu :assume)";
    let err = parse_rules("o.rules", text).unwrap_err().to_string();
    assert!(
        err.contains("o.rules:2:27") && err.contains("share a variable"),
        "{err}"
    );
    assert!(err.contains("unknown target `tpu`"), "{err}");
    assert!(err.contains("`:assume` needs"), "{err}");
    let ok = ";; d\n(rule r (neg ?x) ?y :with (add ?x ?y 1) :target cuda :assume a)";
    let r = &parse_rules("o.rules", ok).unwrap()[0];
    assert_eq!(r.with.len(), 1);
    assert!(r.enabled(Target::Cuda, &["a".into()]));
    assert!(!r.enabled(Target::Cpu, &["a".into()]));
    assert!(!r.enabled(Target::Cuda, &[]));
    assert!(r.in_distribution.is_none());
}

#[test]
fn in_distribution_names_a_left_variable_the_right_side_does_not_read() {
    let bad = ";; d\n(rule a (neg ?x) ?x :in-distribution ?x)\n\
               ;; d\n(rule b (neg ?x) ?x :in-distribution ?y)\n\
               ;; d\n(rule c (neg ?x) ?x :in-distribution)";
    let err = parse_rules("i.rules", bad).unwrap_err().to_string();
    assert!(
        err.contains("i.rules:2:") && err.contains("must not read `?x`"),
        "{err}"
    );
    assert!(
        err.contains("i.rules:4:") && err.contains("binds no `?y`"),
        "{err}"
    );
    assert!(err.contains("`:in-distribution` needs"), "{err}");
    let ok = ";; d\n(rule r (mul (gt ?r 0.5) ?x) (mul ?x 0.5) :in-distribution ?r)";
    let r = &parse_rules("i.rules", ok).unwrap()[0];
    assert_eq!(r.in_distribution, Some("?r".parse().unwrap()));
}
