//! The hostile-input campaign: the real binary on a few hundred hostile cases (mutations of a
//! fixture, of a rule file and of a device profile; absurd option values; unwritable, missing
//! and odd files; a closed stdout). For every case: no panic and no death by signal, the
//! documented exit code (0 ok, 1 fxsat's failure or an output error, 2 bad input or usage),
//! exactly one line on stderr on error (naming the file where one is at fault), no output
//! clobbered or half-written (a pre-existing output keeps its bytes on failure, no temporary
//! file left behind), and no hang.
//!
//! Cases that need validation another change adds (issue 15, items 3, 4 and 9) run in a list
//! of their own whose failures are reported, not asserted, until that change lands.

mod common;

use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fxsat");
/// No case may run longer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The bytes a guarded output holds before a case.
const OLD: &[u8] = b"old bytes that a failed run must leave alone\n";

/// What a case must end with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// Exit 0.
    Ok,
    /// Exit with this code and one line on stderr.
    Fail(i32),
    /// Exit 0, or 2 with one line (a case the format leaves open).
    OkOrBad,
}

/// Where stdout goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stdout {
    Null,
    /// `/dev/full`.
    Full,
    /// A pipe whose reading end is closed before the binary writes.
    Closed,
}

struct Case {
    name: String,
    args: Vec<OsString>,
    want: Want,
    /// Text the error line must contain (the file at fault, the option).
    mention: Option<String>,
    /// Outputs that exist before the run (with [`OLD`]) and must keep their bytes on failure.
    guard: Vec<PathBuf>,
    stdout: Stdout,
    env: Vec<(String, String)>,
    /// A usage error that clap finds (its message on one line; exit 2).
    clap: bool,
    /// The command prints progress lines on stderr before it ends (bench): the error must
    /// be its one last line.
    chatty: bool,
}

impl Case {
    fn new(name: impl Into<String>, args: Vec<OsString>, want: Want) -> Case {
        Case {
            name: name.into(),
            args,
            want,
            mention: None,
            guard: Vec::new(),
            stdout: Stdout::Null,
            env: Vec::new(),
            clap: false,
            chatty: false,
        }
    }
    fn clap(mut self) -> Case {
        self.clap = true;
        self
    }
    fn chatty(mut self) -> Case {
        self.chatty = true;
        self
    }
    fn mention(mut self, s: impl Into<String>) -> Case {
        self.mention = Some(s.into());
        self
    }
    fn guard(mut self, p: &Path) -> Case {
        self.guard.push(p.to_path_buf());
        self
    }
    fn stdout(mut self, s: Stdout) -> Case {
        self.stdout = s;
        self
    }
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.push((k.into(), v.into()));
        self
    }
}

fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(a: I) -> Vec<OsString> {
    a.into_iter().map(Into::into).collect()
}

/// The campaign's files.
struct Env {
    dir: PathBuf,
    /// The fixture (forward) and its text.
    fwd: PathBuf,
    fwd_text: String,
    /// A joint fixture.
    joint: PathBuf,
    /// A rule file that checks clean, and a profile.
    good_rule: &'static str,
    profile: Value,
    n: usize,
}

