//! The cost model: device profiles (data files under `profiles/`) and a roofline estimate per
//! e-node: `max(flops / peak, bytes / bandwidth) + launch overhead`. Views, attributes and
//! inputs cost nothing.
//!
//! ```
//! let p = fxsat::cost::Profile::named("h100").unwrap();
//! assert!(p.bandwidth > 1e12);
//! ```

mod graph;

pub use crate::target::Profile;
pub use graph::{graph_cost, is_fused_attention_kernel, node_cost};

use crate::egraph::{FxEGraph, Lang};
use crate::error::Result;
use crate::ops::{Meta, Op, OpClass, TMeta};
use crate::target::Target;

/// Estimated work of one e-node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    /// Floating-point operations.
    pub flops: f64,
    /// Bytes read and written.
    pub bytes: f64,
    /// Kernel launches (0 for free ops).
    pub launches: f64,
    /// Fraction of peak the compute part reaches (misaligned matmuls are slower).
    pub efficiency: f64,
}

/// A phantom's work: infinite, so that it is never extracted.
const PHANTOM: Work = Work {
    flops: f64::INFINITY,
    bytes: f64::INFINITY,
    launches: 1.0,
    efficiency: 1.0,
};

/// A cost model for one device.
#[derive(Debug, Clone)]
pub struct Model {
    /// The device profile.
    pub profile: Profile,
    /// The target the neutral ops lower to ([`crate::ops::lower`]): they are priced as its
    /// kernels.
    pub target: Target,
}

impl Model {
    /// A model over `profile`.
    pub fn new(profile: Profile) -> Self {
        Model {
            profile,
            target: Target::default(),
        }
    }

    /// A model over `profile`, or over the target's default profile.
    pub fn for_target(target: Target, profile: Option<&Profile>) -> Result<Self> {
        Ok(Model {
            target,
            ..Model::new(target.profile_or_default(profile)?)
        })
    }

    /// Estimated seconds of one e-node of class `id`.
    pub fn node_cost(&self, eg: &FxEGraph, id: egg::Id, node: &Lang) -> f64 {
        let w = self.work(eg, id, node);
        self.seconds(&w, dtype_of(eg, node))
    }

    /// Seconds for `w` on this device.
    pub fn seconds(&self, w: &Work, dtype: Option<crate::ir::DType>) -> f64 {
        if w.launches == 0.0 && w.flops == 0.0 && w.bytes == 0.0 {
            return 0.0;
        }
        let peak = self.profile.peak(dtype) * w.efficiency.max(1e-3);
        (w.flops / peak).max(w.bytes / self.profile.bandwidth)
            + w.launches * self.profile.launch_overhead
    }

    /// The work of one e-node, from its own and its children's metas.
    pub fn work(&self, eg: &FxEGraph, id: egg::Id, node: &Lang) -> Work {
        let Lang::Call(op, children) = node else {
            return Work::default();
        };
        let metas: Vec<&Meta> = children.iter().map(|&c| &eg[c].data.meta).collect();
        let out = &eg[id].data.meta;
        // ops Inductor folds into the kernel that produces their operand: no launch, no read
        // of their own, only what they add to that kernel's writes
        let folded = match op.name() {
            // the producer writes straight into the padded buffer; what is left is
            // filling the pad region with zeros
            "constant_pad_nd" => metas.first().map(|m| out.bytes().saturating_sub(m.bytes())),
            // the producer stores the cast value too. Priced as a kernel of its own, a
            // cast of a wide value (read 4 bytes, write 2) cost more than recomputing the
            // value from a narrow input (a bf16 softmax: read 2, write 2), so extraction
            // computed one softmax twice: in float32 for the backward and again in
            // bfloat16 for the forward, where the graph cast the float32 one.
            "convert_element_type" => Some(out.bytes()),
            _ => None,
        };
        if let Some(bytes) = folded.filter(|_| children.first().is_some_and(|&c| fusible(eg, c))) {
            return Work {
                flops: 0.0,
                bytes: bytes as f64,
                launches: 0.0,
                efficiency: 1.0,
            };
        }
        if let Some((k, args, out)) = crate::ops::lower::inference_kernel(self.target, *op, &metas)
        {
            // the composite SDPA written as the kernel it lowers to: priced as that kernel (so
            // that the written graph, imported again, costs the same), less a hair, so that
            // extraction keeps it over the training rules' equal-cost `getitem(sdpa_fwd, 0)` on
            // forward graphs: only the composite's lowering checks q/k/v strides and can stay
            // composite (`egraph::to_graph`)
            let mut w = self.work_of(k.op, &args.iter().collect::<Vec<_>>(), &out);
            w.flops *= 1.0 - 1e-10;
            w.bytes *= 1.0 - 1e-10;
            return w;
        }
        if let Some(k) = crate::ops::lower::kernel_for(self.target, *op, &metas) {
            return self.kernel_work(&k, &metas);
        }
        self.work_of(*op, &metas, out)
    }

