"""The ``torch.compile`` backend: ``torch.compile(model, backend="fxsat")``.

``backend="fxsat"`` is registered through the ``torch_dynamo_backends`` entry point
(``fxsat.dynamo:fxsat_backend``); :func:`backend` returns a configured one::

    compiled = torch.compile(model, backend=fxsat.backend(budget=0.5, fallback="raise"))

How a graph goes through it (docs/backend.md has the long version):

* Inductor's own driver, ``torch._inductor.compile_fx.compile_fx``, runs AOTAutograd with
  Inductor's decompositions, joint-graph passes, RNG handling and caches, exactly as for
  ``backend="inductor"``; fxsat plugs into two of its hooks, set for this compile only:
* ``joint_custom_pre_pass`` (:class:`FxsatPrePass`): every inference graph and every joint
  graph goes through ``fxsat.optimize`` before Inductor's own joint-graph passes (which
  rewrite the graph in ways that hide attention patterns from fxsat's rules); the graph is
  replaced in place.
* ``custom_partitioner_fn`` (:class:`FxsatPartitioner`): the joint graph, after Inductor's
  joint-graph passes, goes to ``fxsat.partition`` under the memory budget and is split at the
  values fxsat saves by AOTAutograd's own extraction (``_extract_fwd_bwd_modules``): forward =
  the forward outputs then the saved values, backward = the saved values then the tangents.
* the pre-pass's result is loaded back and every node gets ``meta["val"]`` by fake-tensor
  propagation (:func:`propagate`; values the input graph's namesake nodes hold are reused
  where a node computes what its namesake did). fxsat writes what Inductor lowers (the device
  kernels, ``aten.matmul`` as ``mm``/``bmm``); the few nodes Inductor needs decomposed
  (:func:`_decomposes`: e.g. a composite ``aten.scaled_dot_product_attention`` the fused
  kernel refuses, a ``_softmax`` left unfused) are traced alone with ``make_fx`` and
  Inductor's decomposition table (:func:`decompose`). Inductor then runs
  its post-grad passes, fuses and generates code as usual.

Any failure of fxsat on a graph (a construct FX-JSON cannot carry such as symbolic shapes, an
error from the optimizer, a result that cannot be loaded back) logs one warning
(:class:`FxsatFallbackWarning`) and compiles that graph with Inductor alone;
``fallback="raise"`` raises :class:`FxsatBackendError` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.fx

log = logging.getLogger("fxsat.dynamo")

__all__ = ["backend", "fxsat_backend", "FxsatBackend", "FxsatPartitioner", "FxsatBackendError",
           "FxsatFallbackWarning", "Options", "Stats"]


class FxsatBackendError(RuntimeError):
    """fxsat could not handle a graph and the backend was built with ``fallback="raise"``."""


class FxsatFallbackWarning(UserWarning):
    """fxsat could not handle a graph; Inductor compiled it alone (the message says why)."""


@dataclass(frozen=True)
class Options:
    """What fxsat is asked to do with each graph (part of the Inductor cache key)."""

    target: str | None = None  # "cpu" | "cuda" | None: the example inputs' device
    budget: float = 1.0
    assume: tuple[str, ...] = ()
    extra_rules: tuple[str, ...] = ()
    rules: str | None = None
    device: str | None = None  # cost-model profile; None: the target's default
    time_limit: float | None = None
    cache_dir: str | None = None
    fallback: str = "inductor"  # "inductor" | "raise"
    partitioner: str = "fxsat"  # "fxsat" | "inductor": who splits joint graphs
    # a graph fxsat fuses no attention in is replaced only when its cost falls by this much
    # (None: never; the cost model's other gains did not hold under Inductor on the GPU)
    min_gain: float | None = None

    def key(self) -> str:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        return json.dumps(d, sort_keys=True)


@dataclass
class Stats:
    """What happened to the graphs a backend compiled (inspected by the tests and the demo)."""

    optimized: int = 0  # graphs (inference or joint) optimized by fxsat
    partitioned: int = 0  # joint graphs split by fxsat's partitioner
    retraced_partitions: int = 0  # of which split by re-tracing fxsat's fw/bw documents
    retraced: int = 0  # results holding ops Inductor needs decomposed (re-traced alone)
    decomposed: int = 0  # of which nodes, each re-traced alone with make_fx
    fallbacks: list[str] = field(default_factory=list)  # one reason per fallen-back graph
    fused: int = 0  # SDPA forward calls in fxsat's results (report "attention.fused")
    fused_backward: int = 0
    seconds: float = 0.0  # time spent in fxsat (optimize/partition + loading back)
    seconds_api: float = 0.0  # of which in fxsat's optimizer and partitioner (the API calls)
    seconds_split: float = 0.0  # of which in AOTAutograd's split at fxsat's saved values (the
    #                             extraction Inductor's own partitioner runs as well)
    kept: int = 0  # of the optimized graphs, those left as they were (no gain: see min_gain)
    partitioned_by_inductor: int = 0  # kept joint graphs at budget 1: Inductor's partitioner
    nodes_run: int = 0  # nodes of fxsat's results run in the fake mode to get their values
    loadback_hits: int = 0  # graphs loaded back from the load-back cache (fxsat.loadcache):
    #                         no optimizer call, no node run in the fake mode
    reports: list[dict] = field(default_factory=list)

    def reset(self) -> None:
        self.__init__()


def _api():
    """The in-process API (``fxsat.api``: optimize, partition, optimize_and_partition)."""
    from fxsat import api

    return api


def _version() -> str:
    try:
        return str(_api().version())
    except Exception as e:  # no native extension: the uuid still differs from a working one
        return f"unavailable:{type(e).__name__}"


def _rules_hash(opts: Options) -> str:
    try:
        return str(_api().rules_hash(rules=opts.rules, extra_rules=tuple(opts.extra_rules)))
    except Exception as e:  # bad rules: the compile falls back; keep the key distinct
        return f"error:{type(e).__name__}:{e}"


_SOURCE_HASH: str | None = None


def _source_hash() -> str:
    global _SOURCE_HASH
    if _SOURCE_HASH is not None:
        return _SOURCE_HASH
    here = os.path.dirname(os.path.abspath(__file__))
    hs = hashlib.sha256()
    for name in ("dynamo.py", "export.py", "load.py", "fxjson.py", "loadcache.py"):
        try:
            with open(os.path.join(here, name), "rb") as fh:
                hs.update(fh.read())
        except OSError:
            pass
    _SOURCE_HASH = hs.hexdigest()
    return _SOURCE_HASH


def cache_uuid(opts: Options, target: str, kind: str) -> str:
    """Identifies fxsat's transformation for Inductor's caches: fxsat's version, the rules'
    hash, these sources, the options and the target."""
    return hashlib.sha256("|".join(
        [kind, _version(), _rules_hash(opts), _source_hash(), opts.key(), target]).encode()).hexdigest()


# --------------------------------------------------------------------------- graphs


def _infer_target(example_inputs: Sequence[Any]) -> str:
    for t in example_inputs:
        if isinstance(t, torch.Tensor) and t.device.type == "cuda":
            return "cuda"
    return "cpu"


def _to_doc(gm: torch.fx.GraphModule, kind: str, name: str,
            num_fwd_outputs: int | None = None) -> dict:
    from fxsat.export import graph_to_doc, inline_scalar_constants

    hidden = _opaque_inputs(gm)
    if hidden:
        gm = _without_opaque_inputs(gm, hidden)
    # a 0-d constant (the `torch.tensor(0.0)` of a mask, lifted to `_tensor_constant0` on
    # CUDA) becomes `full([], value)`: fxsat's analysis then knows its value
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    with unset_fake_temporarily():  # the constants are real tensors: read them outside fake mode
        inline_scalar_constants(gm)
    for n in gm.graph.nodes:
        v = n.meta.get("val")
        if n.op == "placeholder" and not isinstance(v, torch.Tensor):
            raise _Unsupported(f"placeholder {n.name!r} is not a tensor ({type(v).__name__}); "
                               "symbolic shapes (dynamic=True) are not supported")
        if n.op == "call_function" and not isinstance(
                n.target, (torch._ops.OpOverload,)) and n.target is not operator.getitem:
            raise _Unsupported(f"node {n.name!r}: target {n.target} is not an aten op")
    # (unchecked: the optimizer checks its input and names the node; a failure falls back)
    return graph_to_doc(gm, name=name, kind=kind, num_fwd_outputs=num_fwd_outputs, check=False)


class _Unsupported(Exception):
    pass


def _is_opaque_object(v: Any) -> bool:
    """A non-tensor object input (a script or opaque object: DTensor's and the collectives'
    process-group handles in tensor-parallel graphs)."""
    if isinstance(v, torch.Tensor):
        return False
    from torch._library.fake_class_registry import FakeScriptObject

    if isinstance(v, (FakeScriptObject, torch.ScriptObject)):
        return True
    try:
        from torch._library.opaque_object import is_opaque_value
    except ImportError:  # older torch: no opaque values
        return False
    return bool(is_opaque_value(v))


def _is_opaque_placeholder(x: Any) -> bool:
    return (isinstance(x, torch.fx.Node) and x.op == "placeholder"
            and _is_opaque_object(x.meta.get("val")))


def _opaque_inputs(gm: torch.fx.GraphModule) -> list[str]:
    """The placeholders holding opaque objects. fxsat only passes them through: one that a
    call reads is unsupported (the graph falls back)."""
    names = []
    for n in gm.graph.find_nodes(op="placeholder"):
        if _is_opaque_object(n.meta.get("val")):
            users = [u for u in n.users if u.op != "output"]
            if users:
                raise _Unsupported(f"placeholder {n.name!r} is an opaque object that node "
                                   f"{users[0].name!r} reads")
            names.append(n.name)
    return names


def _without_opaque_inputs(gm: torch.fx.GraphModule, hidden: Sequence[str]) -> torch.fx.GraphModule:
    """A copy of ``gm`` without the opaque-object placeholders ``hidden``: the outputs that
    returned them return None (fxsat sees a tensor graph; the objects are put back after)."""
    import copy

    g = copy.deepcopy(gm.graph)
    drop = [n for n in g.find_nodes(op="placeholder") if n.name in set(hidden)]
    (out,) = g.find_nodes(op="output")
    out.args = (torch.fx.map_arg(out.args[0], lambda x: None if x in drop else x),)
    for n in drop:
        g.erase_node(n)
    return torch.fx.GraphModule(gm, g)


_dump_count = 0


def _dump(doc: dict, what: str) -> None:
    """``FXSAT_DUMP_DIR=DIR``: write every graph handed to fxsat (and its result) there."""
    global _dump_count
    d = os.environ.get("FXSAT_DUMP_DIR")
    if not d:
        return
    from fxsat.fxjson import write_fx_json

    os.makedirs(d, exist_ok=True)
    _dump_count += 1
    write_fx_json(doc, os.path.join(d, f"{os.getpid()}.{_dump_count:03d}.{what}.json"))


def _fake(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach()
    return v


def _constants(gm: torch.fx.GraphModule) -> dict[str, Any]:
    out = {}
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            out[n.target] = operator.attrgetter(n.target)(gm)
    return out


# Targets fxsat may write that Inductor does not lower as they are (composite ops, which
# PyTorch's dispatch turns into a device kernel). fxsat lowers ``aten.matmul`` itself
# (src/ops/lower_matmul.rs); it stays listed for results made by other versions.
_COMPOSITE_TARGETS = frozenset({
    "aten.scaled_dot_product_attention.default",  # 3-D, or a mask the fused kernel refuses
    "aten.matmul.default",
    # Inductor's lowering asserts it was decomposed (into rand, which replace_random turns
    # into Inductor's seeded RNG) unless config.fallback_random
    "aten.native_dropout.default",
})


def _decomposes(target: Any) -> bool:
    """Whether Inductor needs ``target`` decomposed: one of :data:`_COMPOSITE_TARGETS`, or an
    op without an Inductor lowering that is composite (``CompositeImplicitAutograd``) or that
    Inductor's decomposition table rewrites (Inductor refuses both: "both a fallback and a
    decomp for same op")."""
    if not isinstance(target, torch._ops.OpOverload):
        return False
    try:
        return _DECOMPOSES[target]
    except KeyError:
        pass
    from torch._inductor.decomposition import select_decomp_table
    from torch._inductor.lowering import lowerings

    name = f"{target.namespace}.{target._opname}.{target._overloadname}"
    res = name in _COMPOSITE_TARGETS or (target not in lowerings and (
        target in select_decomp_table() or torch._C._dispatch_has_kernel_for_dispatch_key(
            target.name(), "CompositeImplicitAutograd")))
    _DECOMPOSES[target] = res
    return res


