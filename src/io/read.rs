//! Reading FX-JSON.

use crate::error::{Error, Result};
use crate::ir::{Arg, DType, Graph, GraphKind, Node, NodeId, NodeKind, TensorMeta, Val};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{Map, Value};
use std::path::Path;

/// Largest number of elements a tensor may claim (2^48): anything bigger is a corrupt file.
const MAX_NUMEL: u128 = 1 << 48;

/// Reads an FX-JSON file; a name ending in `.gz` is gunzipped first.
pub fn read_file(path: &Path) -> Result<Graph> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io_err)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Read;
        let mut out = Vec::with_capacity(bytes.len() * 16);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(io_err)?;
        out
    } else {
        bytes
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8: {e}"),
        ))
    })?;
    read_str(&text, &path.display().to_string())
}

/// How deep JSON may nest: serde_json's recursion limit, which stops its reader (and so every
/// recursive walk of the document here) before the stack runs out.
pub const MAX_JSON_DEPTH: usize = 128;

/// Parses an FX-JSON document; `file` names it in errors. A key given twice in one object
/// (anywhere in the document) is an error, and so is nesting deeper than [`MAX_JSON_DEPTH`].
pub fn read_str(text: &str, file: &str) -> Result<Graph> {
    let doc: Strict = serde_json::from_str(text).map_err(|e| Error::Json {
        file: file.into(),
        msg: if e.to_string().starts_with("recursion limit exceeded") {
            format!(
                "{}:{}: nesting deeper than {MAX_JSON_DEPTH}",
                e.line(),
                e.column()
            )
        } else {
            e.to_string()
        },
    })?;
    Reader { file }.document(&doc.0)
}

/// A JSON value read with duplicate keys refused (serde_json's `Value` keeps the last).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(i))
    }
    fn visit_u64<E>(self, u: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(u))
    }
    fn visit_f64<E>(self, x: f64) -> std::result::Result<Value, E> {
        Ok(Value::from(x))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
            }
            let Strict(x) = map.next_value()?;
            m.insert(k, x);
        }
        Ok(Value::Object(m))
    }
}

struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn doc_err(&self, field: &str, msg: impl Into<String>) -> Error {
        Error::Document {
            file: self.file.into(),
            field: field.into(),
            msg: msg.into(),
        }
    }

    fn node_err(&self, node: &str, field: &str, msg: impl Into<String>) -> Error {
        Error::Node {
            file: self.file.into(),
            node: node.into(),
            field: field.into(),
            msg: msg.into(),
        }
    }

    fn document(&self, doc: &Value) -> Result<Graph> {
        let obj = doc
            .as_object()
            .ok_or_else(|| self.doc_err("<document>", "expected a JSON object"))?;
        match obj.get("format") {
            Some(Value::String(s)) if s == "fx-json" => {}
            Some(v) => return Err(self.doc_err("format", format!("expected \"fx-json\", got {v}"))),
            None => return Err(self.doc_err("format", "missing")),
        }
        match obj.get("version") {
            Some(v) if v.as_i64() == Some(1) => {}
            Some(v) => {
                return Err(self.doc_err(
                    "version",
                    format!("unsupported version {v} (this reader speaks version 1)"),
                ))
            }
            None => return Err(self.doc_err("version", "missing")),
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(v) => return Err(self.doc_err("name", format!("expected a string, got {v}"))),
        };
        let kind = match obj.get("kind") {
            Some(Value::String(s)) => GraphKind::parse(s).ok_or_else(|| {
                self.doc_err(
                    "kind",
                    format!("unknown kind \"{s}\" (expected forward, joint, fw or bw)"),
                )
            })?,
            Some(v) => return Err(self.doc_err("kind", format!("expected a string, got {v}"))),
            None => return Err(self.doc_err("kind", "missing")),
        };
        let num_fwd_outputs = match obj.get("num_fwd_outputs") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                self.doc_err(
                    "num_fwd_outputs",
                    format!("expected a non-negative int, got {v}"),
                )
            })? as usize),
        };
        if kind == GraphKind::Joint && num_fwd_outputs.is_none() {
            return Err(self.doc_err("num_fwd_outputs", "a joint graph needs num_fwd_outputs"));
        }
        let nodes = match obj.get("nodes") {
            Some(Value::Array(a)) => a,
            Some(v) => {
                return Err(self.doc_err("nodes", format!("expected a list, got {}", kind_of(v))))
            }
            None => return Err(self.doc_err("nodes", "missing")),
        };
        let mut graph = Graph {
            name,
            kind,
            num_fwd_outputs,
            nodes: Vec::new(),
            outputs: Vec::new(),
        };
        let mut ids: HashMap<String, NodeId> = HashMap::default();
        let all_names: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.get("name").and_then(Value::as_str).map(|s| (s, i)))
            .collect();
        let mut saw_output = false;
        for (i, n) in nodes.iter().enumerate() {
            let o = n.as_object().ok_or_else(|| {
                self.node_err(&format!("#{i}"), "<node>", "expected a JSON object")
            })?;
            let name = match o.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(self.node_err(&format!("#{i}"), "name", "missing or not a string"))
                }
            };
            if saw_output {
                return Err(self.node_err(
                    &name,
                    "op",
                    "node after the output node (output must be last)",
                ));
            }
            let op = o
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| self.node_err(&name, "op", "missing or not a string"))?;
            let resolve =
                |arg_field: &str, v: &Value| self.arg(&name, arg_field, v, &ids, &all_names);
            if op == "output" {
                saw_output = true;
                graph.outputs = self.outputs(&name, o, &resolve)?;
                continue;
            }
            if ids.contains_key(&name) {
                return Err(self.node_err(&name, "name", "duplicate node name"));
            }
            let kind = match op {
                "placeholder" => NodeKind::Placeholder,
                "get_attr" => NodeKind::GetAttr(
                    o.get("target").and_then(Value::as_str).ok_or_else(|| self.node_err(&name, "target", "get_attr needs a string target"))?.to_string(),
                ),
                "call_function" => {
                    let target = o.get("target").and_then(Value::as_str).ok_or_else(|| self.node_err(&name, "target", "missing or not a string"))?.to_string();
                    let args = match o.get("args") {
                        Some(Value::Array(a)) => a.iter().map(|v| resolve("args", v)).collect::<Result<Vec<_>>>()?,
                        None => Vec::new(),
                        Some(v) => return Err(self.node_err(&name, "args", format!("expected a list, got {}", kind_of(v)))),
                    };
                    let kwargs = match o.get("kwargs") {
                        Some(Value::Object(m)) => m.iter().map(|(k, v)| Ok((k.clone(), resolve("kwargs", v)?))).collect::<Result<Vec<_>>>()?,
                        None | Some(Value::Null) => Vec::new(),
                        Some(v) => return Err(self.node_err(&name, "kwargs", format!("expected an object, got {}", kind_of(v)))),
                    };
                    NodeKind::Call { target, args, kwargs }
                }
                other => return Err(self.node_err(&name, "op", format!("unknown op \"{other}\" (expected placeholder, get_attr, call_function or output)"))),
            };
            let val = match o.get("val") {
                Some(v) => self.val(&name, v)?,
                None => {
                    return Err(self.node_err(
                        &name,
                        "val",
                        "missing (every node but output needs one)",
                    ))
                }
            };
            ids.insert(name.clone(), NodeId(graph.nodes.len() as u32));
            graph.nodes.push(Node { name, kind, val });
        }
        if !saw_output {
            return Err(self.doc_err("nodes", "no output node"));
        }
        if graph.nodes.is_empty() {
            return Err(self.doc_err("nodes", "the graph is empty"));
        }
        if let Some(n) = num_fwd_outputs {
            if n > graph.outputs.len() {
                return Err(self.doc_err(
                    "num_fwd_outputs",
                    format!("{n} exceeds the {} outputs", graph.outputs.len()),
                ));
            }
        }
        Ok(graph)
    }

    fn outputs(
        &self,
        name: &str,
        o: &Map<String, Value>,
        resolve: &dyn Fn(&str, &Value) -> Result<Arg>,
    ) -> Result<Vec<Option<NodeId>>> {
        let list = match o.get("args") {
            Some(Value::Array(a)) if a.len() == 1 => &a[0],
            _ => {
                return Err(self.node_err(
                    name,
                    "args",
                    "the output node needs exactly one argument: the list of outputs",
                ))
            }
        };
        let items: Vec<Value> = match list {
            Value::Array(items) => items.clone(),
            single => vec![single.clone()],
        };
        items
            .iter()
            .map(|v| match resolve("args", v)? {
                Arg::Node(n) => Ok(Some(n)),
                Arg::None => Ok(None),
                other => Err(self.node_err(
                    name,
                    "args",
                    format!("outputs must be node references or null, got {other:?}"),
                )),
            })
            .collect()
    }

    fn arg(
        &self,
        node: &str,
        field: &str,
        v: &Value,
        ids: &HashMap<String, NodeId>,
        all: &HashMap<&str, usize>,
    ) -> Result<Arg> {
        let err = |msg: String| self.node_err(node, field, msg);
        Ok(match v {
            Value::Null => Arg::None,
            Value::Bool(b) => Arg::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Arg::Int(i)
                } else if n.is_u64() {
                    return Err(err(format!("integer {n} does not fit in 64 bits")));
                } else {
                    Arg::Float(n.as_f64().ok_or_else(|| err(format!("bad number {n}")))?)
                }
            }
            Value::String(s) => Arg::Str(s.clone()),
            Value::Array(items) => Arg::List(
                items
                    .iter()
                    .map(|x| self.arg(node, field, x, ids, all))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => {
                if m.len() != 1 {
                    return Err(err(format!(
                        "an argument object must have exactly one key, got {v}"
                    )));
                }
                let (k, x) = m.iter().next().unwrap();
                let s = x
                    .as_str()
                    .ok_or_else(|| err(format!("`{k}` expects a string, got {x}")))?;
                match k.as_str() {
                    "node" => match ids.get(s) {
                        Some(&id) => Arg::Node(id),
                        None if all.contains_key(s) => return Err(err(format!("refers to node `{s}` which is defined later (a cycle, or nodes out of topological order)"))),
                        None => return Err(err(format!("refers to undefined node `{s}`"))),
                    },
                    "float" => Arg::Float(match s {
                        "inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        "nan" => f64::NAN,
                        _ => return Err(err(format!("unknown non-finite float \"{s}\""))),
                    }),
                    "dtype" => Arg::Dtype(s.parse::<DType>().map_err(err)?),
                    "device" => Arg::Device(s.into()),
                    "layout" => Arg::Layout(s.into()),
                    "memory_format" => Arg::MemoryFormat(s.into()),
                    other => return Err(err(format!("unknown argument encoding `{other}`"))),
                }
            }
        })
    }

    fn val(&self, node: &str, v: &Value) -> Result<Val> {
        let err = |msg: String| self.node_err(node, "val", msg);
        Ok(match v {
            Value::Null => Val::None,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().ok_or_else(|| err(format!("bad number {n}")))?),
            },
            Value::Array(items) => Val::Tuple(
                items
                    .iter()
                    .map(|x| self.val(node, x))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => {
                if let Some(f) = m.get("float") {
                    return Ok(Val::Float(match f.as_str() {
                        Some("inf") => f64::INFINITY,
                        Some("-inf") => f64::NEG_INFINITY,
                        Some("nan") => f64::NAN,
                        _ => {
                            return Err(err(format!(
                                "`float` must be \"nan\", \"inf\" or \"-inf\", got {f}"
                            )))
                        }
                    }));
                }
                let ints = |key: &str| -> Result<Vec<i64>> {
                    match m.get(key) {
                        Some(Value::Array(a)) => a
                            .iter()
                            .map(|x| {
                                x.as_i64().ok_or_else(|| {
                                    err(format!("`{key}` must be a list of ints, has {x}"))
                                })
                            })
                            .collect(),
                        Some(x) => Err(err(format!("`{key}` must be a list of ints, got {x}"))),
                        None => Err(err(format!("tensor val needs `{key}`"))),
                    }
                };
                let shape = ints("shape")?;
                let stride = ints("stride")?;
                let dtype = match m.get("dtype") {
                    Some(Value::String(s)) => s.parse::<DType>().map_err(err)?,
                    _ => return Err(err("tensor val needs a string `dtype`".into())),
                };
                if shape.len() != stride.len() {
                    return Err(err(format!(
                        "shape {shape:?} and stride {stride:?} have different lengths"
                    )));
                }
                if let Some(d) = shape.iter().find(|&&d| d < 0) {
                    return Err(err(format!("negative size {d} in shape {shape:?}")));
                }
                let numel = shape.iter().try_fold(1u128, |acc, &d| {
                    acc.checked_mul(d as u128).filter(|&n| n <= MAX_NUMEL)
                });
                if numel.is_none() {
                    return Err(err(format!(
                        "shape {shape:?} is absurdly large (more than 2^48 elements)"
                    )));
                }
                // PyTorch has no negative strides; a dim of size 0 or 1 may have any stride,
                // and 0 (an expanded dim) is legal anywhere
                if let Some((&d, &st)) = shape.iter().zip(&stride).find(|(&d, &st)| d > 1 && st < 0)
                {
                    return Err(err(format!(
                        "negative stride {st} on a dim of size {d} (shape {shape:?}, stride {stride:?})"
                    )));
                }
                let span = shape.iter().zip(&stride).filter(|(&d, _)| d > 1).try_fold(
                    0u128,
                    |acc, (&d, &st)| {
                        acc.checked_add((d as u128 - 1) * st as u128)
                            .filter(|&x| x < 1 << 62)
                    },
                );
                if span.is_none() {
                    return Err(err(format!(
                        "stride {stride:?} of shape {shape:?} addresses more than 2^62 elements"
                    )));
                }
                Val::Tensor(TensorMeta {
                    shape,
                    dtype,
                    stride,
                })
            }
            Value::String(s) => return Err(err(format!("unexpected string \"{s}\""))),
        })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