impl Env {
    /// A fresh file holding `bytes`.
    fn file(&mut self, name: &str, bytes: &[u8]) -> PathBuf {
        self.n += 1;
        let d = self.dir.join(format!("in{}", self.n));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    /// A fresh directory of files.
    fn dir_of(&mut self, files: &[(&str, &[u8])]) -> PathBuf {
        self.n += 1;
        let d = self.dir.join(format!("dir{}", self.n));
        std::fs::create_dir_all(&d).unwrap();
        for (name, bytes) in files {
            std::fs::write(d.join(name), bytes).unwrap();
        }
        d
    }
    /// A fresh output path (in a directory of its own).
    fn out(&mut self, name: &str) -> PathBuf {
        self.n += 1;
        let d = self.dir.join(format!("out{}", self.n));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }
    /// `optimize DOC -o OUT` on a document, the output guarded; bad input (2) naming the file.
    fn doc(&mut self, name: &str, text: &[u8], want: Want) -> Case {
        let input = self.file("doc.json", text);
        let out = self.out("out.json");
        let mut c = Case::new(
            format!("doc: {name}"),
            args([
                OsString::from("optimize"),
                input.into(),
                "-o".into(),
                out.clone().into(),
            ]),
            want,
        )
        .guard(&out);
        if want != Want::Ok {
            c = c.mention("doc.json");
        }
        c
    }
    /// A document with one node field replaced.
    fn mutated(&mut self, f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(&self.fwd_text).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    }
}

/// The JSON type of a value.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn malformed_json(e: &mut Env, cases: &mut Vec<Case>) {
    let text = e.fwd_text.clone().into_bytes();
    // truncated anywhere
    for k in 1..48 {
        let cut = text.len() * k / 48;
        cases.push(e.doc(&format!("truncated at {cut}"), &text[..cut], Want::Fail(2)));
    }
    cases.push(e.doc("empty", b"", Want::Fail(2)));
    cases.push(e.doc("whitespace", b"  \n\t\n", Want::Fail(2)));
    cases.push(e.doc("nul bytes", b"\0\0\0\0", Want::Fail(2)));
    cases.push(e.doc(
        "invalid utf-8",
        b"{\"format\": \"\xff\xfe\"}",
        Want::Fail(2),
    ));
    // binary garbage
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for seed in 0..8 {
        let bytes: Vec<u8> = (0..64 + 32 * seed)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        cases.push(e.doc(&format!("garbage {seed}"), &bytes, Want::Fail(2)));
    }
    for top in ["[]", "1", "\"fx-json\"", "null", "true", "{}", "[{}]"] {
        cases.push(e.doc(&format!("top level {top}"), top.as_bytes(), Want::Fail(2)));
    }
    // document fields
    for (field, bad) in [
        ("format", json!("fx-jsonx")),
        ("format", json!(1)),
        ("version", json!(2)),
        ("version", json!("1")),
        ("version", json!(1e300)),
        ("kind", json!("bogus")),
        ("kind", json!(null)),
        ("nodes", json!({})),
        ("nodes", json!("x")),
        ("nodes", json!([1, 2])),
        ("name", json!(17)),
        ("num_fwd_outputs", json!(-1)),
        ("num_fwd_outputs", json!("two")),
    ] {
        let t = e.mutated(|v| v[field] = bad.clone());
        cases.push(e.doc(&format!("document `{field}` = {bad}"), &t, Want::Fail(2)));
    }
    for field in ["format", "version", "kind", "nodes"] {
        let t = e.mutated(|v| {
            v.as_object_mut().unwrap().remove(field);
        });
        cases.push(e.doc(&format!("document without `{field}`"), &t, Want::Fail(2)));
    }
    // huge and odd numbers where sizes go
    let first_shape = "[2, 4, 8, 16]";
    for bad in [
        "[1e400, 4, 8, 16]",
        "[99999999999999999999999, 4, 8, 16]",
        "[-2, 4, 8, 16]",
        "[2.5, 4, 8, 16]",
        "[2, 4, 8, \"16\"]",
        "[2, 4, 8, null]",
    ] {
        let t = e.fwd_text.replacen(first_shape, bad, 1);
        cases.push(e.doc(&format!("shape {bad}"), t.as_bytes(), Want::Fail(2)));
    }
}

fn wrong_field_types(e: &mut Env, cases: &mut Vec<Case>) {
    let base: Value = serde_json::from_str(&e.fwd_text).unwrap();
    let nodes = base["nodes"].as_array().unwrap().clone();
    let last = nodes.len() - 1; // the output node
    let picks = [0, 3, 4, 8, last - 1, last];
    let values = [
        json!(null),
        json!(7),
        json!("str"),
        json!([]),
        json!({}),
        json!(true),
    ];
    for &i in &picks {
        let node = nodes[i].as_object().unwrap().clone();
        for (field, old) in &node {
            for bad in &values {
                if kind(bad) == kind(old) {
                    continue;
                }
                let t = e.mutated(|v| v["nodes"][i][field.as_str()] = bad.clone());
                let name = format!(
                    "node {i} `{}` field `{field}` = {bad}",
                    node["name"].as_str().unwrap_or("?")
                );
                cases.push(e.doc(&name, &t, Want::Fail(2)));
            }
        }
        if i != last {
            // the val's own fields
            for (field, bad) in [
                ("shape", json!("x")),
                ("shape", json!(null)),
                ("dtype", json!(5)),
                ("dtype", json!("float99")),
                ("dtype", json!(null)),
                ("stride", json!("x")),
            ] {
                let t = e.mutated(|v| v["nodes"][i]["val"][field] = bad.clone());
                cases.push(e.doc(&format!("node {i} val.{field} = {bad}"), &t, Want::Fail(2)));
            }
        }
    }
    // references and names
    let t = e.mutated(|v| v["nodes"][last]["args"] = json!([[{"node": "nope"}]]));
    cases.push(e.doc("output refers to an unknown node", &t, Want::Fail(2)));
    let t = e.mutated(|v| v["nodes"][4]["args"][0] = json!({"node": "nope"}));
    cases.push(e.doc("argument refers to an unknown node", &t, Want::Fail(2)));
    let t = e.mutated(|v| v["nodes"][4]["args"][0] = json!({"node": "div"}));
    cases.push(e.doc("argument refers to a later node", &t, Want::Fail(2)));
    let t = e.mutated(|v| v["nodes"][1]["name"] = json!("arg0_1"));
    cases.push(e.doc("duplicate node name", &t, Want::Fail(2)));
    let t = e.mutated(|v| v["nodes"][4]["target"] = json!("aten.no_such_op.default"));
    // an unknown op is kept opaque
    cases.push(e.doc("unknown op", &t, Want::Ok));
    let t = e.mutated(|v| v["nodes"][4]["op"] = json!("call_module"));
    cases.push(e.doc("op call_module", &t, Want::Fail(2)));
}

