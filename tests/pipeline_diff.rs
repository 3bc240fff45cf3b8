//! Whole-pipeline differential tests: the optimised graph computes what the original does, in
//! the reference interpreter, on random inputs: every fixture graph the interpreter can run,
//! and random well-typed graphs (proptest, bounded) over pointwise ops, views, matmuls,
//! reductions and decomposed attention blocks. Values are compared with
//! `fxsat::interp::compare_rule` (per-dtype tolerance; a rewrite may be more accurate than
//! the original, never much less), or, for deep graphs (joint graphs' gradients sum long
//! chains with cancellation), by a norm criterion: `max|got - want| <= k * (1 + max|want|)`
//! per output tensor, k = 1e-4 for f32/f64, 2e-2 for f16/bf16.

mod common;

use fxsat::check::rng::Rng;
use fxsat::interp::{compare_rule, eval_graph, Value};
use fxsat::ir::{Arg, DType, Graph, GraphKind, Node, NodeId, NodeKind, TensorMeta, Val};
use fxsat::ops::{table, Meta};
use fxsat::passes::RegionOptions;
use fxsat::{optimize, Options};
use proptest::prelude::*;

use common::random_input;

fn widen(v: &Value) -> Value {
    match v {
        Value::Tensor(t) if t.dtype.is_float() => Value::Tensor(t.cast(DType::F64)),
        other => other.clone(),
    }
}

/// Optimises `g` and compares outputs on random inputs. `Ok(false)`: the interpreter cannot
/// run the original (an op it does not evaluate), nothing compared.
fn differential(g: &Graph, seed: u64) -> Result<bool, String> {
    differential_with(g, seed, &Options::default())
}

/// [`differential`] with these options.
fn differential_with(g: &Graph, seed: u64, opts: &Options) -> Result<bool, String> {
    let mut rng = Rng::new(seed);
    let inputs: Vec<Value> = g
        .placeholders()
        .iter()
        .map(|&i| random_input(&g.node(i).val, &mut rng))
        .collect();
    let Ok(want) = eval_graph(g, &inputs) else {
        return Ok(false);
    };
    let exact = eval_graph(g, &inputs.iter().map(widen).collect::<Vec<_>>()).ok();
    let out = optimize(g, opts).map_err(|e| format!("optimize: {e}"))?;
    let got = eval_graph(&out.graph, &inputs).map_err(|e| format!("optimised graph: {e}"))?;
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let e = exact.as_ref().and_then(|x| x[i].as_ref());
        match (a, b) {
            (Some(a), Some(b)) => match compare_rule(a, b, e) {
                Ok(x) => x,
                Err(_) if close_in_norm(a, b) => 0.0,
                Err(m) => return Err(format!("output {i}: {m}")),
            },
            (None, None) => 0.0,
            _ => return Err(format!("output {i}: None on one side only")),
        };
    }
    Ok(true)
}

/// The norm criterion for deep graphs (see the module docs).
fn close_in_norm(a: &Value, b: &Value) -> bool {
    let (Value::Tensor(x), Value::Tensor(y)) = (a, b) else {
        return false;
    };
    let k = if matches!(y.dtype, DType::F16 | DType::BF16) {
        2e-2
    } else {
        1e-4
    };
    let mut diff: f64 = 0.0;
    let mut mag: f64 = 0.0;
    for (&p, &q) in x.data.iter().zip(&y.data) {
        if q.is_nan() || p == q {
            continue;
        }
        if !p.is_finite() || !q.is_finite() {
            return false;
        }
        diff = diff.max((p - q).abs());
        mag = mag.max(q.abs());
    }
    x.shape == y.shape && diff <= k * (1.0 + mag)
}

