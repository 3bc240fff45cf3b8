//! The op table: for every op fxsat understands, one entry ([`OpDef`]) with its canonical
//! name, its aten overloads and their signatures, its shape/dtype rule, its cost class, its
//! reference evaluation and its flags.
//!
//! Everything about an op lives in one family file (`view.rs`, `pointwise.rs`, ...), so adding
//! an op touches one place: `pointwise.rs` registers `add` with its overloads, shape rule, cost
//! class and kernel together; the numeric kernels are in `eval/`, one file per family too.
//! Import maps an aten call onto the canonical op's parameter list by the overload's
//! signature; export picks the overload that expresses the canonical call with the fewest
//! arguments (see [`OpTable::lower_overload`]). The random ops are not in the table (they stay
//! opaque); their one list is [`RANDOM_OPS`].
//!
//! ```
//! use fxsat::interp::Tensor;
//! use fxsat::ir::DType;
//! use fxsat::ops::{eval_op, table, Value};
//! let t = table();
//! let (op, _) = t.by_target("aten._unsafe_view.default").unwrap();
//! assert_eq!(t.def(op).name, "view");
//! assert!(t.def(op).is_view());
//! // Reference evaluation goes through the entry's eval fn: x + 2·3 (`add`'s alpha is 2).
//! let add = t.by_name("add").unwrap();
//! let x = Value::Tensor(Tensor::new(vec![2], DType::F32, vec![1.0, 2.0]));
//! let out = eval_op(add, &[x, Value::Int(3), Value::Int(2)]).unwrap();
//! assert_eq!(out.tensor().unwrap().data, vec![7.0, 8.0]);
//! ```

pub mod meta;
pub mod schema;

mod attention;
pub(crate) use attention::scores_shape;
pub(crate) mod eval;
mod factory;
mod index;
pub mod lower;
pub mod lower_matmul;
mod matmul;
mod pointwise;
pub mod random;
mod reduce;
mod view;

use crate::ir::Arg;
pub use eval::{eval_op, EvalFn, Value};
pub use meta::{InferResult, Meta, TMeta};
pub use pointwise::{broadcast, result_type};
pub use random::{has_effects, is_mutating, is_random, RANDOM_OPS};
use schema::{parse_params, Param};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
pub(crate) use view::{permutation, slice_bounds};

/// An op of the e-graph language: an index into the op table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op(pub u16);

impl Op {
    /// A graph input: `(input <index>)`.
    pub const INPUT: Op = Op(0);
    /// An opaque call: `(opaque <index> tensor-args...)`; never rewritten, exported as it was.
    pub const OPAQUE: Op = Op(1);
    /// A list: `(list a b ...)`.
    pub const LIST: Op = Op(2);
    /// `None`: `(none)`.
    pub const NONE: Op = Op(3);
    /// Element of a tuple: `(getitem t <index>)`.
    pub const GETITEM: Op = Op(4);

    /// The op's definition.
    pub fn def(self) -> &'static OpDef {
        table().def(self)
    }

    /// The op's canonical name.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an op is costed: the cost model (a layer above) turns the class and the shapes into
/// work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpClass {
    /// Inputs, attributes, lists: free.
    Free,
    /// A view or metadata-only op: free.
    View,
    /// Elementwise; `flops` per output element.
    Pointwise {
        /// flops per output element.
        flops: f64,
    },
    /// A reduction over its input.
    Reduction,
    /// A matrix multiply (flops computed by the cost model from the shapes).
    Matmul,
    /// Fused attention: two matmuls and a softmax, reading q, k, v (and a mask) once.
    Attention,
    /// Fused attention backward: its q, k, v are arguments 1..4; about 2.5× the forward's
    /// flops (it recomputes the weights).
    AttentionBackward,
    /// A rewriting handle with no aten lowering (e.g. `attention_weights`): never extracted.
    Phantom,
    /// Writes its output without reading tensors (full, iota, ...).
    Factory,
    /// Data movement: gather, scatter, cat, copies.
    Copy,
}

/// An aten call: target, positional args, keyword args.
pub type Lowered = (String, Vec<Arg>, Vec<(String, Arg)>);