fn shapes_strides_keys(e: &mut Env, cases: &mut Vec<Case>) {
    let first_stride = "\"stride\": [512, 128, 16, 1]";
    // strides that contradict the shape
    for bad in [
        "[512, 128, 16, -1]",
        "[512, 128, 16]",
        "[512, 128, 16, 1, 1]",
    ] {
        let t = e
            .fwd_text
            .replacen(first_stride, &format!("\"stride\": {bad}"), 1);
        cases.push(e.doc(&format!("stride {bad}"), t.as_bytes(), Want::Fail(2)));
    }
    // duplicate keys
    let t = e.fwd_text.replacen(
        "{\"name\": \"arg0_1\", ",
        "{\"name\": \"arg0_1\", \"name\": \"arg0_1\", ",
        1,
    );
    cases.push(e.doc("duplicate key in a node", t.as_bytes(), Want::Fail(2)));
    let t = e
        .fwd_text
        .replacen("\"version\": 1,", "\"version\": 1, \"version\": 1,", 1);
    cases.push(e.doc("duplicate document key", t.as_bytes(), Want::Fail(2)));
    // {"float": "bogus"}
    let t = e.fwd_text.replacen(
        "{\"node\": \"view_2\"}, 4.0]",
        "{\"node\": \"view_2\"}, {\"float\": \"bogus\"}]",
        1,
    );
    cases.push(e.doc("float \"bogus\"", t.as_bytes(), Want::Fail(2)));
    let t = e.fwd_text.replacen(
        "{\"node\": \"view_2\"}, 4.0]",
        "{\"node\": \"view_2\"}, {\"float\": \"nan\"}]",
        1,
    );
    cases.push(e.doc("float \"nan\"", t.as_bytes(), Want::Ok));
    // huge shapes: shape inference must not overflow (item 3)
    let t = e
        .fwd_text
        .replace("[2, 4, 8, 16]", "[4294967296, 4294967296, 8, 16]");
    cases.push(e.doc("huge shapes", t.as_bytes(), Want::Fail(2)));
    // deep nesting in arguments (item 4)
    for depth in [30_000usize, 1_000_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let t = e
            .fwd_text
            .replacen("[0, 1, 3, 2]", &format!("[0, 1, 3, {nested}]"), 1);
        cases.push(e.doc(
            &format!("arguments nested {depth} deep"),
            t.as_bytes(),
            Want::Fail(2),
        ));
    }
}

