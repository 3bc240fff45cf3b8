//! Random instances of a rule's left side.
//!
//! What a pattern variable must be is inferred from where it occurs: the op schema's
//! parameter type at that position (tensor, int list, int, scalar, dtype, ...), the parameter's
//! name (a permute's `dims` is a permutation of the operand's rank, a view's `size` a
//! factorisation of its numel, a `dim` a valid dim, an `index` a valid index, ...), and the
//! rule's conditions (`shape-is ?x ?s` makes `?s` the shape of `?x`, `identity-perm ?p` an
//! identity, `dtype-is`, `none`, `scalar`, `float`, `equal`, `same-shape`, `same-dtype`).
//! Operands are generated before attributes, so attributes can depend on operand shapes.
//! Whatever the hints miss is caught afterwards: an instance whose left side is ill-typed, or
//! whose conditions do not hold, is rejected and another one is drawn.

use super::shrink::Chooser;
use super::term::Term;
use crate::egraph::{Attr, Facts, Lang, F64};
use crate::interp::{Tensor, Value};
use crate::ir::DType;
use crate::ops::schema::ParamType;
use crate::ops::{Meta, Op, TMeta};
use crate::rules::cond::{Draw, DrawCtx, Drawn, Env};
use crate::rules::{Cond, CondArg, Rule};
use crate::target::Target;
use egg::{ENodeOrVar, Id, Var};
use indexmap::IndexMap;
use ordered_float::OrderedFloat;

/// A generated instance: the inputs, each variable's term, and the left side.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Values of `(input i)`.
    pub inputs: Vec<Value>,
    /// Each variable's term (an input, a literal, a list, `none`).
    pub vars: IndexMap<Var, Term>,
    /// The left side.
    pub lhs: Term,
    /// What is known of each input's elements (see [`Facts`]), as drawn.
    pub facts: Vec<Facts>,
    /// The target the conditions see: the rule's `:target`, else drawn when a condition
    /// reads it ([`crate::rules::cond::Condition::sees_target`]), else the CPU.
    pub target: Target,
    /// Whether [`Self::target`] was drawn.
    pub draws_target: bool,
}

impl Instance {
    /// Metas of the inputs.
    pub fn input_metas(&self) -> Vec<Meta> {
        self.inputs.iter().map(Value::meta).collect()
    }

