//! A chosen term per e-class → a graph.
//!
//! Inputs come first, in their original order (all of them: the signature never changes); then
//! calls in dependency order. Names of original nodes are reused where the chosen e-node is of
//! the original op in the original's class. Calls with effects (random ops and ops the table
//! does not know, see [`super::Built::effects`]) are all emitted, used or not, each once and in
//! their original relative order: when one is emitted, those before it in the original graph
//! are emitted first, so that for one RNG seed each draws what it drew in the original graph. Strides are recomputed; a `view` whose input is not
//! provably viewable is lowered to `aten.reshape.default`, which copies only when it must.

use super::analysis::FxEGraph;
use super::lang::Lang;
use crate::error::{Error, Result};
use crate::ir::{contiguous_strides, Arg, Graph, Node, NodeId, NodeKind, TensorMeta, Val};
use crate::ops::lower::{inference_kernel, kernel_for, kernel_of, Kernel, Piece};
use crate::ops::lower_matmul;
use crate::ops::{table, Meta, Op};
use crate::target::Target;
use egg::{Id, Language};
use std::collections::{HashMap, HashSet};

/// Which e-node was chosen for each (canonical) e-class.
pub type Selection = HashMap<Id, Lang>;

/// What [`to_graph`] needs besides the e-graph.
pub struct Template<'a> {
    /// The original graph (name, kind, num_fwd_outputs, names).
    pub graph: &'a Graph,
    /// Class and op of every original node.
    pub nodes: &'a [(Id, Op)],
    /// Output classes.
    pub outputs: &'a [Option<Id>],
    /// Classes of calls with effects that must be emitted even if unused (see
    /// [`super::Built::effects`]).
    pub effects: &'a [Id],
    /// The target the neutral ops are lowered for ([`crate::ops::lower`]).
    pub target: Target,
}

struct Emitter<'a> {
    eg: &'a FxEGraph,
    sel: &'a Selection,
    nodes: Vec<Node>,
    strides: Vec<Option<Vec<i64>>>,
    emitted: HashMap<Id, NodeId>,
    used_names: HashSet<String>,
    names: HashMap<(Id, Op), Vec<String>>,
    counter: HashMap<String, usize>,
    /// Calls with effects the result holds: (original opaque index, class), sorted.
    effects: Vec<(usize, Id)>,
    /// Calls with effects being emitted (their earlier ones first).
    effects_in_progress: HashSet<usize>,
    /// The target the neutral ops are lowered for.
    target: Target,
    /// Nodes a lowering added that have no e-class: `(forward class, index)` → its getitem.
    items: HashMap<(Id, usize), NodeId>,
    /// The same for expanded masks: mask node → its expand.
    expanded: HashMap<NodeId, NodeId>,
}

/// A call to emit: target, args, kwargs, value and known strides.
type Call = (String, Vec<Arg>, Vec<(String, Arg)>, Val, Option<Vec<i64>>);