/// Shape/dtype rule of an op.
pub type InferFn = Box<dyn Fn(&[Meta]) -> InferResult + Send + Sync>;

/// One aten overload of an op.
#[derive(Debug)]
pub struct Overload {
    /// `aten.sum.dim_IntList`.
    pub target: String,
    /// Its parameters.
    pub params: Vec<Param>,
    /// For each of its parameters, the index of the canonical parameter it fills.
    pub to_canonical: Vec<usize>,
}

/// Everything about one op.
pub struct OpDef {
    /// Canonical name used in rules.
    pub name: &'static str,
    /// Canonical parameters: the op's e-node children, in order.
    pub params: Vec<Param>,
    /// Aten overloads, in export preference order.
    pub overloads: Vec<Overload>,
    /// Shape/dtype rule over the children's metas.
    pub infer: InferFn,
    /// Cost class.
    pub class: OpClass,
    /// Variadic special op (list, opaque): any number of children.
    pub variadic: bool,
    /// Reference evaluation (PyTorch's semantics in `f64`), `None` for the special ops, which
    /// the interpreter handles itself. See [`eval_op`].
    pub eval: Option<EvalFn>,
}

impl OpDef {
    /// Sets the entry's reference evaluation (registration: `t.def_op(...).eval(kernel)`).
    pub(crate) fn eval(
        &mut self,
        f: impl Fn(&[Value], &Meta) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut OpDef {
        self.eval = Some(Box::new(f));
        self
    }

    /// Whether the op is a view or metadata-only op (its result aliases its first input).
    pub fn is_view(&self) -> bool {
        self.class == OpClass::View
    }
}

impl fmt::Debug for OpDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpDef").field("name", &self.name).finish()
    }
}

/// The op table.
#[derive(Debug)]
pub struct OpTable {
    defs: Vec<OpDef>,
    by_name: HashMap<&'static str, Op>,
    by_target: HashMap<String, (Op, usize)>,
}

/// The global op table.
pub fn table() -> &'static OpTable {
    static TABLE: OnceLock<OpTable> = OnceLock::new();
    TABLE.get_or_init(OpTable::build)
}