    /// A neutral op's work: that of the kernel it lowers to on the model's target, or a
    /// phantom's (infinite) where the kernel does not take its arguments.
    fn kernel_work(&self, k: &crate::ops::lower::Kernel, metas: &[&Meta]) -> Work {
        match k.metas(self.target, metas) {
            Some((args, out)) => self.work_of(k.op, &args.iter().collect::<Vec<_>>(), &out),
            None => PHANTOM,
        }
    }

    /// The work of one call of `op` on arguments with metas `metas` producing `out`
    /// (also used on plain graphs, e.g. for the partitioner's recompute cost).
    pub fn work_of(&self, op: Op, metas: &[&Meta], out: &Meta) -> Work {
        let out_bytes = |m: &Meta| m.bytes() as f64;
        let in_bytes: f64 = metas.iter().map(|m| m.bytes() as f64).sum();
        let class = match op {
            Op::INPUT | Op::LIST | Op::NONE | Op::GETITEM => OpClass::Free,
            Op::OPAQUE => OpClass::Factory,
            _ => op.def().class,
        };
        let out = out.clone();
        let w = |flops: f64, bytes: f64| Work {
            flops,
            bytes,
            launches: 1.0,
            efficiency: 1.0,
        };
        if let Some(work) = index_work(op.name(), metas, &out) {
            return work;
        }
        match class {
            OpClass::Free | OpClass::View => Work::default(),
            OpClass::Factory => w(0.0, out_bytes(&out)),
            OpClass::Copy => w(0.0, in_bytes + out_bytes(&out)),
            OpClass::Pointwise { flops } => w(flops * numel(&out), in_bytes + out_bytes(&out)),
            OpClass::Reduction => w(
                metas.first().map_or(0.0, |m| numel(m)) * 2.0,
                in_bytes + out_bytes(&out),
            ),
            OpClass::Attention => Work {
                efficiency: attention_efficiency(op.name(), metas),
                ..w(
                    causal_fraction(op.name(), metas)
                        * attention_flops(metas.first(), metas.get(1), metas.get(2)),
                    in_bytes + out_bytes(&out),
                )
            },
            OpClass::AttentionBackward => Work {
                efficiency: attention_efficiency(op.name(), metas),
                ..w(
                    2.5 * causal_fraction(op.name(), metas)
                        * attention_flops(metas.get(1), metas.get(2), metas.get(3)),
                    in_bytes + out_bytes(&out),
                )
            },
            OpClass::Phantom => PHANTOM,
            OpClass::Matmul => {
                let (flops, dims) = matmul_flops(op.name(), metas, &out);
                let mut work = w(flops, in_bytes + out_bytes(&out));
                if let (Some(t), Some(align)) = (
                    out.tensor(),
                    out.tensor().and_then(|t| self.profile.alignment(t.dtype)),
                ) {
                    // A dim of size 1 is squeezable: cuBLAS does not slow down for it, and
                    // Inductor's pad_mm never pads it.
                    if dims.iter().any(|&d| d != 1 && d % align != 0) {
                        work.efficiency = self.profile.misaligned_efficiency(t.dtype);
                    }
                }
                work
            }
        }
    }
}