/// Builds the graph that `sel` picks out of `eg`.
pub fn to_graph(eg: &FxEGraph, sel: &Selection, t: &Template) -> Result<Graph> {
    let mut names: HashMap<(Id, Op), Vec<String>> = HashMap::new();
    for (node, &(id, op)) in t.graph.nodes.iter().zip(t.nodes) {
        names
            .entry((eg.find(id), op))
            .or_default()
            .push(node.name.clone());
    }
    for v in names.values_mut() {
        v.reverse();
    }
    let mut em = Emitter {
        eg,
        sel,
        nodes: Vec::new(),
        strides: Vec::new(),
        emitted: HashMap::new(),
        used_names: t.graph.nodes.iter().map(|n| n.name.clone()).collect(),
        names,
        counter: HashMap::new(),
        effects: Vec::new(),
        effects_in_progress: HashSet::new(),
        target: t.target,
        items: HashMap::new(),
        expanded: HashMap::new(),
    };
    let roots: Vec<Id> = t
        .outputs
        .iter()
        .flatten()
        .chain(t.effects)
        .copied()
        .collect();
    em.effects = em.effects_used(&roots)?;
    // Inputs first, all of them, in order.
    for (i, inp) in eg.analysis.inputs.iter().enumerate() {
        let kind = match &inp.get_attr {
            Some(a) => NodeKind::GetAttr(a.clone()),
            None => NodeKind::Placeholder,
        };
        em.nodes.push(Node {
            name: inp.name.clone(),
            kind,
            val: inp.val.clone(),
        });
        em.strides.push(inp.val.tensor().map(|t| t.stride.clone()));
        if let Some(&(id, _)) = t.nodes.iter().filter(|(_, op)| *op == Op::INPUT).nth(i) {
            em.emitted.entry(eg.find(id)).or_insert(NodeId(i as u32));
        }
    }
    let mut outputs = Vec::new();
    for o in t.outputs {
        outputs.push(match o {
            Some(id) => match em.arg(*id)? {
                Arg::Node(n) => Some(n),
                other => {
                    // A constant output: materialise it as a tensor-free scalar is not expressible.
                    return Err(Error::Internal(format!(
                        "an output became the constant {other:?}"
                    )));
                }
            },
            None => None,
        });
    }
    // the unused calls with effects (after the used ones' earlier ones), then the in-place
    // calls, in order, after everything else (`build::check_functional` made sure nothing
    // reads what they write)
    for in_place in [false, true] {
        for &e in t.effects {
            if em.in_place(e) == in_place {
                em.arg(e)?;
            }
        }
    }
    Ok(Graph {
        name: t.graph.name.clone(),
        kind: t.graph.kind,
        num_fwd_outputs: t.graph.num_fwd_outputs,
        nodes: em.nodes,
        outputs,
    })
}