impl OpTable {
    fn build() -> OpTable {
        let mut t = OpTable {
            defs: Vec::new(),
            by_name: HashMap::new(),
            by_target: HashMap::new(),
        };
        let special = |name: &'static str, variadic: bool| OpDef {
            name,
            params: Vec::new(),
            overloads: Vec::new(),
            infer: Box::new(|_| Err("special op: typed by the analysis".into())),
            class: OpClass::Free,
            variadic,
            eval: None,
        };
        for (name, variadic) in [
            ("input", true),
            ("opaque", true),
            ("list", true),
            ("none", false),
            ("getitem", true),
        ] {
            t.push(special(name, variadic));
        }
        view::register(&mut t);
        pointwise::register(&mut t);
        reduce::register(&mut t);
        matmul::register(&mut t);
        factory::register(&mut t);
        index::register(&mut t);
        attention::register(&mut t);
        t
    }

    fn push(&mut self, def: OpDef) -> &mut OpDef {
        let op = Op(self.defs.len() as u16);
        assert!(
            self.by_name.insert(def.name, op).is_none(),
            "op `{}` defined twice",
            def.name
        );
        for (i, o) in def.overloads.iter().enumerate() {
            assert!(
                self.by_target.insert(o.target.clone(), (op, i)).is_none(),
                "target `{}` mapped twice",
                o.target
            );
        }
        self.defs.push(def);
        self.defs.last_mut().expect("just pushed")
    }

    /// Registers an op. `overloads` are `(target, signature)` pairs; the first one's parameters
    /// are the canonical ones unless `canonical` is given. Returns the entry, for its eval fn
    /// ([`OpDef::eval`]). Panics on a malformed signature (the table is static data; a test
    /// builds it).
    pub(crate) fn def_op(
        &mut self,
        name: &'static str,
        class: OpClass,
        canonical: Option<&str>,
        overloads: &[(&str, &str)],
        infer: impl Fn(&[Meta]) -> InferResult + Send + Sync + 'static,
    ) -> &mut OpDef {
        let parse = |sig: &str| {
            parse_params(sig).unwrap_or_else(|e| panic!("op `{name}`: signature `{sig}`: {e}"))
        };
        let params = parse(canonical.unwrap_or(overloads.first().map(|o| o.1).unwrap_or("()")));
        let overloads = overloads
            .iter()
            .map(|(target, sig)| {
                let ps = parse(sig);
                let to_canonical = ps
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        params
                            .iter()
                            .position(|c| c.name == p.name)
                            .or((i < params.len()).then_some(i))
                            .unwrap_or_else(|| {
                                panic!(
                                    "op `{name}`: `{target}` parameter `{}` has no canonical place",
                                    p.name
                                )
                            })
                    })
                    .collect();
                Overload {
                    target: target.to_string(),
                    params: ps,
                    to_canonical,
                }
            })
            .collect();
        self.push(OpDef {
            name,
            params,
            overloads,
            infer: Box::new(infer),
            class,
            variadic: false,
            eval: None,
        })
    }

    /// The definition of an op.
    pub fn def_of(&self, op: Op) -> &OpDef {
        &self.defs[op.0 as usize]
    }

    /// The definition of an op (same as [`OpTable::def_of`]).
    pub fn def(&self, op: Op) -> &OpDef {
        &self.defs[op.0 as usize]
    }

    /// The op with this canonical name.
    pub fn by_name(&self, name: &str) -> Option<Op> {
        self.by_name.get(name).copied()
    }

    /// The op and overload index of an aten target.
    pub fn by_target(&self, target: &str) -> Option<(Op, usize)> {
        self.by_target.get(target).copied()
    }

    /// All ops, in table order.
    pub fn ops(&self) -> impl Iterator<Item = (Op, &OpDef)> {
        self.defs.iter().enumerate().map(|(i, d)| (Op(i as u16), d))
    }

    /// Maps a call's positional and keyword args onto the op's canonical parameters.
    /// Returns one [`Arg`] per canonical parameter (defaults filled in).
    pub fn canonical_args(
        &self,
        op: Op,
        overload: usize,
        args: &[Arg],
        kwargs: &[(String, Arg)],
    ) -> Result<Vec<Arg>, String> {
        let def = self.def_of(op);
        let ov = &def.overloads[overload];
        let positional: Vec<&Param> = ov.params.iter().filter(|p| !p.kw_only).collect();
        if args.len() > positional.len() {
            return Err(format!(
                "{} takes {} positional arguments, got {}",
                ov.target,
                positional.len(),
                args.len()
            ));
        }
        let mut filled: Vec<Option<Arg>> = vec![None; ov.params.len()];
        for (i, a) in args.iter().enumerate() {
            filled[i] = Some(a.clone());
        }
        for (k, v) in kwargs {
            let i = ov
                .params
                .iter()
                .position(|p| &p.name == k)
                .ok_or_else(|| format!("{} has no parameter `{k}`", ov.target))?;
            if filled[i].is_some() {
                return Err(format!("{}: parameter `{k}` given twice", ov.target));
            }
            filled[i] = Some(v.clone());
        }
        let mut out: Vec<Arg> = def
            .params
            .iter()
            .map(|p| p.default.clone().unwrap_or(Arg::None))
            .collect();
        for (i, p) in ov.params.iter().enumerate() {
            let v = match filled[i].take().or_else(|| p.default.clone()) {
                Some(v) => v,
                None if p.optional => Arg::None,
                None => return Err(format!("{}: missing argument `{}`", ov.target, p.name)),
            };
            check_type(p, &v).map_err(|m| format!("{}: argument `{}`: {m}", ov.target, p.name))?;
            out[ov.to_canonical[i]] = coerce(&def.params[ov.to_canonical[i]], v);
        }
        Ok(out)
    }

    /// Picks the overload that expresses `canonical` args and returns its target, positional
    /// args and keyword args (non-default keyword-only parameters only).
    pub fn lower_overload(&self, op: Op, canonical: &[Arg]) -> Result<Lowered, String> {
        let def = self.def_of(op);
        for strict in [true, false] {
            if let Some(r) = self.try_lower(def, canonical, strict) {
                return Ok(r);
            }
        }
        Err(format!(
            "no aten overload of `{}` can express these arguments",
            def.name
        ))
    }

    /// The overload that expresses `canonical` most directly: among those that can express it
    /// (see [`OpTable::lower_with`]), the one that emits the fewest arguments, ties going to
    /// table order. A full reduction thus becomes `aten.sum.default(x)`, as PyTorch traces
    /// `x.sum()`, not `aten.sum.dim_IntList(x, None)`. `strict` also requires Tensor
    /// parameters to receive nodes and non-Tensor parameters to receive literals.
    fn try_lower(&self, def: &OpDef, canonical: &[Arg], strict: bool) -> Option<Lowered> {
        let mut best: Option<Lowered> = None;
        for ov in &def.overloads {
            if let Some(l) = Self::lower_with(def, ov, canonical, strict) {
                let n = |l: &Lowered| l.1.len() + l.2.len();
                if best.as_ref().map_or(true, |b| n(&l) < n(b)) {
                    best = Some(l);
                }
            }
        }
        best
    }

    /// Lowers `canonical` to overload `ov`, or `None` where `ov` cannot express it: a
    /// non-default canonical argument it has no parameter for, `None` for a non-optional
    /// parameter, or a list of several ints for an `int`. A parameter without a default in the
    /// schema is required by PyTorch even when it is optional (`int[1]? dim`): it is always
    /// emitted, as `None` if need be.
    pub fn lower_with(
        def: &OpDef,
        ov: &Overload,
        canonical: &[Arg],
        strict: bool,
    ) -> Option<Lowered> {
        if strict {
            for (i, p) in ov.params.iter().enumerate() {
                let arg = &canonical[ov.to_canonical[i]];
                let is_node = matches!(arg, Arg::Node(_));
                let wants_node = p.ty == schema::ParamType::Tensor;
                if is_node != wants_node
                    && !(p.optional && matches!(arg, Arg::None))
                    && !(wants_node && wraps_numbers(&ov.target) && is_number(arg))
                {
                    return None;
                }
            }
        }
        for (ci, cp) in def.params.iter().enumerate() {
            let is_default = cp
                .default
                .as_ref()
                .map_or(matches!(canonical[ci], Arg::None), |d| *d == canonical[ci]);
            if !is_default && !ov.to_canonical.contains(&ci) {
                return None;
            }
        }
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        let mut pending_defaults = Vec::new();
        for (i, p) in ov.params.iter().enumerate() {
            let v = uncoerce(p, canonical[ov.to_canonical[i]].clone());
            if !fits(&ov.target, p, &v) {
                return None;
            }
            let is_default = p.default.as_ref().is_some_and(|d| *d == v);
            if p.kw_only {
                if !is_default {
                    kwargs.push((p.name.clone(), v));
                }
            } else if is_default {
                pending_defaults.push(v);
            } else {
                args.append(&mut pending_defaults);
                args.push(v);
            }
        }
        Some((ov.target.clone(), args, kwargs))
    }
}