    /// `?x = float32[2, 3]; ?p = [0, 2, 1]`.
    pub fn describe(&self) -> String {
        self.vars
            .iter()
            .map(|(v, t)| format!("{v} = {}", t.meta()))
            .chain(
                self.draws_target
                    .then(|| format!("target = {}", self.target)),
            )
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Where a variable occurs: the op and the parameter.
#[derive(Clone, Copy)]
struct Slot {
    op: &'static str,
    param: &'static str,
    ty: ParamType,
    optional: bool,
}

struct Gen<'a> {
    rng: &'a mut Chooser,
    rule: &'a Rule,
    /// The pattern being built: the left side, or one of its `:with` patterns.
    ast: &'a egg::PatternAst<Lang>,
    /// Whether masks may hide whole rows (not for rules that `:assume no-fully-masked-rows`).
    full_rows: bool,
    inputs: Vec<Value>,
    facts: Vec<Facts>,
    vars: IndexMap<Var, Term>,
    /// The value drawn for a `keep_mask` fill tensor, which its `fill_value` repeats.
    keep_fill: Option<f64>,
    /// The target the case is drawn for.
    target: Target,
}

use crate::rules::cond::FLOATS;

/// Draws one instance of `rule`'s left side; `Err` says why this draw was rejected.
pub fn instance(rule: &Rule, rng: &mut Chooser) -> Result<Instance, String> {
    let targets = possible_targets(rule);
    let draws_target = targets.len() > 1;
    let target = match targets[..] {
        [] => return Err("no target takes the rule's kernel".into()),
        [t] => t,
        _ => (rng as &mut dyn Draw).pick(&targets),
    };
    let mut g = Gen {
        rng,
        rule,
        ast: &rule.lhs.ast,
        full_rows: !rule.assume.iter().any(|a| a == "no-fully-masked-rows"),
        inputs: Vec::new(),
        facts: Vec::new(),
        vars: IndexMap::new(),
        keep_fill: None,
        target,
    };
    let mut lhs = Term::default();
    let root = Id::from(rule.lhs.ast.as_ref().len() - 1);
    g.build(root, None, &mut lhs, None)?;
    if let Meta::Invalid(why) = lhs.meta() {
        return Err(format!("ill-typed left side: {why}"));
    }
    // A multi-pattern rule's `:with` patterns bind more variables: draw them too (their
    // terms must be well-typed, but only the left side is compared with the right side).
    for w in &rule.with {
        g.ast = w;
        let mut t = Term::default();
        g.build(Id::from(w.as_ref().len() - 1), None, &mut t, None)?;
        if let Meta::Invalid(why) = t.meta() {
            return Err(format!("ill-typed `:with` pattern: {why}"));
        }
    }
    let inst = Instance {
        inputs: g.inputs,
        vars: g.vars,
        lhs,
        facts: g.facts,
        target,
        draws_target,
    };
    if let Some(c) = rule.conds.iter().find(|c| !holds(c, &inst)) {
        return Err(format!("condition `{}` does not hold", c.cond.name));
    }
    Ok(inst)
}

/// The targets a case of `rule` may be drawn for: its `:target`; else, when a condition
/// reads the target, those where the conditions that decide by the target alone (no
/// generator: asked with no arguments) hold; else every target where the right side writes
/// an attention call (the kernels it lowers to differ by target, see
/// [`crate::interp::with_kernel_target`]); else the CPU (nothing reads it).
fn possible_targets(rule: &Rule) -> Vec<Target> {
    if let Some(t) = rule.target {
        return vec![t];
    }
    if !rule.conds.iter().any(|c| c.cond.sees_target) {
        if rule.rhs.calls_any(KERNEL_OPS) {
            return vec![Target::Cpu, Target::Cuda];
        }
        return vec![Target::Cpu];
    }
    let none = Meta::None;
    [Target::Cpu, Target::Cuda]
        .into_iter()
        .filter(|&target| {
            rule.conds
                .iter()
                .filter(|c| c.cond.sees_target && c.cond.gen.is_none())
                .all(|c| {
                    let env = Env {
                        target,
                        ..Env::EMPTY
                    };
                    (c.cond.test)(&env, &vec![&none; c.args.len()])
                })
        })
        .collect()
}

/// Target-neutral ops the interpreter evaluates as the target's kernel computes them.
const KERNEL_OPS: &[&str] = &["scaled_dot_product_attention", "sdpa_fwd", "sdpa_bwd"];

/// The matmul alignment rules are checked with: the `h100` profile's (fp16/bf16 8, fp32 4).
pub fn check_alignment() -> Vec<(DType, i64)> {
    crate::cost::Profile::named("h100")
        .map(|p| p.alignments())
        .unwrap_or_default()
}

/// The facts of a variable's term: those drawn for it when it is an input.
pub fn term_facts(t: &Term, facts: &[Facts]) -> Facts {
    match t.expr.as_ref() {
        [Lang::Int(k), Lang::Call(Op::INPUT, _)] => {
            facts.get(*k as usize).copied().unwrap_or_default()
        }
        _ => Facts::default(),
    }
}

fn holds(c: &Cond, inst: &Instance) -> bool {
    let metas: Vec<Meta> = c
        .args
        .iter()
        .map(|a| match a {
            CondArg::Var(v) => inst.vars[v].meta().clone(),
            CondArg::Lit(l) => super::term::node_meta(l, &[], &[]),
        })
        .collect();
    let facts: Vec<Facts> = c
        .args
        .iter()
        .map(|a| match a {
            CondArg::Var(v) => term_facts(&inst.vars[v], &inst.facts),
            CondArg::Lit(_) => Facts::default(),
        })
        .collect();
    let refs: Vec<&Meta> = metas.iter().collect();
    let alignment = check_alignment();
    let env = Env {
        alignment: &alignment,
        facts: &facts,
        target: inst.target,
    };
    (c.cond.test)(&env, &refs)
}

impl<'a> Gen<'a> {
    fn input_metas(&self) -> Vec<Meta> {
        self.inputs.iter().map(Value::meta).collect()
    }