_DECOMPOSES: dict[Any, bool] = {}


def _rebuild(doc: dict, fakes: Sequence[Any], constants: dict[str, Any],
             stats: "Stats | None" = None, recompile: bool = True,
             old: "dict[str, torch.fx.Node] | None" = None, recipe: "list | None" = None,
             recorded: "list | None" = None) -> torch.fx.GraphModule:
    """fxsat's FX-JSON result -> a GraphModule with ``meta["val"]`` (fake tensors) on every
    node, by fake-tensor propagation (:func:`propagate`); the few nodes Inductor needs
    decomposed (:func:`_decomposes`: a composite SDPA the fused kernel refuses, a softmax
    fxsat wrote but did not fuse) are then re-traced alone with Inductor's decompositions
    (:func:`decompose`). ``FXSAT_BACKEND_RETRACE=1`` re-traces the whole result instead, as
    before (for measurements). ``old``: the input graph's nodes by name, whose values the
    propagation reuses where a node computes what its namesake computed. ``recompile=False``:
    only the graph is used (the pre-pass copies its nodes), no GraphModule is built.
    ``recipe``: the values recorded by an earlier compile of this very graph
    (:mod:`fxsat.loadcache`), replayed instead of propagated; ``recorded``: a list that gets
    the recipe of the propagated values (None where they cannot be recorded)."""
    from fxsat.load import to_graph, to_graph_module

    if os.environ.get("FXSAT_BACKEND_RETRACE"):
        gm = retrace(to_graph_module(doc, constants=constants), [_fake(f) for f in fakes])
        if stats is not None:
            stats.retraced += 1
    else:
        gm = (to_graph_module(doc, constants=constants) if recompile
              else _Built(*to_graph(doc, constants=constants)))
        if recipe is not None:
            from fxsat.loadcache import replay

            replay(gm, fakes, old or {}, recipe, _placeholder_vals)
        else:
            ran = propagate(gm, fakes, old=old)[0]
            if stats is not None:
                stats.nodes_run += ran
            if recorded is not None:
                from fxsat.loadcache import record

                recorded.append(record(gm.graph, old or {}))
        n = decompose(gm)
        if stats is not None and n:
            stats.retraced += 1
            stats.decomposed += n
    _drop_dead(gm.graph)
    if recompile:
        gm.recompile()
    return gm


def _drop_dead(graph: torch.fx.Graph) -> None:
    """``graph.eliminate_dead_code()``, asking whether a node is impure only of the nodes no one
    uses (FX lints first and asks it of every node: ~3 ms on LLaMA-4's joint graph, 0.1 ms
    here)."""
    import torch._inductor.config

    impure_random = True  # as FX decides it
    if torch._guards.TracingContext.try_get():
        impure_random = torch._inductor.config.fallback_random
    for n in reversed(graph.nodes):
        if (n.op in ("call_function", "get_attr") and not n.users
                and not n.is_impure(impure_random)):
            graph.erase_node(n)


