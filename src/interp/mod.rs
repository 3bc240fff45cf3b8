//! The reference interpreter: PyTorch semantics of every op of the [op table](crate::ops) on
//! small dense tensors, used by the tests and by the rule checker to validate rules.
//!
//! Graphs ([`eval_graph`]), aten calls ([`eval_call`]) and e-graph terms ([`eval_term`]) are
//! evaluated node by node; each op goes through its table entry's eval fn ([`eval_op`]), whose
//! kernels are in `ops/eval/`. Values are computed in `f64` and rounded to the result dtype
//! that the op table's shape rule gives (f16 and bf16 are emulated by rounding; see
//! [`round_to`]). Tensor operands of pointwise ops are first converted to the promoted dtype,
//! as PyTorch does. Views are copies. What cannot be evaluated (opaque calls, `dropout_p > 0`
//! without given draws) returns an error naming the op.
//!
//! ```
//! use fxsat::interp::{eval_term, Tensor, Value};
//! use fxsat::ir::DType;
//! let e = "(sum (permute (input 0) (list 1 0)) (list 1) false (none))".parse().unwrap();
//! let x = Tensor::new(vec![2, 3], DType::F32, (0..6).map(f64::from).collect());
//! let out = eval_term(&e, &[Value::Tensor(x)]).unwrap();
//! assert_eq!(out.tensor().unwrap().data, vec![3.0, 5.0, 7.0]);
//! ```

mod compare;

pub use crate::ops::eval::{
    broadcast_shapes, eval_op, round_to, strides, unravel, with_dropout_uniform,
    with_kernel_target, Tensor, Value,
};
pub use compare::{compare, compare_refining, compare_rule, tolerance};

use crate::egraph::Lang;
use crate::ir::{Arg, Graph, NodeKind};
use crate::ops::{table, Op};
use egg::RecExpr;

/// Evaluates a call of an aten `target` (`getitem` included). `Arg::Node(i)` in the
/// arguments stands for `env[i]`.
pub fn eval_call(
    target: &str,
    args: &[Arg],
    kwargs: &[(String, Arg)],
    env: &[Value],
) -> Result<Value, String> {
    if target == "getitem" {
        return match args {
            [a, Arg::Int(i)] => getitem(&to_value(a, env)?, *i),
            _ => Err("getitem takes a value and an int index".into()),
        };
    }
    let (op, ov) = table()
        .by_target(target)
        .ok_or_else(|| format!("`{target}` is not in the op table"))?;
    let canon = table().canonical_args(op, ov, args, kwargs)?;
    let vals = canon
        .iter()
        .map(|a| to_value(a, env))
        .collect::<Result<Vec<_>, _>>()?;
    eval_op(op, &vals)
}

/// An argument as a value.
pub fn to_value(a: &Arg, env: &[Value]) -> Result<Value, String> {
    Ok(match a {
        Arg::None => Value::None,
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Int(i) => Value::Int(*i),
        Arg::Float(x) => Value::Float(*x),
        Arg::Str(s) => Value::Attr(format!("str:{s}")),
        Arg::Device(s) => Value::Attr(format!("device:{s}")),
        Arg::Layout(s) => Value::Attr(format!("layout:{s}")),
        Arg::MemoryFormat(s) => Value::Attr(format!("memfmt:{s}")),
        Arg::Dtype(d) => Value::Dtype(*d),
        Arg::Node(n) => env
            .get(n.index())
            .cloned()
            .ok_or_else(|| format!("reference to undefined value {}", n.0))?,
        Arg::List(items) => Value::List(
            items
                .iter()
                .map(|x| to_value(x, env))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn getitem(v: &Value, i: i64) -> Result<Value, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => {
            let n = items.len() as i64;
            let k = if i < 0 { i + n } else { i };
            items
                .get(usize::try_from(k).map_err(|_| format!("getitem index {i} out of range"))?)
                .cloned()
                .ok_or_else(|| format!("getitem index {i} out of range for {n} items"))
        }
        other => Err(format!("getitem of a non-tuple {other}")),
    }
}

/// Evaluates a graph on its inputs (placeholders and get_attr nodes, in order). Returns the
/// graph's outputs (`None` entries stay `None`). Errors name the node.
pub fn eval_graph(graph: &Graph, inputs: &[Value]) -> Result<Vec<Option<Value>>, String> {
    let mut env: Vec<Value> = Vec::with_capacity(graph.nodes.len());
    let mut next = inputs.iter();
    for node in &graph.nodes {
        let v = match &node.kind {
            NodeKind::Placeholder | NodeKind::GetAttr(_) => next
                .next()
                .cloned()
                .ok_or_else(|| format!("node `{}`: too few inputs", node.name))?,
            NodeKind::Call {
                target,
                args,
                kwargs,
            } => eval_call(target, args, kwargs, &env)
                .map_err(|e| format!("node `{}` ({target}): {e}", node.name))?,
        };
        env.push(v);
    }
    Ok(graph
        .outputs
        .iter()
        .map(|o| o.map(|n| env[n.index()].clone()))
        .collect())
}

/// Evaluates an e-graph term; `(input i)` is `inputs[i]`.
pub fn eval_term(expr: &RecExpr<Lang>, inputs: &[Value]) -> Result<Value, String> {
    let nodes = expr.as_ref();
    let mut vals: Vec<Value> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let v = match n {
            Lang::Int(i) => Value::Int(*i),
            Lang::Float(x) => Value::Float(x.get()),
            Lang::Bool(b) => Value::Bool(*b),
            Lang::Dtype(d) => Value::Dtype(*d),
            Lang::Attr(a) => Value::Attr(a.to_string()),
            Lang::Call(op, c) => {
                let args: Vec<Value> = c.iter().map(|&i| vals[usize::from(i)].clone()).collect();
                match *op {
                    Op::INPUT => match args.first() {
                        Some(Value::Int(k)) if (*k as usize) < inputs.len() => {
                            inputs[*k as usize].clone()
                        }
                        _ => return Err(format!("input index out of range in {n}")),
                    },
                    Op::OPAQUE => return Err("opaque calls cannot be evaluated".into()),
                    Op::LIST => Value::List(args),
                    Op::NONE => Value::None,
                    Op::GETITEM => match args.as_slice() {
                        [v, Value::Int(i)] => getitem(v, *i)?,
                        _ => return Err("getitem takes a value and an int".into()),
                    },
                    _ => eval_op(*op, &args)?,
                }
            }
        };
        vals.push(v);
    }
    vals.pop().ok_or_else(|| "empty term".into())
}
