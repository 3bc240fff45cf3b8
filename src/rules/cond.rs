//! The one shape of a condition (`:if (name ?a ...)`) and of a computed attribute
//! (`(name ?a ...)` on a right side), and the vocabulary a condition's instance generator
//! speaks to the rule checker.
//!
//! Every condition is one [`Condition`] value in one family file ([`super::registry`]:
//! shapes, permutations and numbers; [`super::training`]: training attention;
//! [`super::env_registry`]: padding and indices), registered in [`FAMILIES`]. A condition
//! knows its name, arity, documentation, test, and — for `check-rules` — how to draw an
//! argument that satisfies it ([`Condition::gen`]): the checker asks the conditions naming
//! a variable before it falls back to what the op schema says of the variable's slot.
//!
//! ```
//! use fxsat::rules::cond::{condition, Env};
//! use fxsat::ops::Meta;
//! let c = condition("identity-perm").unwrap();
//! let p = Meta::List(vec![Meta::Int(0), Meta::Int(1)]);
//! assert!((c.test)(&Env::EMPTY, &[&p]));
//! assert_eq!(c.arity, Some(1));
//! ```

use crate::egraph::Facts;
use crate::ir::{Arg, DType};
use crate::ops::{Meta, TMeta};
use crate::target::Target;

/// What a condition or computed attribute may know besides its arguments' metas.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// Matmul alignment (elements) per dtype of the device the rules run for; empty when the
    /// device has none (then no padding rule applies).
    pub alignment: &'a [(DType, i64)],
    /// What is proved about each argument (parallel to the metas; shorter means unknown).
    pub facts: &'a [Facts],
    /// The target the rules run for (the neutral ops lower to its kernels).
    pub target: Target,
}

impl Env<'_> {
    /// An environment that knows nothing: no alignment, no facts.
    pub const EMPTY: Env<'static> = Env {
        alignment: &[],
        facts: &[],
        target: Target::Cpu,
    };

    /// The alignment a matmul of this dtype wants, if any (> 1).
    pub fn align(&self, d: DType) -> Option<i64> {
        self.alignment
            .iter()
            .find(|(x, _)| *x == d)
            .map(|&(_, a)| a)
            .filter(|&a| a > 1)
    }

    /// The facts of argument `i`.
    pub fn fact(&self, i: usize) -> Facts {
        self.facts.get(i).copied().unwrap_or_default()
    }
}

/// How `check-rules` draws argument [`DrawCtx::pos`] of a condition, or `None` when the
/// condition has nothing to say about it (the checker then asks the next condition, and
/// finally the op schema).
pub type GenFn = fn(&mut dyn Draw, &DrawCtx) -> Option<Drawn>;

/// A named condition.
pub struct Condition {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments (`None`: any).
    pub arity: Option<usize>,
    /// One line of documentation.
    pub doc: &'static str,
    /// Whether the test reads the [`Env`] (the device's alignment, the analysis's facts):
    /// such a test's outcome is not settled when classes merge, so its matches are never
    /// memoized.
    pub sees_env: bool,
    /// Whether the test reads [`Env::target`] (a kernel's limits): `check-rules` then draws
    /// the target of each case too. One without a generator must decide by the target alone:
    /// the checker asks it with `None` arguments which targets a case may be drawn for. The
    /// target is fixed for a run, so this does not stop memoizing.
    pub sees_target: bool,
    /// How the rule checker draws an argument satisfying it (see [`GenFn`]).
    pub gen: Option<GenFn>,
    /// The test.
    pub test: fn(&Env, &[&Meta]) -> bool,
}

/// A computed attribute: a value built from the metas of its arguments, or `None` when it
/// does not exist for them (the rule then does not apply).
pub struct Computed {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments.
    pub arity: usize,
    /// One line of documentation.
    pub doc: &'static str,
    /// Whether the function reads the [`Env`] (see [`Condition::sees_env`]).
    pub sees_env: bool,
    /// Whether the function reads [`Env::target`] (see [`Condition::sees_target`]).
    pub sees_target: bool,
    /// The function.
    pub eval: fn(&Env, &[&Meta]) -> Option<Arg>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl std::fmt::Debug for Computed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The condition and computed-attribute families, each a `(conditions, computed)` pair of
/// one file.
pub const FAMILIES: &[(&[Condition], &[Computed])] = &[
    (super::registry::CONDITIONS, super::registry::COMPUTED),
    (super::training::CONDITIONS, super::training::COMPUTED),
    (super::bias::CONDITIONS, super::bias::COMPUTED),
    (super::forms::CONDITIONS, super::forms::COMPUTED),
    (
        super::env_registry::CONDITIONS,
        super::env_registry::COMPUTED,
    ),
    (super::causal::CONDITIONS, super::causal::COMPUTED),
];

/// Every condition, family by family.
pub fn conditions() -> impl Iterator<Item = &'static Condition> {
    FAMILIES.iter().flat_map(|(c, _)| c.iter())
}

