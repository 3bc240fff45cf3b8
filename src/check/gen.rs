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

use super::rng::Rng;
use super::term::Term;
use crate::egraph::{Attr, Facts, Lang, F64};
use crate::interp::{Tensor, Value};
use crate::ir::DType;
use crate::ops::schema::ParamType;
use crate::ops::{Meta, Op, TMeta};
use crate::rules::registry::Env;
use crate::rules::{CondArg, Rule};
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
    rng: &'a mut Rng,
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
}

const FLOATS: [DType; 4] = [DType::F32, DType::F16, DType::BF16, DType::F64];

/// Draws one instance of `rule`'s left side; `Err` says why this draw was rejected.
pub fn instance(rule: &Rule, rng: &mut Rng) -> Result<Instance, String> {
    let mut g = Gen {
        rng,
        rule,
        ast: &rule.lhs.ast,
        full_rows: !rule.assume.iter().any(|a| a == "no-fully-masked-rows"),
        inputs: Vec::new(),
        facts: Vec::new(),
        vars: IndexMap::new(),
        keep_fill: None,
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
    };
    if let Some(c) = rule.conds.iter().find(|c| !holds(c, &inst)) {
        return Err(format!("condition `{}` does not hold", c.cond.name()));
    }
    Ok(inst)
}

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

fn holds(c: &crate::rules::Cond, inst: &Instance) -> bool {
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
    };
    c.cond.test(&env, &refs)
}