def decompose(gm: Any) -> int:
    """Every node of ``gm`` (whose nodes carry ``meta["val"]``) that Inductor needs
    decomposed (:func:`_decomposes`) replaced by its own ``make_fx`` trace on its arguments'
    fake values with Inductor's decomposition table, which is what a re-trace of the whole
    graph writes for it. Returns how many nodes were decomposed."""
    from torch._guards import detect_fake_mode
    from torch._inductor.decomposition import select_decomp_table
    from torch.fx.experimental.proxy_tensor import make_fx

    graph = gm.graph
    todo = [n for n in graph.nodes if n.op == "call_function" and _decomposes(n.target)]
    owner = gm.root if isinstance(gm, _Built) else gm
    for n in todo:
        ins: list[torch.fx.Node] = []
        torch.fx.map_arg((n.args, n.kwargs), lambda a: ins.append(a) if a not in ins else None)

        def call(*xs, n=n, ins=ins):
            m = dict(zip(ins, xs))
            args, kwargs = torch.fx.map_arg((n.args, n.kwargs), lambda a: m[a])
            return n.target(*args, **kwargs)

        vals = [a.meta["val"] for a in ins]
        mode = detect_fake_mode(vals)
        saved = mode.allow_non_fake_inputs if mode is not None else None
        if mode is not None:
            mode.allow_non_fake_inputs = True
        try:
            if mode is not None:
                with mode:
                    sub = make_fx(call, decomposition_table=select_decomp_table())(*vals)
            else:
                sub = make_fx(call, decomposition_table=select_decomp_table())(*vals)
        finally:
            if mode is not None:
                mode.allow_non_fake_inputs = saved
        env: dict[torch.fx.Node, Any] = {}
        phs = iter(ins)
        out: Any = None
        with graph.inserting_before(n):
            for s in sub.graph.nodes:
                if s.op == "placeholder":
                    env[s] = next(phs)
                elif s.op == "output":
                    out = torch.fx.map_arg(s.args[0], lambda x: env[x])
                elif s.op == "get_attr":  # a constant the decomposition made
                    i = 0
                    while hasattr(owner, f"_fxsat_decomp{i}"):
                        i += 1
                    setattr(owner, f"_fxsat_decomp{i}", operator.attrgetter(s.target)(sub))
                    env[s] = graph.get_attr(f"_fxsat_decomp{i}")
                    env[s].meta = dict(s.meta)
                else:
                    env[s] = graph.node_copy(s, lambda x: env[x])
        if isinstance(out, (list, tuple)):
            for u in list(n.users):
                if u.op != "call_function" or u.target is not operator.getitem:
                    raise _Unsupported(f"node {n.name!r} ({n.target}): a user reads its "
                                       "tuple whole")
                u.replace_all_uses_with(out[u.args[1]])
                graph.erase_node(u)
        else:
            n.replace_all_uses_with(out)
        graph.erase_node(n)
    return len(todo)


class _Built:
    """A graph and the module holding its constants (``getattr`` reads the constants), for
    what needs no GraphModule."""

    def __init__(self, root: torch.nn.Module, graph: torch.fx.Graph):
        self.root, self.graph = root, graph

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["root"], name)


def propagate(gm: torch.fx.GraphModule, fakes: Sequence[Any],
              old: "dict[str, torch.fx.Node] | None" = None,
              direct: bool = True) -> tuple[int, int, int]:
    """``meta["val"]`` on every node of ``gm`` by fake-tensor propagation on ``fakes``, in
    their fake mode (real constants accepted), without re-tracing.

    ``old`` (the input graph's nodes by name, with their ``meta["val"]``) makes it cheap: a
    node that calls what its namesake called (same target, same literal arguments, and as
    node arguments the very fake tensors its namesake read) gets its namesake's value without
    running anything, aliasing included. Any other node runs in the fake mode, as
    ``FakeTensorProp`` runs it; if the value it gets is a fresh tensor (not a view) with
    exactly the metadata of its namesake's fresh tensor, the namesake's value stands for it,
    so the nodes after it match their namesakes again. Without ``old`` every node runs.

    ``direct``: a node whose op returns one fresh tensor, contiguous as its operands are,
    gets a fake tensor of its FX-JSON meta without running (:func:`_from_meta`); a view op
    (and ``getitem`` of a sequence of tensors) gets its value by running on the meta tensor
    of its operand's storage outside the fake mode, which aliases as ``FakeTensorProp``'s
    does (:func:`_on_meta`); other nodes run in the fake mode.

    Returns how many nodes ran, were made from their meta or on meta tensors, took their
    namesake's value."""
    from torch.fx.node import map_aggregate

    old = old or {}
    phs = list(gm.graph.find_nodes(op="placeholder"))
    vals, mode, snap = _placeholder_vals(phs, fakes, old)
    env: dict[torch.fx.Node, Any] = dict(zip(phs, vals))
    ran = reused = made = 0
    saved = mode.allow_non_fake_inputs
    mode.allow_non_fake_inputs = True
    try:
        with mode:
            for n in gm.graph.nodes:
                if n.op == "placeholder":
                    n.meta["val"] = env[n]
                    continue
                if n.op == "output":  # as FakeTensorProp: the returned values
                    n.meta["val"] = torch.fx.map_arg(n.args[0], lambda a: env[a])
                    continue
                prev = old.get(n.name)
                prev_val = prev.meta.get("val") if prev is not None else None
                if n.op == "get_attr":
                    if (prev is not None and prev.op == "get_attr" and prev.target == n.target
                            and prev_val is not None):
                        val = prev_val
                    else:
                        val = snap(operator.attrgetter(n.target)(gm))
                elif (prev is not None and prev_val is not None and prev.op == n.op
                        and _same_target(n.target, prev.target)
                        and _same_args(n.args, prev.args, env)
                        and _same_args(n.kwargs, prev.kwargs, env)):
                    val = prev_val
                    reused += 1
                else:
                    args = torch.fx.map_arg(n.args, lambda a: env[a])
                    kwargs = torch.fx.map_arg(n.kwargs, lambda a: env[a])
                    val = None
                    if direct:
                        val = _from_meta(mode, n, args, kwargs)
                        if val is None:
                            val = _on_meta(mode, n, args, kwargs)
                    if val is None:
                        val = map_aggregate(n.target(*args, **kwargs), snap)
                        ran += 1
                    else:
                        made += 1
                    if (prev_val is not None and not _mutates(n.target)
                            and _fresh_twin(val, prev_val)
                            and not _storages(val) & _storages((args, kwargs))
                            and not _storages(prev_val) & _storages(
                                torch.fx.map_arg((prev.args, prev.kwargs),
                                                 lambda a: a.meta.get("val")))):
                        val = prev_val
                env[n] = val
                n.meta["val"] = val
    finally:
        mode.allow_non_fake_inputs = saved
    log.debug("fake values: %d nodes run, %d made from their FX-JSON meta, %d reused from the "
              "input graph", ran, made, reused)
    return ran, made, reused