    /// Conditions naming `v`, as `(condition, its arguments' metas if drawn, v's position)`.
    fn hints(&self, v: Var) -> Vec<(&'a Cond, Vec<Option<Meta>>, usize)> {
        let mut out = Vec::new();
        for c in &self.rule.conds {
            let pos = c
                .args
                .iter()
                .position(|a| matches!(a, CondArg::Var(x) if *x == v));
            if let Some(pos) = pos {
                let metas = c
                    .args
                    .iter()
                    .map(|a| match a {
                        CondArg::Var(x) => self.vars.get(x).map(|t| t.meta().clone()),
                        CondArg::Lit(l) => Some(super::term::node_meta(l, &[], &[])),
                    })
                    .collect();
                out.push((c, metas, pos));
            }
        }
        out
    }

    /// Builds pattern node `id` into `out`; `slot` is its parameter position, `first` the
    /// first operand of the enclosing call (for attributes).
    fn build(
        &mut self,
        id: Id,
        slot: Option<Slot>,
        out: &mut Term,
        ctx: Option<&[Option<Meta>]>,
    ) -> Result<Id, String> {
        let node = self.ast[id].clone();
        match node {
            ENodeOrVar::Var(v) => {
                if !self.vars.contains_key(&v) {
                    let t = self.var(v, slot, ctx.unwrap_or(&[]))?;
                    self.vars.insert(v, t);
                }
                let inputs = self.input_metas();
                Ok(out.append(&self.vars[&v].clone(), &inputs))
            }
            ENodeOrVar::ENode(Lang::Call(op, children)) => {
                let def = op.def();
                let slots: Vec<Option<Slot>> = (0..children.len())
                    .map(|i| {
                        if op == Op::LIST {
                            // Items of an int list: typed by the list's own parameter.
                            return slot.map(|s| Slot {
                                ty: ParamType::Int,
                                optional: false,
                                ..s
                            });
                        }
                        def.params.get(i).map(|p| Slot {
                            op: def.name,
                            param: p.name.as_str(),
                            ty: p.ty,
                            optional: p.optional,
                        })
                    })
                    .collect();
                let is_operand = |s: &Option<Slot>| matches!(s, Some(s) if matches!(s.ty, ParamType::Tensor | ParamType::TensorList));
                let mut ids: Vec<Option<Id>> = vec![None; children.len()];
                let mut metas: Vec<Option<Meta>> = vec![None; children.len()];
                for pass in [true, false] {
                    for (i, &c) in children.iter().enumerate() {
                        if is_operand(&slots[i]) != pass {
                            continue;
                        }
                        let cid = if op == Op::LIST {
                            self.build(c, slots[i], out, ctx)?
                        } else {
                            self.build(c, slots[i], out, Some(&metas))?
                        };
                        metas[i] = Some(out.metas[usize::from(cid)].clone());
                        ids[i] = Some(cid);
                    }
                }
                let ids: Vec<Id> = ids.into_iter().map(Option::unwrap).collect();
                let inputs = self.input_metas();
                Ok(out.push(Lang::Call(op, ids.into()), &inputs))
            }
            ENodeOrVar::ENode(leaf) => {
                let inputs = self.input_metas();
                Ok(out.push(leaf, &inputs))
            }
        }
    }

