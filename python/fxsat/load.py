"""FX-JSON v1 -> runnable ``torch.fx.GraphModule``, and random inputs for it.

    doc = read_fx_json("tests/fixtures/gpt2.forward.json")
    gm = to_graph_module(doc)
    outs = gm(*random_inputs(doc, seed=0, int_inputs={"arg1_1": [0, 128]}))

* ``call_function`` targets: ``"aten.x.y"`` -> ``torch.ops.aten.x.y``, ``"prims.x.y"`` ->
  ``torch.ops.prims.x.y`` (any ``<namespace>.<op>.<overload>`` resolves through
  ``torch.ops``), ``"getitem"`` -> ``operator.getitem``.
* ``get_attr`` nodes: FX-JSON carries no constant data, so each one gets the tensor given in
  ``constants`` for its target or else a **zero tensor** of its val's shape, dtype and stride,
  registered on the module under the node's target. Graphs
  whose outputs depend on real constant values will not reproduce them. (None of the
  committed fixtures has get_attr nodes: parameters and buffers are placeholders.)
* Every node keeps its val in ``node.meta["fxjson_val"]``.
* The module returns the output list (``None`` entries kept).
"""

from __future__ import annotations

import importlib
import operator
from typing import Any

import torch
import torch.fx

from fxsat.fxjson import FxJsonError, read_fx_json, validate

__all__ = ["to_graph_module", "to_graph", "load", "resolve_target", "decode_arg", "random_inputs",
           "placeholder_vals", "output_vals", "parse_dtype"]

_MEMORY_FORMATS = {
    "contiguous_format": torch.contiguous_format,
    "channels_last": torch.channels_last,
    "channels_last_3d": torch.channels_last_3d,
    "preserve_format": torch.preserve_format,
}
_LAYOUTS = {"strided": torch.strided, "sparse_coo": torch.sparse_coo}


def parse_dtype(name: str, where: str = "dtype") -> torch.dtype:
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise FxJsonError(f"{where}: bad dtype {name!r}")
    return dt


def resolve_target(target: str, where: str = "target") -> Any:
    if target == "getitem":
        return operator.getitem
    parts = target.split(".")
    if len(parts) != 3:
        raise FxJsonError(f"{where}: target {target!r} is not '<namespace>.<op>.<overload>'")
    ns, op, overload = parts
    for attempt in range(2):
        try:
            return getattr(getattr(getattr(torch.ops, ns), op), overload)
        except (AttributeError, RuntimeError) as e:
            if attempt == 0:
                # Inductor's extra prims (prims.fma, ...) are registered on import only.
                importlib.import_module("torch._inductor.inductor_prims")
                continue
            raise FxJsonError(f"{where}: unknown target {target!r}") from e


def decode_arg(a: Any, env: dict[str, torch.fx.Node], where: str = "arg") -> Any:
    """Inverse of fxsat.export.encode_arg (node refs resolved through ``env``)."""
    if isinstance(a, list):
        return [decode_arg(x, env, where) for x in a]
    if isinstance(a, dict):
        if len(a) != 1:
            raise FxJsonError(f"{where}: bad argument object {a!r}")
        (key, v), = a.items()
        if key == "node":
            if v not in env:
                raise FxJsonError(f"{where}: reference to undefined node {v!r}")
            return env[v]
        if key == "float":
            if v not in ("inf", "-inf", "nan"):
                raise FxJsonError(f"{where}: bad non-finite float {v!r}")
            return float(v)
        if key == "dtype":
            return parse_dtype(v, where)
        if key == "device":
            return torch.device(v)
        if key == "layout":
            if v not in _LAYOUTS:
                raise FxJsonError(f"{where}: bad layout {v!r}")
            return _LAYOUTS[v]
        if key == "memory_format":
            if v not in _MEMORY_FORMATS:
                raise FxJsonError(f"{where}: bad memory_format {v!r}")
            return _MEMORY_FORMATS[v]
        raise FxJsonError(f"{where}: unknown argument object {a!r}")
    return a


def _zeros_like_val(val: Any, where: str) -> torch.Tensor:
    if not isinstance(val, dict) or "shape" not in val:
        raise FxJsonError(f"{where}: get_attr val must be a tensor")
    dt = parse_dtype(val["dtype"], where)
    return torch.zeros(_storage_size(val["shape"], val["stride"]), dtype=dt).as_strided(
        val["shape"], val["stride"])


def _storage_size(shape, stride) -> int:
    if any(s == 0 for s in shape):
        return 0
    return 1 + sum((s - 1) * st for s, st in zip(shape, stride))


def _setattr_path(root: torch.nn.Module, path: str, value: torch.Tensor) -> None:
    *mods, last = path.split(".")
    m = root
    for name in mods:
        if not hasattr(m, name):
            m.add_module(name, torch.nn.Module())
        m = getattr(m, name)
    m.register_buffer(last, value)


