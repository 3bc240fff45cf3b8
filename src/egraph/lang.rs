//! The e-graph language: canonical ops with their attributes as children.
//!
//! Leaves are ints, floats, bools, dtypes and string-like attributes; everything else is
//! `Call(op, children)` where `op` indexes the [op table](crate::ops).
//!
//! ```
//! use fxsat::egraph::Lang;
//! let e: egg::RecExpr<Lang> = "(permute (input 0) (list 0 2 1))".parse().unwrap();
//! assert_eq!(e.to_string(), "(permute (input 0) (list 0 2 1))");
//! let f: egg::RecExpr<Lang> = "(mul (input 0) 0.25)".parse().unwrap();
//! assert_eq!(f.to_string(), "(mul (input 0) 0.25)");
//! ```

use crate::ir::DType;
use crate::ops::{table, Op};
use egg::{Id, Language, Symbol};
use ordered_float::OrderedFloat;
use std::fmt;
use std::str::FromStr;

/// A float leaf that always prints as a float (`2.0`, `inf`, `nan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct F64(pub OrderedFloat<f64>);

impl F64 {
    /// The value.
    pub fn get(self) -> f64 {
        self.0 .0
    }
}

impl fmt::Display for F64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.get();
        if x.is_nan() {
            f.write_str("nan")
        } else if x.is_infinite() {
            f.write_str(if x > 0.0 { "inf" } else { "-inf" })
        } else {
            write!(f, "{x:?}")
        }
    }
}

impl FromStr for F64 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let looks_float = s.contains(['.', 'e', 'E']) || matches!(s, "inf" | "-inf" | "nan");
        if !looks_float {
            return Err(format!("`{s}` is not a float"));
        }
        s.parse::<f64>()
            .map(|x| F64(OrderedFloat(x)))
            .map_err(|e| e.to_string())
    }
}

/// A string-like attribute: `device:cpu`, `layout:strided`, `memfmt:contiguous_format`, `str:tanh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attr(pub Symbol);

impl Attr {
    /// Builds `kind:value`.
    pub fn new(kind: &str, value: &str) -> Attr {
        Attr(Symbol::from(format!("{kind}:{value}")))
    }
    /// `(kind, value)`.
    pub fn split(&self) -> (&'static str, &'static str) {
        self.0.as_str().split_once(':').expect("attr has a kind")
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl FromStr for Attr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("device" | "layout" | "memfmt" | "str", _)) => Ok(Attr(Symbol::from(s))),
            _ => Err(format!("`{s}` is not an attribute")),
        }
    }
}

/// An e-node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    /// An int attribute.
    Int(i64),
    /// A float attribute.
    Float(F64),
    /// A bool attribute.
    Bool(bool),
    /// A dtype attribute.
    Dtype(DType),
    /// A string-like attribute.
    Attr(Attr),
    /// An op applied to children.
    Call(Op, Box<[Id]>),
}

impl Lang {
    /// A call node.
    pub fn call(op: Op, children: impl Into<Box<[Id]>>) -> Lang {
        Lang::Call(op, children.into())
    }

    /// The op, if this is a call.
    pub fn op(&self) -> Option<Op> {
        match self {
            Lang::Call(op, _) => Some(*op),
            _ => None,
        }
    }
}

/// Discriminant: the variant, and the op for calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LangKind {
    /// A leaf variant (0..5).
    Leaf(u8),
    /// A call of this op.
    Call(Op),
}

impl Language for Lang {
    type Discriminant = LangKind;

    fn discriminant(&self) -> LangKind {
        match self {
            Lang::Int(_) => LangKind::Leaf(0),
            Lang::Float(_) => LangKind::Leaf(1),
            Lang::Bool(_) => LangKind::Leaf(2),
            Lang::Dtype(_) => LangKind::Leaf(3),
            Lang::Attr(_) => LangKind::Leaf(4),
            Lang::Call(op, _) => LangKind::Call(*op),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Lang::Call(a, x), Lang::Call(b, y)) => a == b && x.len() == y.len(),
            _ => self == other,
        }
    }

    fn children(&self) -> &[Id] {
        match self {
            Lang::Call(_, c) => c,
            _ => &[],
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            Lang::Call(_, c) => c,
            _ => &mut [],
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lang::Int(i) => write!(f, "{i}"),
            Lang::Float(x) => write!(f, "{x}"),
            Lang::Bool(b) => write!(f, "{b}"),
            Lang::Dtype(d) => write!(f, "{d}"),
            Lang::Attr(a) => write!(f, "{a}"),
            Lang::Call(op, _) => write!(f, "{op}"),
        }
    }
}

impl egg::FromOp for Lang {
    type Error = String;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, String> {
        if children.is_empty() {
            if let Ok(i) = op.parse::<i64>() {
                return Ok(Lang::Int(i));
            }
            if let Ok(x) = op.parse::<F64>() {
                return Ok(Lang::Float(x));
            }
            match op {
                "true" => return Ok(Lang::Bool(true)),
                "false" => return Ok(Lang::Bool(false)),
                _ => {}
            }
            if let Ok(d) = op.parse::<DType>() {
                return Ok(Lang::Dtype(d));
            }
            if let Ok(a) = op.parse::<Attr>() {
                return Ok(Lang::Attr(a));
            }
        }
        let o = table()
            .by_name(op)
            .ok_or_else(|| format!("unknown op `{op}`"))?;
        let def = o.def();
        if !def.variadic && children.len() != def.params.len() {
            return Err(format!(
                "`{op}` takes {} arguments ({}), got {}",
                def.params.len(),
                param_list(o),
                children.len()
            ));
        }
        Ok(Lang::Call(o, children.into()))
    }
}

/// `self, dim, keepdim` for error messages.
pub fn param_list(op: Op) -> String {
    op.def()
        .params
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