    fn add_input(&mut self, t: Tensor) -> Term {
        let k = self.inputs.len() as i64;
        self.inputs.push(Value::Tensor(t));
        self.facts.push(Facts::default());
        let inputs = self.input_metas();
        let mut term = Term::default();
        let i = term.push(Lang::Int(k), &inputs);
        term.push(Lang::call(Op::INPUT, vec![i]), &inputs);
        term
    }

    fn leaf(&mut self, l: Lang) -> Term {
        let mut t = Term::default();
        t.push(l, &[]);
        t
    }

    fn ints(&mut self, v: &[i64]) -> Term {
        let mut t = Term::default();
        let ids: Vec<Id> = v.iter().map(|&x| t.push(Lang::Int(x), &[])).collect();
        t.push(Lang::call(Op::LIST, ids), &[]);
        t
    }

    fn none(&mut self) -> Term {
        let mut t = Term::default();
        t.push(Lang::call(Op::NONE, Vec::new()), &[]);
        t
    }

    fn shape(&mut self) -> Vec<usize> {
        let rank = [0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4][self.rng.below(11)];
        (0..rank)
            .map(|_| self.rng.pick(&[1, 1, 2, 2, 3, 4, 5]))
            .collect()
    }

    fn dtype(&mut self) -> DType {
        if self.rng.chance(0.6) {
            DType::F32
        } else {
            self.rng.pick(&FLOATS)
        }
    }

    /// Random finite values: normals at random scale, with exact zeros, signed zeros and ±1.
    /// (`-inf` and `finfo.min` go into masks only, see [`Gen::mask`]: as data they make both
    /// sides of most rules NaN or overflow, and break premises such as "scores are far from
    /// finfo.min" that rules rely on.)
    fn tensor(&mut self, shape: Vec<usize>, dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        self.rng.begin_block();
        let scale = self.rng.pick(&[1.0, 1.0, 0.1, 10.0]);
        let edges = self.rng.chance(0.2);
        let data = (0..n)
            .map(|_| {
                if !dtype.is_float() {
                    return match dtype {
                        DType::Bool => self.rng.below(2) as f64,
                        _ => self.rng.below(5) as f64 - 1.0,
                    };
                }
                if edges && self.rng.chance(0.3) {
                    self.rng.pick(&[0.0, -0.0, -1.0, 1.0])
                } else {
                    self.rng.normal() * scale
                }
            })
            .collect();
        self.rng.end_block();
        Tensor::new(shape, dtype, data)
    }

    /// An additive mask: finite values, `-inf` and the dtype's `finfo.min` entries, and
    /// sometimes a fully masked row.
    fn mask(&mut self, shape: Vec<usize>, dtype: DType) -> Tensor {
        let fmin = match dtype {
            DType::F16 => -65504.0,
            DType::BF16 => -3.3895313892515355e38,
            DType::F64 => f64::MIN,
            _ => -3.4028234663852886e38,
        };
        let mut m = self.tensor(shape, dtype);
        self.rng.begin_block();
        for x in m.data.iter_mut() {
            if self.rng.chance(0.25) {
                *x = self.rng.pick(&[f64::NEG_INFINITY, fmin]);
            }
        }
        if !self.full_rows {
            // Keep one entry of every row (rows end along the last dim).
            let n = m.shape.last().copied().unwrap_or(1).max(1);
            for row in m.data.chunks_mut(n) {
                if row.iter().all(|&x| x <= -1e4) {
                    let j = self.rng.below(n);
                    row[j] = 0.0;
                }
            }
        } else if self.rng.chance(0.3) && m.rank() >= 1 {
            // A fully masked row.
            let n = *m.shape.last().unwrap();
            let fill = self.rng.pick(&[f64::NEG_INFINITY, fmin]);
            m.data[..n].iter_mut().for_each(|x| *x = fill);
        }
        self.rng.end_block();
        m
    }