impl Emitter<'_> {
    /// The original opaque index of a call with effects, if `node` is one.
    fn effect(&self, node: &Lang) -> Option<usize> {
        match node {
            Lang::Call(Op::OPAQUE, c) if !c.is_empty() => {
                let k = match self.sel.get(&self.eg.find(c[0])) {
                    Some(Lang::Int(k)) => *k as usize,
                    _ => return None,
                };
                self.eg.analysis.opaque.get(k)?.effect.then_some(k)
            }
            _ => None,
        }
    }

    /// Whether class `id` is an in-place call ([`crate::ops::is_mutating`]).
    fn in_place(&self, id: Id) -> bool {
        let Some(Lang::Call(Op::OPAQUE, c)) = self.sel.get(&self.eg.find(id)) else {
            return false;
        };
        match c.first().and_then(|k| self.sel.get(&self.eg.find(*k))) {
            Some(Lang::Int(k)) => self
                .eg
                .analysis
                .opaque
                .get(*k as usize)
                .is_some_and(|o| crate::ops::is_mutating(&o.target)),
            _ => false,
        }
    }

    /// The calls with effects reachable from `roots`, in original order.
    fn effects_used(&self, roots: &[Id]) -> Result<Vec<(usize, Id)>> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Id> = roots.iter().map(|&o| self.eg.find(o)).collect();
        let mut found = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let node = self.chosen(id)?;
            if let Some(k) = self.effect(node) {
                if !self.in_place(id) {
                    found.push((k, id));
                }
            }
            stack.extend(node.children().iter().map(|&c| self.eg.find(c)));
        }
        found.sort();
        Ok(found)
    }

    fn chosen(&self, id: Id) -> Result<&Lang> {
        self.sel
            .get(&self.eg.find(id))
            .ok_or_else(|| Error::Internal(format!("no term chosen for e-class {id}")))
    }

    /// The argument value of a class: a literal for attributes, a node for everything else.
    /// Iterative post-order, so deep graphs cannot overflow the stack.
    fn arg(&mut self, root: Id) -> Result<Arg> {
        let mut stack = vec![(self.eg.find(root), false)];
        let mut on_path = HashSet::new();
        while let Some((id, expanded)) = stack.pop() {
            if self.emitted.contains_key(&id) {
                continue;
            }
            let node = self.chosen(id)?.clone();
            let is_value = matches!(&node, Lang::Call(op, _) if *op != Op::LIST && *op != Op::NONE);
            if expanded {
                on_path.remove(&id);
                // in-place calls keep their order apart, last (see `to_graph`)
                let effect = self.effect(&node).filter(|_| !self.in_place(id));
                if let Some(k) = effect {
                    // Earlier calls with effects first, in order (each emits its operands);
                    // one that needs this one is a cycle.
                    if !self.effects_in_progress.insert(k) {
                        return Err(Error::Invalid(format!(
                            "e-class {id}: the calls with effects cannot keep their order"
                        )));
                    }
                    let earlier: Vec<Id> = self
                        .effects
                        .iter()
                        .filter(|&&(j, _)| j < k)
                        .map(|&(_, c)| c)
                        .collect();
                    for c in earlier {
                        if !self.emitted.contains_key(&c) {
                            self.arg(c)?;
                        }
                    }
                }
                if is_value && !self.emitted.contains_key(&id) {
                    let n = self.emit(id, &node)?;
                    self.emitted.insert(id, n);
                }
                if let Some(k) = effect {
                    self.effects_in_progress.remove(&k);
                }
                continue;
            }
            if !on_path.insert(id) {
                return Err(Error::Internal(format!(
                    "cycle through e-class {id} in the extracted term"
                )));
            }
            stack.push((id, true));
            for &c in node.children().iter().rev() {
                let c = self.eg.find(c);
                if on_path.contains(&c) {
                    return Err(Error::Internal(format!(
                        "cycle through e-class {c} in the extracted term"
                    )));
                }
                if !self.emitted.contains_key(&c) {
                    stack.push((c, false));
                }
            }
        }
        self.literal(root)
    }

    /// Converts an already-emitted class (or a literal) into an [`Arg`].
    fn literal(&self, id: Id) -> Result<Arg> {
        let id = self.eg.find(id);
        if let Some(&n) = self.emitted.get(&id) {
            return Ok(Arg::Node(n));
        }
        Ok(match self.chosen(id)? {
            Lang::Int(i) => Arg::Int(*i),
            Lang::Float(x) => Arg::Float(x.get()),
            Lang::Bool(b) => Arg::Bool(*b),
            Lang::Dtype(d) => Arg::Dtype(*d),
            Lang::Attr(a) => match a.split() {
                ("device", v) => Arg::Device(v.into()),
                ("layout", v) => Arg::Layout(v.into()),
                ("memfmt", v) => Arg::MemoryFormat(v.into()),
                (_, v) => Arg::Str(v.into()),
            },
            Lang::Call(Op::NONE, _) => Arg::None,
            Lang::Call(Op::LIST, items) => Arg::List(
                items
                    .iter()
                    .map(|&c| self.literal(c))
                    .collect::<Result<_>>()?,
            ),
            Lang::Call(op, _) => {
                return Err(Error::Internal(format!(
                    "e-class {id} ({op}) was not emitted"
                )))
            }
        })
    }

    fn fresh_name(&mut self, id: Id, op: Op, base: &str) -> String {
        if let Some(v) = self.names.get_mut(&(id, op)) {
            if let Some(n) = v.pop() {
                return n;
            }
        }
        self.fresh(base)
    }

    /// A new name `{base}_fx{k}`, unused so far.
    fn fresh(&mut self, base: &str) -> String {
        if !self.counter.contains_key(base) {
            self.counter.insert(base.to_string(), 0);
        }
        loop {
            let k = self.counter.get_mut(base).expect("inserted above");
            let name = if *k == 0 {
                format!("{base}_fx")
            } else {
                format!("{base}_fx{k}")
            };
            *k += 1;
            if self.used_names.insert(name.clone()) {
                return name;
            }
        }
    }

    fn emit(&mut self, id: Id, node: &Lang) -> Result<NodeId> {
        let (op, children) = match node {
            Lang::Call(op, c) => (*op, c),
            _ => unreachable!("only calls are emitted"),
        };
        let meta = self.eg[id].data.meta.clone();
        let (target, args, kwargs, val, known_strides) = match op {
            Op::INPUT => unreachable!("inputs are emitted first"),
            Op::OPAQUE => {
                let k = match self.chosen(children[0])? {
                    Lang::Int(k) => *k as usize,
                    _ => return Err(Error::Internal("opaque index is not an int".into())),
                };
                let o = &self.eg.analysis.opaque[k];
                let child_args: Vec<Arg> = children
                    .iter()
                    .map(|&c| self.literal(c))
                    .collect::<Result<_>>()?;
                let sub = |a: &Arg| substitute(a, &child_args);
                (
                    o.target.clone(),
                    o.args.iter().map(sub).collect(),
                    o.kwargs.iter().map(|(k, v)| (k.clone(), sub(v))).collect(),
                    o.val.clone(),
                    o.val.tensor().map(|t| t.stride.clone()),
                )
            }
            Op::GETITEM => {
                let args: Vec<Arg> = children
                    .iter()
                    .map(|&c| self.literal(c))
                    .collect::<Result<_>>()?;
                (
                    "getitem".to_string(),
                    args,
                    Vec::new(),
                    self.val_of(&meta, None),
                    None,
                )
            }
            _ if kernel_of(self.target, op).is_some() => self.lower(op, children)?,
            _ if self.lowers_inference(op, children) => {
                // the composite SDPA: the target's kernel, and its output item as the class
                let kernel = self.lower_inference(op, children)?;
                let k = self.push(kernel);
                (
                    "getitem".to_string(),
                    vec![Arg::Node(k), Arg::Int(0)],
                    Vec::new(),
                    self.val_of(&meta, None),
                    None,
                )
            }
            _ if op.name() == "matmul" => self.lower_matmul(children, &meta)?,
            _ => {
                let canon: Vec<Arg> = children
                    .iter()
                    .map(|&c| self.literal(c))
                    .collect::<Result<_>>()?;
                self.call(op, canon, &meta)?
            }
        };
        let name = self.fresh_name(id, op, &base_name(&target));
        self.nodes.push(Node {
            name,
            kind: NodeKind::Call {
                target,
                args,
                kwargs,
            },
            val,
        });
        self.strides.push(known_strides);
        Ok(NodeId(self.nodes.len() as u32 - 1))
    }

    /// The aten call of `op` on canonical args `canon` with result `meta`.
    fn call(&self, op: Op, canon: Vec<Arg>, meta: &Meta) -> Result<Call> {
        let strides = self.stride_for(op, &canon, meta);
        let (mut target, args, kwargs) =
            table().lower_overload(op, &canon).map_err(Error::Invalid)?;
        if op.name() == "view" && strides.is_none() {
            target = "aten.reshape.default".into();
        }
        let val = self.val_of(meta, strides.clone());
        Ok((target, args, kwargs, val, strides))
    }

    /// `matmul` as PyTorch's decomposition writes it ([`crate::ops::lower_matmul`]).
    fn lower_matmul(&mut self, children: &[Id], meta: &Meta) -> Result<Call> {
        let args: Vec<Arg> = children
            .iter()
            .map(|&c| self.literal(c))
            .collect::<Result<_>>()?;
        let metas: Vec<crate::ops::TMeta> = children
            .iter()
            .filter_map(|&c| self.eg[c].data.meta.tensor().cloned())
            .collect();
        let (op, canon) = lower_matmul::lower(self, &args, &metas)?;
        self.call(op, canon, meta)
    }

    /// Pushes a call that has no e-class (a lowering's view or getitem), named afresh.
    fn push(&mut self, (target, args, kwargs, val, strides): Call) -> NodeId {
        let name = self.fresh(&base_name(&target));
        self.nodes.push(Node {
            name,
            kind: NodeKind::Call {
                target,
                args,
                kwargs,
            },
            val,
        });
        self.strides.push(strides);
        NodeId(self.nodes.len() as u32 - 1)
    }

    /// A neutral op's call: the target's kernel ([`crate::ops::lower`]), after the views and
    /// getitems its arguments need, emitted in the order the kernel's arguments name them.
    fn lower(&mut self, op: Op, children: &[Id]) -> Result<Call> {
        let bad = || Error::Internal(format!("{op} cannot be lowered for {}", self.target));
        let eg = self.eg;
        let metas: Vec<&Meta> = children.iter().map(|&c| &eg[c].data.meta).collect();
        let kernel = kernel_for(self.target, op, &metas).ok_or_else(bad)?;
        let (arg_metas, out) = kernel.metas(self.target, &metas).ok_or_else(bad)?;
        self.kernel_call(&kernel, &arg_metas, &out, children)
    }

    /// The call of `kernel` on the arguments built from `children` (metas `arg_metas`).
    fn kernel_call(
        &mut self,
        kernel: &Kernel,
        arg_metas: &[Meta],
        out: &Meta,
        children: &[Id],
    ) -> Result<Call> {
        let mut canon = Vec::new();
        for (piece, meta) in kernel.args.iter().zip(arg_metas) {
            canon.push(match piece {
                Piece::Child(i) => self.literal(children[*i])?,
                Piece::Lit(a) => a.clone(),
                Piece::Expanded { mask, .. } => match self.literal(children[*mask])? {
                    Arg::Node(m) => Arg::Node(self.expand(m, meta)?),
                    other => other,
                },
                // an item the forward returns as a plain value (the CUDA flash kernel's
                // `cum_seq_q/k` = None and `max_q/k`), written as that value, as PyTorch's own
                // traced graphs do: not a node, so no partitioner tries to save it
                Piece::Item { fwd, index } => match meta {
                    Meta::None => Arg::None,
                    Meta::Int(i) => Arg::Int(*i),
                    _ => Arg::Node(self.item(children[*fwd], *index, meta)?),
                },
            });
        }
        self.call(kernel.op, canon, out)
    }

    /// Whether `op` on `children` is a composite SDPA the target's kernel takes
    /// ([`crate::ops::lower::inference_kernel`]) with q, k and v as written: the fused kernels
    /// read each row of q, k, v as contiguous, so each must be known to have a last-dim
    /// stride of 1 (else PyTorch's dispatch picks the math path: the composite stays).
    fn lowers_inference(&self, op: Op, children: &[Id]) -> bool {
        let metas: Vec<&Meta> = children.iter().map(|&c| &self.eg[c].data.meta).collect();
        if inference_kernel(self.target, op, &metas).is_none() {
            return false;
        }
        children[..3].iter().zip(&metas).all(|(&c, m)| {
            let rows_contiguous = |s: &[i64]| s.last() == Some(&1);
            let size_one = m.tensor().is_some_and(|t| t.shape.last() == Some(&1));
            size_one
                || self
                    .literal(c)
                    .ok()
                    .and_then(|a| self.input_strides(&a))
                    .is_some_and(|s| rows_contiguous(&s))
        })
    }

    /// The kernel call a composite SDPA lowers to, after the views its arguments need.
    fn lower_inference(&mut self, op: Op, children: &[Id]) -> Result<Call> {
        let bad = || Error::Internal(format!("{op} cannot be lowered for {}", self.target));
        let eg = self.eg;
        let metas: Vec<&Meta> = children.iter().map(|&c| &eg[c].data.meta).collect();
        let (kernel, arg_metas, out) = inference_kernel(self.target, op, &metas).ok_or_else(bad)?;
        self.kernel_call(&kernel, &arg_metas, &out, children)
    }

    /// `expand(mask, shape, false)` to the shape of `meta`, once per mask.
    fn expand(&mut self, mask: NodeId, meta: &Meta) -> Result<NodeId> {
        if let Some(&n) = self.expanded.get(&mask) {
            return Ok(n);
        }
        let shape = meta.tensor().map(|t| t.shape.clone()).unwrap_or_default();
        let op = table()
            .by_name("expand")
            .ok_or_else(|| Error::Internal("no expand op".into()))?;
        let ints = shape.into_iter().map(Arg::Int).collect();
        let call = self.call(
            op,
            vec![Arg::Node(mask), Arg::List(ints), Arg::Bool(false)],
            meta,
        )?;
        let mut n = self.push(call);
        if self.target == Target::Cuda {
            n = self.align_bias(n, meta)?;
        }
        self.expanded.insert(mask, n);
        Ok(n)
    }

    /// The CUDA memory-efficient kernels read the bias in rows of 16-element aligned
    /// strides: where the key length is not a multiple of 16, the bias is padded with zeros
    /// and sliced back to its length, as PyTorch's own dispatch does (`pad_bias` in its
    /// attention code), so the kernel gets the same values at aligned strides.
    fn align_bias(&mut self, bias: NodeId, meta: &Meta) -> Result<NodeId> {
        const ALIGN: i64 = 16;
        let Some(t) = meta.tensor() else {
            return Ok(bias);
        };
        let Some(&len) = t.shape.last() else {
            return Ok(bias);
        };
        if len % ALIGN == 0 {
            return Ok(bias);
        }
        let op = |name: &str| {
            table()
                .by_name(name)
                .ok_or_else(|| Error::Internal(format!("no {name} op")))
        };
        let mut padded = t.clone();
        let pad = ALIGN - len % ALIGN;
        let last = t.shape.len() - 1;
        padded.shape[last] += pad;
        let pad_call = self.call(
            op("constant_pad_nd")?,
            vec![
                Arg::Node(bias),
                Arg::List(vec![Arg::Int(0), Arg::Int(pad)]),
                Arg::Float(0.0),
            ],
            &Meta::Tensor(padded),
        )?;
        let p = self.push(pad_call);
        let slice = self.call(
            op("slice")?,
            vec![
                Arg::Node(p),
                Arg::Int(last as i64),
                Arg::Int(0),
                Arg::Int(len),
                Arg::Int(1),
            ],
            meta,
        )?;
        Ok(self.push(slice))
    }

    /// `getitem(fwd, index)`: the e-class's node where the e-graph has one and extraction
    /// chose it, else a new getitem, once per forward and index.
    fn item(&mut self, fwd: Id, index: usize, meta: &Meta) -> Result<NodeId> {
        let fwd = self.eg.find(fwd);
        let class = self
            .eg
            .lookup(Lang::Int(index as i64))
            .and_then(|i| self.eg.lookup(Lang::Call(Op::GETITEM, vec![fwd, i].into())));
        if let Some(c) = class.filter(|c| self.sel.contains_key(&self.eg.find(*c))) {
            if let Arg::Node(n) = self.arg(c)? {
                return Ok(n);
            }
        }
        if let Some(&n) = self.items.get(&(fwd, index)) {
            return Ok(n);
        }
        let Arg::Node(f) = self.literal(fwd)? else {
            return Err(Error::Internal(format!("e-class {fwd} is not a call")));
        };
        let args = vec![Arg::Node(f), Arg::Int(index as i64)];
        let n = self.push((
            "getitem".into(),
            args,
            Vec::new(),
            self.val_of(meta, None),
            None,
        ));
        self.items.insert((fwd, index), n);
        Ok(n)
    }

    fn val_of(&self, meta: &Meta, strides: Option<Vec<i64>>) -> Val {
        match (meta, strides) {
            (Meta::Tensor(t), Some(s)) => Val::Tensor(TensorMeta {
                shape: t.shape.clone(),
                dtype: t.dtype,
                stride: s,
            }),
            (m, _) => m.to_val(),
        }
    }

    fn input_strides(&self, a: &Arg) -> Option<Vec<i64>> {
        match a {
            Arg::Node(n) => self.strides[n.index()].clone(),
            _ => None,
        }
    }

    /// Strides of a view op's result, computed from its input's; `None` for a view that is
    /// not provably expressible as a view. Other ops produce contiguous results.
    fn stride_for(&self, op: Op, canon: &[Arg], meta: &Meta) -> Option<Vec<i64>> {
        let out = meta.tensor()?;
        let ints = |a: &Arg| -> Vec<i64> {
            match a {
                Arg::List(v) => v
                    .iter()
                    .filter_map(|x| if let Arg::Int(i) = x { Some(*i) } else { None })
                    .collect(),
                Arg::Int(i) => vec![*i],
                _ => Vec::new(),
            }
        };
        let norm = |d: i64, r: usize| {
            if d < 0 {
                (d + r as i64) as usize
            } else {
                d as usize
            }
        };
        let contiguous = Some(contiguous_strides(&out.shape));
        let src = canon.first().and_then(|a| self.input_strides(a));
        match op.name() {
            "view" => view_strides(&self.in_shape(&canon[0])?, &src?, &out.shape),
            "permute" => {
                let s = src?;
                Some(
                    ints(&canon[1])
                        .iter()
                        .map(|&d| s[norm(d, s.len())])
                        .collect(),
                )
            }
            "transpose" => {
                let mut s = src?;
                let r = s.len();
                if r > 0 {
                    if let (Arg::Int(a), Arg::Int(b)) = (&canon[1], &canon[2]) {
                        s.swap(norm(*a, r), norm(*b, r));
                    }
                }
                Some(s)
            }
            "t" => Some(src?.into_iter().rev().collect()),
            "expand" => {
                let s = src?;
                let ins = self.in_shape(&canon[0])?;
                let lead = out.shape.len() - s.len();
                Some(
                    (0..out.shape.len())
                        .map(|i| {
                            if i < lead || ins[i - lead] != out.shape[i] {
                                0
                            } else {
                                s[i - lead]
                            }
                        })
                        .collect(),
                )
            }
            "unsqueeze" => {
                let mut s = src?;
                let ins = self.in_shape(&canon[0])?;
                let d = norm(ints(&canon[1])[0], s.len() + 1);
                let st = if d < s.len() { s[d] * ins[d] } else { 1 };
                s.insert(d, st);
                Some(s)
            }
            "squeeze" | "select" => {
                let s = src?;
                let ins = self.in_shape(&canon[0])?;
                let dims: Vec<usize> = if op.name() == "select" {
                    vec![norm(ints(&canon[1])[0], s.len())]
                } else if matches!(canon[1], Arg::None) {
                    (0..s.len()).filter(|&i| ins[i] == 1).collect()
                } else {
                    ints(&canon[1])
                        .iter()
                        .map(|&d| norm(d, s.len()))
                        .filter(|&d| ins[d] == 1)
                        .collect()
                };
                Some(
                    s.iter()
                        .enumerate()
                        .filter(|(i, _)| !dims.contains(i))
                        .map(|(_, &x)| x)
                        .collect(),
                )
            }
            "slice" => {
                let mut s = src?;
                let d = norm(ints(&canon[1])[0], s.len());
                s[d] *= ints(&canon[4]).first().copied().unwrap_or(1);
                Some(s)
            }
            "alias" | "detach" => src,
            "mm" | "bmm" | "addmm" | "baddbmm" => contiguous,
            "clone" if matches!(canon.get(1), Some(Arg::MemoryFormat(m)) if m == "contiguous_format") => {
                contiguous
            }
            _ => self.computed_strides(op, canon, out),
        }
    }

    /// Strides of a computed (non-view) result: contiguous when every tensor input is;
    /// for elementwise ops, PyTorch's layout propagation (the dim order of the full-shape
    /// operands, when they agree); otherwise unknown.
    fn computed_strides(&self, op: Op, canon: &[Arg], out: &crate::ops::TMeta) -> Option<Vec<i64>> {
        let contiguous = contiguous_strides(&out.shape);
        let mut inputs: Vec<(Vec<i64>, Option<Vec<i64>>)> = Vec::new();
        for a in canon {
            let mut visit = |a: &Arg| {
                if let Arg::Node(n) = a {
                    if let Some(t) = self.nodes[n.index()].val.tensor() {
                        inputs.push((t.shape.clone(), self.strides[n.index()].clone()));
                    }
                }
            };
            match a {
                Arg::List(items) => items.iter().for_each(&mut visit),
                other => visit(other),
            }
        }
        let is_contig = |(shape, st): &(Vec<i64>, Option<Vec<i64>>)| {
            st.as_ref().is_some_and(|s| {
                shape
                    .iter()
                    .zip(s)
                    .zip(contiguous_strides(shape))
                    .all(|((&d, &x), y)| d <= 1 || x == y)
            })
        };
        if inputs.iter().all(is_contig) {
            return Some(contiguous);
        }
        let elementwise = matches!(
            op.def().class,
            crate::ops::OpClass::Pointwise { .. } | crate::ops::OpClass::Copy
        ) && op.name() != "cat";
        if !elementwise {
            return None;
        }
        let full: Vec<&Vec<i64>> = inputs
            .iter()
            .filter(|(shape, _)| *shape == out.shape)
            .map(|(_, st)| st.as_ref())
            .collect::<Option<Vec<_>>>()?;
        let Some(first) = full.first() else {
            return Some(contiguous);
        };
        let order = dim_order(first, &out.shape);
        if full.iter().any(|st| dim_order(st, &out.shape) != order) {
            return None;
        }
        // Dense strides in that order.
        let mut st = vec![0i64; out.shape.len()];
        let mut acc = 1i64;
        for &d in order.iter().rev() {
            st[d] = acc;
            acc *= out.shape[d].max(1);
        }
        Some(st)
    }

    fn in_shape(&self, a: &Arg) -> Option<Vec<i64>> {
        match a {
            Arg::Node(n) => self.nodes[n.index()].val.tensor().map(|t| t.shape.clone()),
            _ => None,
        }
    }
}

