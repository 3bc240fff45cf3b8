"""Capture aten graphs through torch.compile and turn them into FX-JSON v1 documents.

The backend is AOTAutograd (``aot_module_simplified``) with Inductor's decomposition table
(``torch._inductor.decomposition.select_decomp_table()``), compiled with ``fullgraph=True,
dynamic=False`` -- i.e. exactly the graphs Inductor would receive.

* ``mode="forward"``: the function runs under ``torch.no_grad()``; the inference graph the
  fw compiler sees is recorded (placeholders ``arg0_1, arg1_1, ...``) -> kind ``"forward"``.
* ``mode="joint"``: inputs requiring grad (and module parameters) make AOTAutograd build a
  joint forward+backward graph; a custom ``partition_fn`` records the joint module and
  ``num_fwd_outputs`` and then delegates to ``default_partition`` -> kind ``"joint"``
  (placeholders ``primals_*`` and ``tangents_*``).

Module parameters and buffers become placeholders (dynamo inlines nn.Modules and lifts
them to graph inputs), not ``get_attr`` nodes.

Example::

    docs = capture(fn, (q, k, v), mode="forward", name="attn")
    write_fx_json(docs[0], "attn.forward.json")
"""

from __future__ import annotations

import itertools
import math
import operator
import types
from typing import Any, Callable, Sequence

import torch
import torch.fx

from fxsat.fxjson import FxJsonError, validate, write_fx_json  # noqa: F401  (re-export)

__all__ = ["capture", "graph_to_doc", "inline_scalar_constants", "replace_with_full", "write_fx_json", "target_name", "encode_arg", "encode_val",
           "dtype_name"]


# --------------------------------------------------------------------------- encoding


def dtype_name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


def _encode_float(x: float) -> Any:
    if math.isnan(x):
        return {"float": "nan"}
    if math.isinf(x):
        return {"float": "inf" if x > 0 else "-inf"}
    return x


_MEMORY_FORMATS = {
    torch.contiguous_format: "contiguous_format",
    torch.channels_last: "channels_last",
    torch.channels_last_3d: "channels_last_3d",
    torch.preserve_format: "preserve_format",
}
_LAYOUTS = {torch.strided: "strided", torch.sparse_coo: "sparse_coo"}


def target_name(target: Any) -> str:
    """``torch.ops.aten.view.default`` -> ``"aten.view.default"``; operator.getitem -> "getitem"."""
    if target is operator.getitem:
        return "getitem"
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._opname}.{target._overloadname}"
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.__name__}"
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or "python"
    return f"{mod}.{getattr(target, '__qualname__', getattr(target, '__name__', repr(target)))}"


def _concrete_int(x: Any, where: str) -> int:
    if isinstance(x, torch.SymInt):
        try:
            return int(x)  # specializes if the shape env knows it
        except Exception as e:  # pragma: no cover
            raise FxJsonError(f"{where}: symbolic int {x} (graphs must be static)") from e
    return int(x)


def encode_arg(a: Any, where: str = "arg") -> Any:
    """Encode one FX argument per the spec's argument table."""
    if isinstance(a, torch.fx.Node):
        return {"node": a.name}
    if a is None or isinstance(a, (bool, str)):
        return a
    if isinstance(a, torch.SymInt):
        return _concrete_int(a, where)
    if isinstance(a, torch.SymFloat):
        return _encode_float(float(a))
    if isinstance(a, torch.SymBool):
        return bool(a)
    if isinstance(a, int):
        return int(a)
    if isinstance(a, float):
        return _encode_float(float(a))
    if isinstance(a, (list, tuple, torch.Size)):
        return [encode_arg(x, where) for x in a]
    if isinstance(a, torch.dtype):
        return {"dtype": dtype_name(a)}
    if isinstance(a, torch.device):
        return {"device": str(a)}
    if isinstance(a, torch.layout):
        if a not in _LAYOUTS:
            raise FxJsonError(f"{where}: unsupported layout {a}")
        return {"layout": _LAYOUTS[a]}
    if isinstance(a, torch.memory_format):
        return {"memory_format": _MEMORY_FORMATS[a]}
    raise FxJsonError(f"{where}: cannot encode argument {a!r} of type {type(a).__name__}")


def encode_val(v: Any, where: str = "val") -> Any:
    """Encode ``meta["val"]``: tensors -> {shape, dtype, stride}, tuples -> lists, scalars."""
    if isinstance(v, torch.Tensor):
        return {
            "shape": [_concrete_int(s, where) for s in v.shape],
            "dtype": dtype_name(v.dtype),
            "stride": [_concrete_int(s, where) for s in v.stride()],
        }
    if isinstance(v, (list, tuple)):
        return [encode_val(x, where) for x in v]
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (torch.SymInt, torch.SymFloat, torch.SymBool, int, float)):
        return encode_arg(v, where)
    raise FxJsonError(f"{where}: cannot encode val {v!r} of type {type(v).__name__}")


