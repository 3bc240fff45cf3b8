//! Stage 1, classification of a joint graph's nodes (PyTorch's `classify_nodes`) and the op
//! sets the partitioner's bans use (`get_default_op_list`): recomputable, view, random,
//! compute-intensive and fusible ops, all compared by overload packet.
//!
//! Takes a joint graph; gives a [`Classified`]: per node its role (primal, tangent, forward
//! output, gradient), whether it needs tangents, its distance to the backward, its op kinds,
//! users and bytes. Every later stage reads it.

use crate::error::{Error, Result};
use crate::ir::{Graph, GraphKind, NodeId, NodeKind};
use crate::ops::{table, OpClass};

/// Distance of a node that does not lead to the backward (PyTorch's `1e9`).
pub const FAR: u32 = 1_000_000_000;

/// What each node of a joint graph is.
#[derive(Debug, Clone)]
pub struct Classified {
    /// Number of nodes.
    pub n: usize,
    /// `primals_*` placeholders, in order.
    pub primals: Vec<NodeId>,
    /// `tangents_*` placeholders, in order.
    pub tangents: Vec<NodeId>,
    /// The forward outputs (the first `num_fwd_outputs` outputs).
    pub fwd_outputs: Vec<NodeId>,
    /// The gradients (the remaining outputs; `None` where the joint output is null).
    pub grads: Vec<Option<NodeId>>,
    /// Needed by a forward output, computed from primals only.
    pub required_fw: Vec<bool>,
    /// Depends on a tangent.
    pub tangents_closure: Vec<bool>,
    /// Tangent closure plus the gradient nodes.
    pub required_bw: Vec<bool>,
    /// Needed by some output (dead code is ignored).
    pub live: Vec<bool>,
    /// Users of each node (node users only, in graph order, deduplicated).
    pub users: Vec<Vec<NodeId>>,
    /// Node inputs of each node (in argument order, deduplicated).
    pub inputs: Vec<Vec<NodeId>>,
    /// Used by a graph output.
    pub is_output: Vec<bool>,
    /// Index in forward order of each required-forward node (`u32::MAX` otherwise).
    pub fw_order: Vec<u32>,
    /// PyTorch's `dist_from_bw`: 0 for non-forward nodes, `FAR` where no user leads to the
    /// backward.
    pub dist_from_bw: Vec<u32>,
    /// Per node, its op kinds.
    pub kinds: Vec<OpKinds>,
    /// Per node, the bytes of its value.
    pub bytes: Vec<u64>,
}

impl Classified {
    /// Whether node `i` shares its first input's storage (a view or a `getitem`).
    pub fn aliases(&self, i: usize) -> bool {
        self.kinds[i].view || self.kinds[i].getitem
    }
}

/// The op-set memberships of one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpKinds {
    /// A call (not a placeholder or get_attr).
    pub call: bool,
    /// `getitem`.
    pub getitem: bool,
    /// In PyTorch's `view_ops`.
    pub view: bool,
    /// In PyTorch's `recomputable_ops` (or a pointwise ATen op of the op table); `getitem`
    /// is recomputable as in PyTorch 2.15.
    pub recomputable: bool,
    /// A random op ([`crate::ops::random`], a superset of PyTorch's `random_ops`).
    pub random: bool,
    /// An op that may have effects ([`crate::ops::has_effects`]: random, or outside
    /// `aten`/`prims`): never recomputed, never merged by CSE.
    pub effects: bool,
    /// In PyTorch's `compute_intensive_ops` (plus `baddbmm`).
    pub compute_intensive: bool,
    /// `cat`.
    pub cat: bool,
}

impl OpKinds {
    /// PyTorch's `op_types.is_fusible`: recomputable or random.
    pub fn fusible(&self) -> bool {
        self.call && (self.recomputable || self.random)
    }
}

const VIEW_OPS: &[&str] = &[
    "squeeze",
    "unsqueeze",
    "alias",
    "view",
    "slice",
    "t",
    "broadcast_in_dim",
    "expand",
    "as_strided",
    "permute",
    "select",
    "split",
];

const COMPUTE_INTENSIVE_OPS: &[&str] = &[
    "mm",
    "bmm",
    "addmm",
    "baddbmm",
    "convolution",
    "convolution_backward",
    "_scaled_dot_product_flash_attention",
    // not in PyTorch 2.15's list (its CUDA siblings are); without it, denylist mode would
    // recompute CPU attention for free
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_flash_attention_forward",
    "_efficient_attention_forward",
    "upsample_bilinear2d",
    "_scaled_mm",
];