impl lower_matmul::Emit for Emitter<'_> {
    fn viewable(&self, n: NodeId, shape: &[i64]) -> Option<bool> {
        let strides = self.strides[n.index()].as_ref()?;
        let old = self.nodes[n.index()].val.tensor()?;
        Some(view_strides(&old.shape, strides, shape).is_some())
    }

    fn emit_call(&mut self, op: Op, args: Vec<Arg>, out: &Meta) -> Result<NodeId> {
        let call = self.call(op, args, out)?;
        Ok(self.push(call))
    }
}

/// Dims from outermost to innermost by stride (size-1 dims keep their place).
fn dim_order(stride: &[i64], shape: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..shape.len()).collect();
    order.sort_by(|&a, &b| {
        if shape[a] <= 1 || shape[b] <= 1 {
            a.cmp(&b)
        } else {
            stride[b].cmp(&stride[a]).then(a.cmp(&b))
        }
    });
    order
}

/// The name stem of a call: `aten.bmm.default` → `bmm`, leading `_` dropped.
fn base_name(target: &str) -> String {
    target
        .split('.')
        .nth(1)
        .unwrap_or(target)
        .trim_start_matches('_')
        .to_string()
}

fn substitute(a: &Arg, children: &[Arg]) -> Arg {
    match a {
        Arg::Node(n) => children[n.index()].clone(),
        Arg::List(items) => Arg::List(items.iter().map(|x| substitute(x, children)).collect()),
        other => other.clone(),
    }
}