def inline_scalar_constants(gm: torch.fx.GraphModule) -> int:
    """Replace every ``get_attr`` of a 0-d tensor constant (e.g. the ``torch.tensor(0.0)`` of
    a mask that dynamo lifts to ``_tensor_constant0``) with ``aten.full.default([], value,
    dtype=..., device=...)``, so that the FX-JSON carries the constant's value (a get_attr
    carries none: ``fxsat.load`` can only fill it with zeros). Returns how many were
    replaced; larger constants stay ``get_attr`` nodes."""
    import operator as _op

    count = 0
    for n in list(gm.graph.nodes):
        if n.op != "get_attr":
            continue
        try:
            t = _op.attrgetter(n.target)(gm)
        except AttributeError:
            continue
        if replace_with_full(gm, n, t, before=n):
            count += 1
    if count:
        gm.recompile()
    return count


def replace_with_full(gm: torch.fx.GraphModule, n: torch.fx.Node, t: Any,
                      before: torch.fx.Node) -> bool:
    """Replace node ``n``, whose value is the tensor ``t``, by ``aten.full.default([], value,
    dtype=..., device=...)`` inserted before ``before`` -- when ``t`` is a real 0-d tensor (else
    nothing changes and False is returned). The caller recompiles ``gm``."""
    if not isinstance(t, torch.Tensor) or t.dim() != 0 or t.is_complex():
        return False
    with gm.graph.inserting_before(before):
        new = gm.graph.call_function(
            torch.ops.aten.full.default, ([], t.item()),
            {"dtype": t.dtype, "layout": torch.strided, "device": t.device,
             "pin_memory": False})
    new.meta = dict(n.meta)
    n.replace_all_uses_with(new)
    gm.graph.erase_node(n)
    return True


def graph_to_doc(gm: torch.fx.GraphModule, *, name: str, kind: str,
                 num_fwd_outputs: int | None = None, check: bool = True) -> dict:
    """Convert an aten-level FX graph (with ``meta['val']`` on every node) to an FX-JSON doc.
    ``check=False``: skip the schema check (:func:`validate`; fxsat checks its input again)."""
    nodes = []
    for n in gm.graph.nodes:
        where = f"node {n.name!r}"
        d: dict[str, Any] = {"name": n.name, "op": n.op}
        if n.op == "placeholder":
            pass
        elif n.op == "get_attr":
            d["target"] = str(n.target)
        elif n.op == "call_function":
            d["target"] = target_name(n.target)
            d["args"] = encode_arg(list(n.args), where + ": field 'args'")
            if n.kwargs:
                d["kwargs"] = {k: encode_arg(v, where + f": kwarg {k!r}") for k, v in n.kwargs.items()}
        elif n.op == "output":
            (outs,) = n.args
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            d["args"] = [encode_arg(list(outs), where + ": field 'args'")]
        else:
            raise FxJsonError(f"{where}: unsupported op {n.op!r} (call_module/call_method?)")
        if n.op != "output":
            if "val" not in n.meta:
                raise FxJsonError(f"{where}: no meta['val']")
            d["val"] = encode_val(n.meta["val"], where + ": field 'val'")
        nodes.append(d)
    doc: dict[str, Any] = {"format": "fx-json", "version": 1, "name": name, "kind": kind}
    if kind == "joint":
        doc["num_fwd_outputs"] = int(num_fwd_outputs)
    doc["nodes"] = nodes
    if check:
        validate(doc)
    return doc


# --------------------------------------------------------------------------- capture


def _flat_tensors(x: Any) -> list[torch.Tensor]:
    leaves, _ = torch.utils._pytree.tree_flatten(x)
    return [t for t in leaves if isinstance(t, torch.Tensor)]


_capture_count = itertools.count()