fn hostile_rules(e: &mut Env, cases: &mut Vec<Case>) {
    let fwd = e.fwd.clone();
    let good = e.good_rule;
    let rule_case = |e: &mut Env, name: &str, text: &[u8], want: Want| -> Case {
        let dir = e.dir_of(&[("bad.rules", text)]);
        let out = e.out("out.json");
        let mut c = Case::new(
            format!("rules: {name}"),
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--rules".into(),
                dir.into(),
            ]),
            want,
        )
        .guard(&out);
        if want != Want::Ok {
            c = c.mention("bad.rules");
        }
        c
    };
    for (name, text) in [
        ("open paren", "(rule"),
        ("no body", "(rule x"),
        ("close paren", ")"),
        ("no right side", "(rule a (neg ?x))"),
        ("unknown op", "(rule a (frobnicate ?x) ?x)"),
        ("unbound variable", "(rule a (neg ?x) ?y)"),
        ("unknown condition", "(rule a (neg ?x) ?x :if (bogus ?x))"),
        ("unknown keyword", "(rule a (neg ?x) ?x :frob 1)"),
        ("not a rule", "(frule a (neg ?x) ?x)"),
        (
            "duplicate names",
            "(rule a (neg (neg ?x)) ?x)\n(rule a (neg (neg ?x)) ?x)",
        ),
        ("stray text", "hello"),
        ("wrong arity", "(rule a (neg ?x ?y) ?x)"),
        ("bare variable left side", "(rule a ?x (neg (neg ?x)))"),
    ] {
        cases.push(rule_case(e, name, text.as_bytes(), Want::Fail(2)));
    }
    // atoms the grammar may take as names
    cases.push(rule_case(
        e,
        "number as name",
        b"(rule 12 (neg ?x) ?x)",
        Want::OkOrBad,
    ));
    cases.push(rule_case(
        e,
        "quote in a name",
        b"(rule \"a (neg ?x) ?x)",
        Want::OkOrBad,
    ));
    cases.push(rule_case(
        e,
        "invalid utf-8",
        b"(rule a \xff\xfe ?x)",
        Want::Fail(2),
    ));
    cases.push(rule_case(e, "a good rule", good.as_bytes(), Want::Ok));
    for depth in [30_000usize, 1_000_000] {
        let t = format!(
            "(rule deep {}?x{} ?x)",
            "(neg ".repeat(depth),
            ")".repeat(depth)
        );
        cases.push(rule_case(
            e,
            &format!("nested {depth} deep"),
            t.as_bytes(),
            Want::Fail(2),
        ));
        let t = "(".repeat(depth);
        cases.push(rule_case(
            e,
            &format!("{depth} open parens"),
            t.as_bytes(),
            Want::Fail(2),
        ));
    }
    // an empty directory: no rules (nothing to apply) or refused as bad input
    let empty = e.dir_of(&[]);
    let out = e.out("out.json");
    cases.push(
        Case::new(
            "rules: empty directory",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--rules".into(),
                empty.into(),
            ]),
            Want::OkOrBad,
        )
        .guard(&out),
    );
    let missing = e.dir.join("no-such-rules-dir");
    let out = e.out("out.json");
    cases.push(
        Case::new(
            "rules: missing directory",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--rules".into(),
                missing.into(),
            ]),
            Want::Fail(2),
        )
        .mention("no-such-rules-dir")
        .guard(&out),
    );
    // check-rules on bad rules
    for (name, text) in [
        ("open paren", "(rule"),
        ("unknown op", "(rule a (frobnicate ?x) ?x)"),
    ] {
        let dir = e.dir_of(&[("bad.rules", text.as_bytes())]);
        cases.push(
            Case::new(
                format!("check-rules: {name}"),
                args([OsString::from("check-rules"), "--rules".into(), dir.into()]),
                Want::Fail(2),
            )
            .mention("bad.rules"),
        );
    }
}

fn hostile_profiles(e: &mut Env, cases: &mut Vec<Case>) {
    let fwd = e.fwd.clone();
    let profile_case = |e: &mut Env, name: &str, text: &[u8], want: Want| -> Case {
        let p = e.file("prof.json", text);
        let out = e.out("out.json");
        let mut c = Case::new(
            format!("profile: {name}"),
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--device".into(),
                p.into(),
            ]),
            want,
        )
        .guard(&out);
        if want != Want::Ok {
            c = c.mention("prof.json");
        }
        c
    };
    let base = e.profile.clone();
    let with = |field: &str, v: Value| {
        let mut p = base.clone();
        p[field] = v;
        serde_json::to_vec(&p).unwrap()
    };
    cases.push(profile_case(
        e,
        "as shipped",
        &serde_json::to_vec(&base).unwrap(),
        Want::Ok,
    ));
    for (field, bad) in [
        ("bandwidth", json!("fast")),
        ("bandwidth", json!(null)),
        ("peak_flops", json!(5)),
        ("peak_flops", json!({"float32": "x"})),
        ("launch_overhead", json!([])),
        ("matmul_alignment", json!(3)),
    ] {
        cases.push(profile_case(
            e,
            &format!("{field} = {bad}"),
            &with(field, bad.clone()),
            Want::Fail(2),
        ));
    }
    for field in ["bandwidth", "peak_flops"] {
        let mut p = base.clone();
        p.as_object_mut().unwrap().remove(field);
        cases.push(profile_case(
            e,
            &format!("without {field}"),
            &serde_json::to_vec(&p).unwrap(),
            Want::Fail(2),
        ));
    }
    cases.push(profile_case(
        e,
        "not JSON",
        b"{bandwidth: fast",
        Want::Fail(2),
    ));
    cases.push(profile_case(e, "empty", b"", Want::Fail(2)));
    // values out of range and unknown fields
    for (field, bad) in [
        ("bandwidth", json!(0)),
        ("bandwidth", json!(-1.0)),
        ("bandwidth", json!(1e300)),
        ("launch_overhead", json!(-1.0)),
        ("misaligned_matmul_efficiency", json!(7.0)),
        ("matmul_alignment", json!({"float32": 4294967296u64})),
        ("peak_flops", json!({"float32": 0})),
        ("bogus_field", json!(1)),
    ] {
        cases.push(profile_case(
            e,
            &format!("{field} = {bad}"),
            &with(field, bad.clone()),
            Want::Fail(2),
        ));
    }
    let missing = e.dir.join("no-such-profile.json");
    let out = e.out("out.json");
    cases.push(
        Case::new(
            "profile: missing file",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--device".into(),
                missing.into(),
            ]),
            Want::Fail(2),
        )
        .mention("no-such-profile.json")
        .guard(&out),
    );
    cases.push(
        Case::new(
            "profile: unknown name",
            args([
                "stats".into(),
                fwd.clone().into_os_string(),
                "--device".into(),
                "tpu9000".into(),
            ]),
            Want::Fail(2),
        )
        .mention("tpu9000"),
    );
}