#[test]
fn fixture_graphs_compute_the_same_after_optimisation() {
    let mut ran = Vec::new();
    for (name, g) in common::all() {
        if let Ok(true) = differential(&g, 1).map_err(|e| panic!("{name}: {e}")) {
            ran.push(name);
        }
    }
    eprintln!("evaluated: {ran:?}");
    // The forward graphs of the attention fixtures and the models at least.
    for must in [
        "attn_mul_scale.forward.json",
        "attn_div_mask.forward.json",
        "gpt2.forward.json",
        "llama.forward.json",
    ] {
        assert!(
            ran.iter().any(|n| n == must),
            "{must} was not evaluated; ran {ran:?}"
        );
    }
}

/// Every fixture graph cut into regions whatever its size (see `fxsat::passes::regions`): the
/// stitched result computes what the original does, and the larger ones were really cut.
#[test]
fn region_split_graphs_compute_the_same() {
    let opts = Options {
        regions: RegionOptions {
            min_graph_nodes: 0,
            ..RegionOptions::default()
        },
        ..Options::default()
    };
    let mut split = Vec::new();
    for (name, g) in &common::all() {
        let out = optimize(g, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        if out.report.regions.count > 1 {
            split.push(name.clone());
        }
        differential_with(g, 2, &opts).unwrap_or_else(|e| panic!("{name} (regions): {e}"));
    }
    eprintln!("cut into regions: {split:?}");
    for must in ["gpt2.joint.json", "llama.joint.json", "bert.forward.json"] {
        assert!(
            split.iter().any(|n| n == must),
            "{must} not cut; cut: {split:?}"
        );
    }
}

/// A 4-layer LLaMA joint graph cut into regions, equal ones optimised once, computes exactly
/// what the whole-graph optimisation of it computes. (Against the original, both differ by
/// float32 reassociation beyond the norm criterion in its last-layer embedding gradient: the
/// random weights are not scaled, so activations are large.)
#[test]
fn a_region_split_llama_computes_what_the_whole_graph_optimisation_does() {
    let g = common::load(&common::fixture_dir().join("scale/llama4.joint.json.gz"));
    let split = Options {
        regions: RegionOptions {
            min_graph_nodes: 0,
            ..RegionOptions::default()
        },
        ..Options::default()
    };
    let whole = Options {
        regions: RegionOptions::off(),
        ..Options::default()
    };
    let a = optimize(&g, &split).unwrap();
    let b = optimize(&g, &whole).unwrap();
    assert!(a.report.regions.count >= 4, "{:?}", a.report.regions);
    assert_eq!(a.report.attention.fused, 4);
    assert_eq!(a.report.attention.fused_backward, 4);
    let mut rng = Rng::new(3);
    let inputs: Vec<Value> = g
        .placeholders()
        .iter()
        .map(|&i| random_input(&g.node(i).val, &mut rng))
        .collect();
    let got = eval_graph(&a.graph, &inputs).unwrap();
    let want = eval_graph(&b.graph, &inputs).unwrap();
    for (i, (x, y)) in got.iter().zip(&want).enumerate() {
        let same = match (x, y) {
            (Some(Value::Tensor(x)), Some(Value::Tensor(y))) => {
                x.shape == y.shape
                    && x.data
                        .iter()
                        .zip(&y.data)
                        .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
            }
            (x, y) => format!("{x:?}") == format!("{y:?}"),
        };
        assert!(same, "output {i} differs");
    }
}

/// A graph under construction: placeholders first, then calls.
#[derive(Default)]
struct Builder {
    inputs: Vec<TensorMeta>,
    calls: Vec<(String, Vec<Arg>, Val)>,
}

/// A reference to a value of the graph under construction.
#[derive(Clone, Copy)]
enum R {
    In(usize),
    Op(usize),
}

impl Builder {
    fn input(&mut self, shape: Vec<i64>, dtype: DType) -> R {
        self.inputs.push(TensorMeta::contiguous(shape, dtype));
        R::In(self.inputs.len() - 1)
    }

    fn meta(&self, r: R) -> Meta {
        match r {
            R::In(i) => Meta::from_val(&Val::Tensor(self.inputs[i].clone())),
            R::Op(j) => Meta::from_val(&self.calls[j].2),
        }
    }

    fn shape(&self, r: R) -> Vec<i64> {
        self.meta(r).tensor().unwrap().shape.clone()
    }

    /// Adds a call if it is well typed. Node args are `Arg::Node(k)` with `k` an index into
    /// `refs`.
    fn call(&mut self, target: &str, args: Vec<Arg>, refs: &[R]) -> Option<R> {
        let (op, ov) = table().by_target(target).unwrap();
        let canon = table().canonical_args(op, ov, &args, &[]).ok()?;
        let metas: Vec<Meta> = canon.iter().map(|a| self.arg_meta(a, refs)).collect();
        let m = (op.def().infer)(&metas).ok()?;
        let args = args.into_iter().map(|a| relink(a, refs)).collect();
        self.calls.push((target.to_string(), args, m.to_val()));
        Some(R::Op(self.calls.len() - 1))
    }

    fn arg_meta(&self, a: &Arg, refs: &[R]) -> Meta {
        match a {
            Arg::Node(k) => self.meta(refs[k.index()]),
            Arg::Int(i) => Meta::Int(*i),
            Arg::Float(x) => Meta::Float(*x),
            Arg::Bool(b) => Meta::Bool(*b),
            Arg::None => Meta::None,
            Arg::Dtype(d) => Meta::Dtype(*d),
            Arg::List(items) => Meta::List(items.iter().map(|x| self.arg_meta(x, refs)).collect()),
            _ => Meta::None,
        }
    }

    fn finish(self, outputs: &[R]) -> Graph {
        let n_in = self.inputs.len() as u32;
        let id = |r: R| match r {
            R::In(i) => NodeId(i as u32),
            R::Op(j) => NodeId(n_in + j as u32),
        };
        let mut nodes: Vec<Node> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, t)| Node {
                name: format!("arg{i}_1"),
                kind: NodeKind::Placeholder,
                val: Val::Tensor(t.clone()),
            })
            .collect();
        for (j, (target, args, val)) in self.calls.into_iter().enumerate() {
            let args = args.into_iter().map(|a| finish_arg(a, n_in)).collect();
            nodes.push(Node {
                name: format!("n{j}"),
                kind: NodeKind::Call {
                    target,
                    args,
                    kwargs: Vec::new(),
                },
                val,
            });
        }
        Graph {
            name: "random".into(),
            kind: GraphKind::Forward,
            num_fwd_outputs: None,
            nodes,
            outputs: outputs.iter().map(|&r| Some(id(r))).collect(),
        }
    }
}

