//! `fxsat lowering-cases` (hidden dev command): the lowering conformance cases.
//!
//! For every per-op case of `tests/fixtures/interp/op_cases.json` (made by
//! `python/fixtures/gen_op_cases.py`) the call is imported onto its op's canonical arguments, and varied:
//! each optional non-tensor argument set to `None` (a full reduction, no dtype, ...),
//! `keepdim` flipped, tensors as Python numbers and numbers as 0-d tensors. For every variant
//! the interpreter can evaluate, every overload of the op that strictly expresses it (tensors
//! for `Tensor`, literals elsewhere) and the one [`fxsat::ops::OpTable::lower_overload`] picks
//! are exported as a small FX-JSON graph (inputs, one call, output) with the interpreter's
//! output, so that `python/tests/test_lowering_conformance.py` runs each in PyTorch.
//! `manifest.json` lists the cases, how many variants no overload expresses (export refuses
//! those), the (op, overload) pairs covered, and every pair of the table not covered with why.

use anyhow::{bail, Context, Result};
use fxsat::interp::{eval_op, to_value, Tensor, Value};
use fxsat::ir::{Arg, DType, Graph, GraphKind, Node, NodeId, NodeKind};
use fxsat::ops::{table, Lowered, OpClass, OpTable};
use serde_json::{json, Value as J};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Ops whose values are not defined.
const UNINITIALIZED: &[&str] = &["empty", "empty_like", "new_empty"];

/// Ops that PyTorch implements on CUDA only.
const CUDA_ONLY: &[&str] = &[
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_backward",
];

/// Ops whose values are random: the interpreter's draws are not PyTorch's.
const RANDOM: &[&str] = &["rand", "randn", "native_dropout", "bernoulli"];

fn num(j: &J) -> Result<f64> {
    Ok(match j {
        J::Number(n) => n.as_f64().context("bad number")?,
        J::Bool(b) => *b as u8 as f64,
        J::String(s) => match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            other => bail!("bad number `{other}`"),
        },
        other => bail!("bad number `{other}`"),
    })
}