const RECOMPUTABLE_OPS: &[&str] = &[
    // elementwise arithmetic, comparison, bitwise
    "add",
    "sub",
    "div",
    "atan2",
    "mul",
    "max",
    "min",
    "pow",
    "remainder",
    "fmod",
    "__and__",
    "__or__",
    "__xor__",
    "__lshift__",
    "__rshift__",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "eq",
    "ne",
    "ge",
    "gt",
    "le",
    "lt",
    "maximum",
    "minimum",
    // unary math
    "abs",
    "bitwise_not",
    "ceil",
    "floor",
    "frac",
    "neg",
    "relu",
    "round",
    "silu",
    "trunc",
    "log",
    "log10",
    "log1p",
    "log2",
    "lgamma",
    "exp",
    "expm1",
    "erf",
    "erfc",
    "cos",
    "acos",
    "cosh",
    "sin",
    "asin",
    "sinh",
    "tan",
    "atan",
    "tanh",
    "atanh",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "sigmoid",
    "softplus",
    "threshold",
    "threshold_backward",
    "clamp",
    "where",
    "lerp",
    "addcmul",
    "gelu",
    "gelu_backward",
    "rsub",
    "sign",
    "isinf",
    "isnan",
    "logical_not",
    "logical_and",
    "logical_or",
    "square",
    "exp2",
    "copysign",
    "signbit",
    "sigmoid_backward",
    "tanh_backward",
    "silu_backward",
    "clamp_min",
    "clamp_max",
    "masked_fill",
    "sgn",
    "nan_to_num",
    "hypot",
    "addcdiv",
    "mish",
    "hardtanh",
    "leaky_relu",
    "elu",
    "hardsigmoid",
    "hardswish",
    "logit",
    "xlogy",
    "heaviside",
    "digamma",
    "erfinv",
    "i0",
    "fill",
    "true_divide",
    "floor_divide",
    // reductions
    "sum",
    "mean",
    "amax",
    "amin",
    "var",
    "std",
    "var_mean",
    "_grad_sum_to_size",
    "sum_to_size",
    "argmax",
    "any",
    "prepare_softmax_online",
    // casts and copies
    "to",
    "_to_copy",
    "type_as",
    "convert_element_type",
    "clone",
    // factories
    "full",
    "full_like",
    "zeros",
    "zeros_like",
    "new_zeros",
    "ones",
    "empty",
    "empty_like",
    "arange",
    "iota",
    "scalar_tensor",
    "lift_fresh_copy",
    "triu",
    // shape ops
    "broadcast_tensors",
    "reshape",
    "_unsafe_view",
    // indexing
    "index",
    "gather",
    "_low_memory_max_pool_offsets_to_indices",
];

/// The overload packet of a target: `aten.add.Tensor` → `add`, `getitem` → `getitem`.
pub fn packet(target: &str) -> &str {
    let mut parts = target.split('.');
    match (parts.next(), parts.next()) {
        (Some(_), Some(op)) => op,
        (Some(t), None) => t,
        _ => target,
    }
}

/// The op kinds of a call target.
pub fn op_kinds(target: &str) -> OpKinds {
    let p = packet(target);
    // PyTorch adds every ATen op tagged `pointwise`; the op table's pointwise class stands in
    // for the tag (prims are not ATen ops: `prims.fma` is not recomputable in PyTorch)
    let pointwise = target.starts_with("aten.")
        && matches!(
            table().by_target(target).map(|(op, _)| op.def().class),
            Some(OpClass::Pointwise { .. })
        );
    let getitem = target == "getitem";
    let view = VIEW_OPS.contains(&p);
    OpKinds {
        call: true,
        getitem,
        view,
        recomputable: getitem || view || RECOMPUTABLE_OPS.contains(&p) || pointwise,
        random: crate::ops::is_random(target),
        effects: crate::ops::has_effects(target),
        compute_intensive: COMPUTE_INTENSIVE_OPS.contains(&p),
        cat: p == "cat",
    }
}

/// PyTorch's `is_fusible(a, b)`.
pub fn is_fusible(a: &OpKinds, b: &OpKinds) -> bool {
    b.cat || (a.fusible() && b.fusible())
}

