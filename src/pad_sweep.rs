//! Matmul padding decisions over a sweep of shapes and dtypes: fxsat's (the padding rules,
//! then extraction under the device profile's cost model) beside Inductor's static rule
//! (`pad_mm`'s alignment check and compute-bound filter, reference §3.5), with the cost
//! model's numbers that explain every disagreement.
//!
//! Inductor's rule here is what it decides without a GPU: pad only when a dim is misaligned
//! (`get_padded_length`) and the GEMM is compute-bound (`is_mm_compute_bound`: arithmetic
//! intensity `M·N·K / (M·K + N·K + M·N)` above half the machine balance
//! `1000 · TFLOPS(dtype) / DRAM GB/s`, both taken from the same profile). Inductor then
//! benchmarks the candidates; fxsat's cost model plays that part.
//!
//! ```
//! let p = fxsat::cost::Profile::named("h100").unwrap();
//! let rows = fxsat::pad_sweep::sweep(&p, &fxsat::pad_sweep::default_cases()[..2]).unwrap();
//! assert_eq!(rows.len(), 2);
//! ```

use crate::cost::{Model, Profile};
use crate::error::Result;
use crate::ir::DType;
use crate::ops::{table, Meta, TMeta};
use crate::pipeline::{optimize, Options};
use crate::rules::padded_length;
use crate::target::Target;
use std::fmt::Write as _;

/// One matmul of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// `mm`, `bmm` or `addmm` (with a 1-D bias of N).
    pub op: &'static str,
    /// Batch (bmm only; 1 otherwise).
    pub batch: i64,
    /// Rows of the result.
    pub m: i64,
    /// Reduction dim.
    pub k: i64,
    /// Columns of the result.
    pub n: i64,
    /// Operand dtype.
    pub dtype: DType,
}

impl Case {
    /// `mm f16 1023x1025x1027` (bmm with its batch).
    pub fn id(&self) -> String {
        let b = if self.op == "bmm" {
            format!("{}x", self.batch)
        } else {
            String::new()
        };
        format!(
            "{} {} {b}{}x{}x{}",
            self.op,
            short(self.dtype),
            self.m,
            self.k,
            self.n
        )
    }
}

fn short(d: DType) -> &'static str {
    match d {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F32 => "f32",
        _ => d.name(),
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The matmul.
    pub case: Case,
    /// Whether fxsat's output graph pads it.
    pub fxsat: bool,
    /// Whether Inductor's static rule pads it (misaligned and compute-bound).
    pub inductor: bool,
    /// Any of M, K, N misaligned for the dtype on this device.
    pub misaligned: bool,
    /// Inductor's arithmetic intensity.
    pub intensity: f64,
    /// Half of Inductor's machine balance (its threshold).
    pub threshold: f64,
    /// Cost-model seconds of the input graph.
    pub cost_plain: f64,
    /// Cost-model seconds of the padded graph (pads of both operands, padded op, slices).
    pub cost_padded: f64,
    /// Of `cost_padded`, the pads.
    pub cost_pads: f64,
    /// Why the two disagree (empty when they agree).
    pub why: String,
}

impl Row {
    /// fxsat and Inductor's rule decide alike.
    pub fn agrees(&self) -> bool {
        self.fxsat == self.inductor
    }
}

/// The default sweep: aligned and misaligned, small to large, memory- and compute-bound,
/// thin and square shapes, in float16, bfloat16 and float32; mm, bmm and addmm.
pub fn default_cases() -> Vec<Case> {
    let shapes: &[(i64, i64, i64)] = &[
        (64, 64, 64),
        (63, 65, 127),
        (511, 513, 1023),
        (1023, 1025, 1027),
        (2047, 2049, 2051),
        (4096, 4096, 4096),
        (4095, 4097, 4099),
        (4096, 4095, 4096),
        (4096, 4096, 4095),
        (8191, 8193, 8191),
        (8192, 7, 8192),
        (16, 4097, 16),
        (4097, 4097, 1),
        (1, 4097, 4097),
    ];
    let mut v = Vec::new();
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        for &(m, k, n) in shapes {
            v.push(Case {
                op: "mm",
                batch: 1,
                m,
                k,
                n,
                dtype,
            });
        }
        for (op, batch, m, k, n) in [
            ("bmm", 16, 511, 513, 515),
            ("bmm", 64, 127, 129, 127),
            ("addmm", 1, 4095, 4097, 4099),
            ("addmm", 1, 127, 129, 131),
        ] {
            v.push(Case {
                op,
                batch,
                m,
                k,
                n,
                dtype,
            });
        }
    }
    v
}