def _placeholder_vals(phs: Sequence[torch.fx.Node], fakes: Sequence[Any],
                      old: "dict[str, torch.fx.Node]"):
    """The placeholders' values, the fake mode and the snapshot function of a propagation
    (:func:`propagate`; :func:`fxsat.loadcache.replay`)."""
    from torch._guards import detect_fake_mode
    from torch._subclasses import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import snapshot_fake

    # the placeholders' own values (not copies), so their users can match their namesakes
    vals = [old[p.name].meta["val"] if p.name in old and "val" in old[p.name].meta
            and _same_meta(old[p.name].meta["val"], f) else _fake(f)
            for p, f in zip(phs, fakes)]
    mode = detect_fake_mode(list(vals))
    if mode is None:
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        vals = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in vals]
    mode.epoch += 1

    def snap(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return snapshot_fake(obj if _is_fake(obj) else mode.from_tensor(obj, static_shapes=True))
        return obj if isinstance(obj, (int, float, bool)) or obj is None else None

    return vals, mode, snap


def _fresh_result(target: Any) -> bool:
    """``target`` returns one new tensor (no view, no alias of an input, no mutation, not a
    composite that may return its input or a view of it): its value is fully described by
    shape, strides, dtype and device."""
    try:
        return _FRESH[target]
    except KeyError:
        pass
    res = False
    schema = getattr(target, "_schema", None)
    if isinstance(target, torch._ops.OpOverload) and schema is not None:
        rets = schema.returns
        res = (len(rets) == 1 and isinstance(rets[0].type, torch.TensorType)
               and rets[0].alias_info is None and not schema.is_mutable
               and not any(a.alias_info is not None for a in schema.arguments)
               and not torch._C._dispatch_has_kernel_for_dispatch_key(
                   target.name(), "CompositeImplicitAutograd"))
    _FRESH[target] = res
    return res


_FRESH: dict[Any, bool] = {}


def _from_meta(mode: Any, n: torch.fx.Node, args: Any, kwargs: Any) -> Any:
    """The fake value of ``n`` built from its FX-JSON meta (shape, strides, dtype: what fxsat
    computed, eager's layout) without running it, where its op returns one fresh tensor
    (:func:`_fresh_result`) and its device is that of every tensor argument (or its
    ``device`` keyword); None where that does not hold (the caller runs the node)."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    v = n.meta.get("fxjson_val")
    if not (isinstance(v, dict) and "stride" in v and "shape" in v and "dtype" in v):
        return None
    if not _fresh_result(n.target):
        return None
    # fxsat's strides are eager's where the layout is forced: a contiguous result of
    # contiguous operands (no memory_format asked for, no strides given), or of a matrix
    # product (whose result is contiguous whatever its operands' layout)
    if (v["stride"] != _contiguous(v["shape"]) or "memory_format" in kwargs
            or "strided" in n.target._opname
            or (n.target not in _CONTIGUOUS_RESULT and not _all_contiguous((args, kwargs)))):
        return None
    devices = _devices((args, kwargs), set())
    if "device" in kwargs:
        devices.add(torch.device(kwargs["device"]))
    if len(devices) != 1:
        return None
    dtype = getattr(torch, v["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        return None
    with unset_fake_temporarily():
        meta = torch.empty_strided(v["shape"], v["stride"], dtype=dtype, device="meta")
    return mode.fake_tensor_converter.from_meta_and_device(mode, meta, devices.pop())


def _view_op(target: Any) -> bool:
    """``target`` is a view op: it only reads its first argument, a tensor, and returns a
    tensor or a list of tensors aliasing it (schema alias sets), mutating nothing."""
    try:
        return _VIEW[target]
    except KeyError:
        pass
    res = False
    schema = getattr(target, "_schema", None)
    if isinstance(target, torch._ops.OpOverload) and schema is not None and schema.arguments:
        rets, a0 = schema.returns, schema.arguments[0]
        info = a0.alias_info
        ret_types = (torch.TensorType, torch.ListType)
        res = (len(rets) == 1 and isinstance(rets[0].type, ret_types)
               and (isinstance(rets[0].type, torch.TensorType)
                    or isinstance(rets[0].type.getElementType(), torch.TensorType))
               and rets[0].alias_info is not None and not rets[0].alias_info.is_write
               and isinstance(a0.type, torch.TensorType) and info is not None
               and not info.is_write and not schema.is_mutable
               and rets[0].alias_info.before_set == info.before_set
               and not any(a.alias_info is not None for a in schema.arguments[1:]))
    _VIEW[target] = res
    return res


_VIEW: dict[Any, bool] = {}


def _meta_alias(t: torch.Tensor) -> torch.Tensor:
    """A plain meta tensor of ``t``'s storage, offset, shape and strides (call it outside the
    fake mode)."""
    m = torch.empty(0, dtype=t.dtype, device="meta")
    return m.set_(t.untyped_storage(), t.storage_offset(), t.shape, t.stride())


def _on_meta(mode: Any, n: torch.fx.Node, args: Any, kwargs: Any) -> Any:
    """The fake value of a view node (:func:`_view_op`) or a ``getitem`` of a sequence of
    tensors, without the fake mode: the op runs on a plain meta tensor of its operand's
    storage (its meta kernel, chosen as the fake mode chooses it: exact sizes, strides and
    offset), the result wrapped as a fake tensor of the operand's device sharing that storage.
    None where that does not hold (the caller runs the node): other tensor arguments, a
    constant or non-fake operand, an error, a result that is not a meta tensor."""
    from torch._dispatch.python import enable_python_dispatcher
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    if n.target is operator.getitem:
        if len(args) != 2 or kwargs:
            return None
        seq, i = args
        if not isinstance(seq, (list, tuple)) or not isinstance(i, int):
            return None
        x = seq[i] if -len(seq) <= i < len(seq) else None
        if not _plain_fake(mode, x):
            return None
        with unset_fake_temporarily():
            r = _meta_alias(x)
        return mode.fake_tensor_converter.from_meta_and_device(mode, r, x.device)
    if not _view_op(n.target) or not args:
        return None
    x = args[0]
    if not _plain_fake(mode, x) or _has_tensor((args[1:], kwargs)):
        return None
    # the python dispatcher, as in the fake mode: the Python meta kernels (e.g. view's strides
    # of size-1 dims) take precedence over the C++ ones
    try:
        with unset_fake_temporarily(), enable_python_dispatcher():
            r = n.target(_meta_alias(x), *args[1:], **kwargs)
    except Exception:  # noqa: BLE001 - the fake mode decides (and raises what it raises)
        return None
    rs = r if isinstance(r, (list, tuple)) else [r]
    # a view, or (a composite such as reshape of a tensor it cannot view) a copy: a meta
    # tensor made by the call, whose storage is its own
    if not all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in rs):
        return None
    # the snapshot FakeTensorProp takes: a fake tensor of the view's storage and metadata
    out = [mode.fake_tensor_converter.from_meta_and_device(mode, t, x.device) for t in rs]
    return out if isinstance(r, (list, tuple)) else out[0]


def _plain_fake(mode: Any, x: Any) -> bool:
    """``x`` is a strided fake tensor of ``mode`` with no constant behind it."""
    return (isinstance(x, torch.Tensor) and _is_fake(x) and x.fake_mode is mode
            and x.layout == torch.strided and getattr(x, "constant", None) is None
            and not x.requires_grad)


def _has_tensor(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_has_tensor(x) for x in obj)
    if isinstance(obj, dict):
        return any(_has_tensor(x) for x in obj.values())
    return False


# ops whose result is a new contiguous tensor whatever the layout of their operands
_CONTIGUOUS_RESULT = frozenset({torch.ops.aten.mm.default, torch.ops.aten.bmm.default,
                                torch.ops.aten.addmm.default})


def _contiguous(shape: Sequence[int]) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= max(d, 1)
    return out[::-1]


def _all_contiguous(obj: Any) -> bool:
    """Every tensor in ``obj`` has contiguous strides (as :func:`_contiguous` gives them)."""
    if isinstance(obj, torch.Tensor):
        return list(obj.stride()) == _contiguous(obj.shape)
    if isinstance(obj, (list, tuple)):
        return all(_all_contiguous(x) for x in obj)
    if isinstance(obj, dict):
        return all(_all_contiguous(x) for x in obj.values())
    return True


def _devices(obj: Any, res: set) -> set:
    if isinstance(obj, torch.Tensor):
        res.add(obj.device)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _devices(x, res)
    elif isinstance(obj, dict):
        for x in obj.values():
            _devices(x, res)
    return res


def _is_fake(t: Any) -> bool:
    from torch._subclasses.fake_tensor import is_fake

    return is_fake(t)


_aten = torch.ops.aten


def _same_target(new: Any, prev: Any) -> bool:
    """``new`` called on the arguments ``prev`` was called on gives what ``prev`` gave:
    the same target; ``reshape`` where ``prev`` was a ``view`` (which succeeded, so the
    reshape is that view); the ``Tensor`` and ``Scalar`` overloads of one op (fxsat writes
    either for a scalar operand; same type promotion)."""
    if new == prev:
        return True
    if new is _aten.reshape.default:
        return prev is _aten.view.default
    if isinstance(new, torch._ops.OpOverload) and isinstance(prev, torch._ops.OpOverload):
        return (new.overloadpacket is prev.overloadpacket
                and {new._overloadname, prev._overloadname} == {"Tensor", "Scalar"})
    return False


def _same_meta(a: Any, b: Any) -> bool:
    """Same shape, strides, offset, dtype and device (tensors)."""
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
            and a.shape == b.shape and a.stride() == b.stride() and a.dtype == b.dtype
            and a.device == b.device and a.storage_offset() == b.storage_offset())


def _same_args(new: Any, prev: Any, env: dict) -> bool:
    """``new`` (this graph's arguments) and ``prev`` (the namesake's) are the same: equal
    literals, and each node of ``new`` has as value the very object ``prev``'s node has."""
    if isinstance(new, torch.fx.Node):
        return isinstance(prev, torch.fx.Node) and env.get(new) is prev.meta.get("val", env)
    if isinstance(prev, torch.fx.Node):
        return False
    if isinstance(new, (list, tuple)):
        return (isinstance(prev, (list, tuple)) and len(new) == len(prev)
                and all(_same_args(a, b, env) for a, b in zip(new, prev)))
    if isinstance(new, dict):
        return (isinstance(prev, dict) and new.keys() == prev.keys()
                and all(_same_args(new[k], prev[k], env) for k in new))
    return type(new) is type(prev) and new == prev