fn cli_values(e: &mut Env, cases: &mut Vec<Case>) {
    let fwd = e.fwd.clone();
    let joint = e.joint.clone();
    let opt = |e: &mut Env, name: &str, extra: &[&str], want: Want| -> Case {
        let out = e.out("out.json");
        let mut a = args([
            OsString::from("optimize"),
            fwd.clone().into(),
            "-o".into(),
            out.clone().into(),
        ]);
        a.extend(args(extra.iter().copied()));
        Case::new(format!("cli: optimize {name}"), a, want).guard(&out)
    };
    for (v, want) in [
        ("0", Want::Fail(2)),
        ("-1", Want::Fail(2)),
        ("NaN", Want::Fail(2)),
        ("-inf", Want::Fail(2)),
        ("x", Want::Fail(2)),
        ("inf", Want::Ok),
        ("1e300", Want::Ok),
        ("1e20", Want::Ok),
        ("1e19", Want::Ok),
        ("1e-300", Want::Ok),
        ("0.5", Want::Ok),
    ] {
        let c = opt(
            e,
            &format!("--time-limit={v}"),
            &[&format!("--time-limit={v}")],
            want,
        );
        let c = if v == "x" { c.clap() } else { c };
        cases.push(if want == Want::Ok {
            c
        } else {
            c.mention("time-limit")
        });
    }
    for flag in ["--node-limit", "--iter-limit"] {
        for (v, want) in [
            ("0", Want::Fail(2)),
            ("-1", Want::Fail(2)),
            ("x", Want::Fail(2)),
            ("1.5", Want::Fail(2)),
            ("99999999999999999999999", Want::Fail(2)),
            ("1", Want::Ok),
            ("18446744073709551615", Want::Ok),
        ] {
            let c = opt(e, &format!("{flag}={v}"), &[&format!("{flag}={v}")], want);
            // clap parses an unsigned integer; the range is fxsat's
            let c = if want == Want::Fail(2) && v != "0" {
                c.clap()
            } else {
                c
            };
            cases.push(if want == Want::Ok { c } else { c.mention(flag) });
        }
    }
    cases.push(opt(e, "--assume bogus", &["--assume", "bogus"], Want::Fail(2)).mention("bogus"));
    cases.push(
        opt(e, "--target tpu", &["--target", "tpu"], Want::Fail(2))
            .mention("tpu")
            .clap(),
    );
    cases.push(
        opt(e, "FXSAT_PROGRESS_AFTER=1e20", &[], Want::Ok).env("FXSAT_PROGRESS_AFTER", "1e20"),
    );
    cases
        .push(opt(e, "FXSAT_PROGRESS_AFTER=inf", &[], Want::Ok).env("FXSAT_PROGRESS_AFTER", "inf"));
    cases.push(opt(e, "FXSAT_PROGRESS_AFTER=-5", &[], Want::Ok).env("FXSAT_PROGRESS_AFTER", "-5"));
    // partition budgets
    for (v, want) in [
        ("NaN", Want::Fail(2)),
        ("-0.1", Want::Fail(2)),
        ("1.1", Want::Fail(2)),
        ("inf", Want::Fail(2)),
        ("x", Want::Fail(2)),
        ("0", Want::Ok),
        ("1", Want::Ok),
        ("0.37", Want::Ok),
    ] {
        let prefix = e.out("p");
        let fw = with_suffix(&prefix, ".fw.json");
        let bw = with_suffix(&prefix, ".bw.json");
        let c = Case::new(
            format!("cli: partition --budget={v}"),
            args([
                OsString::from("partition"),
                joint.clone().into(),
                "-o".into(),
                prefix.into(),
                format!("--budget={v}").into(),
            ]),
            want,
        )
        .guard(&fw)
        .guard(&bw);
        let c = if v == "x" { c.clap() } else { c };
        cases.push(if want == Want::Ok {
            c
        } else {
            c.mention("budget")
        });
    }
    // bench
    let json_out = e.out("bench.json");
    for (name, extra, want, mention) in [
        (
            "--runs 0",
            vec!["--runs", "0"],
            Want::Fail(2),
            Some("--runs"),
        ),
        (
            "--budget 2",
            vec!["--budget", "2"],
            Want::Fail(2),
            Some("budget"),
        ),
        (
            "--budget NaN",
            vec!["--budget", "NaN"],
            Want::Fail(2),
            Some("budget"),
        ),
        (
            "--assume bogus",
            vec!["--assume", "bogus"],
            Want::Fail(2),
            Some("bogus"),
        ),
        (
            "one run",
            vec!["--runs", "1", "--warmup", "0"],
            Want::Ok,
            None,
        ),
    ] {
        let mut a = args([
            "bench".into(),
            fwd.clone().into_os_string(),
            "--json".into(),
            json_out.clone().into(),
        ]);
        a.extend(args(extra));
        let mut c = Case::new(format!("cli: bench {name}"), a, want)
            .guard(&json_out)
            .chatty();
        if let Some(m) = mention {
            c = c.mention(m);
        }
        cases.push(c);
    }
    let missing = e.dir.join("no-such-graph.json");
    cases.push(
        Case::new(
            "cli: bench of a missing file",
            args([OsString::from("bench"), missing.into()]),
            Want::Fail(2),
        )
        .mention("no-such-graph.json"),
    );
    cases.push(
        Case::new(
            "cli: check-rules --cases 0",
            args(["check-rules", "--cases", "0"]),
            Want::Fail(2),
        )
        .mention("--cases"),
    );
    cases.push(
        Case::new(
            "cli: no subcommand",
            args::<[&str; 0], &str>([]),
            Want::Fail(2),
        )
        .clap(),
    );
    cases.push(
        Case::new(
            "cli: unknown subcommand",
            args(["frobnicate"]),
            Want::Fail(2),
        )
        .clap(),
    );
    cases.push(
        Case::new(
            "cli: optimize without -o",
            args([OsString::from("optimize"), fwd.into()]),
            Want::Fail(2),
        )
        .clap(),
    );
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut os = p.as_os_str().to_owned();
    os.push(s);
    PathBuf::from(os)
}