/// The FX-JSON of a case: placeholders, one aten call, the output.
pub fn case_graph(c: &Case) -> String {
    let d = c.dtype.name();
    let ph = |name: &str, shape: &[i64]| {
        let mut stride = vec![1i64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        format!(
            "{{\"name\": \"{name}\", \"op\": \"placeholder\", \"val\": {{\"shape\": {shape:?}, \"dtype\": \"{d}\", \"stride\": {stride:?}}}}}"
        )
    };
    let (a, b, out, target, args): (Vec<i64>, Vec<i64>, Vec<i64>, &str, &str) = match c.op {
        "bmm" => (
            vec![c.batch, c.m, c.k],
            vec![c.batch, c.k, c.n],
            vec![c.batch, c.m, c.n],
            "aten.bmm.default",
            "[{\"node\": \"a\"}, {\"node\": \"b\"}]",
        ),
        "addmm" => (
            vec![c.m, c.k],
            vec![c.k, c.n],
            vec![c.m, c.n],
            "aten.addmm.default",
            "[{\"node\": \"bias\"}, {\"node\": \"a\"}, {\"node\": \"b\"}]",
        ),
        _ => (
            vec![c.m, c.k],
            vec![c.k, c.n],
            vec![c.m, c.n],
            "aten.mm.default",
            "[{\"node\": \"a\"}, {\"node\": \"b\"}]",
        ),
    };
    let mut nodes = vec![ph("a", &a), ph("b", &b)];
    if c.op == "addmm" {
        nodes.push(ph("bias", &[c.n]));
    }
    let mut stride = vec![1i64; out.len()];
    for i in (0..out.len() - 1).rev() {
        stride[i] = stride[i + 1] * out[i + 1];
    }
    nodes.push(format!(
        "{{\"name\": \"r\", \"op\": \"call_function\", \"target\": \"{target}\", \"args\": {args}, \"val\": {{\"shape\": {out:?}, \"dtype\": \"{d}\", \"stride\": {stride:?}}}}}"
    ));
    nodes
        .push("{\"name\": \"output\", \"op\": \"output\", \"args\": [[{\"node\": \"r\"}]]}".into());
    format!(
        "{{\"format\": \"fx-json\", \"version\": 1, \"name\": \"sweep\", \"kind\": \"forward\", \"nodes\": [\n{}\n]}}\n",
        nodes.join(",\n")
    )
}

/// Inductor's arithmetic intensity of an `m × k × n` GEMM (`is_mm_compute_bound`).
pub fn intensity(m: i64, k: i64, n: i64) -> f64 {
    let (m, k, n) = (m as f64, k as f64, n as f64);
    let den = m * k + n * k + m * n;
    if den == 0.0 {
        0.0
    } else {
        m * n * k / den
    }
}

/// Half of Inductor's machine balance for a dtype on this profile:
/// `0.5 · 1000 · TFLOPS / (GB/s)` = `0.5 · peak / bandwidth`.
pub fn threshold(p: &Profile, d: DType) -> f64 {
    0.5 * p.peak(Some(d)) / p.bandwidth
}

/// Cost-model seconds of one call of the op named `op` producing `out` from `args`.
fn call_seconds(model: &Model, op: &str, args: &[Meta], out: &Meta, d: DType) -> f64 {
    let Some(o) = table().by_name(op) else {
        return 0.0;
    };
    let refs: Vec<&Meta> = args.iter().collect();
    model.seconds(&model.work_of(o, &refs, out), Some(d))
}

fn tensor(shape: Vec<i64>, dtype: DType) -> Meta {
    Meta::Tensor(TMeta { shape, dtype })
}

/// The cost model's seconds for the padded form of a case: `(total, pads)`.
fn padded_cost(model: &Model, c: &Case) -> (f64, f64) {
    let align = model.profile.alignment(c.dtype);
    let (mp, kp, np) = (
        padded_length(c.m, align),
        padded_length(c.k, align),
        padded_length(c.n, align),
    );
    let d = c.dtype;
    let batch: Vec<i64> = if c.op == "bmm" { vec![c.batch] } else { vec![] };
    let sh = |x: i64, y: i64| -> Vec<i64> { batch.iter().copied().chain([x, y]).collect() };
    let pad = |from: Vec<i64>, to: Vec<i64>| -> f64 {
        if from == to {
            return 0.0;
        }
        let list = Meta::List(vec![Meta::Int(0); 4]);
        call_seconds(
            model,
            "constant_pad_nd",
            &[tensor(from, d), list, Meta::Int(0)],
            &tensor(to, d),
            d,
        )
    };
    let mut pads =
        pad(sh(c.m, c.k), sh(c.m + mp, c.k + kp)) + pad(sh(c.k, c.n), sh(c.k + kp, c.n + np));
    let (a, b, out) = (
        tensor(sh(c.m + mp, c.k + kp), d),
        tensor(sh(c.k + kp, c.n + np), d),
        tensor(sh(c.m + mp, c.n + np), d),
    );
    let op_cost = if c.op == "addmm" {
        pads += pad(vec![c.n], vec![c.n + np]);
        call_seconds(
            model,
            "addmm",
            &[tensor(vec![c.n + np], d), a, b, Meta::Int(1), Meta::Int(1)],
            &out,
            d,
        )
    } else {
        call_seconds(model, c.op, &[a, b], &out, d)
    };
    (pads + op_cost, pads)
}

/// Runs the sweep on `profile`: each case through [`optimize`] (default rules, target CUDA).
pub fn sweep(profile: &Profile, cases: &[Case]) -> Result<Vec<Row>> {
    let model = Model::new(profile.clone());
    let mut rows = Vec::new();
    for c in cases {
        let g = crate::io::read_str(&case_graph(c), &c.id())?;
        let out = optimize(
            &g,
            &Options {
                target: Target::Cuda,
                profile: Some(profile.clone()),
                file: c.id(),
                ..Options::default()
            },
        )?;
        let fxsat = out
            .graph
            .nodes
            .iter()
            .any(|n| n.target() == Some("aten.constant_pad_nd.default"));
        let align = profile.alignment(c.dtype);
        let misaligned = [c.m, c.k, c.n].iter().any(|&x| padded_length(x, align) > 0);
        let ai = intensity(c.m, c.k, c.n);
        let th = threshold(profile, c.dtype);
        let inductor = misaligned && ai > th;
        let (cost_padded, cost_pads) = padded_cost(&model, c);
        let mut row = Row {
            case: c.clone(),
            fxsat,
            inductor,
            misaligned,
            intensity: ai,
            threshold: th,
            cost_plain: out.report.cost.before,
            cost_padded,
            cost_pads,
            why: String::new(),
        };
        row.why = explain(&model, &row);
        rows.push(row);
    }
    Ok(rows)
}

/// Why fxsat and Inductor's rule disagree on a row, from the cost model's numbers.
fn explain(model: &Model, r: &Row) -> String {
    if r.agrees() {
        return String::new();
    }
    let c = &r.case;
    let us = |s: f64| s * 1e6;
    if r.inductor {
        // Inductor's filter passes it; the cost model says padding does not pay.
        let eff = model.profile.misaligned_efficiency(c.dtype);
        let flops = 2.0 * (c.batch * c.m * c.k * c.n) as f64;
        let bytes = ((c.m * c.k + c.k * c.n + c.m * c.n) * c.batch) as f64 * c.dtype.size() as f64;
        let t_compute = flops / (model.profile.peak(Some(c.dtype)) * eff);
        let t_memory = bytes / model.profile.bandwidth;
        if eff >= 1.0 {
            return format!(
                "this profile runs misaligned {} matmuls at full speed (measured on H100: fp32 without TF32 uses CUDA cores), so padding only adds work",
                c.dtype.name()
            );
        }
        if t_memory >= t_compute {
            return format!(
                "memory-bound even at {eff}x speed ({:.1} us of traffic vs {:.1} us of math): padding only adds bytes",
                us(t_memory),
                us(t_compute)
            );
        }
        return format!(
            "pads cost {:.1} us (copies + launches) of the {:.1} us padding would save: padded {:.1} us vs {:.1} us",
            us(r.cost_pads),
            us(r.cost_plain - (r.cost_padded - r.cost_pads)),
            us(r.cost_padded),
            us(r.cost_plain)
        );
    }
    format!(
        "Inductor's filter calls it memory-bound (AI {:.0} <= {:.0}) but at the misaligned speed the math dominates: padded {:.1} us vs {:.1} us",
        r.intensity,
        r.threshold,
        us(r.cost_padded),
        us(r.cost_plain)
    )
}

/// The sweep as a plain-text table (one line per case, then a summary).
pub fn table_text(profile: &Profile, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "matmul padding on `{}`: fxsat (rules + cost model) vs Inductor's rule (misaligned and AI > half machine balance)",
        profile.name
    );
    let _ = writeln!(
        s,
        "{:<27} {:>5} {:>8} {:>6} {:>10} {:>10} {:>6} {:>8}  why they differ",
        "case", "misal", "AI", "thresh", "plain us", "padded us", "fxsat", "inductor"
    );
    for r in rows {
        let yn = |b: bool| if b { "pad" } else { "-" };
        let _ = writeln!(
            s,
            "{:<27} {:>5} {:>8.1} {:>6.0} {:>10.2} {:>10.2} {:>6} {:>8}  {}",
            r.case.id(),
            if r.misaligned { "yes" } else { "no" },
            r.intensity,
            r.threshold,
            r.cost_plain * 1e6,
            r.cost_padded * 1e6,
            yn(r.fxsat),
            yn(r.inductor),
            r.why
        );
    }
    let agree = rows.iter().filter(|r| r.agrees()).count();
    let _ = writeln!(
        s,
        "{} cases: {} agree, {} differ (fxsat pads {}, Inductor's rule pads {})",
        rows.len(),
        agree,
        rows.len() - agree,
        rows.iter().filter(|r| r.fxsat).count(),
        rows.iter().filter(|r| r.inductor).count()
    );
    s
}