def _fresh_twin(val: Any, prev: Any) -> bool:
    """``val`` and ``prev`` are tensors of one metadata and storage size (or tuples of such,
    or equal scalars): where neither shares a storage with its node's arguments (checked by
    the caller: fake values lose ``_is_view()`` when snapshotted), the one can stand for the
    other."""
    if isinstance(val, torch.Tensor):
        return (isinstance(prev, torch.Tensor) and _same_meta(val, prev)
                and val.untyped_storage().nbytes() == prev.untyped_storage().nbytes())
    if isinstance(val, (list, tuple)):
        return (isinstance(prev, (list, tuple)) and len(val) == len(prev)
                and all(_fresh_twin(a, b) for a, b in zip(val, prev)))
    return (val is None and prev is None) or (
        isinstance(val, (int, float, bool)) and type(val) is type(prev) and val == prev)


def _storages(obj: Any, res: "set[int] | None" = None) -> set[int]:
    """The storages of the tensors in ``obj`` (nested lists, tuples, dicts)."""
    res = set() if res is None else res
    if isinstance(obj, torch.Tensor):
        res.add(obj.untyped_storage()._cdata)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _storages(x, res)
    elif isinstance(obj, dict):
        for x in obj.values():
            _storages(x, res)
    return res


def _mutates(target: Any) -> bool:
    schema = getattr(target, "_schema", None)
    return bool(schema is not None and schema.is_mutable)


def retrace(gm: torch.fx.GraphModule, fakes: Sequence[Any]) -> torch.fx.GraphModule:
    """``make_fx`` of ``gm`` on fake tensors with Inductor's decompositions, inside their fake
    mode (so that factory calls such as ``full``/``arange`` give fake tensors too, and the
    module's real constants are accepted)."""

    from torch._guards import detect_fake_mode
    from torch._inductor.decomposition import select_decomp_table
    from torch._subclasses import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx

    mode = detect_fake_mode(list(fakes))
    if mode is None:
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        fakes = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in fakes]
    saved = mode.allow_non_fake_inputs
    mode.allow_non_fake_inputs = True
    try:
        with mode:
            return make_fx(gm, decomposition_table=select_decomp_table())(*fakes)
    finally:
        mode.allow_non_fake_inputs = saved