def _fresh_callable(fn: Callable) -> Callable:
    """``fn`` with a code object of its own (Dynamo caches compiled frames per code object):
    a copy of the function, or of the module's ``forward`` bound to the module, with the same
    argument names, so Dynamo names the graph inputs as it would for ``fn`` itself
    (``l_<arg>_``, ``l_self_modules_...``). Other callables are wrapped (inputs ``l_args_<i>_``)."""
    n = next(_capture_count)
    bind = None
    if isinstance(fn, torch.nn.Module):
        f, bind = type(fn).forward, fn
    elif isinstance(fn, types.MethodType) and isinstance(fn.__func__, types.FunctionType):
        f, bind = fn.__func__, fn.__self__
    elif isinstance(fn, types.FunctionType):
        f = fn
    else:
        def call(*args, **kwargs):
            return fn(*args, **kwargs)

        f = call
    code = f.__code__.replace(co_name=f"{f.__code__.co_name}_fxsat_capture_{n}")
    g = types.FunctionType(code, f.__globals__, code.co_name, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    return types.MethodType(g, bind) if bind is not None else g


def capture(fn: Callable | torch.nn.Module, example_inputs: Sequence[Any], *,
            mode: str = "forward", name: str = "graph",
            example_kwargs: dict | None = None) -> list[dict]:
    """Compile ``fn(*example_inputs, **example_kwargs)`` once and return its aten graph(s).

    mode="forward": run under no_grad, record the inference graph(s) (kind "forward").
    mode="joint": run with grad enabled (inputs that should get gradients must already have
    ``requires_grad=True``; module parameters do); record AOTAutograd's joint graph(s)
    (kind "joint"). For the backward to be traced, no gradient needs to be computed here:
    the joint graph is built at compile time.

    Returns one document per captured graph (exactly one with fullgraph=True); when more
    than one graph is captured the names get a ``.g<i>`` suffix. Besides the FX-JSON fields
    each document carries two private keys the writer drops:
    ``"_sources"`` ({placeholder: dynamo input name, e.g. "l_q_" or
    "l_self_modules_..._parameters_weight_"}) and ``"_inputs"`` (the real tensors behind the
    non-tangent placeholders, in placeholder order), to map placeholders back to arguments.
    """
    if mode not in ("forward", "joint"):
        raise ValueError(f"mode must be 'forward' or 'joint', not {mode!r}")
    from torch._functorch.aot_autograd import aot_module_simplified
    from torch._functorch.partitioners import default_partition
    from torch._inductor.decomposition import select_decomp_table

    captured: list[tuple[torch.fx.GraphModule, int | None]] = []
    sources: list[list[str]] = []  # dynamo placeholder names per compiled graph
    real_inputs: list[list] = []  # dynamo's example inputs (real tensors, params included)

    def fw_compiler(gm: torch.fx.GraphModule, _inputs):
        if mode == "forward":
            captured.append((gm, None))
        return gm.forward

    def bw_compiler(gm: torch.fx.GraphModule, _inputs):
        return gm.forward

    def partition_fn(joint_module, joint_inputs, *, num_fwd_outputs, **kw):
        captured.append((joint_module, num_fwd_outputs))
        # deep-copy-free: the default partition builds new graph modules from the joint one
        return default_partition(joint_module, joint_inputs, num_fwd_outputs=num_fwd_outputs, **kw)

    decomps = select_decomp_table()

    def backend(gm: torch.fx.GraphModule, inputs):
        sources.append([n.name for n in gm.graph.nodes if n.op == "placeholder"])
        real_inputs.append(list(inputs))
        return aot_module_simplified(gm, inputs, fw_compiler=fw_compiler, bw_compiler=bw_compiler,
                                     partition_fn=partition_fn, decompositions=decomps)

    # No torch._dynamo.reset(): the user's compiled functions keep their caches. The capture
    # compiles a fresh code object instead, so no earlier capture's (or the user's) cache
    # entry can answer it and no recompile limit is shared with them.
    compiled = torch.compile(_fresh_callable(fn), backend=backend, fullgraph=True, dynamic=False)
    kwargs = example_kwargs or {}
    if mode == "forward":
        with torch.no_grad():
            compiled(*example_inputs, **kwargs)
    else:
        with torch.enable_grad():
            compiled(*example_inputs, **kwargs)

    kind = "forward" if mode == "forward" else "joint"
    if not captured:
        raise RuntimeError(f"{name}: nothing captured (mode={mode}; for joint, does anything "
                           "require grad?)")
    docs = []
    for i, (gm, nfo) in enumerate(captured):
        gname = name if len(captured) == 1 else f"{name}.g{i}"
        inline_scalar_constants(gm)
        doc = graph_to_doc(gm, name=gname, kind=kind, num_fwd_outputs=nfo)
        # Not part of FX-JSON (the writer drops it): for each placeholder, the dynamo-level
        # input it stands for (e.g. "L_input_ids_", "L_self_modules_..._weight_"), or None
        # for tangents. AOTAutograd keeps dynamo's input order, so this is positional.
        phs = [n["name"] for n in doc["nodes"] if n["op"] == "placeholder"]
        src = sources[i] if i < len(sources) else []
        prim = [p for p in phs if not p.startswith("tangents_")]
        doc["_sources"] = {p: (src[j] if len(src) == len(prim) else None)
                           for j, p in enumerate(prim)}
        # Also not serialized: the real tensors (parameters included) behind the non-tangent
        # placeholders, in placeholder order, so a loaded graph can be checked against eager.
        ri = real_inputs[i] if i < len(real_inputs) else []
        doc["_inputs"] = list(ri) if len(ri) == len(prim) else None
        docs.append(doc)
    return docs