/// Whether PyTorch accepts `v` for parameter `p` of `target` (as far as the kind of value
/// goes): `None` only where optional, a single int (not a list) for an `int`, never a tensor
/// for a number, and a Python number for a `Tensor` only where PyTorch wraps it (the
/// arithmetic ops and prims; `aten.maximum.default(x, 0.5)` is refused). Checked by
/// `python/tests/test_lowering_conformance.py`.
fn fits(target: &str, p: &Param, v: &Arg) -> bool {
    use schema::ParamType as T;
    let number = is_number(v);
    match (p.ty, v) {
        (_, Arg::None) => p.optional,
        (T::Int, Arg::List(_)) => false,
        (T::Scalar | T::Float | T::Bool, Arg::Node(_)) => false,
        (T::Tensor, _) if number => numbers_as_tensors(target),
        _ => true,
    }
}

/// Targets whose `Tensor` parameters accept a Python number (PyTorch's own allowlist of
/// ops that wrap numbers, as far as the op table goes, and prims).
fn numbers_as_tensors(target: &str) -> bool {
    let mut parts = target.split('.');
    match (parts.next(), parts.next()) {
        (Some("prims"), _) => true,
        (Some("aten"), Some(name)) => matches!(name, "add" | "sub" | "mul" | "div"),
        _ => false,
    }
}