def _placeholders(gm: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return list(gm.graph.find_nodes(op="placeholder"))


def _outputs(gm: torch.fx.GraphModule) -> list[Any]:
    (out,) = gm.graph.find_nodes(op="output")
    o = out.args[0]
    return list(o) if isinstance(o, (list, tuple)) else [o]


def _reorder_placeholders(doc: dict, names: list[str], vals: dict[str, Any], where: str) -> dict:
    """Make ``doc``'s placeholders exactly ``names`` in this order (unused ones fxsat dropped
    are added back, with their ``val`` from ``vals``)."""
    from fxsat.export import encode_val

    phs = {n["name"]: n for n in doc["nodes"] if n["op"] == "placeholder"}
    extra = set(phs) - set(names)
    if extra:
        raise _Unsupported(f"{where}: unexpected placeholders {sorted(extra)[:5]}")
    new_phs = []
    for nm in names:
        if nm in phs:
            new_phs.append(phs[nm])
        else:
            new_phs.append({"name": nm, "op": "placeholder", "val": encode_val(vals[nm])})
    rest = [n for n in doc["nodes"] if n["op"] != "placeholder"]
    return dict(doc, nodes=new_phs + rest)


# --------------------------------------------------------------------------- the backend


class _Shared:
    """State shared by a pre-pass and a partitioner installed together."""

    def __init__(self) -> None:
        self.joint_failed = False  # the pre-pass declined the joint graph being compiled
        # the joint graph as it was before the pre-pass rewrote it (FX-JSON, placeholder
        # values, constants): what a failed partition falls back to
        self.joint_original: tuple | None = None
        # the pre-pass left the joint graph being compiled as it was (no gain: min_gain)
        self.joint_kept = False


class _Ctx:
    """One compile: the options, the target, the stats, and the fallback policy."""

    def __init__(self, opts: Options, target: str, stats: Stats, shared: "_Shared | None" = None):
        self.opts, self.target, self.stats = opts, target, stats
        self.shared = shared if shared is not None else _Shared()
        self.optimize_joint = False  # the partitioner also optimizes (no pre-pass)

    def api_kwargs(self) -> dict:
        o = self.opts
        kw: dict[str, Any] = dict(target=self.target, device=o.device, assume=tuple(o.assume),
                                  extra_rules=tuple(o.extra_rules), rules=o.rules,
                                  time_limit=o.time_limit)
        if o.cache_dir is not None:
            kw["cache_dir"] = o.cache_dir
        return kw

    def failed(self, what: str, err: BaseException) -> None:
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        msg = f"fxsat: {what}: {reason}; compiling it with Inductor alone"
        if self.opts.fallback == "raise":
            raise FxsatBackendError(f"fxsat: {what}: {reason}") from err
        self.stats.fallbacks.append(msg)
        log.debug("fxsat: %s failed", what, exc_info=err)
        log.warning("%s", msg)
        warnings.warn(msg, FxsatFallbackWarning, stacklevel=2)

    def record(self, report: dict) -> None:
        self.stats.reports.append(report)
        for r in (report.get("optimize", report) if isinstance(report, dict) else {},):
            att = r.get("attention", {}) if isinstance(r, dict) else {}
            self.stats.fused += int(att.get("fused", 0) or 0)
            self.stats.fused_backward += int(att.get("fused_backward", 0) or 0)


def _force_failure(stage: str) -> None:
    """Test hook: ``FXSAT_BACKEND_FAIL=1`` makes every graph fail inside fxsat's step;
    ``FXSAT_BACKEND_FAIL=partition`` only the partitioner (after the rewrite succeeded)."""
    v = os.environ.get("FXSAT_BACKEND_FAIL")
    if v and v in ("1", stage):
        raise RuntimeError(f"forced failure (FXSAT_BACKEND_FAIL={v})")


def _replace_graph(graph: torch.fx.Graph, new_gm: torch.fx.GraphModule) -> None:
    """Replace ``graph``'s body (in place, as a graph pass must) with ``new_gm``'s, keeping
    ``graph``'s placeholders (their names and meta) and its output node (its meta)."""
    owner = graph.owning_module
    old_out_args = _outputs(owner) if owner is not None else []
    old_phs = [p for p in graph.find_nodes(op="placeholder")
               if not _is_opaque_object(p.meta.get("val"))]
    new_phs = list(new_gm.graph.find_nodes(op="placeholder"))
    if len(old_phs) != len(new_phs):
        raise _Unsupported(f"{len(new_phs)} inputs instead of {len(old_phs)}")
    env: dict[torch.fx.Node, Any] = dict(zip(new_phs, old_phs))
    (old_out,) = graph.find_nodes(op="output")
    old_nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    new_out_args = None
    with graph.inserting_before(old_out):
        for n in new_gm.graph.nodes:
            if n.op == "placeholder":
                continue
            if n.op == "output":
                new_out_args = torch.fx.map_arg(n.args[0], lambda x: env[x])
                # outputs that returned an opaque-object input return it again
                if isinstance(new_out_args, (list, tuple)) and len(new_out_args) == len(old_out_args):
                    new_out_args = type(new_out_args)(
                        old if _is_opaque_placeholder(old) else new
                        for old, new in zip(old_out_args, new_out_args))
                continue
            if n.op == "get_attr":
                if owner is None:
                    raise _Unsupported("a constant in a graph without an owning module")
                i = 0
                while hasattr(owner, f"_fxsat_constant{i}"):
                    i += 1
                setattr(owner, f"_fxsat_constant{i}", operator.attrgetter(n.target)(new_gm))
                env[n] = graph.get_attr(f"_fxsat_constant{i}")
                env[n].meta = dict(n.meta)
                continue
            env[n] = graph.node_copy(n, lambda x: env[x])
    old_out.args = (new_out_args,)
    for n in reversed(old_nodes):
        graph.erase_node(n)


def _optimize_graph(ctx: _Ctx, graph: torch.fx.Graph) -> None:
    """The pre-pass: an inference graph or a joint graph (before Inductor's joint-graph
    passes) through ``fxsat.optimize``; the graph is rewritten in place."""
    fx = _api()
    gm = graph.owning_module
    phs = list(graph.find_nodes(op="placeholder"))
    joint = any(p.name.startswith("tangents_") for p in phs)
    what = "joint graph" if joint else "inference graph"
    t0 = time.perf_counter()
    try:
        _force_failure("optimize")
        if gm is None:
            raise _Unsupported("the graph has no owning module")
        nfo = None
        if joint:
            primals = [p for p in phs if p.name.startswith("primals_")]
            nfo = len(_outputs(gm)) - len(primals)
            if nfo < 0 or len(primals) + sum(p.name.startswith("tangents_") for p in phs) != len(phs):
                raise _Unsupported("placeholders are not primals_* then tangents_*")
        doc = _to_doc(gm, "joint" if joint else "forward", what.replace(" ", "_"), nfo)
        _dump(doc, "joint" if joint else "forward")
        text = json.dumps(doc, allow_nan=False)  # once: the key's and the optimizer's input
        lc_dir, lc_key, entry = _loadback_lookup(ctx, graph, text)
        phs = [p for p in phs if not _is_opaque_placeholder(p)]  # fxsat saw the tensors only
        old = {n.name: n for n in graph.nodes}
        fakes = [p.meta["val"] for p in phs]
        new = None
        if entry is not None and not _pays(entry["report"], ctx.opts.min_gain):
            _keep(ctx, what, entry["report"])  # (stored by a compile with a lower min_gain)
            return
        if entry is not None:  # a warm compile: no optimizer call, no propagation
            try:
                report = dict(entry["report"], loadback_cache={"hit": True})
                out = _reorder_placeholders(entry["out"], [p.name for p in phs],
                                            {p.name: p.meta["val"] for p in phs}, what)
                new = _rebuild(out, fakes, _constants(gm), ctx.stats, recompile=False, old=old,
                               recipe=entry["recipe"])
                if len(_outputs(new)) != len(_outputs(gm)):
                    raise ValueError("a different number of outputs")
                ctx.stats.loadback_hits += 1
            except Exception as e:  # noqa: BLE001 - a bad entry is a miss
                from fxsat.loadcache import _warn

                _warn(f"entry {lc_key}: does not fit the graph ({type(e).__name__}: "
                      f"{str(e)[:200]}); optimizing it again")
                new = None
        if new is None:
            t_api = time.perf_counter()
            result, report = fx.optimize(text, **ctx.api_kwargs())
            ctx.stats.seconds_api += time.perf_counter() - t_api
            if lc_key is not None:
                report = dict(report, loadback_cache={"hit": False})
            _dump(result, ("joint" if joint else "forward") + ".opt")
            if not _pays(report, ctx.opts.min_gain):  # (the optimizer's own cache has it)
                _keep(ctx, what, report)
                return
            out = _reorder_placeholders(result, [p.name for p in phs],
                                        {p.name: p.meta["val"] for p in phs}, what)
            recorded: list = []
            new = _rebuild(out, fakes, _constants(gm), ctx.stats, recompile=False, old=old,
                           recorded=recorded)
            if len(_outputs(new)) != len(_outputs(gm)):
                raise _Unsupported("the optimized graph has a different number of outputs")
            if lc_key is not None and recorded and recorded[0] is not None:
                from fxsat.loadcache import store

                store(lc_dir, lc_key, result, {k: v for k, v in report.items()
                                               if k != "loadback_cache"}, recorded[0])
        if (joint and ctx.opts.partitioner == "fxsat"
                and len(phs) == len(list(graph.find_nodes(op="placeholder")))):
            ctx.shared.joint_original = (doc, fakes, _constants(gm))
        _replace_graph(graph, new)
        gm.recompile()
        ctx.record(report)
        ctx.stats.optimized += 1
    except FxsatBackendError:
        raise
    except Exception as e:
        if joint:
            ctx.shared.joint_failed = True
        ctx.failed(what, e)
    finally:
        ctx.stats.seconds += time.perf_counter() - t0


def _keep(ctx: "_Ctx", what: str, report: dict) -> None:
    """The pre-pass leaves the graph as it was (fxsat's result does not pay: :func:`_pays`)."""
    ctx.record(report)
    ctx.stats.optimized += 1
    ctx.stats.kept += 1
    if what == "joint graph":
        ctx.shared.joint_kept = True
    log.info("fxsat: %s left as it was (no attention newly fused; cost %.3g -> %.3g s)", what,
             (report.get("cost") or {}).get("before", float("nan")),
             (report.get("cost") or {}).get("after", float("nan")))


def _pays(report: dict, min_gain: "float | None") -> bool:
    """Whether fxsat's result is worth handing Inductor instead of the graph it got: it fuses
    attention (more SDPA calls than the input had, as the report counts them: a graph that
    already runs the kernels, as transformers' SDPA attention does, gains nothing), or
    (``min_gain`` a number) the cost model puts it at least ``min_gain`` (a fraction) below
    the input. Otherwise Inductor gets the graph untouched, exactly as
    ``backend="inductor"`` would. (The cost model prices the unfused graph; Inductor fuses
    pointwise chains and softmaxes itself: OPT's joint graph, cost 39 % lower with no attention
    fused, trained 10 % slower on an H100.)"""
    att = {k: int(v or 0) for k, v in (report.get("attention") or {}).items()}
    if (att.get("fused", 0) > att.get("input_fused", 0)
            or att.get("fused_backward", 0) > att.get("input_fused_backward", 0)):
        return True
    if min_gain is None:
        return False
    cost = report.get("cost") or {}
    before, after = cost.get("before"), cost.get("after")
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)) or before <= 0:
        return True
    return after <= (1.0 - min_gain) * before