def to_graph_module(doc: dict, constants: dict | None = None) -> torch.fx.GraphModule:
    """Build a runnable GraphModule from an FX-JSON document (see module docstring).

    ``constants`` maps ``get_attr`` targets to the tensors they stand for (e.g. the
    original graph module's constants); targets not in it get zero tensors."""
    root, graph = to_graph(doc, constants)
    return torch.fx.GraphModule(root, graph, class_name=_class_name(doc.get("name", "Graph")))


def to_graph(doc: dict, constants: dict | None = None) -> tuple[torch.nn.Module, torch.fx.Graph]:
    """:func:`to_graph_module`'s module (holding the constants) and graph, without the
    GraphModule (no Python code generated: for a caller that only reads the graph)."""
    validate(doc)
    graph = torch.fx.Graph()
    root = torch.nn.Module()
    env: dict[str, torch.fx.Node] = {}
    for n in doc["nodes"]:
        name, op = n["name"], n["op"]
        where = f"node {name!r}"
        if op == "placeholder":
            node = graph.create_node("placeholder", name, name=name)
        elif op == "get_attr":
            target = n["target"]
            if constants is not None and target in constants:
                _setattr_path(root, target, constants[target])
            else:
                _setattr_path(root, target, _zeros_like_val(n["val"], where))
            node = graph.create_node("get_attr", target, name=name)
        elif op == "call_function":
            fn = resolve_target(n["target"], where + ": field 'target'")
            args = tuple(decode_arg(n.get("args", []), env, where + ": field 'args'"))
            kwargs = {k: decode_arg(v, env, where + f": kwarg {k!r}")
                      for k, v in n.get("kwargs", {}).items()}
            node = graph.create_node("call_function", fn, args, kwargs, name=name)
        elif op == "output":
            (outs,) = n["args"]
            graph.output(decode_arg(outs, env, where + ": field 'args'"))
            continue
        else:
            raise FxJsonError(f"{where}: unsupported op {op!r}")
        node.meta["fxjson_val"] = n.get("val")
        env[name] = node
    graph.lint()
    return root, graph


def _class_name(name: str) -> str:
    s = "".join(c if c.isalnum() else "_" for c in name) or "Graph"
    return ("G_" + s) if s[0].isdigit() else s


def load(path) -> tuple[dict, torch.fx.GraphModule]:
    """Read an FX-JSON file; returns (doc, GraphModule)."""
    doc = read_fx_json(path)
    return doc, to_graph_module(doc)


def on_device(doc: dict, device: str) -> dict:
    """A copy of ``doc`` whose device arguments (factory calls: ``full``, ``iota``,
    ``scalar_tensor``...) all name ``device``, so the graph runs beside inputs on it."""
    def fix(x):
        if isinstance(x, dict):
            return {"device": device} if set(x) == {"device"} else {k: fix(v) for k, v in x.items()}
        return [fix(v) for v in x] if isinstance(x, list) else x
    return fix(doc)


def placeholder_vals(doc: dict) -> list[tuple[str, Any]]:
    return [(n["name"], n["val"]) for n in doc["nodes"] if n["op"] == "placeholder"]


def output_vals(doc: dict) -> list[Any]:
    """The val of each graph output (None for null outputs)."""
    by_name = {n["name"]: n.get("val") for n in doc["nodes"]}
    out = doc["nodes"][-1]["args"][0]
    res = []
    for o in out:
        if isinstance(o, dict) and "node" in o:
            res.append(by_name[o["node"]])
        else:
            res.append(None)
    return res


def random_inputs(doc: dict, seed: int = 0, int_inputs: dict | None = None) -> list:
    """Input tensors for the placeholders of ``doc``, in placeholder order.

    Floating/complex tensors are standard normal; integer and bool tensors are uniform in the
    ``[low, high)`` range ``int_inputs[placeholder name]`` (default ``[0, 2)``). Each tensor
    has its val's shape, dtype and stride. Scalar (non-tensor) placeholder vals are passed
    through as given. Deterministic in ``seed``.
    """
    g = torch.Generator().manual_seed(seed)
    int_inputs = int_inputs or {}
    res = []
    for name, val in placeholder_vals(doc):
        if not isinstance(val, dict):
            res.append(val)
            continue
        dt = parse_dtype(val["dtype"], f"node {name!r}: field 'val'")
        n = _storage_size(val["shape"], val["stride"])
        if dt.is_floating_point or dt.is_complex:
            flat = torch.randn(n, generator=g, dtype=torch.float64).to(dt)
        else:
            lo, hi = int_inputs.get(name, [0, 2])
            flat = torch.randint(int(lo), int(hi), (n,), generator=g, dtype=torch.int64)
            flat = flat.bool() if dt == torch.bool else flat.to(dt)
        res.append(flat.as_strided(val["shape"], val["stride"]))
    return res
