//! The in-memory graph: what FX-JSON describes, without any serde types.
//!
//! A [`Graph`] is a list of [`Node`]s in topological order plus the list of outputs.
//! Arguments ([`Arg`]) refer to earlier nodes by [`NodeId`] (their index).

pub mod dtype;
mod meta;

pub use dtype::DType;
pub use meta::{contiguous_strides, TensorMeta, Val};

/// Index of a node in [`Graph::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What kind of graph a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// An inference graph.
    Forward,
    /// AOTAutograd's joint forward+backward graph.
    Joint,
    /// The forward half produced by a partitioner.
    Fw,
    /// The backward half produced by a partitioner.
    Bw,
}

impl GraphKind {
    /// The FX-JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphKind::Forward => "forward",
            GraphKind::Joint => "joint",
            GraphKind::Fw => "fw",
            GraphKind::Bw => "bw",
        }
    }

    /// Parses the FX-JSON spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "forward" => GraphKind::Forward,
            "joint" => GraphKind::Joint,
            "fw" => GraphKind::Fw,
            "bw" => GraphKind::Bw,
            _ => return None,
        })
    }
}

/// An argument of a call (or an entry of the output list).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Python `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float (possibly non-finite).
    Float(f64),
    /// A string.
    Str(String),
    /// A list or tuple.
    List(Vec<Arg>),
    /// A reference to an earlier node.
    Node(NodeId),
    /// A `torch.dtype`.
    Dtype(DType),
    /// A `torch.device`, e.g. `cpu` or `cuda:0`.
    Device(String),
    /// A `torch.layout`, e.g. `strided`.
    Layout(String),
    /// A `torch.memory_format`.
    MemoryFormat(String),
}

impl Arg {
    /// The same argument with every node reference `n` replaced by `f(n)`.
    pub fn map_nodes(&self, f: &mut impl FnMut(NodeId) -> NodeId) -> Arg {
        match self {
            Arg::Node(n) => Arg::Node(f(*n)),
            Arg::List(items) => Arg::List(items.iter().map(|x| x.map_nodes(f)).collect()),
            other => other.clone(),
        }
    }

    /// Calls `f` on every node this argument refers to.
    pub fn for_each_node(&self, f: &mut impl FnMut(NodeId)) {
        match self {
            Arg::Node(n) => f(*n),
            Arg::List(items) => items.iter().for_each(|a| a.for_each_node(f)),
            _ => {}
        }
    }
}

/// What a node does.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A graph input.
    Placeholder,
    /// A constant held by the module (treated as an opaque input).
    GetAttr(String),
    /// A call of `target` (e.g. `aten.view.default`).
    Call {
        /// `<namespace>.<op>.<overload>` or `getitem`.
        target: String,
        /// Positional arguments.
        args: Vec<Arg>,
        /// Keyword arguments, in document order.
        kwargs: Vec<(String, Arg)>,
    },
}

/// One node of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// What it does.
    pub kind: NodeKind,
    /// Its value's metadata.
    pub val: Val,
}