def _loadback_lookup(ctx: "_Ctx", graph: torch.fx.Graph, doc: str):
    """The load-back cache (:mod:`fxsat.loadcache`) of the pre-pass: its directory (the
    optimizer's cache directory), the key of ``graph`` (FX-JSON text ``doc``) with this compile's
    options, and the entry found (None: a miss). No directory: no key, no entry."""
    from fxsat import loadcache

    if os.environ.get("FXSAT_BACKEND_NO_LOADBACK_CACHE"):
        return None, None, None
    d = ctx.opts.cache_dir
    if d is None:
        try:
            d = _api().default_cache_dir()
        except Exception:  # noqa: BLE001 - no native extension: the optimizer call fails
            d = None
    if not d:
        return None, None, None
    kw = sorted((k, v) for k, v in ctx.api_kwargs().items() if k != "cache_dir")
    k = loadcache.key("pre-pass", _version(), _rules_hash(ctx.opts), _source_hash(), kw,
                      doc, loadcache.graph_signature(list(graph.nodes)))
    return d, k, loadcache.load(d, k)


def _split_by_saved(joint: torch.fx.GraphModule, report: dict, num_fwd_outputs: int):
    """AOTAutograd's own extraction (``_extract_fwd_bwd_modules``, what its min-cut
    partitioner calls) at the values fxsat's partitioner saves: the joint graph's nodes keep
    their ``meta``, nothing is re-traced, and AOTAutograd's conventions (saved-tensor order,
    tangents) hold by construction."""
    from torch._functorch.partitioners import _extract_fwd_bwd_modules

    by_name = {n.name: n for n in joint.graph.nodes}
    saved = []
    for s in report.get("saved", ()):
        n = by_name.get(s.get("name") if isinstance(s, dict) else None)
        if n is None or not isinstance(n.meta.get("val"), torch.Tensor):
            raise _Unsupported(f"saved value {s!r} is not a tensor node of the joint graph")
        saved.append(n)
    # opaque-object inputs the backward returns (fxsat never saw them) are saved as well
    for o in _outputs(joint)[num_fwd_outputs:]:
        if _is_opaque_placeholder(o) and o not in saved:
            saved.append(o)
    return _extract_fwd_bwd_modules(joint, saved, [], num_fwd_outputs=num_fwd_outputs)


def _load_fw_bw(joint: torch.fx.GraphModule, fw_doc: dict, bw_doc: dict, num_fwd_outputs: int):
    """fxsat's forward and backward documents loaded back and re-traced on fake tensors."""
    phs = _placeholders(joint)
    primals = [p for p in phs if p.name.startswith("primals_")]
    tangents = [p for p in phs if p.name.startswith("tangents_")]
    vals = {p.name: p.meta["val"] for p in phs}
    consts = _constants(joint)
    fw_doc = _reorder_placeholders(fw_doc, [p.name for p in primals], vals, "forward graph")
    fw = _rebuild(fw_doc, [p.meta["val"] for p in primals], consts)
    fw_outs = _outputs(fw)
    saved = fw_outs[num_fwd_outputs:]
    if len(fw_outs) < num_fwd_outputs:
        raise _Unsupported("the forward graph has fewer outputs than the joint graph's forward")
    # the backward's placeholders: one per saved value (fxsat's names), then the tangents
    bw_phs = [n["name"] for n in bw_doc["nodes"] if n["op"] == "placeholder"]
    tan_names = [t.name for t in tangents]
    saved_names = [n for n in bw_phs if n not in set(tan_names)]
    if len(saved_names) != len(saved):
        raise _Unsupported(f"the backward takes {len(saved_names)} saved values, the forward "
                           f"returns {len(saved)}")
    for nm, s in zip(saved_names, saved):
        if not isinstance(s, torch.fx.Node) or not isinstance(s.meta.get("val"), torch.Tensor):
            raise _Unsupported(f"saved value {nm!r} is not a tensor")
        vals[nm] = s.meta["val"]
    bw_doc = _reorder_placeholders(bw_doc, saved_names + tan_names, vals, "backward graph")
    bw = _rebuild(bw_doc, [vals[n] for n in saved_names + tan_names], consts)
    n_grads = len(_outputs(joint)) - num_fwd_outputs
    if len(_outputs(bw)) != n_grads:
        raise _Unsupported(f"the backward returns {len(_outputs(bw))} values, the joint graph "
                           f"{n_grads} gradients")
    return fw, bw


def _partition(ctx: _Ctx, joint: torch.fx.GraphModule, joint_inputs, kwargs: dict):
    """The joint graph through ``fxsat.partition`` under the budget (or, when ``optimize``,
    ``fxsat.optimize_and_partition``); on failure Inductor's own partitioner."""
    from torch._functorch.partitioners import min_cut_rematerialization_partition

    fx = _api()
    num_fwd_outputs = kwargs["num_fwd_outputs"]
    if ctx.shared.joint_failed:  # the pre-pass already warned about this graph
        ctx.shared.joint_failed = False
        return min_cut_rematerialization_partition(joint, joint_inputs, **kwargs)
    kept, ctx.shared.joint_kept = ctx.shared.joint_kept, False
    if kept and float(ctx.opts.budget) == 1.0 and not ctx.optimize_joint:
        # a graph fxsat does not rewrite, at the default budget: compiled exactly as
        # backend="inductor" compiles it (measured: fxsat's cut cost up to 8 % there on OPT)
        ctx.stats.partitioned_by_inductor += 1
        return min_cut_rematerialization_partition(joint, joint_inputs, **kwargs)
    t0 = time.perf_counter()
    try:
        _force_failure("partition")
        phs = _placeholders(joint)
        names = [p.name for p in phs]
        if not all(n.startswith(("primals_", "tangents_")) for n in names):
            raise _Unsupported(f"joint graph placeholders {names[:4]}... are not primals_*/tangents_*")
        doc = _to_doc(joint, "joint", "joint", num_fwd_outputs=num_fwd_outputs)
        t_api = time.perf_counter()
        if ctx.optimize_joint:
            fw_doc, bw_doc, report = fx.optimize_and_partition(doc, budget=ctx.opts.budget,
                                                               **ctx.api_kwargs())
        else:
            fw_doc, bw_doc, report = fx._partition_texts(doc, budget=ctx.opts.budget,
                                                         target=ctx.target,
                                                         device=ctx.opts.device)
        ctx.stats.seconds_api += time.perf_counter() - t_api
        try:
            if ctx.optimize_joint:  # the saved values are nodes of fxsat's optimized graph
                raise _Unsupported("the joint graph was optimized by the partitioner")
            t_split = time.perf_counter()
            try:
                fw, bw = _split_by_saved(joint, report, num_fwd_outputs)
            finally:
                ctx.stats.seconds_split += time.perf_counter() - t_split
        except Exception as e:  # noqa: BLE001 - fxsat's own graphs, re-traced, are right too
            ctx.stats.retraced_partitions += 1
            log.debug("splitting the joint graph at fxsat's saved values failed (%s); "
                      "re-tracing fxsat's forward and backward", e)
            fw, bw = _load_fw_bw(joint, *(json.loads(d) if isinstance(d, str) else d
                                          for d in (fw_doc, bw_doc)), num_fwd_outputs)
        ctx.record(report)
        ctx.stats.partitioned += 1
        return fw, bw
    except FxsatBackendError:
        raise
    except Exception as e:
        ctx.failed("joint graph (partition)", e)
    finally:
        ctx.stats.seconds += time.perf_counter() - t0
        original, ctx.shared.joint_original = ctx.shared.joint_original, None
    if original is not None:
        # fxsat rewrote this joint graph and then could not partition it: Inductor's
        # partitioner gets the graph as it was, which it was made for
        try:
            joint = _rebuild(*original)
        except Exception as e:  # noqa: BLE001 - the rewritten graph is still a valid graph
            log.warning("fxsat: could not restore the joint graph before its rewrite (%s); "
                        "partitioning the rewritten one", e)
    return min_cut_rematerialization_partition(joint, joint_inputs, **kwargs)