/// The arithmetic overloads whose `Tensor` operand PyTorch's tracing fills with a Python
/// number (`x * 0.5` is `aten.mul.Tensor(x, 0.5)`, never `aten.mul.Scalar`): they express such
/// a call strictly, and, first in table order, are the ones emitted, as in the graphs
/// AOTAutograd writes and Inductor's pattern matcher expects.
fn wraps_numbers(target: &str) -> bool {
    target.starts_with("aten.") && target.ends_with(".Tensor") && numbers_as_tensors(target)
}

fn is_number(v: &Arg) -> bool {
    matches!(v, Arg::Float(_) | Arg::Int(_) | Arg::Bool(_))
}

/// Import-side coercion: an int where an int list is expected becomes a one-element list.
/// Whether `v` can be an argument of type `p.ty` (as PyTorch's schema would accept it: a number
/// where a tensor is expected is a wrapped scalar, a bool is an int, an int a float).
fn check_type(p: &Param, v: &Arg) -> Result<(), String> {
    use schema::ParamType as T;
    let int = |v: &Arg| matches!(v, Arg::Int(_) | Arg::Bool(_));
    let ok = match (p.ty, v) {
        (_, Arg::None) => true,
        (T::Tensor, v) => matches!(v, Arg::Node(_)) || is_number(v),
        (T::TensorList | T::BoolList, v) => matches!(v, Arg::List(_)),
        (T::Int, v) => int(v),
        (T::IntList, Arg::List(items)) => items.iter().all(int),
        (T::IntList, v) => int(v),
        (T::Float | T::Scalar, v) => is_number(v),
        (T::Bool, v) => int(v),
        (T::ScalarType, v) => matches!(v, Arg::Dtype(_) | Arg::Int(_)),
        (T::Layout, v) => matches!(v, Arg::Layout(_) | Arg::Int(_)),
        (T::Device, v) => matches!(v, Arg::Device(_) | Arg::Str(_)),
        (T::MemoryFormat, v) => matches!(v, Arg::MemoryFormat(_) | Arg::Int(_)),
        (T::Str, v) => matches!(v, Arg::Str(_)),
        (T::Generator, _) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {v:?}", p.ty))
    }
}

fn coerce(p: &Param, v: Arg) -> Arg {
    match (p.ty, v) {
        (schema::ParamType::IntList, Arg::Int(i)) => Arg::List(vec![Arg::Int(i)]),
        (_, v) => v,
    }
}