impl Node {
    /// The call target, if this is a call.
    pub fn target(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Call { target, .. } => Some(target),
            _ => None,
        }
    }

    /// A copy whose arguments refer to `f(n)` instead of each node `n`.
    pub fn map_inputs(&self, mut f: impl FnMut(NodeId) -> NodeId) -> Node {
        let kind = match &self.kind {
            NodeKind::Call {
                target,
                args,
                kwargs,
            } => NodeKind::Call {
                target: target.clone(),
                args: args.iter().map(|a| a.map_nodes(&mut f)).collect(),
                kwargs: kwargs
                    .iter()
                    .map(|(k, a)| (k.clone(), a.map_nodes(&mut f)))
                    .collect(),
            },
            other => other.clone(),
        };
        Node {
            name: self.name.clone(),
            kind,
            val: self.val.clone(),
        }
    }

    /// Replaces, in place, every node `n` its arguments refer to by `f(n)`.
    pub fn remap_inputs(&mut self, mut f: impl FnMut(NodeId) -> NodeId) {
        fn remap(a: &mut Arg, f: &mut impl FnMut(NodeId) -> NodeId) {
            match a {
                Arg::Node(n) => *n = f(*n),
                Arg::List(items) => items.iter_mut().for_each(|x| remap(x, f)),
                _ => {}
            }
        }
        if let NodeKind::Call { args, kwargs, .. } = &mut self.kind {
            args.iter_mut().for_each(|a| remap(a, &mut f));
            kwargs.iter_mut().for_each(|(_, a)| remap(a, &mut f));
        }
    }

    /// A hash of what the node computes (its kind, arguments and value, not its name): equal
    /// nodes hash equal; compare with [`Node::same_computation`] to be sure.
    pub fn structural_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        fn arg(a: &Arg, h: &mut impl Hasher) {
            std::mem::discriminant(a).hash(h);
            match a {
                Arg::Bool(b) => b.hash(h),
                Arg::Int(i) => i.hash(h),
                Arg::Float(x) => x.to_bits().hash(h),
                Arg::Str(s) | Arg::Device(s) | Arg::Layout(s) | Arg::MemoryFormat(s) => s.hash(h),
                Arg::List(items) => {
                    items.len().hash(h);
                    items.iter().for_each(|x| arg(x, h));
                }
                Arg::Node(n) => n.hash(h),
                Arg::Dtype(d) => d.hash(h),
                Arg::None => {}
            }
        }
        let mut h = rustc_hash::FxHasher::default();
        match &self.kind {
            NodeKind::Placeholder => 0u8.hash(&mut h),
            NodeKind::GetAttr(s) => s.hash(&mut h),
            NodeKind::Call {
                target,
                args,
                kwargs,
            } => {
                target.hash(&mut h);
                args.iter().for_each(|a| arg(a, &mut h));
                for (k, a) in kwargs {
                    k.hash(&mut h);
                    arg(a, &mut h);
                }
            }
        }
        if let Val::Tensor(t) = &self.val {
            t.hash(&mut h);
        }
        h.finish()
    }

    /// Whether two nodes compute the same (kind, arguments and value; names aside). Floats
    /// compare by value, so a NaN argument is never the same.
    pub fn same_computation(&self, other: &Node) -> bool {
        self.kind == other.kind && self.val == other.val
    }

    /// Calls `f` on every node this node's arguments refer to.
    pub fn for_each_input(&self, mut f: impl FnMut(NodeId)) {
        if let NodeKind::Call { args, kwargs, .. } = &self.kind {
            args.iter().for_each(|a| a.for_each_node(&mut f));
            kwargs.iter().for_each(|(_, a)| a.for_each_node(&mut f));
        }
    }
}

/// A whole graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Free text used in reports.
    pub name: String,
    /// Inference, joint, fw or bw.
    pub kind: GraphKind,
    /// Joint graphs: how many of the outputs are forward outputs.
    pub num_fwd_outputs: Option<usize>,
    /// Nodes in topological order (no output node: see `outputs`).
    pub nodes: Vec<Node>,
    /// The output list; `None` entries are allowed in joint graphs.
    pub outputs: Vec<Option<NodeId>>,
}

impl Graph {
    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Ids of the placeholder nodes, in order.
    pub fn placeholders(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|&i| matches!(self.node(i).kind, NodeKind::Placeholder))
            .collect()
    }

    /// Per node, whether it depends on a tangent (a joint graph's `tangents_*` placeholders).
    pub fn tangent_dependent(&self) -> Vec<bool> {
        let mut dep = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let mut d = n.kind == NodeKind::Placeholder && n.name.starts_with("tangents");
            n.for_each_input(|x| d |= dep[x.index()]);
            dep[i] = d;
        }
        dep
    }

    /// Number of users of each node (outputs count as users).
    pub fn user_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        for n in &self.nodes {
            n.for_each_input(|i| counts[i.index()] += 1);
        }
        for o in self.outputs.iter().flatten() {
            counts[o.index()] += 1;
        }
        counts
    }
}