/// The fraction of peak the CUDA attention kernels' flops run at, relative to the flash
/// kernel, by kernel and by whether it reads a bias (an explicit mask) — the one place the
/// cost model tells the kernels apart. Measured on an H200, LLaMA shape B4×H16×L2048×D128
/// bfloat16, forward + backward (issue 18): flash with `is_causal` 1.38 ms, memory-efficient
/// with `is_causal` 2.45 ms, memory-efficient with a mask 4.4 ms (decomposed: 6.9 ms); the
/// causal calls compute about half the scores ([`causal_fraction`]), the masked one all of
/// them. To be calibrated per profile. Other kernels (the CPU flash kernel, the composite)
/// run at 1.
pub const ATTENTION_EFFICIENCY: &[(&str, bool, f64)] = &[
    ("_scaled_dot_product_flash_attention", false, 1.0),
    ("_scaled_dot_product_flash_attention_backward", false, 1.0),
    (
        "_scaled_dot_product_efficient_attention",
        false,
        1.38 / 2.45,
    ),
    (
        "_scaled_dot_product_efficient_attention_backward",
        false,
        1.38 / 2.45,
    ),
    (
        "_scaled_dot_product_efficient_attention",
        true,
        2.0 * 1.38 / 4.4,
    ),
    (
        "_scaled_dot_product_efficient_attention_backward",
        true,
        2.0 * 1.38 / 4.4,
    ),
];

/// The [`ATTENTION_EFFICIENCY`] of one call of attention kernel `name` on `metas`.
fn attention_efficiency(name: &str, metas: &[&Meta]) -> f64 {
    let bias_at = match name {
        "_scaled_dot_product_efficient_attention" => 3,
        "_scaled_dot_product_efficient_attention_backward" => 4,
        _ => usize::MAX,
    };
    let bias = matches!(metas.get(bias_at), Some(Meta::Tensor(_)));
    ATTENTION_EFFICIENCY
        .iter()
        .find(|(n, b, _)| *n == name && *b == bias)
        .map_or(1.0, |e| e.2)
}

/// The share of the scores a call computes: `(L + 1) / 2L` for `is_causal=True` (the
/// kernels skip the blocks above the diagonal), 1 otherwise.
fn causal_fraction(name: &str, metas: &[&Meta]) -> f64 {
    let at = match name {
        "scaled_dot_product_attention" => 5,
        "_scaled_dot_product_flash_attention_for_cpu" | "_scaled_dot_product_flash_attention" => 4,
        "_scaled_dot_product_flash_attention_for_cpu_backward" => 7,
        "_scaled_dot_product_efficient_attention" => 6,
        "_scaled_dot_product_efficient_attention_backward"
        | "_scaled_dot_product_flash_attention_backward" => 11,
        _ => return 1.0,
    };
    let q = if name.ends_with("_backward") { 1 } else { 0 };
    match (metas.get(at), metas.get(q).and_then(|m| m.tensor())) {
        (Some(Meta::Bool(true)), Some(q)) if q.rank() >= 2 => {
            let l = q.shape[q.rank() - 2].max(1) as f64;
            (l + 1.0) / (2.0 * l)
        }
        _ => 1.0,
    }
}

/// Flops of attention over q [.., L, E], k [.., S, E], v [.., S, Ev]: the two matmuls and
/// the softmax.
fn attention_flops(q: Option<&&Meta>, k: Option<&&Meta>, v: Option<&&Meta>) -> f64 {
    match (
        q.and_then(|m| m.tensor()),
        k.and_then(|m| m.tensor()),
        v.and_then(|m| m.tensor()),
    ) {
        (Some(q), Some(k), Some(v)) if q.rank() >= 2 && k.rank() >= 2 && v.rank() >= 2 => {
            let r = q.rank();
            let (l, e) = (q.shape[r - 2], q.shape[r - 1]);
            let (s, ev) = (k.shape[k.rank() - 2], v.shape[v.rank() - 1]);
            let batch: i64 = q.shape[..r - 2].iter().product();
            (2 * batch * l * s * (e + ev)) as f64 + 5.0 * (batch * l * s) as f64
        }
        _ => 0.0,
    }
}

/// Whether the class's value comes from an op Inductor fuses with what follows (pointwise
/// or reduction), so a pad of it can be written by its producer (Inductor's
/// `should_exclude_padding_time`: not an input, not a matmul, convolution or attention).
fn fusible(eg: &FxEGraph, class: egg::Id) -> bool {
    let nodes = &eg[class].nodes;
    let class_of = |n: &Lang| match n {
        Lang::Call(op, _) if matches!(*op, Op::INPUT | Op::OPAQUE) => None,
        Lang::Call(op, _) => Some(op.def().class),
        _ => None,
    };
    nodes.iter().all(|n| {
        !matches!(n, Lang::Call(op, _) if matches!(*op, Op::INPUT | Op::OPAQUE))
            && !matches!(class_of(n), Some(OpClass::Matmul | OpClass::Attention))
    }) && nodes.iter().any(|n| {
        matches!(
            class_of(n),
            Some(OpClass::Pointwise { .. } | OpClass::Reduction)
        )
    })
}