fn files_and_pipes(e: &mut Env, cases: &mut Vec<Case>) {
    let fwd = e.fwd.clone();
    let joint = e.joint.clone();
    let missing = e.dir.join("no-such-input.json");
    for sub in ["stats", "optimize", "partition"] {
        let out = e.out("out.json");
        let mut a = args([OsString::from(sub), missing.clone().into()]);
        if sub != "stats" {
            a.extend(args([OsString::from("-o"), out.clone().into()]));
        }
        cases.push(
            Case::new(format!("files: {sub} of a missing input"), a, Want::Fail(2))
                .mention("no-such-input.json")
                .guard(&out),
        );
        let d = e.dir_of(&[]);
        let mut a = args([OsString::from(sub), d.clone().into()]);
        if sub != "stats" {
            a.extend(args([OsString::from("-o"), out.clone().into()]));
        }
        cases.push(
            Case::new(format!("files: {sub} of a directory"), a, Want::Fail(2))
                .mention(d.display().to_string())
                .guard(&out),
        );
    }
    // outputs that cannot be written: exit 1, nothing clobbered
    let nodir = e.dir.join("no-such-dir").join("out.json");
    cases.push(
        Case::new(
            "files: output into a missing directory",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                nodir.into(),
            ]),
            Want::Fail(1),
        )
        .mention("no-such-dir"),
    );
    let isdir = e.dir_of(&[]);
    cases.push(
        Case::new(
            "files: output is a directory",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                isdir.clone().into(),
            ]),
            Want::Fail(1),
        )
        .mention(isdir.display().to_string()),
    );
    cases.push(
        Case::new(
            "files: output /dev/full",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                "/dev/full".into(),
            ]),
            Want::Fail(1),
        )
        .mention("/dev/full"),
    );
    let out = e.out("out.json");
    cases.push(
        Case::new(
            "files: report /dev/full (graph and report both or neither)",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--report".into(),
                "/dev/full".into(),
            ]),
            Want::Fail(1),
        )
        .mention("/dev/full")
        .guard(&out),
    );
    let out = e.out("out.json");
    let rep_dir = e.dir_of(&[]);
    cases.push(
        Case::new(
            "files: report is a directory",
            args([
                OsString::from("optimize"),
                fwd.clone().into(),
                "-o".into(),
                out.clone().into(),
                "--report".into(),
                rep_dir.into(),
            ]),
            Want::Fail(1),
        )
        .guard(&out),
    );
    // partition: the backward file cannot be written, the forward one keeps its old bytes
    let prefix = e.out("p");
    std::fs::create_dir_all(with_suffix(&prefix, ".bw.json")).unwrap();
    let fw = with_suffix(&prefix, ".fw.json");
    cases.push(
        Case::new(
            "files: partition whose backward output is a directory",
            args([
                OsString::from("partition"),
                joint.clone().into(),
                "-o".into(),
                prefix.into(),
            ]),
            Want::Fail(1),
        )
        .mention("p.bw.json")
        .guard(&fw),
    );
    let prefix = e.out("p");
    let (fw, bw) = (
        with_suffix(&prefix, ".fw.json"),
        with_suffix(&prefix, ".bw.json"),
    );
    cases.push(
        Case::new(
            "files: partition whose report cannot be written",
            args([
                OsString::from("partition"),
                joint.clone().into(),
                "-o".into(),
                prefix.into(),
                "--report".into(),
                e.dir.join("no-such-dir").join("r.json").into(),
            ]),
            Want::Fail(1),
        )
        .mention("no-such-dir")
        .guard(&fw)
        .guard(&bw),
    );
    let prefix = e.dir.join("no-such-dir").join("p");
    cases.push(
        Case::new(
            "files: partition into a missing directory",
            args([
                OsString::from("partition"),
                joint.clone().into(),
                "-o".into(),
                prefix.into(),
            ]),
            Want::Fail(1),
        )
        .mention("no-such-dir"),
    );
    // output = input: read before it is replaced
    let same = e.file("same.json", e.fwd_text.clone().as_bytes());
    cases.push(Case::new(
        "files: output is the input",
        args([
            OsString::from("optimize"),
            same.clone().into(),
            "-o".into(),
            same.into(),
        ]),
        Want::Ok,
    ));
    // stdout on a full disk, and closed
    let rules = e.dir_of(&[("good.rules", e.good_rule.as_bytes())]);
    let stdout_cmds: Vec<(&str, Vec<OsString>)> = vec![
        ("stats", args([OsString::from("stats"), fwd.clone().into()])),
        ("pad-sweep", args(["pad-sweep"])),
        (
            "check-rules",
            args([
                OsString::from("check-rules"),
                "--rules".into(),
                rules.into(),
                "--cases".into(),
                "2".into(),
            ]),
        ),
        (
            "partition --sweep",
            args([
                OsString::from("partition"),
                joint.clone().into(),
                "-o".into(),
                e.out("p").into(),
                "--sweep".into(),
            ]),
        ),
        (
            "bench",
            args([
                OsString::from("bench"),
                fwd.clone().into(),
                "--runs".into(),
                "1".into(),
                "--warmup".into(),
                "0".into(),
            ]),
        ),
        ("--help", args(["--help"])),
    ];
    for (name, a) in stdout_cmds {
        let chatty = name == "bench";
        if name != "--help" {
            let c = Case::new(
                format!("pipes: {name} > /dev/full"),
                a.clone(),
                Want::Fail(1),
            )
            .stdout(Stdout::Full)
            .mention("stdout");
            cases.push(if chatty { c.chatty() } else { c });
        }
        let c = Case::new(format!("pipes: {name} | (closed)"), a, Want::Ok).stdout(Stdout::Closed);
        cases.push(if chatty { c.chatty() } else { c });
    }
}

