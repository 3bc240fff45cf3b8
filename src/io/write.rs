//! Writing FX-JSON in the canonical layout: a header line, one node per line, a closing line.
//! Separators are `", "` and `": "` (Python's `json.dumps` defaults), so the Python exporter and
//! this writer produce the same layout.

use crate::error::Result;
use crate::ir::{Arg, Graph, GraphKind, Node, NodeKind, Val};
use std::fmt::Write;
use std::path::Path;

/// Writes `g` to `path` atomically (see [`super::atomic`]): a failed write leaves the
/// previous file as it was.
pub fn write_file(g: &Graph, path: &Path) -> Result<()> {
    super::atomic::write(path, write_string(g).as_bytes())
}

/// Serialises `g`.
pub fn write_string(g: &Graph) -> String {
    let mut s = String::with_capacity(g.nodes.len() * 200);
    s.push_str("{\"format\": \"fx-json\", \"version\": 1, \"name\": ");
    string(&mut s, &g.name);
    s.push_str(", \"kind\": ");
    string(&mut s, g.kind.as_str());
    if let Some(n) = g.num_fwd_outputs {
        if g.kind == GraphKind::Joint || g.num_fwd_outputs.is_some() {
            let _ = write!(s, ", \"num_fwd_outputs\": {n}");
        }
    }
    s.push_str(", \"nodes\": [\n");
    for n in &g.nodes {
        node(&mut s, g, n);
        s.push_str(",\n");
    }
    s.push_str("{\"name\": \"output\", \"op\": \"output\", \"args\": [[");
    for (i, o) in g.outputs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        match o {
            Some(id) => node_ref(&mut s, &g.node(*id).name),
            None => s.push_str("null"),
        }
    }
    s.push_str("]]}\n]}\n");
    s
}

fn node(s: &mut String, g: &Graph, n: &Node) {
    s.push_str("{\"name\": ");
    string(s, &n.name);
    match &n.kind {
        NodeKind::Placeholder => s.push_str(", \"op\": \"placeholder\""),
        NodeKind::GetAttr(t) => {
            s.push_str(", \"op\": \"get_attr\", \"target\": ");
            string(s, t);
        }
        NodeKind::Call {
            target,
            args,
            kwargs,
        } => {
            s.push_str(", \"op\": \"call_function\", \"target\": ");
            string(s, target);
            s.push_str(", \"args\": [");
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                arg(s, g, a);
            }
            s.push(']');
            if !kwargs.is_empty() {
                s.push_str(", \"kwargs\": {");
                for (i, (k, v)) in kwargs.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    string(s, k);
                    s.push_str(": ");
                    arg(s, g, v);
                }
                s.push('}');
            }
        }
    }
    s.push_str(", \"val\": ");
    val(s, &n.val);
    s.push('}');
}

fn node_ref(s: &mut String, name: &str) {
    s.push_str("{\"node\": ");
    string(s, name);
    s.push('}');
}

fn tagged(s: &mut String, tag: &str, value: &str) {
    let _ = write!(s, "{{\"{tag}\": ");
    string(s, value);
    s.push('}');
}

fn float(s: &mut String, x: f64) {
    if x.is_nan() {
        tagged(s, "float", "nan");
    } else if x.is_infinite() {
        tagged(s, "float", if x > 0.0 { "inf" } else { "-inf" });
    } else {
        s.push_str(&py_repr(x));
    }
}

/// Python's `repr(float)`: shortest round-trip digits; exponent form below 1e-4 and from 1e16.
pub fn py_repr(x: f64) -> String {
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an int");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let es = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if (decpt as usize) >= digits.len() {
        format!(
            "{sign}{digits}{}.0",
            "0".repeat(decpt as usize - digits.len())
        )
    } else {
        format!(
            "{sign}{}.{}",
            &digits[..decpt as usize],
            &digits[decpt as usize..]
        )
    }
}

fn arg(s: &mut String, g: &Graph, a: &Arg) {
    match a {
        Arg::None => s.push_str("null"),
        Arg::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Arg::Int(i) => {
            let _ = write!(s, "{i}");
        }
        Arg::Float(x) => float(s, *x),
        Arg::Str(t) => string(s, t),
        Arg::List(items) => {
            s.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                arg(s, g, x);
            }
            s.push(']');
        }
        Arg::Node(n) => node_ref(s, &g.node(*n).name),
        Arg::Dtype(d) => tagged(s, "dtype", d.name()),
        Arg::Device(d) => tagged(s, "device", d),
        Arg::Layout(l) => tagged(s, "layout", l),
        Arg::MemoryFormat(m) => tagged(s, "memory_format", m),
    }
}

fn ints(s: &mut String, v: &[i64]) {
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{x}");
    }
    s.push(']');
}

fn val(s: &mut String, v: &Val) {
    match v {
        Val::Tensor(t) => {
            s.push_str("{\"shape\": ");
            ints(s, &t.shape);
            s.push_str(", \"dtype\": ");
            string(s, t.dtype.name());
            s.push_str(", \"stride\": ");
            ints(s, &t.stride);
            s.push('}');
        }
        Val::Tuple(items) => {
            s.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                val(s, x);
            }
            s.push(']');
        }
        Val::Int(i) => {
            let _ = write!(s, "{i}");
        }
        Val::Float(x) => float(s, *x),
        Val::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Val::None => s.push_str("null"),
    }
}

fn string(s: &mut String, t: &str) {
    s.push_str(&serde_json::to_string(t).expect("strings serialise"));
}

#[cfg(test)]
mod tests {
    use super::py_repr;

    #[test]
    fn floats_print_like_python() {
        for (x, want) in [
            (0.25, "0.25"),
            (1e-5, "1e-05"),
            (-3.4028234663852886e38, "-3.4028234663852886e+38"),
            (2.0, "2.0"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.125, "0.125"),
            (100.5, "100.5"),
        ] {
            assert_eq!(py_repr(x), want);
        }
    }
}