/// Bytes of the tensors of a value, lists included (index lists).
fn all_bytes(m: &Meta) -> f64 {
    match m {
        Meta::List(items) => items.iter().map(all_bytes).sum(),
        other => other.bytes() as f64,
    }
}

/// Gathers and scatters by index tensors, priced by what they touch:
/// * `index` / `_unsafe_index` read the gathered rows and the indices and write the result;
///   the checked `index` reads the indices once more (the bounds check).
/// * `index_put` / `_unsafe_index_put` are out of place: copy `self`, read values and
///   indices, write the rows; the checked form reads the indices once more. With
///   `accumulate=True` repeated indices must add up in order: PyTorch sorts the indices first
///   (CUDA `index_put_with_sort_kernel`: linearise, radix sort, accumulate), modelled as three
///   more launches and two more passes over the indices (keys and positions).
fn index_work(name: &str, metas: &[&Meta], out: &Meta) -> Option<Work> {
    let idx = metas.get(1).map_or(0.0, |m| all_bytes(m));
    let w = |bytes: f64, launches: f64| Work {
        flops: 0.0,
        bytes,
        launches,
        efficiency: 1.0,
    };
    match name {
        "index" | "_unsafe_index" => {
            let checked = (name == "index") as u8 as f64;
            Some(w(2.0 * out.bytes() as f64 + idx * (1.0 + checked), 1.0))
        }
        "index_put" | "_unsafe_index_put" => {
            let checked = (name == "index_put") as u8 as f64;
            let values = metas.get(2).map_or(0.0, |m| m.bytes() as f64);
            let base = 2.0 * out.bytes() as f64 + values + idx * (1.0 + checked);
            if matches!(metas.get(3), Some(Meta::Bool(true))) {
                Some(w(base + 4.0 * idx, 4.0))
            } else {
                Some(w(base, 1.0))
            }
        }
        _ => None,
    }
}

fn numel(m: &Meta) -> f64 {
    match m {
        Meta::Tensor(t) => t.numel() as f64,
        Meta::Tuple(items) => items.iter().map(numel).sum(),
        _ => 0.0,
    }
}

fn dtype_of(eg: &FxEGraph, node: &Lang) -> Option<crate::ir::DType> {
    let children = match node {
        Lang::Call(_, c) => c,
        _ => return None,
    };
    children
        .iter()
        .find_map(|&c| eg[c].data.meta.tensor().map(|t| t.dtype))
}

/// Flops of a matmul-class op and its (m, n, k) dims for the alignment check.
fn matmul_flops(name: &str, a: &[&Meta], out: &Meta) -> (f64, Vec<i64>) {
    let t = |i: usize| a.get(i).and_then(|m| m.tensor());
    let mm = |x: Option<&TMeta>, y: Option<&TMeta>| -> (f64, Vec<i64>) {
        match (x, y) {
            (Some(x), Some(y)) if x.rank() >= 2 && y.rank() >= 2 => {
                let (m, k) = (x.shape[x.rank() - 2], x.shape[x.rank() - 1]);
                let n = y.shape[y.rank() - 1];
                let batch: i64 = x.shape[..x.rank() - 2].iter().product();
                (2.0 * (batch * m * n * k) as f64, vec![m, n, k])
            }
            _ => (0.0, Vec::new()),
        }
    };
    match name {
        "mm" | "bmm" | "matmul" => mm(t(0), t(1)),
        "addmm" | "baddbmm" => mm(t(1), t(2)),
        "convolution" => {
            let w = t(1);
            let per_out = w.map_or(0.0, |w| w.shape[1..].iter().product::<i64>() as f64);
            (2.0 * numel(out) * per_out, Vec::new())
        }
        _ => (
            2.0 * numel(out) * t(2).map_or(1.0, |w| w.shape[1..].iter().product::<i64>() as f64),
            Vec::new(),
        ),
    }
}
