//! Aten function signatures, in the syntax of PyTorch's `native_functions.yaml`.
//!
//! ```
//! use fxsat::ops::schema::{parse_params, ParamType};
//! let p = parse_params("(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None)").unwrap();
//! assert_eq!(p.len(), 4);
//! assert_eq!(p[1].ty, ParamType::IntList);
//! assert!(p[1].optional && p[3].kw_only);
//! ```

use crate::ir::Arg;

/// The type of a parameter, as far as fxsat cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `Tensor` (a python number is accepted too: a wrapped scalar).
    Tensor,
    /// `Tensor[]` or `Tensor?[]`.
    TensorList,
    /// `int` / `SymInt`.
    Int,
    /// `int[]` / `SymInt[]` (a single int is accepted too).
    IntList,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `bool[]`.
    BoolList,
    /// `Scalar` (int, float or bool).
    Scalar,
    /// `ScalarType` (a dtype).
    ScalarType,
    /// `Layout`.
    Layout,
    /// `Device`.
    Device,
    /// `MemoryFormat`.
    MemoryFormat,
    /// `str`.
    Str,
    /// `Generator` (only `None` is supported).
    Generator,
}

/// One parameter of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// Whether `None` is allowed.
    pub optional: bool,
    /// Whether it comes after `*` (keyword-only).
    pub kw_only: bool,
    /// Its default, if any.
    pub default: Option<Arg>,
}

/// Parses `(Tensor self, int dim, *, bool keepdim=False)`; the return part, if any, is ignored.
pub fn parse_params(sig: &str) -> Result<Vec<Param>, String> {
    let sig = sig.trim();
    let open = sig.find('(').ok_or("signature needs `(`")?;
    let close = sig.rfind(')').ok_or("signature needs `)`")?;
    let body = &sig[open + 1..close];
    let mut params = Vec::new();
    let mut kw_only = false;
    for part in split_top(body) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if part == "*" {
            kw_only = true;
            continue;
        }
        params.push(parse_param(part, kw_only)?);
    }
    Ok(params)
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_param(part: &str, kw_only: bool) -> Result<Param, String> {
    let (decl, default) = match part.split_once('=') {
        Some((d, v)) => (d.trim(), Some(v.trim())),
        None => (part, None),
    };
    let (ty_text, name) = decl
        .rsplit_once(' ')
        .ok_or_else(|| format!("parameter `{part}` needs a type and a name"))?;
    let ty_text = ty_text.trim().replace("(a)", "").replace("(a!)", "");
    let mut t = ty_text.as_str();
    let optional = t.ends_with('?');
    t = t.trim_end_matches('?');
    let ty = if t.starts_with("Tensor") && t.contains('[') {
        ParamType::TensorList
    } else if t.starts_with("Tensor") {
        ParamType::Tensor
    } else if t.starts_with("int[") || t.starts_with("SymInt[") {
        ParamType::IntList
    } else if t.starts_with("bool[") {
        ParamType::BoolList
    } else {
        match t {
            "int" | "SymInt" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "Scalar" => ParamType::Scalar,
            "ScalarType" => ParamType::ScalarType,
            "Layout" => ParamType::Layout,
            "Device" => ParamType::Device,
            "MemoryFormat" => ParamType::MemoryFormat,
            "str" => ParamType::Str,
            "Generator" => ParamType::Generator,
            other => return Err(format!("unknown parameter type `{other}`")),
        }
    };
    let default = default.map(|d| parse_default(d, ty)).transpose()?;
    Ok(Param {
        name: name.trim().to_string(),
        ty,
        optional: optional || matches!(default, Some(Arg::None)),
        kw_only,
        default,
    })
}

fn parse_default(d: &str, ty: ParamType) -> Result<Arg, String> {
    Ok(match d {
        "None" => Arg::None,
        "True" => Arg::Bool(true),
        "False" => Arg::Bool(false),
        "contiguous_format" => Arg::MemoryFormat(d.to_string()),
        _ if d.starts_with('[') => {
            let inner = d.trim_start_matches('[').trim_end_matches(']');
            let items = inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>()
                        .map(Arg::Int)
                        .map_err(|e| format!("{s}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arg::List(items)
        }
        _ if d.starts_with('"') || d.starts_with('\'') => {
            Arg::Str(d.trim_matches(['"', '\'']).to_string())
        }
        _ => match ty {
            ParamType::Float => {
                Arg::Float(d.parse().map_err(|_| format!("bad float default `{d}`"))?)
            }
            ParamType::IntList => Arg::List(vec![Arg::Int(
                d.parse().map_err(|_| format!("bad int default `{d}`"))?,
            )]),
            _ => {
                if let Ok(i) = d.parse::<i64>() {
                    Arg::Int(i)
                } else {
                    Arg::Float(d.parse().map_err(|_| format!("bad default `{d}`"))?)
                }
            }
        },
    })
}