    /// A mask shape broadcasting to the scores `[q's leading dims.., L, keys]`: some dims 1,
    /// some leading dims dropped.
    fn mask_shape(&mut self, q: &TMeta, keys: i64) -> Vec<usize> {
        let r = q.rank();
        let mut s: Vec<i64> = q.shape[..r - 1].to_vec();
        s.push(keys);
        for d in s.iter_mut() {
            if self.rng.chance(0.3) {
                *d = 1;
            }
        }
        let drop = self.rng.below(r - 1);
        s[drop..].iter().map(|&d| d as usize).collect()
    }

    /// An additive mask input of q's dtype of a [`Self::mask_shape`].
    fn mask_input(&mut self, q: &TMeta, keys: i64) -> Term {
        let shape = self.mask_shape(q, keys);
        let m = self.mask(shape, q.dtype);
        self.add_input(m)
    }

    /// A bool "keep" mask input of a [`Self::mask_shape`], true where a key is attended;
    /// often with a row where nothing is kept (a fully masked row).
    fn keep_input(&mut self, q: &TMeta, keys: i64) -> Term {
        let shape = self.mask_shape(q, keys);
        let n: usize = shape.iter().product();
        self.rng.begin_block();
        let mut data: Vec<f64> = (0..n).map(|_| self.rng.chance(0.7) as u8 as f64).collect();
        let row = shape.last().copied().unwrap_or(1).max(1);
        if self.rng.chance(0.6) && n >= row {
            let start = self.rng.below(n / row) * row;
            data[start..start + row].iter_mut().for_each(|x| *x = 0.0);
        }
        self.rng.end_block();
        self.add_input(Tensor::new(shape, DType::Bool, data))
    }

    /// A shape of `numel` elements (a random factorisation), maybe with one `-1`.
    fn reshape(&mut self, numel: usize) -> Vec<i64> {
        let mut dims = Vec::new();
        let mut left = numel;
        for _ in 0..self.rng.below(4) {
            let divs: Vec<usize> = (1..=left).filter(|d| left % d == 0).collect();
            let d = self.rng.pick(&divs);
            dims.push(d as i64);
            left /= d;
        }
        dims.push(left as i64);
        let n = dims.len();
        for i in (1..n).rev() {
            dims.swap(i, self.rng.below(i + 1));
        }
        if self.rng.chance(0.3) {
            let i = self.rng.below(n);
            dims[i] = -1;
        }
        dims
    }

    fn tensor_var(&mut self, shape: Vec<i64>, dtype: DType) -> Term {
        let t = self.tensor(shape.iter().map(|&d| d as usize).collect(), dtype);
        self.add_input(t)
    }

    /// Builds what a condition's generator asked for (all but the wishes and copies).
    fn materialize(&mut self, d: Drawn) -> Term {
        match d {
            Drawn::Int(i) => self.leaf(Lang::Int(i)),
            Drawn::Float(x) => self.leaf(Lang::Float(F64(OrderedFloat(x)))),
            Drawn::Dtype(t) => self.leaf(Lang::Dtype(t)),
            Drawn::Ints(v) => self.ints(&v),
            Drawn::Tensor(shape, dtype) => self.tensor_var(shape, dtype),
            Drawn::Values {
                shape,
                dtype,
                data,
                facts,
            } => {
                let dims = shape.iter().map(|&d| d as usize).collect();
                let term = self.add_input(Tensor::new(dims, dtype, data));
                if let Some(f) = self.facts.last_mut() {
                    *f = facts;
                }
                term
            }
            Drawn::Mask(q, keys) => self.mask_input(&q, keys),
            Drawn::Keep(q, keys) => self.keep_input(&q, keys),
            Drawn::KeepFill(x, dtype) => {
                self.keep_fill = Some(x);
                self.add_input(Tensor::scalar(x, dtype))
            }
            Drawn::None | Drawn::Copy(_) | Drawn::WantFloat | Drawn::Like(_) => self.none(),
        }
    }