fn tensor(j: &J) -> Result<Tensor> {
    let shape = j["shape"]
        .as_array()
        .context("tensor without shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).context("bad dim"))
        .collect::<Result<_>>()?;
    let dtype: DType = j["dtype"]
        .as_str()
        .context("tensor without dtype")?
        .parse()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let data = j["data"]
        .as_array()
        .context("tensor without data")?
        .iter()
        .map(num)
        .collect::<Result<_>>()?;
    Ok(Tensor::new(shape, dtype, data))
}

/// An argument of the case encoding; its tensors are appended to `env` as graph inputs.
fn arg(j: &J, env: &mut Vec<Value>) -> Result<Arg> {
    Ok(match j {
        J::Null => Arg::None,
        J::Bool(b) => Arg::Bool(*b),
        J::Number(n) if n.is_i64() => Arg::Int(n.as_i64().unwrap_or_default()),
        J::Number(n) => Arg::Float(n.as_f64().unwrap_or_default()),
        J::String(s) => Arg::Str(s.clone()),
        J::Array(items) => Arg::List(items.iter().map(|x| arg(x, env)).collect::<Result<_>>()?),
        J::Object(o) => {
            let (k, v) = o.iter().next().context("empty object")?;
            match k.as_str() {
                "tensor" => {
                    env.push(Value::Tensor(tensor(v)?));
                    Arg::Node(NodeId(env.len() as u32 - 1))
                }
                "float" => Arg::Float(num(v)?),
                "dtype" => Arg::Dtype(
                    v.as_str()
                        .context("bad dtype")?
                        .parse()
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                ),
                "device" => Arg::Device(v.as_str().context("bad device")?.into()),
                "layout" => Arg::Layout(v.as_str().context("bad layout")?.into()),
                "memory_format" => Arg::MemoryFormat(v.as_str().context("bad format")?.into()),
                other => bail!("unknown tag `{other}`"),
            }
        }
    })
}

fn enc_num(x: f64) -> J {
    if x.is_nan() {
        json!("nan")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(x)
    }
}

fn enc_tensor(t: &Tensor) -> J {
    json!({"shape": t.shape, "dtype": t.dtype.name(),
           "data": t.data.iter().map(|&x| enc_num(x)).collect::<Vec<_>>()})
}

/// The canonical variants of a case: itself, each optional non-tensor argument `None` (a full
/// reduction, no dtype), `keepdim` flipped, a one-element tensor argument as a Python number
/// and a number as a 0-d tensor (appended to `env`): what picks one overload over another.
fn variants(
    table: &OpTable,
    op: fxsat::ops::Op,
    canon: &[Arg],
    env: &mut Vec<Value>,
) -> Vec<Vec<Arg>> {
    use fxsat::ops::schema::ParamType;
    let mut out = vec![canon.to_vec()];
    for (i, p) in table.def(op).params.iter().enumerate() {
        let mut v = canon.to_vec();
        match (&canon[i], p.ty) {
            (Arg::Node(_), ParamType::Tensor) => continue,
            (
                lit @ (Arg::Float(_) | Arg::Int(_) | Arg::Bool(_)),
                ParamType::Tensor | ParamType::Scalar,
            ) => {
                let (x, dtype) = match lit {
                    Arg::Float(x) => (*x, DType::F32),
                    Arg::Int(x) => (*x as f64, DType::I64),
                    Arg::Bool(b) => (*b as u8 as f64, DType::Bool),
                    _ => continue,
                };
                env.push(Value::Tensor(Tensor::scalar(x, dtype)));
                v[i] = Arg::Node(NodeId(env.len() as u32 - 1));
            }
            (_, ParamType::Tensor | ParamType::TensorList) => continue,
            (Arg::Bool(b), _) if p.name == "keepdim" => v[i] = Arg::Bool(!b),
            (Arg::None | Arg::Bool(_), _) => continue,
            _ if p.optional => v[i] = Arg::None,
            _ => continue,
        }
        if !out.contains(&v) {
            out.push(v);
        }
    }
    // Tensor arguments of a pointwise op as Python numbers (their first element), any subset
    // that leaves a tensor: the `.Scalar`, `.ScalarSelf`, ... overloads.
    let nodes: Vec<usize> = table
        .def(op)
        .params
        .iter()
        .enumerate()
        .filter(|(i, p)| p.ty == ParamType::Tensor && matches!(canon[*i], Arg::Node(_)))
        .map(|(i, _)| i)
        .collect();
    let pointwise = matches!(table.def(op).class, OpClass::Pointwise { .. });
    if pointwise && nodes.len() >= 2 && nodes.len() <= 4 {
        for mask in 1..(1u32 << nodes.len()) - 1 {
            let mut v = canon.to_vec();
            for (k, &i) in nodes.iter().enumerate() {
                if mask & (1 << k) == 0 {
                    continue;
                }
                let Arg::Node(n) = canon[i] else { continue };
                let Value::Tensor(t) = &env[n.index()] else {
                    continue;
                };
                let Some(&x) = t.data.first() else { continue };
                v[i] = if t.dtype == DType::Bool {
                    Arg::Bool(x != 0.0)
                } else if t.dtype.is_float() {
                    Arg::Float(x)
                } else {
                    Arg::Int(x as i64)
                };
            }
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// One case graph: a placeholder per input, the call, getitems of a tuple result; the output
/// holds every tensor result (indices into the result returned).
fn case_graph(
    name: &str,
    env: &[Value],
    lowered: &Lowered,
    result: &Value,
) -> (Graph, Vec<Option<usize>>) {
    let mut nodes: Vec<Node> = env
        .iter()
        .enumerate()
        .map(|(i, v)| Node {
            name: format!("arg{i}"),
            kind: NodeKind::Placeholder,
            val: v.meta().to_val(),
        })
        .collect();
    let call = NodeId(nodes.len() as u32);
    nodes.push(Node {
        name: "call".into(),
        kind: NodeKind::Call {
            target: lowered.0.clone(),
            args: lowered.1.clone(),
            kwargs: lowered.2.clone(),
        },
        val: result.meta().to_val(),
    });
    let mut outputs = Vec::new();
    let mut which = Vec::new();
    match result {
        Value::Tuple(items) => {
            for (i, v) in items.iter().enumerate() {
                if !matches!(v, Value::Tensor(_)) {
                    continue;
                }
                outputs.push(Some(NodeId(nodes.len() as u32)));
                which.push(Some(i));
                nodes.push(Node {
                    name: format!("getitem_{i}"),
                    kind: NodeKind::Call {
                        target: "getitem".into(),
                        args: vec![Arg::Node(call), Arg::Int(i as i64)],
                        kwargs: Vec::new(),
                    },
                    val: v.meta().to_val(),
                });
            }
        }
        _ => {
            outputs.push(Some(call));
            which.push(None);
        }
    }
    let g = Graph {
        name: name.into(),
        kind: GraphKind::Forward,
        num_fwd_outputs: None,
        nodes,
        outputs,
    };
    (g, which)
}

/// Writes the cases of `cases_file` under `out` (graphs `NNNN.json` and `manifest.json`).
pub fn run(cases_file: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(cases_file)
        .with_context(|| format!("reading {}", cases_file.display()))?;
    let doc: J = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", cases_file.display()))?;
    let cases = doc["cases"]
        .as_array()
        .with_context(|| format!("{}: no `cases` list", cases_file.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let t = table();
    let mut manifest = Vec::new();
    let mut seen = BTreeSet::new();
    let mut covered: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let (mut skipped, mut inexpressible) = (0usize, 0usize);
    for (ci, c) in cases.iter().enumerate() {
        let what = || format!("{}: case {ci}", cases_file.display());
        let target = c["target"].as_str().with_context(what)?;
        let Some((op, ov)) = t.by_target(target) else {
            continue;
        };
        let def = t.def(op);
        if RANDOM.contains(&def.name) {
            continue;
        }
        let mut env = Vec::new();
        let args = c["args"]
            .as_array()
            .with_context(what)?
            .iter()
            .map(|a| arg(a, &mut env))
            .collect::<Result<Vec<_>>>()
            .with_context(what)?;
        let kwargs = match c["kwargs"].as_object() {
            Some(o) => o
                .iter()
                .map(|(k, v)| Ok((k.clone(), arg(v, &mut env)?)))
                .collect::<Result<Vec<_>>>()
                .with_context(what)?,
            None => Vec::new(),
        };
        let Ok(canon) = t.canonical_args(op, ov, &args, &kwargs) else {
            continue;
        };
        for v in variants(t, op, &canon, &mut env) {
            let Ok(vals) = v
                .iter()
                .map(|a| to_value(a, &env))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            let Ok(result) = eval_op(op, &vals) else {
                skipped += 1;
                continue;
            };
            let mut lowerings: Vec<(Lowered, bool)> = def
                .overloads
                .iter()
                .filter_map(|o| OpTable::lower_with(def, o, &v, true))
                .map(|l| (l, true))
                .collect();
            match t.lower_overload(op, &v) {
                Ok(l) => lowerings.push((l, false)),
                Err(_) => inexpressible += 1,
            }
            for (l, strict) in lowerings {
                let key = format!("{ci} {:?}", l);
                if !seen.insert(key) {
                    continue;
                }
                let id = manifest.len();
                let file = format!("{id:04}.json");
                let (g, which) = case_graph(&format!("{} {}", def.name, l.0), &env, &l, &result);
                fxsat::io::write_file(&g, &out.join(&file))?;
                let outs: Vec<J> = which
                    .iter()
                    .map(|w| match (w, &result) {
                        (Some(i), Value::Tuple(items)) => match &items[*i] {
                            Value::Tensor(t) => enc_tensor(t),
                            _ => J::Null,
                        },
                        (_, Value::Tensor(t)) => enc_tensor(t),
                        _ => J::Null,
                    })
                    .collect();
                let inputs: Vec<J> = env
                    .iter()
                    .map(|v| match v {
                        Value::Tensor(t) => enc_tensor(t),
                        _ => J::Null,
                    })
                    .collect();
                let e = covered.entry(l.0.clone()).or_insert((def.name.into(), 0));
                e.1 += 1;
                manifest.push(json!({
                    "graph": file, "op": def.name, "target": l.0,
                    "call": format!("{}(args={:?}, kwargs={:?})", l.0, l.1, l.2),
                    "from": target, "note": c["note"], "strict": strict,
                    "inputs": inputs, "outputs": outs,
                }));
            }
        }
    }
    let mut uncovered = Vec::new();
    for (_, def) in t.ops() {
        for o in &def.overloads {
            if covered.contains_key(&o.target) {
                continue;
            }
            let why = if UNINITIALIZED.contains(&def.name) {
                "uninitialized values: nothing to compare".to_string()
            } else if CUDA_ONLY.contains(&def.name) {
                "CUDA-only kernel: no CPU implementation to run here".to_string()
            } else if def.class == OpClass::Phantom {
                "phantom op: a rewriting handle with no aten lowering, never extracted".to_string()
            } else if RANDOM.contains(&def.name) {
                "random op: the interpreter's draws are not PyTorch's".to_string()
            } else {
                format!(
                    "no case of {} reaches it (add one to python/fixtures/gen_op_cases.py)",
                    cases_file.display()
                )
            };
            uncovered.push(json!({"op": def.name, "target": o.target, "why": why}));
        }
    }
    let covered: Vec<J> = covered
        .iter()
        .map(|(target, (op, n))| json!({"op": op, "target": target, "cases": n}))
        .collect();
    log::info!(
        "{} lowering cases, {} (op, overload) pairs covered, {} not, {} variants the interpreter refused",
        manifest.len(),
        covered.len(),
        uncovered.len(),
        skipped
    );
    let m = json!({"cases": manifest, "covered": covered, "uncovered": uncovered,
                   "inexpressible": inexpressible});
    let path = out.join("manifest.json");
    std::fs::write(&path, serde_json::to_string(&m)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