/// Classifies a joint graph; errors name what makes it not one.
pub fn classify(g: &Graph) -> Result<Classified> {
    if g.kind != GraphKind::Joint {
        return Err(Error::Invalid(format!(
            "{}: partition needs a joint graph (kind \"joint\"), this one has kind \"{}\"",
            g.name,
            g.kind.as_str()
        )));
    }
    let nf = g.num_fwd_outputs.ok_or_else(|| {
        Error::Invalid(format!(
            "{}: a joint graph needs num_fwd_outputs to be partitioned",
            g.name
        ))
    })?;
    if nf > g.outputs.len() {
        return Err(Error::Invalid(format!(
            "{}: num_fwd_outputs is {nf} but the graph has {} outputs",
            g.name,
            g.outputs.len()
        )));
    }
    let n = g.nodes.len();
    let mut primals = Vec::new();
    let mut tangents = Vec::new();
    let mut is_tangent = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        if node.kind == NodeKind::Placeholder {
            if node.name.starts_with("primals") {
                primals.push(NodeId(i as u32));
            } else if node.name.starts_with("tangents") {
                tangents.push(NodeId(i as u32));
                is_tangent[i] = true;
            } else {
                return Err(Error::Invalid(format!(
                    "{}: placeholder `{}` is neither primals_* nor tangents_* (not an AOTAutograd joint graph)",
                    g.name, node.name
                )));
            }
        }
    }
    let mut fwd_outputs = Vec::with_capacity(nf);
    for (k, o) in g.outputs[..nf].iter().enumerate() {
        match o {
            Some(id) => fwd_outputs.push(*id),
            None => {
                return Err(Error::Invalid(format!(
                    "{}: forward output {k} is null",
                    g.name
                )))
            }
        }
    }
    let grads: Vec<Option<NodeId>> = g.outputs[nf..].to_vec();

    // inputs and users
    let mut inputs: Vec<Vec<NodeId>> = Vec::with_capacity(n);
    let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for (i, node) in g.nodes.iter().enumerate() {
        let mut ins = Vec::new();
        node.for_each_input(|x| {
            if !ins.contains(&x) {
                ins.push(x)
            }
        });
        for &x in &ins {
            users[x.index()].push(NodeId(i as u32));
        }
        inputs.push(ins);
    }
    let mut is_output = vec![false; n];
    for o in g.outputs.iter().flatten() {
        is_output[o.index()] = true;
    }

    // tangent closure: tangents and everything depending on them
    let mut tangents_closure = is_tangent.clone();
    for i in 0..n {
        if !tangents_closure[i] && inputs[i].iter().any(|x| tangents_closure[x.index()]) {
            tangents_closure[i] = true;
        }
    }
    // liveness and forward requirement (ancestors of outputs / of forward outputs)
    let ancestors = |roots: &mut dyn Iterator<Item = NodeId>| {
        let mut mark = vec![false; n];
        let mut stack: Vec<NodeId> = roots.collect();
        while let Some(x) = stack.pop() {
            if !mark[x.index()] {
                mark[x.index()] = true;
                stack.extend(inputs[x.index()].iter().copied());
            }
        }
        mark
    };
    let live = ancestors(&mut g.outputs.iter().flatten().copied());
    let required_fw = ancestors(&mut fwd_outputs.iter().copied());
    if let Some(i) = (0..n).find(|&i| required_fw[i] && tangents_closure[i]) {
        return Err(Error::Invalid(format!(
            "{}: forward output depends on tangent-dependent node `{}` (bad num_fwd_outputs?)",
            g.name, g.nodes[i].name
        )));
    }
    let mut required_bw = tangents_closure.clone();
    for x in grads.iter().flatten() {
        required_bw[x.index()] = true;
    }
    let mut fw_order = vec![u32::MAX; n];
    let mut k = 0;
    for i in 0..n {
        if required_fw[i] {
            fw_order[i] = k;
            k += 1;
        }
    }
    // dist_from_bw, in reverse order
    let mut dist_from_bw = vec![0u32; n];
    for i in (0..n).rev() {
        if !required_fw[i] {
            dist_from_bw[i] = 0;
            continue;
        }
        let mut d = FAR;
        for u in &users[i] {
            d = d.min(dist_from_bw[u.index()].saturating_add(1));
        }
        dist_from_bw[i] = d;
    }
    let kinds = g
        .nodes
        .iter()
        .map(|node| match &node.kind {
            NodeKind::Call { target, .. } => op_kinds(target),
            _ => OpKinds::default(),
        })
        .collect();
    Ok(Classified {
        n,
        primals,
        tangents,
        fwd_outputs,
        grads,
        required_fw,
        tangents_closure,
        required_bw,
        live,
        users,
        inputs,
        is_output,
        fw_order,
        dist_from_bw,
        kinds,
        bytes: g.nodes.iter().map(|n| n.val.bytes()).collect(),
    })
}