/// Node refs in args: while building, `Arg::Node(k)` indexes `refs`; stored as `In(i)` →
/// `NodeId(i | 1<<31)` and `Op(j)` → `NodeId(j)` until [`finish_arg`].
fn relink(a: Arg, refs: &[R]) -> Arg {
    match a {
        Arg::Node(k) => Arg::Node(match refs[k.index()] {
            R::In(i) => NodeId(i as u32 | 1 << 31),
            R::Op(j) => NodeId(j as u32),
        }),
        Arg::List(items) => Arg::List(items.into_iter().map(|x| relink(x, refs)).collect()),
        other => other,
    }
}

fn finish_arg(a: Arg, n_in: u32) -> Arg {
    match a {
        Arg::Node(NodeId(k)) if k & 1 << 31 != 0 => Arg::Node(NodeId(k & !(1 << 31))),
        Arg::Node(NodeId(k)) => Arg::Node(NodeId(k + n_in)),
        Arg::List(items) => Arg::List(items.into_iter().map(|x| finish_arg(x, n_in)).collect()),
        other => other,
    }
}

fn n(k: u32) -> Arg {
    Arg::Node(NodeId(k))
}

fn ints(v: &[i64]) -> Arg {
    Arg::List(v.iter().map(|&x| Arg::Int(x)).collect())
}