impl Gen<'_> {
    fn input_metas(&self) -> Vec<Meta> {
        self.inputs.iter().map(Value::meta).collect()
    }

    /// Conditions naming `v`, as `(name, other arguments' metas if generated)`.
    fn hints(&self, v: Var) -> Vec<(&'static str, Vec<Option<Meta>>, usize)> {
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
                out.push((c.cond.name(), metas, pos));
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
        let mut data: Vec<f64> = (0..n).map(|_| self.rng.chance(0.7) as u8 as f64).collect();
        let row = shape.last().copied().unwrap_or(1).max(1);
        if self.rng.chance(0.6) && n >= row {
            let start = self.rng.below(n / row) * row;
            data[start..start + row].iter_mut().for_each(|x| *x = 0.0);
        }
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

    /// Variables fully determined by a condition of the attention and matmul rules.
    fn special_hint(
        &mut self,
        name: &str,
        metas: &[Option<Meta>],
        pos: usize,
        rank: usize,
    ) -> Option<Term> {
        let t = |i: usize| {
            metas
                .get(i)
                .cloned()
                .flatten()
                .and_then(|m| m.tensor().cloned())
        };
        let pick = |rng: &mut Rng| rng.pick(&[1i64, 2, 3, 4]);
        Some(match (name, pos) {
            ("dropout-uniform", 0) => {
                // Uniform draws in [0, 1) of the scores' shape (from q and k when drawn).
                let shape = match (t(1), t(2), t(3).filter(|g| g.rank() == 4)) {
                    (Some(q), Some(k), _) => crate::ops::scores_shape(&q, &k).ok()?,
                    (_, _, Some(g)) => {
                        vec![
                            g.shape[0],
                            g.shape[1],
                            g.shape[2],
                            self.rng.pick(&[16i64, 32]),
                        ]
                    }
                    _ => vec![
                        self.rng.pick(&[1i64, 2]),
                        self.rng.pick(&[1i64, 3]),
                        self.rng.pick(&[1i64, 5, 8]),
                        self.rng.pick(&[16i64, 32]),
                    ],
                };
                let n = shape.iter().product::<i64>() as usize;
                let data = (0..n).map(|_| self.rng.unit()).collect();
                let dims = shape.iter().map(|&d| d as usize).collect();
                let term = self.add_input(Tensor::new(dims, DType::F32, data));
                if let Some(f) = self.facts.last_mut() {
                    f.private_dropout = true;
                }
                term
            }
            ("dropout-uniform", 1 | 2) => {
                // q [B, H, L, E] and k [B, H, S, E] from the draws' shape [B, H, L, S].
                let r = t(0).filter(|r| r.rank() == 4)?;
                let other = t(3 - pos).filter(|m| m.rank() == 4);
                let e = other
                    .as_ref()
                    .map_or_else(|| self.rng.pick(&[8i64, 16]), |m| m.shape[3]);
                let dt = other.map_or_else(
                    || self.rng.pick(&[DType::F32, DType::F16, DType::BF16]),
                    |m| m.dtype,
                );
                let rows = if pos == 1 { r.shape[2] } else { r.shape[3] };
                self.tensor_var(vec![r.shape[0], r.shape[1], rows, e], dt)
            }
            ("dropout-uniform", 3) if t(0).is_none() && t(1).is_none() => {
                // The output's gradient [B, H, L, Ev] drawn first: small dims.
                let shape = vec![
                    self.rng.pick(&[1i64, 2]),
                    self.rng.pick(&[1i64, 3]),
                    self.rng.pick(&[1i64, 5, 8]),
                    self.rng.pick(&[8i64, 16]),
                ];
                let dt = self.rng.pick(&[DType::F32, DType::F16, DType::BF16]);
                self.tensor_var(shape, dt)
            }
            ("dropout-scale", 0) => {
                let p = self.rng.pick(&[0.1, 0.25, 0.5, 0.9]);
                self.leaf(Lang::Float(F64(OrderedFloat(p))))
            }
            ("dropout-scale", 1) => match metas.first().cloned().flatten()? {
                Meta::Float(p) if p < 1.0 => {
                    self.leaf(Lang::Float(F64(OrderedFloat(1.0 / (1.0 - p)))))
                }
                _ => return None,
            },
            ("flattens-batch", 1) => {
                let a = t(0)?;
                let r = a.rank();
                if r < 3 {
                    return None;
                }
                self.ints(&[
                    a.shape[..r - 2].iter().product(),
                    a.shape[r - 2],
                    a.shape[r - 1],
                ])
            }
            ("matmul-result", 1) => {
                let a = t(0)?;
                let r = a.rank();
                if r < 2 {
                    return None;
                }
                let mut s = a.shape[..r - 2].to_vec();
                s.extend([a.shape[r - 1], pick(self.rng)]);
                self.tensor_var(s, a.dtype)
            }
            ("matmul-result", 2) => {
                let (a, b) = (t(0)?, t(1)?);
                let r = a.rank();
                if r < 2 || b.rank() != r {
                    return None;
                }
                let mut s = a.shape[..r - 1].to_vec();
                s.push(b.shape[r - 1]);
                self.ints(&s)
            }
            ("swaps-last-two", _) if rank >= 2 => {
                let mut p: Vec<i64> = (0..rank as i64).collect();
                p.swap(rank - 2, rank - 1);
                if self.rng.chance(0.3) {
                    p[rank - 1] -= rank as i64;
                }
                self.ints(&p)
            }
            ("last-dim", 1) => {
                let x = t(0)?;
                let d = if self.rng.chance(0.5) {
                    -1
                } else {
                    x.rank() as i64 - 1
                };
                self.leaf(Lang::Int(d))
            }
            ("absorbing-fill", _) => {
                let x = self.rng.pick(&[
                    f64::NEG_INFINITY,
                    -3.4028234663852886e38,
                    -3.3895313892515355e38,
                ]);
                self.leaf(Lang::Float(F64(OrderedFloat(x))))
            }
            ("finite-nonzero", _) => {
                if self.rng.chance(0.2) {
                    let i = self.rng.pick(&[2, 8, -1]);
                    self.leaf(Lang::Int(i))
                } else {
                    let x = self.rng.pick(&[0.5, 2.0, -1.0, 0.125, 3.0, 8.0]);
                    self.leaf(Lang::Float(F64(OrderedFloat(x))))
                }
            }
            ("attention-shapes", 0) => {
                let r = 3 + self.rng.below(2);
                let s: Vec<i64> = (0..r).map(|_| pick(self.rng)).collect();
                let d = self.rng.pick(&FLOATS);
                self.tensor_var(s, d)
            }
            // The key comes as k [.., S, E] or as kᵀ [.., E, S], depending on the rule: draw
            // either layout (the condition rejects the wrong one) and take S from either.
            ("attention-shapes", 1) => {
                let q = t(0)?;
                let r = q.rank();
                let mut s = q.shape.clone();
                s[r - 2] = pick(self.rng);
                if self.rng.chance(0.5) {
                    s.swap(r - 2, r - 1);
                }
                self.tensor_var(s, q.dtype)
            }
            ("attention-shapes", 2) => {
                let k = t(1)?;
                let r = k.rank();
                let mut s = k.shape.clone();
                s[r - 2] = k.shape[r - 2 + self.rng.below(2)];
                s[r - 1] = pick(self.rng);
                self.tensor_var(s, k.dtype)
            }
            ("additive-mask", 0) => {
                let (q, k) = (t(1)?, t(2)?);
                let r = q.rank();
                if r < 2 || k.rank() != r {
                    return None;
                }
                let keys = k.shape[r - 2 + self.rng.below(2)];
                self.mask_input(&q, keys)
            }
            ("scores-shapes", 0) | ("scores-grad-shapes", 1) if self.rng.chance(0.9) => {
                // q: take [.., L] from the scores' gradient when it is there.
                let mut s = match t(0).filter(|_| name == "scores-grad-shapes") {
                    Some(g) if g.rank() >= 3 && g.rank() <= 4 => g.shape.clone(),
                    _ => (0..3 + self.rng.below(2)).map(|_| pick(self.rng)).collect(),
                };
                let r = s.len();
                s[r - 1] = pick(self.rng);
                let d = t(0).map_or_else(|| self.rng.pick(&FLOATS), |g| g.dtype);
                self.tensor_var(s, d)
            }
            ("scores-shapes", 1) => {
                let q = t(0)?;
                let r = q.rank();
                if r < 3 {
                    return None;
                }
                let mut s = q.shape.clone();
                s[r - 2] = q.shape[r - 1];
                s[r - 1] = pick(self.rng);
                self.tensor_var(s, q.dtype)
            }
            ("scores-grad-shapes", 2) => {
                let q = t(1)?;
                let r = q.rank();
                if r < 3 {
                    return None;
                }
                let mut s = q.shape.clone();
                s[r - 2] = t(0)
                    .filter(|g| g.rank() == r)
                    .map_or_else(|| pick(self.rng), |g| g.shape[r - 1]);
                self.tensor_var(s, q.dtype)
            }
            ("scores-grad-shapes", 3) | ("flash-cpu-shapes" | "efficient-shapes", 3) => {
                let (q, k) = if name == "scores-grad-shapes" {
                    (t(1)?, t(2)?)
                } else {
                    (t(0)?, t(1)?)
                };
                let r = q.rank();
                if self.rng.chance(0.3) || k.rank() != r || r < 2 {
                    return Some(self.none());
                }
                self.mask_input(&q, k.shape[r - 2])
            }
            ("flash-cpu-shapes" | "efficient-shapes", _) => {
                // Roles: q [B, H, L, E], k [B, H, S, E], v [B, H, S, Ev], g [B, H, L, Ev];
                // dims come from whichever are drawn already.
                let known = |i: usize| t(i).filter(|m| m.rank() == 4);
                let (q, k, v, g) = (known(0), known(1), known(2), known(4));
                let any = q.clone().or(k.clone()).or(v.clone()).or(g.clone());
                let efficient = name == "efficient-shapes";
                let dim = |rng: &mut Rng, x: Option<i64>| {
                    x.unwrap_or_else(|| {
                        if efficient {
                            rng.pick(&[8i64, 16])
                        } else {
                            pick(rng)
                        }
                    })
                };
                let b = dim(self.rng, any.as_ref().map(|m| m.shape[0]));
                let h = dim(self.rng, any.as_ref().map(|m| m.shape[1]));
                let l = dim(self.rng, q.as_ref().or(g.as_ref()).map(|m| m.shape[2]));
                let s = match k.as_ref().or(v.as_ref()).map(|m| m.shape[2]) {
                    Some(s) => s,
                    None if efficient => self.rng.pick(&[16i64, 32]),
                    None => pick(self.rng),
                };
                let e = dim(self.rng, q.as_ref().or(k.as_ref()).map(|m| m.shape[3]));
                let ev = if name == "flash-cpu-shapes" {
                    e
                } else {
                    dim(self.rng, v.as_ref().or(g.as_ref()).map(|m| m.shape[3]))
                };
                let dt = any.map_or_else(
                    || {
                        if efficient {
                            self.rng.pick(&[DType::F32, DType::F16, DType::BF16])
                        } else {
                            self.rng.pick(&FLOATS)
                        }
                    },
                    |m| m.dtype,
                );
                let shape = match pos {
                    0 => vec![b, h, l, e],
                    1 => vec![b, h, s, e],
                    2 => vec![b, h, s, ev],
                    _ => vec![b, h, l, ev],
                };
                self.tensor_var(shape, dt)
            }
            ("same-number", 0 | 1) => {
                let other = metas.get(1 - pos).cloned().flatten()?;
                match other {
                    Meta::Float(x) => self.leaf(Lang::Float(F64(OrderedFloat(x)))),
                    Meta::Int(i) => self.leaf(Lang::Int(i)),
                    _ => return None,
                }
            }
            ("recip-of", 1) => match metas.first().cloned().flatten()? {
                Meta::Float(x) if x != 0.0 => self.leaf(Lang::Float(F64(OrderedFloat(1.0 / x)))),
                _ => return None,
            },
            ("recip-of", 0) => {
                let c = self.rng.pick(&[0.5, 2.0, 4.0, 8.0, 3.0, 0.125]);
                self.leaf(Lang::Float(F64(OrderedFloat(1.0 / c))))
            }
            ("is-zero", _) => {
                if self.rng.chance(0.5) {
                    self.leaf(Lang::Int(0))
                } else {
                    self.leaf(Lang::Float(F64(OrderedFloat(0.0))))
                }
            }
            ("absorbing-fill-in", 0) if self.keep_fill.is_some() => {
                let x = self.keep_fill.unwrap_or_default();
                self.leaf(Lang::Float(F64(OrderedFloat(x))))
            }
            ("absorbing-fill-in", 0) => {
                let bf16 = match metas.get(1).cloned().flatten() {
                    Some(Meta::Dtype(d)) => d == DType::BF16,
                    Some(Meta::Tensor(t)) => t.dtype == DType::BF16,
                    _ => false,
                };
                let x = if bf16 {
                    -3.3895313892515355e38
                } else {
                    self.rng.pick(&[
                        -3.4028234663852886e38,
                        -3.3895313892515355e38,
                        f64::NEG_INFINITY,
                    ])
                };
                self.leaf(Lang::Float(F64(OrderedFloat(x))))
            }
            ("absorbing-fill-in", 1) => {
                let d = self
                    .rng
                    .pick(&[DType::F32, DType::F32, DType::BF16, DType::F64]);
                self.leaf(Lang::Dtype(d))
            }
            ("keep-mask-fits", 0) => {
                let (q, k) = (t(2)?, t(3)?);
                let r = q.rank();
                if r < 2 || k.rank() != r {
                    return None;
                }
                self.keep_input(&q, k.shape[r - 2])
            }
            // The fill: a 0-d tensor of q's dtype holding an absorbing number (drawn before
            // `fill_value`, which repeats it: tensors are drawn before attributes).
            ("keep-mask-fits", 1) => {
                let q = t(2)?;
                let x = if q.dtype == DType::BF16 {
                    -3.3895313892515355e38
                } else {
                    self.rng
                        .pick(&[-3.4028234663852886e38, -3.3895313892515355e38])
                };
                self.keep_fill = Some(x);
                self.add_input(Tensor::scalar(x, q.dtype))
            }
            ("is-one", _) => self.leaf(Lang::Float(F64(OrderedFloat(1.0)))),
            ("mm-misaligned", 0) => {
                let r = 2 + self.rng.below(2);
                let s: Vec<i64> = (0..r)
                    .map(|_| self.rng.pick(&[1, 2, 3, 4, 5, 7, 8, 9]))
                    .collect();
                let d = self.rng.pick(&[DType::F32, DType::F16, DType::BF16]);
                self.tensor_var(s, d)
            }
            ("mm-misaligned", 1) => {
                let a = t(0)?;
                let r = a.rank();
                if r < 2 {
                    return None;
                }
                let mut s = a.shape[..r - 2].to_vec();
                s.extend([a.shape[r - 1], self.rng.pick(&[1, 2, 3, 4, 5, 8, 9])]);
                self.tensor_var(s, a.dtype)
            }
            ("addmm-misaligned", 0) => {
                let (m, n) = (
                    self.rng.pick(&[1, 2, 3, 5, 8, 9]),
                    self.rng.pick(&[1, 2, 3, 5, 8, 9]),
                );
                let s = match self.rng.below(5) {
                    0 => vec![n],
                    1 => vec![1, n],
                    2 => vec![m, 1],
                    3 => vec![],
                    _ => vec![m, n],
                };
                let d = self.rng.pick(&[DType::F32, DType::F16, DType::BF16]);
                self.tensor_var(s, d)
            }
            ("addmm-misaligned", 1) => {
                let c = t(0)?;
                let m = match c.shape.as_slice() {
                    [m, _] if *m != 1 => *m,
                    _ => self.rng.pick(&[1, 2, 3, 5, 8, 9]),
                };
                let k = self.rng.pick(&[1, 2, 3, 5, 8, 9]);
                self.tensor_var(vec![m, k], c.dtype)
            }
            ("addmm-misaligned", 2) => {
                let (c, a) = (t(0)?, t(1)?);
                let n = match c.shape.last() {
                    Some(&n) if n != 1 => n,
                    _ => self.rng.pick(&[1, 2, 3, 5, 8, 9]),
                };
                self.tensor_var(vec![*a.shape.last()?, n], c.dtype)
            }
            ("zero-pads", 0) => {
                let n = 2 * self.rng.below(rank + 1);
                self.ints(&vec![0; n])
            }
            ("slice-covers", 2) => {
                let y = t(0)?;
                if y.rank() == 0 {
                    return None;
                }
                let d = match metas.get(1) {
                    Some(Some(Meta::Int(d))) => crate::ops::meta::norm_dim(*d, y.rank()).ok()?,
                    _ => return None,
                };
                let e = if self.rng.chance(0.3) {
                    i64::MAX
                } else {
                    y.shape[d] + self.rng.below(3) as i64
                };
                self.leaf(Lang::Int(e))
            }
            ("distinct-rows", 0) => {
                let x = t(1)?;
                let n = *x.shape.first()?;
                if n < 1 {
                    return None;
                }
                let k = 1 + self.rng.below(n as usize);
                let mut p = self.rng.permutation(n as usize);
                p.truncate(k);
                let data = p.into_iter().map(|v| v as f64).collect();
                let term = self.add_input(Tensor::new(vec![k], DType::I64, data));
                if let Some(f) = self.facts.last_mut() {
                    f.distinct_below = Some(n);
                }
                term
            }
            ("index-put-values", 2) => {
                let (x, i) = (t(0)?, t(1)?);
                if x.rank() == 0 {
                    return None;
                }
                let mut s: Vec<i64> = i.shape.iter().chain(&x.shape[1..]).copied().collect();
                for d in s.iter_mut() {
                    if self.rng.chance(0.2) {
                        *d = 1;
                    }
                }
                let drop = self.rng.below(s.len().min(2) + 1).min(s.len());
                self.tensor_var(s[drop..].to_vec(), x.dtype)
            }
            _ => return None,
        })
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
        for (name, metas, pos) in self.hints(v) {
            if let Some(t) = self.special_hint(name, &metas, pos, rank) {
                return Ok(t);
            }
            let other = metas
                .iter()
                .enumerate()
                .find(|(i, m)| *i != pos && m.is_some());
            let other = other.and_then(|(_, m)| m.clone());
            match (name, pos, &other) {
                ("shape-is", 1, Some(Meta::Tensor(t))) => return Ok(self.ints(&t.shape.clone())),
                ("dtype-is", 1, Some(Meta::Tensor(t))) => {
                    return Ok(self.leaf(Lang::Dtype(t.dtype)))
                }
                ("identity-perm", _, _) => {
                    return Ok(self.ints(&(0..rank as i64).collect::<Vec<_>>()))
                }
                ("none", _, _) => return Ok(self.none()),
                ("scalar", _, _) => {
                    let x = self.rng.pick(&[0.5, 2.0, -1.0, 0.125, 0.0, 3.0]);
                    return Ok(self.leaf(Lang::Float(F64(OrderedFloat(x)))));
                }
                ("equal", _, Some(_)) => {
                    if let Some(CondArg::Var(x)) = self
                        .rule
                        .conds
                        .iter()
                        .filter(|c| c.cond.name() == "equal")
                        .flat_map(|c| c.args.iter())
                        .find(|a| matches!(a, CondArg::Var(x) if *x != v && self.vars.contains_key(x)))
                    {
                        return Ok(self.vars[x].clone());
                    }
                }
                ("float", _, _) => want_float = true,
                ("same-shape" | "same-dtype", _, Some(Meta::Tensor(t))) => {
                    same_as = Some(t.clone())
                }
                _ => {}
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