    fn var(
        &mut self,
        v: Var,
        slot: Option<Slot>,
        siblings: &[Option<Meta>],
    ) -> Result<Term, String> {
        let first: Option<TMeta> = siblings.iter().flatten().find_map(|m| m.tensor().cloned());
        let rank = first.as_ref().map_or(0, |t| t.rank());
        let mut want_float = false;
        let mut same_as: Option<TMeta> = None;
        for (c, metas, pos) in self.hints(v) {
            let Some(gen) = c.cond.gen else { continue };
            let ctx = DrawCtx {
                pos,
                args: &metas,
                rank,
                keep_fill: self.keep_fill,
                target: self.target,
            };
            match gen(&mut *self.rng, &ctx) {
                None => {}
                Some(Drawn::WantFloat) => want_float = true,
                Some(Drawn::Like(t)) => same_as = Some(t),
                Some(Drawn::Copy(i)) => match c.args.get(i) {
                    Some(CondArg::Var(x)) if *x != v && self.vars.contains_key(x) => {
                        return Ok(self.vars[x].clone())
                    }
                    _ => {}
                },
                Some(d) => return Ok(self.materialize(d)),
            }
        }
        let Some(slot) = slot else {
            return Err(format!("cannot tell what {v} is"));
        };
        if slot.optional && slot.ty != ParamType::Tensor && self.rng.chance(0.15) {
            return Ok(self.none());
        }
        Ok(match slot.ty {
            ParamType::Tensor => {
                let reuse = first.clone().filter(|_| self.rng.chance(0.6));
                let (shape, mut dtype) = if let Some(t) = same_as.or(reuse) {
                    (t.shape.iter().map(|&d| d as usize).collect(), t.dtype)
                } else if let (Some(f), true) = (
                    &first,
                    matches!(slot.op, "mm" | "bmm" | "addmm" | "baddbmm"),
                ) {
                    let mut s: Vec<usize> = f.shape.iter().map(|&d| d as usize).collect();
                    let k = s.len();
                    if k >= 2 {
                        s[k - 2] = s[k - 1];
                        s[k - 1] = self.rng.pick(&[1, 2, 3, 4]);
                    }
                    (s, f.dtype)
                } else {
                    let s = self.shape();
                    (s, self.dtype())
                };
                if matches!(slot.param, "mask" | "condition") {
                    dtype = DType::Bool;
                } else if (want_float || slot.op == "where") && !dtype.is_float() {
                    dtype = self.dtype();
                }
                let t = self.tensor(shape, dtype);
                self.add_input(t)
            }
            ParamType::TensorList => {
                let shape = first
                    .as_ref()
                    .map(|t| t.shape.iter().map(|&d| d as usize).collect())
                    .unwrap_or_else(|| self.shape());
                let dtype = self.dtype();
                let mut term = Term::default();
                let mut ids = Vec::new();
                for _ in 0..1 + self.rng.below(3) {
                    let t = self.tensor(shape.clone(), dtype);
                    let inp = self.add_input(t);
                    let inputs = self.input_metas();
                    ids.push(term.append(&inp, &inputs));
                }
                let inputs = self.input_metas();
                term.push(Lang::call(Op::LIST, ids), &inputs);
                term
            }
            ParamType::IntList => {
                let shape: Vec<i64> = first.as_ref().map_or(Vec::new(), |t| t.shape.clone());
                let numel = first.as_ref().map_or(1, |t| t.numel() as usize);
                let list = match (slot.op, slot.param) {
                    ("permute", _) => {
                        let p = self.rng.permutation(rank);
                        let neg = self.rng.chance(0.3);
                        p.into_iter()
                            .map(|d| {
                                if neg && self.rng.chance(0.5) {
                                    d as i64 - rank as i64
                                } else {
                                    d as i64
                                }
                            })
                            .collect()
                    }
                    ("view", _) if self.rng.chance(0.2) => shape,
                    ("view", _) => self.reshape(numel),
                    ("expand", _) => {
                        let mut s: Vec<i64> = shape
                            .iter()
                            .map(|&d| match d {
                                1 => self.rng.pick(&[1, 2, 3]),
                                _ if self.rng.chance(0.3) => -1,
                                d => d,
                            })
                            .collect();
                        for _ in 0..self.rng.pick(&[0, 0, 1, 2]) {
                            s.insert(0, self.rng.pick(&[1, 2, 3]));
                        }
                        s
                    }
                    ("constant_pad_nd", _) => (0..2 * self.rng.below(rank + 1))
                        .map(|_| self.rng.pick(&[0, 1, 2, -1]))
                        .collect(),
                    (_, "dim" | "dims") => {
                        let k = 1 + self.rng.below(rank.max(1));
                        let mut p = self.rng.permutation(rank);
                        p.truncate(k);
                        p.into_iter()
                            .map(|d| d as i64 - if self.rng.chance(0.3) { rank as i64 } else { 0 })
                            .collect()
                    }
                    _ if self.rng.chance(0.5) => shape,
                    _ => (0..1 + self.rng.below(rank.max(1)))
                        .map(|_| self.rng.below(2 * rank.max(1)) as i64 - rank as i64)
                        .collect(),
                };
                self.ints(&list)
            }
            ParamType::Int => {
                let extra = matches!(slot.op, "unsqueeze" | "stack") as usize;
                let r = (rank + extra) as i64;
                let x = match slot.param {
                    "dim" | "dim0" | "dim1" if r == 0 => self.rng.pick(&[0, -1]),
                    "dim" | "dim0" | "dim1" => self.rng.below(2 * r as usize) as i64 - r,
                    "index" => {
                        let d = siblings.iter().flatten().find_map(|m| match m {
                            Meta::Int(d) => Some(*d),
                            _ => None,
                        });
                        let n = match (d, &first) {
                            (Some(d), Some(t)) if rank > 0 => {
                                t.shape[crate::ops::meta::norm_dim(d, rank).unwrap_or(0)]
                            }
                            _ => 1,
                        };
                        self.rng.below(2 * n.max(1) as usize) as i64 - n
                    }
                    "step" | "split_size" => 1 + self.rng.below(3) as i64,
                    "groups" => 1,
                    _ => self.rng.below(5) as i64 - 2,
                };
                self.leaf(Lang::Int(x))
            }
            ParamType::Bool => {
                let b = self.rng.chance(0.5);
                self.leaf(Lang::Bool(b))
            }
            ParamType::Float => {
                let x = self.rng.pick(&[1e-5, 0.5, 2.0]);
                self.leaf(Lang::Float(F64(OrderedFloat(x))))
            }
            ParamType::Scalar => {
                if self.rng.chance(0.2) {
                    let i = self.rng.below(4) as i64 - 1;
                    self.leaf(Lang::Int(i))
                } else {
                    let x = self.rng.pick(&[0.5, 2.0, -1.0, 0.125, 0.0, 3.0]);
                    self.leaf(Lang::Float(F64(OrderedFloat(x))))
                }
            }
            ParamType::ScalarType => {
                let d = match &first {
                    Some(t) if self.rng.chance(0.5) => t.dtype,
                    _ => self.rng.pick(&[
                        DType::F32,
                        DType::F16,
                        DType::BF16,
                        DType::F64,
                        DType::I64,
                        DType::Bool,
                    ]),
                };
                self.leaf(Lang::Dtype(d))
            }
            ParamType::Str => match slot.param {
                "approximate" => {
                    let s = self.rng.pick(&["none", "tanh"]);
                    self.leaf(Lang::Attr(Attr::new("str", s)))
                }
                "rounding_mode" => {
                    let s = self.rng.pick(&["trunc", "floor"]);
                    self.leaf(Lang::Attr(Attr::new("str", s)))
                }
                _ => self.none(),
            },
            ParamType::BoolList => {
                let mut t = Term::default();
                let ids: Vec<Id> = (0..3).map(|_| t.push(Lang::Bool(true), &[])).collect();
                t.push(Lang::call(Op::LIST, ids), &[]);
                t
            }
            _ => self.none(),
        })
    }
}