/// Decomposed attention as `torch.compile` traces it: softmax(q·kᵀ·s [+ mask])·v.
fn attention(b: &mut Builder, rng: &mut Rng, dtype: DType) -> Option<R> {
    let (bs, h, l, s, e) = (
        1 + rng.below(2) as i64,
        1 + rng.below(2) as i64,
        1 + rng.below(4) as i64,
        1 + rng.below(4) as i64,
        rng.pick(&[2i64, 4]),
    );
    let q = b.input(vec![bs, h, l, e], dtype);
    let k = b.input(vec![bs, h, s, e], dtype);
    let v = b.input(vec![bs, h, s, e], dtype);
    let kt = b.call(
        "aten.permute.default",
        vec![n(0), ints(&[0, 1, 3, 2])],
        &[k],
    )?;
    let qe = b.call(
        "aten.expand.default",
        vec![n(0), ints(&[bs, h, l, e])],
        &[q],
    )?;
    let qv = b.call(
        "aten.view.default",
        vec![n(0), ints(&[bs * h, l, e])],
        &[qe],
    )?;
    let ke = b.call(
        "aten.expand.default",
        vec![n(0), ints(&[bs, h, e, s])],
        &[kt],
    )?;
    let kv = b.call(
        "aten.view.default",
        vec![n(0), ints(&[bs * h, e, s])],
        &[ke],
    )?;
    let mm = b.call("aten.bmm.default", vec![n(0), n(1)], &[qv, kv])?;
    let sc = b.call("aten.view.default", vec![n(0), ints(&[bs, h, l, s])], &[mm])?;
    let mut x = if rng.chance(0.5) {
        b.call("aten.mul.Tensor", vec![n(0), Arg::Float(0.5)], &[sc])?
    } else {
        b.call("aten.div.Tensor", vec![n(0), Arg::Float(2.0)], &[sc])?
    };
    if rng.chance(0.5) {
        let m = b.input(vec![1, 1, l, s], dtype);
        x = b.call("aten.add.Tensor", vec![n(0), n(1)], &[x, m])?;
    }
    let mx = b.call(
        "aten.amax.default",
        vec![n(0), ints(&[-1]), Arg::Bool(true)],
        &[x],
    )?;
    let d = b.call("aten.sub.Tensor", vec![n(0), n(1)], &[x, mx])?;
    let ex = b.call("aten.exp.default", vec![n(0)], &[d])?;
    let sm = b.call(
        "aten.sum.dim_IntList",
        vec![n(0), ints(&[-1]), Arg::Bool(true)],
        &[ex],
    )?;
    let p = b.call("aten.div.Tensor", vec![n(0), n(1)], &[ex, sm])?;
    let pe = b.call(
        "aten.expand.default",
        vec![n(0), ints(&[bs, h, l, s])],
        &[p],
    )?;
    let pv = b.call(
        "aten.view.default",
        vec![n(0), ints(&[bs * h, l, s])],
        &[pe],
    )?;
    let ve = b.call(
        "aten.expand.default",
        vec![n(0), ints(&[bs, h, s, e])],
        &[v],
    )?;
    let vv = b.call(
        "aten.view.default",
        vec![n(0), ints(&[bs * h, s, e])],
        &[ve],
    )?;
    let o = b.call("aten.bmm.default", vec![n(0), n(1)], &[pv, vv])?;
    b.call("aten.view.default", vec![n(0), ints(&[bs, h, l, e])], &[o])
}