/// Every computed attribute, family by family.
pub fn computeds() -> impl Iterator<Item = &'static Computed> {
    FAMILIES.iter().flat_map(|(_, c)| c.iter())
}

/// Looks up a condition.
pub fn condition(name: &str) -> Option<&'static Condition> {
    conditions().find(|c| c.name == name)
}

/// Looks up a computed attribute.
pub fn computed(name: &str) -> Option<&'static Computed> {
    computeds().find(|c| c.name == name)
}

/// The random choices a generator may make (the rule checker's deterministic generator).
pub trait Draw {
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize;
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64;
}

impl dyn Draw + '_ {
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

/// The floating-point dtypes the checker draws.
pub const FLOATS: [DType; 4] = [DType::F32, DType::F16, DType::BF16, DType::F64];

/// What a generator knows when it is asked for argument `pos` of its condition.
#[derive(Debug, Clone, Copy)]
pub struct DrawCtx<'a> {
    /// The argument to draw.
    pub pos: usize,
    /// The metas of the condition's arguments drawn so far (`None`: not yet drawn).
    pub args: &'a [Option<Meta>],
    /// The rank of the first tensor operand beside the variable in its call (0 if none).
    pub rank: usize,
    /// The value drawn for a keep mask's fill tensor, if any (see [`Drawn::KeepFill`]).
    pub keep_fill: Option<f64>,
    /// The target of the case (see [`Condition::sees_target`]).
    pub target: Target,
}

impl DrawCtx<'_> {
    /// Argument `i`'s meta, if drawn.
    pub fn arg(&self, i: usize) -> Option<&Meta> {
        self.args.get(i).and_then(Option::as_ref)
    }

    /// Argument `i`'s tensor meta, if drawn and a tensor.
    pub fn tensor(&self, i: usize) -> Option<TMeta> {
        self.arg(i).and_then(|m| m.tensor().cloned())
    }

    /// The first argument other than [`Self::pos`] that is drawn.
    pub fn other(&self) -> Option<&Meta> {
        self.args
            .iter()
            .enumerate()
            .find(|(i, m)| *i != self.pos && m.is_some())
            .and_then(|(_, m)| m.as_ref())
    }
}

/// What a generator asks the checker to build for the argument.
#[derive(Debug, Clone)]
pub enum Drawn {
    /// An int literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A dtype literal.
    Dtype(DType),
    /// `None`.
    None,
    /// An int list.
    Ints(Vec<i64>),
    /// An input tensor of this shape and dtype with random values.
    Tensor(Vec<i64>, DType),
    /// An input tensor with these values and facts.
    Values {
        /// Shape.
        shape: Vec<i64>,
        /// Dtype.
        dtype: DType,
        /// Row-major values.
        data: Vec<f64>,
        /// What is known of its elements.
        facts: Facts,
    },
    /// An additive mask input of `q`'s dtype, broadcasting to the scores `[q's dims but
    /// the last.., keys]` (finite values, `-inf`, `finfo.min`, maybe fully masked rows).
    Mask(TMeta, i64),
    /// A bool keep-mask input broadcasting to the scores of `q` and `keys` keys.
    Keep(TMeta, i64),
    /// A 0-d input of this dtype holding this number, which later draws of a keep mask's
    /// `fill_value` repeat ([`DrawCtx::keep_fill`]).
    KeepFill(f64, DType),
    /// The term of the condition's argument at this position (when it is a drawn variable).
    Copy(usize),
    /// No value, a wish: the variable should be a float tensor.
    WantFloat,
    /// No value, a wish: the variable should be a tensor of this shape and dtype.
    Like(TMeta),
}