/// Export-side coercion: a one-element list where an int is expected becomes the int.
fn uncoerce(p: &Param, v: Arg) -> Arg {
    match (p.ty, v) {
        (schema::ParamType::Int, Arg::List(items)) if items.len() == 1 => {
            items.into_iter().next().unwrap()
        }
        (_, v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_op_has_a_reference_evaluation() {
        for (op, def) in table().ops() {
            let special = [Op::INPUT, Op::OPAQUE, Op::LIST, Op::NONE, Op::GETITEM].contains(&op);
            assert_eq!(def.eval.is_none(), special, "{}", def.name);
        }
    }

    #[test]
    fn table_builds_and_targets_round_trip() {
        let t = table();
        for (op, def) in t.ops() {
            for (i, ov) in def.overloads.iter().enumerate() {
                assert_eq!(t.by_target(&ov.target), Some((op, i)));
            }
            assert_eq!(t.by_name(def.name), Some(op));
        }
    }

    #[test]
    fn sum_maps_kwargs_and_lowers_back() {
        let t = table();
        let (op, ov) = t.by_target("aten.sum.dim_IntList").unwrap();
        let canon = t
            .canonical_args(
                op,
                ov,
                &[Arg::Node(crate::ir::NodeId(0)), Arg::Int(-1)],
                &[("keepdim".into(), Arg::Bool(true))],
            )
            .unwrap();
        assert_eq!(canon[1], Arg::List(vec![Arg::Int(-1)]));
        let (target, args, kwargs) = t.lower_overload(op, &canon).unwrap();
        assert_eq!(target, "aten.sum.dim_IntList");
        assert_eq!(args.len(), 3);
        assert!(kwargs.is_empty());
    }

    fn node() -> Arg {
        Arg::Node(crate::ir::NodeId(0))
    }

    fn lower(target: &str, args: &[Arg], kwargs: &[(&str, Arg)]) -> Lowered {
        let t = table();
        let (op, ov) = t.by_target(target).unwrap();
        let kwargs: Vec<(String, Arg)> = kwargs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let canon = t.canonical_args(op, ov, args, &kwargs).unwrap();
        t.lower_overload(op, &canon).unwrap()
    }

    #[test]
    fn full_reductions_lower_to_the_default_overload() {
        // `x.sum()` / `x.mean()` as PyTorch traces them, and the same via dim=None.
        for (target, want) in [
            ("aten.sum.default", "aten.sum.default"),
            ("aten.mean.default", "aten.mean.default"),
            ("aten.sum.dim_IntList", "aten.sum.default"),
            ("aten.mean.dim", "aten.mean.default"),
            ("aten.prod.default", "aten.prod.default"),
        ] {
            let args = if target.ends_with(".default") {
                vec![node()]
            } else {
                vec![node(), Arg::None]
            };
            let (t, args, kwargs) = lower(target, &args, &[]);
            assert_eq!(
                (t.as_str(), args.len(), kwargs.len()),
                (want, 1, 0),
                "{target}"
            );
        }
    }

    #[test]
    fn a_required_optional_parameter_is_emitted_as_none() {
        // keepdim=True forces the dim overload: `dim` has no default, so it is emitted.
        let (t, args, _) = lower("aten.mean.dim", &[node(), Arg::None, Arg::Bool(true)], &[]);
        assert_eq!(t, "aten.mean.dim");
        assert_eq!(args, vec![node(), Arg::None, Arg::Bool(true)]);
        // A dtype alone fits `sum.default`'s keyword.
        let (t, args, kwargs) = lower(
            "aten.sum.dim_IntList",
            &[node(), Arg::None],
            &[("dtype", Arg::Dtype(crate::ir::DType::F64))],
        );
        assert_eq!((t.as_str(), args.len()), ("aten.sum.default", 1));
        assert_eq!(
            kwargs,
            vec![("dtype".into(), Arg::Dtype(crate::ir::DType::F64))]
        );
        // div with a rounding mode keeps its required keyword.
        let (t, _, kwargs) = lower(
            "aten.div.Tensor_mode",
            &[node(), node()],
            &[("rounding_mode", Arg::Str("floor".into()))],
        );
        assert_eq!(t, "aten.div.Tensor_mode");
        assert_eq!(kwargs.len(), 1);
    }

    #[test]
    fn an_int_parameter_takes_neither_none_nor_several_dims() {
        let (t, args, _) = lower(
            "aten.prod.dim_int",
            &[node(), Arg::Int(1), Arg::Bool(true)],
            &[],
        );
        assert_eq!((t.as_str(), args.len()), ("aten.prod.dim_int", 3));
        let t2 = table();
        let op = t2.by_name("prod").unwrap();
        let canon = vec![
            node(),
            Arg::List(vec![Arg::Int(0), Arg::Int(1)]),
            Arg::Bool(false),
            Arg::None,
        ];
        assert!(t2.lower_overload(op, &canon).is_err());
    }

    #[test]
    fn numbers_and_tensors_go_only_where_pytorch_takes_them() {
        let t = table();
        // maximum has no Scalar overload: a literal `other` cannot be lowered.
        let op = t.by_name("maximum").unwrap();
        assert!(t.lower_overload(op, &[node(), Arg::Float(0.5)]).is_err());
        // add.Tensor wraps a number (PyTorch does), but not a tensor `alpha`.
        let op = t.by_name("add").unwrap();
        let (target, args, _) = t
            .lower_overload(op, &[Arg::Float(0.5), node(), Arg::Int(1)])
            .unwrap();
        assert_eq!((target.as_str(), args.len()), ("aten.add.Tensor", 2));
        assert!(t.lower_overload(op, &[node(), node(), node()]).is_err());
    }
}