/// A random graph: a few inputs, then random well-typed ops on random earlier values.
fn random_graph(seed: u64) -> Graph {
    let mut rng = Rng::new(seed);
    let mut b = Builder::default();
    let dtype = if rng.chance(0.7) {
        DType::F32
    } else {
        rng.pick(&[DType::F16, DType::BF16])
    };
    let mut vals: Vec<R> = Vec::new();
    if rng.chance(0.4) {
        if let Some(r) = attention(&mut b, &mut rng, dtype) {
            vals.push(r);
        }
    }
    for _ in 0..1 + rng.below(2) {
        let rank = 1 + rng.below(3);
        let shape = (0..rank).map(|_| rng.pick(&[1i64, 2, 3, 4])).collect();
        vals.push(b.input(shape, dtype));
    }
    for _ in 0..3 + rng.below(8) {
        let x = vals[rng.below(vals.len())];
        let s = b.shape(x);
        let r = s.len() as i64;
        let made = match rng.below(12) {
            0 => {
                let p: Vec<i64> = rng
                    .permutation(s.len())
                    .into_iter()
                    .map(|d| d as i64)
                    .collect();
                b.call("aten.permute.default", vec![n(0), ints(&p)], &[x])
            }
            1 if r >= 2 => b.call(
                "aten.transpose.int",
                vec![n(0), Arg::Int(0), Arg::Int(r - 1)],
                &[x],
            ),
            2 => {
                let numel: i64 = s.iter().product();
                b.call("aten.view.default", vec![n(0), ints(&[numel])], &[x])
            }
            3 => b.call("aten.unsqueeze.default", vec![n(0), Arg::Int(0)], &[x]),
            4 => {
                let y = vals[rng.below(vals.len())];
                let t = rng.pick(&["aten.add.Tensor", "aten.mul.Tensor", "aten.sub.Tensor"]);
                b.call(t, vec![n(0), n(1)], &[x, y])
            }
            5 => b.call(
                rng.pick(&["aten.exp.default", "aten.tanh.default", "aten.neg.default"]),
                vec![n(0)],
                &[x],
            ),
            6 if r >= 1 => b.call(
                "aten.sum.dim_IntList",
                vec![n(0), ints(&[-1]), Arg::Bool(rng.chance(0.5))],
                &[x],
            ),
            7 if r >= 1 => b.call(
                "aten.amax.default",
                vec![n(0), ints(&[0]), Arg::Bool(true)],
                &[x],
            ),
            8 if r == 2 => {
                let w = b.input(vec![s[1], rng.pick(&[1i64, 2, 3])], dtype);
                b.call("aten.mm.default", vec![n(0), n(1)], &[x, w])
            }
            9 if r == 3 => {
                let w = b.input(vec![s[0], s[2], rng.pick(&[1i64, 2, 3])], dtype);
                b.call("aten.bmm.default", vec![n(0), n(1)], &[x, w])
            }
            10 => b.call("aten.mul.Tensor", vec![n(0), Arg::Float(0.25)], &[x]),
            _ => {
                let p: Vec<i64> = (0..r).rev().collect();
                let y = b.call("aten.permute.default", vec![n(0), ints(&p)], &[x]);
                y.and_then(|y| b.call("aten.permute.default", vec![n(0), ints(&p)], &[y]))
            }
        };
        if let Some(m) = made {
            vals.push(m);
        }
    }
    let outs: Vec<R> = vals.iter().rev().take(2).copied().collect();
    b.finish(&outs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_graphs_compute_the_same_after_optimisation(seed in any::<u64>()) {
        let g = random_graph(seed);
        let ran = differential(&g, seed).map_err(|e| TestCaseError::fail(format!("{e}\n{}", fxsat::io::write_string(&g))))?;
        prop_assert!(ran, "the interpreter cannot run a generated graph:\n{}", fxsat::io::write_string(&g));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
    /// The region cut and stitch on random graphs, cut into pieces of 2 forward nodes (no
    /// shared cones: in graphs this small every cone is small).
    #[test]
    fn random_graphs_cut_into_regions_compute_the_same(seed in any::<u64>()) {
        let g = random_graph(seed);
        let opts = Options {
            regions: RegionOptions { min_graph_nodes: 0, min_region_nodes: 2, max_shared_cone: 0, ..RegionOptions::default() },
            ..Options::default()
        };
        let ran = differential_with(&g, seed, &opts).map_err(|e| TestCaseError::fail(format!("{e}\n{}", fxsat::io::write_string(&g))))?;
        prop_assert!(ran, "the interpreter cannot run a generated graph:\n{}", fxsat::io::write_string(&g));
    }
}