def _bases():
    from torch._inductor.custom_graph_pass import CustomGraphPass, CustomPartitionerFn

    return CustomGraphPass, CustomPartitionerFn


class FxsatPrePass(_bases()[0]):  # type: ignore[misc]
    """Inductor's ``joint_custom_pre_pass``: ``fxsat.optimize`` on every inference graph and
    every joint graph, before Inductor's own joint-graph passes. ``uuid()`` covers fxsat's
    version, the rules' hash, these sources and the options."""

    def __init__(self, opts: Options | None = None, target: str | None = None,
                 stats: Stats | None = None, ctx: "_Ctx | None" = None,
                 shared: _Shared | None = None):
        self.opts = opts or Options()
        self.target = target
        self.stats = stats if stats is not None else Stats()
        self._ctx = ctx
        self._shared = shared

    def __call__(self, graph: torch.fx.Graph) -> None:
        ctx = self._ctx
        if ctx is None:
            phs = list(graph.find_nodes(op="placeholder"))
            target = self.target or self.opts.target or _infer_target(
                [p.meta.get("val") for p in phs])
            ctx = _Ctx(self.opts, target, self.stats, self._shared)
        _optimize_graph(ctx, graph)

    def uuid(self):
        return cache_uuid(self.opts, self.target or self.opts.target or "auto", "pre-pass")


class FxsatPartitioner(_bases()[1]):  # type: ignore[misc]
    """Inductor's ``custom_partitioner_fn``: fxsat's partitioner on the joint graph (with
    ``optimize=True``, ``fxsat.optimize_and_partition``: for when no pre-pass optimized it).

    ``uuid()`` covers fxsat's version, the rules' hash, these sources and the options, so
    Inductor's caches never serve a result made with other ones."""

    def __init__(self, opts: Options | None = None, target: str | None = None,
                 stats: Stats | None = None, optimize: bool = False, ctx: "_Ctx | None" = None,
                 shared: _Shared | None = None):
        self.opts = opts or Options()
        self.target = target
        self.stats = stats if stats is not None else Stats()
        self.optimize = optimize
        self._ctx = ctx
        self._shared = shared

    def _target(self, joint) -> str:
        if self.target:
            return self.target
        if self.opts.target:
            return self.opts.target
        return _infer_target([p.meta.get("val") for p in _placeholders(joint)])

    def __call__(self, gm, joint_inputs, **kwargs):
        ctx = self._ctx or _Ctx(self.opts, self._target(gm), self.stats, self._shared)
        ctx.optimize_joint = self.optimize
        return _partition(ctx, gm, joint_inputs, kwargs)

    def uuid(self):
        return cache_uuid(self.opts, self.target or self.opts.target or "auto",
                          f"partitioner optimize={self.optimize}")


class FxsatBackend:
    """A ``torch.compile`` backend: Inductor with fxsat on every graph (see module doc)."""

    def __init__(self, opts: Options):
        if opts.fallback not in ("inductor", "raise"):
            raise ValueError(f"fallback must be 'inductor' or 'raise', not {opts.fallback!r}")
        if not 0.0 <= float(opts.budget) <= 1.0:
            raise ValueError(f"budget must be in [0, 1], not {opts.budget!r}")
        if opts.partitioner not in ("fxsat", "inductor"):
            raise ValueError(f"partitioner must be 'fxsat' or 'inductor', not {opts.partitioner!r}")
        if opts.min_gain is not None and not 0.0 <= float(opts.min_gain) < 1.0:
            raise ValueError(f"min_gain must be in [0, 1), not {opts.min_gain!r}")
        if opts.partitioner == "inductor" and float(opts.budget) != 1.0:
            raise ValueError("budget is fxsat's partitioner's; with partitioner='inductor' set "
                             "torch._functorch.config.activation_memory_budget instead")
        self.opts = opts
        self.stats = Stats()

    def __repr__(self) -> str:
        return f"fxsat.backend({self.opts.key()})"

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: Sequence[Any]):
        from torch._inductor.compile_fx import compile_fx

        target = self.opts.target or _infer_target(example_inputs)
        ctx = _Ctx(self.opts, target, self.stats)
        patches: dict[str, Any] = {
            "joint_custom_pre_pass": FxsatPrePass(self.opts, target, self.stats, ctx=ctx)}
        if self.opts.partitioner == "fxsat":
            patches["custom_partitioner_fn"] = FxsatPartitioner(self.opts, target, self.stats,
                                                                ctx=ctx)
        # Inductor's FX-graph and AOTAutograd cache keys include both hooks' uuid, so results
        # made without fxsat (or with other options) are never served to this backend.
        return compile_fx(gm, example_inputs, config_patches=patches)


def backend(target: str | None = None, budget: float = 1.0, assume: Sequence[str] = (),
            extra_rules: Sequence[str] = (), rules: str | None = None,
            cache_dir: str | None = None, fallback: str = "inductor", *,
            device: str | None = None, time_limit: float | None = None,
            partitioner: str = "fxsat", min_gain: float | None = None) -> FxsatBackend:
    """A configured ``torch.compile`` backend.

    target: "cpu" or "cuda" (default: "cuda" if any example input is on CUDA, else "cpu");
    budget: the partitioner's memory budget in [0, 1]; assume / extra_rules / rules /
    cache_dir / device / time_limit: passed to ``fxsat.optimize``; fallback: "inductor"
    (warn once per graph fxsat cannot handle and compile it with Inductor alone) or "raise";
    partitioner: "fxsat" (fxsat's min-cut partitioner under ``budget``) or "inductor"
    (fxsat's rewrites, then Inductor's own partitioner and its
    ``torch._functorch.config.activation_memory_budget``; ``budget`` must stay 1);
    min_gain: a graph in which fxsat fuses no attention is handed to Inductor untouched
    (default None), or, a number, rewritten where fxsat's cost model puts the result at least
    this fraction below it (0: always take fxsat's result).
    The backend's ``stats`` records what happened (graphs optimized, fallbacks, fused
    attention calls, seconds in fxsat)."""
    return FxsatBackend(Options(target=target, budget=float(budget), assume=tuple(assume),
                                extra_rules=tuple(str(p) for p in extra_rules),
                                rules=None if rules is None else str(rules),
                                device=device, time_limit=time_limit,
                                cache_dir=None if cache_dir is None else str(cache_dir),
                                fallback=fallback, partitioner=partitioner,
                                min_gain=None if min_gain is None else float(min_gain)))


_default: FxsatBackend | None = None


def fxsat_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]):
    """``backend="fxsat"``: the default :func:`backend` (entry point target)."""
    global _default
    if _default is None:
        _default = backend()
    return _default(gm, example_inputs)