/// Runs a case; `Err` says what went wrong.
fn run(c: &Case, dir: &Path) -> Result<(), String> {
    for g in &c.guard {
        std::fs::write(g, OLD).map_err(|e| format!("cannot guard {}: {e}", g.display()))?;
    }
    let err_path = dir.join("stderr.txt");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(&c.args)
        .stdin(Stdio::null())
        .stderr(err_file)
        .env_remove("RUST_LOG")
        .env_remove("FXSAT_PROGRESS_AFTER");
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    match c.stdout {
        Stdout::Null => {
            cmd.stdout(Stdio::null());
        }
        Stdout::Full => {
            cmd.stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        }
        Stdout::Closed => {
            cmd.stdout(Stdio::piped());
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    // close the reading end at once
    drop(child.stdout.take());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if t.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no exit after {TIMEOUT:?} (hang)"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let mut problems = Vec::new();
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("panicked".to_string());
    }
    let code = match status.code() {
        Some(code) => code,
        None => return Err(format!("killed by a signal ({status}); stderr: {stderr}")),
    };
    let ok = match c.want {
        Want::Ok => code == 0,
        Want::Fail(w) => code == w,
        Want::OkOrBad => code == 0 || code == 2,
    };
    if !ok {
        problems.push(format!("exit {code}, want {:?}", c.want));
    }
    let lines: Vec<&str> = stderr.lines().collect();
    if code != 0 {
        if c.clap {
            // a usage error: clap's message on one line (or the help, for no subcommand)
            let help = lines.first().is_some_and(|l| l.starts_with("Equality"));
            let one_line = lines.len() == 1 && lines[0].starts_with("fxsat: error:");
            if !(help || one_line) {
                problems.push(format!("not a one-line usage error: {} lines", lines.len()));
            }
        } else if c.chatty {
            let errors = lines
                .iter()
                .filter(|l| l.starts_with("fxsat: error:"))
                .count();
            if errors != 1 || !lines.last().is_some_and(|l| l.starts_with("fxsat: error:")) {
                problems.push("the error is not the one last line".into());
            }
        } else if lines.len() != 1 {
            problems.push(format!("{} lines on stderr, want 1", lines.len()));
        }
        if let Some(m) = &c.mention {
            if !stderr.contains(m.as_str()) {
                problems.push(format!("the error does not name `{m}`"));
            }
        }
        for g in &c.guard {
            match std::fs::read(g) {
                Ok(b) if b == OLD => {}
                Ok(_) => problems.push(format!("{} was overwritten by a failed run", g.display())),
                Err(e) => problems.push(format!("{} is gone after a failed run: {e}", g.display())),
            }
        }
    } else if c.stdout == Stdout::Closed
        && (if c.chatty {
            stderr.contains("error")
        } else {
            !stderr.is_empty()
        })
    {
        problems.push("a closed stdout must end quietly".into());
    }
    // no temporary left behind next to the outputs
    for g in &c.guard {
        if let Some(d) = g.parent() {
            if let Ok(rd) = std::fs::read_dir(d) {
                for f in rd.flatten() {
                    if f.file_name().to_string_lossy().contains(".fxsat-tmp") {
                        problems.push(format!("temporary {} left behind", f.path().display()));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; stderr: {}",
            problems.join("; "),
            stderr.trim_end()
        ))
    }
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let dir = common::temp_dir("hostile");
    let fixtures = common::fixture_dir();
    let fwd = fixtures.join("attn_div.forward.json");
    let mut e = Env {
        fwd_text: std::fs::read_to_string(&fwd).unwrap(),
        fwd,
        joint: fixtures.join("attn_div.joint.json"),
        good_rule: "(rule neg-neg\n  (neg (neg ?x))\n  ?x)\n",
        profile: serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/cpu.json"),
            )
            .unwrap(),
        )
        .unwrap(),
        dir: dir.clone(),
        n: 0,
    };
    let mut cases = Vec::new();
    malformed_json(&mut e, &mut cases);
    wrong_field_types(&mut e, &mut cases);
    shapes_strides_keys(&mut e, &mut cases);
    hostile_rules(&mut e, &mut cases);
    hostile_profiles(&mut e, &mut cases);
    cli_values(&mut e, &mut cases);
    files_and_pipes(&mut e, &mut cases);

    let t = Instant::now();
    let mut failed = Vec::new();
    for c in &cases {
        if let Err(why) = run(c, &dir) {
            failed.push(format!("{}: {why}", c.name));
        }
    }
    eprintln!(
        "hostile: {} cases in {:.1} s; {} failed",
        cases.len(),
        t.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    assert!(
        failed.is_empty(),
        "{} hostile cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