/// PyTorch's `computeStride`: strides of `view(new_shape)` of a tensor with `old` shape and
/// `stride`, or `None` when the view is impossible without a copy.
pub fn view_strides(old: &[i64], stride: &[i64], new: &[i64]) -> Option<Vec<i64>> {
    let numel: i64 = old.iter().product();
    if numel == 0 || old.is_empty() {
        return Some(contiguous_strides(new));
    }
    let mut out = vec![0i64; new.len()];
    let mut view_d = new.len() as i64 - 1;
    let mut chunk_base_stride = *stride.last()?;
    let mut tensor_numel = 1i64;
    let mut view_numel = 1i64;
    for tensor_d in (0..old.len()).rev() {
        tensor_numel *= old[tensor_d];
        if tensor_d == 0
            || (old[tensor_d - 1] != 1 && stride[tensor_d - 1] != tensor_numel * chunk_base_stride)
        {
            while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                out[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= new[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base_stride = stride[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::view_strides;

    #[test]
    fn view_of_transposed_needs_copy() {
        // (2,3) transposed to (3,2) with strides (1,3): flattening is not a view.
        assert_eq!(view_strides(&[3, 2], &[1, 3], &[6]), None);
        assert_eq!(view_strides(&[2, 3], &[3, 1], &[6]), Some(vec![1]));
        assert_eq!(
            view_strides(&[1, 2, 8, 16], &[256, 128, 16, 1], &[2, 8, 16]),
            Some(vec![128, 16, 1])
        );
    }
}
