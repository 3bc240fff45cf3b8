"""fxsat in-process: optimize, partition and check rules without a subprocess or a file.

Every function goes through the native extension ``fxsat._native`` (built by ``pip install .``),
which runs the same code as the ``fxsat`` command line (``fxsat::request``): the same input and
options give the same bytes as ``fxsat optimize`` / ``fxsat partition``. The GIL is released
while it works.

A graph is an FX-JSON document (a dict, see docs/format.md), FX-JSON text (a str), a path
(``pathlib.Path``: read as the command line reads it, so errors name the file), or a
``torch.fx.GraphModule`` whose nodes carry ``meta["val"]`` (converted by
``fxsat.export.graph_to_doc``; a graph with ``tangents_*`` placeholders is a joint graph whose
``num_fwd_outputs`` is ``gm.meta["num_fwd_outputs"]`` if set, else its outputs less its
primals, AOTAutograd's layout). Output documents are dicts; reports are dicts (the command
line's ``--report`` documents, with a ``cache`` section).

Bad input raises :class:`fxsat.FxsatError` (a ``ValueError``) with the command line's one-line
message; fxsat's own failures raise :class:`fxsat.FxsatInternalError` (a ``RuntimeError``).

Results of :func:`optimize` and :func:`optimize_and_partition` are cached on disk (``cache=True``
by default): in ``cache_dir``, else ``$FXSAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/fxsat/results``,
else ``~/.cache/fxsat/results``; a second process asking the same thing skips saturation
(``report["cache"]["hit"]``). See docs/python.md.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from fxsat.errors import FxsatError, FxsatInternalError

__all__ = ["optimize", "partition", "optimize_and_partition", "check_rules", "dump_egraph",
           "rules_report", "version", "rules_hash", "cache_stats", "cache_clear",
           "default_cache_dir", "FxsatError", "FxsatInternalError"]


def _native():
    try:
        from fxsat import _native as native
    except ImportError as e:  # pragma: no cover - only without a build
        raise ImportError(
            "fxsat's native extension (fxsat._native) is not installed: run `pip install .` at "
            "the repository root (or `make install`)") from e
    return native


# --------------------------------------------------------------------------- inputs


def _is_graph_module(x: Any) -> bool:
    return hasattr(x, "graph") and hasattr(x, "recompile") and hasattr(x.graph, "nodes")


def _module_doc(gm: Any) -> dict:
    """A GraphModule as an FX-JSON document (joint when it has tangents_* placeholders)."""
    from fxsat.export import graph_to_doc, inline_scalar_constants

    meta = getattr(gm, "meta", {}) or {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    joint = any(str(n.name).startswith("tangents") for n in placeholders)
    kind = meta.get("fxsat_kind") or ("joint" if joint else "forward")
    nfo = None
    if kind == "joint":
        nfo = meta.get("num_fwd_outputs")
        if nfo is None:
            out = next(n for n in gm.graph.nodes if n.op == "output")
            outs = out.args[0] if isinstance(out.args[0], (list, tuple)) else [out.args[0]]
            primals = [n for n in placeholders if not str(n.name).startswith("tangents")]
            nfo = len(outs) - len(primals)
            if nfo < 0:
                raise FxsatError(f"{meta.get('name', 'graph')}: joint graph with fewer outputs "
                                 f"({len(outs)}) than primals ({len(primals)}): set "
                                 "gm.meta['num_fwd_outputs']")
    if any(n.op == "get_attr" for n in gm.graph.nodes):
        # 0-d constants become aten.full nodes carrying their value: on a copy, the caller's
        # module stays as it was
        import copy

        gm = copy.deepcopy(gm)
        inline_scalar_constants(gm)
    return graph_to_doc(gm, name=str(meta.get("name", "graph")), kind=kind, num_fwd_outputs=nfo)


def _graph_text(graph: Any) -> tuple[str, str | None]:
    """(FX-JSON text, file name for errors or None)."""
    if isinstance(graph, str):
        return graph, None
    if isinstance(graph, os.PathLike):
        path = os.fspath(graph)
        try:
            if path.endswith(".gz"):  # as the command line reads a gzipped graph
                import gzip

                with gzip.open(path, "rt", encoding="utf-8") as f:
                    return f.read(), str(path)
            with open(path, encoding="utf-8") as f:
                return f.read(), str(path)
        except (OSError, EOFError) as e:
            raise FxsatError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    if _is_graph_module(graph):
        try:
            graph = _module_doc(graph)
        except FxsatError:
            raise
        except ValueError as e:  # fxsat.fxjson.FxJsonError and encoding errors
            raise FxsatError(str(e)) from None
    if isinstance(graph, dict):
        # the private keys fxsat.export adds (_sources, _inputs) are not FX-JSON
        doc = {k: v for k, v in graph.items() if not (isinstance(k, str) and k.startswith("_"))}
        try:
            return json.dumps(doc, allow_nan=False), None
        except (TypeError, ValueError) as e:
            raise FxsatError(f"<input>: not an FX-JSON document: {e}") from None
    raise FxsatError(f"<input>: expected an FX-JSON document (dict), FX-JSON text (str), a path "
                     f"or a torch.fx.GraphModule, got {type(graph).__name__}")


def _paths(x: Any, what: str) -> list[str]:
    if x is None:
        return []
    if isinstance(x, (str, os.PathLike)):
        return [os.fspath(x)]
    try:
        return [os.fspath(p) for p in x]
    except TypeError:
        raise FxsatError(f"{what}: expected paths, got {x!r}") from None


def _names(x: Any, what: str) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    out = list(x)
    if not all(isinstance(a, str) for a in out):
        raise FxsatError(f"{what}: expected names, got {x!r}")
    return out


def _target(target: Any) -> str:
    t = getattr(target, "type", target)  # a torch.device
    if t not in ("cpu", "cuda"):
        raise FxsatError(f"target: expected \"cpu\" or \"cuda\", got {target!r}")
    return t


def _number(x: Any, what: str) -> Any:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise FxsatError(f"{what}: expected a number, got {x!r}") from None
    if v != v:
        raise FxsatError(f"{what}: expected a number, got nan")
    return "inf" if v == float("inf") else v


def default_cache_dir() -> str | None:
    """The cache directory used when ``cache_dir`` is not given (None: no HOME)."""
    return _native().default_cache_dir()


def _optimize_options(target, device, assume, extra_rules, rules, time_limit, cache_dir,
                      cache) -> dict:
    opts: dict[str, Any] = {
        "target": _target(target),
        "device": None if device is None else str(device),
        "assume": _names(assume, "assume"),
        "extra_rules": _paths(extra_rules, "extra_rules"),
        "rules": None if rules is None else os.fspath(rules),
        "time_limit": _number(time_limit, "time_limit"),
    }
    if cache:
        opts["cache_dir"] = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    return opts


def _call(fn, text: str, file: str | None, opts: dict):
    if file is not None:
        opts["file"] = file
    return fn(text, json.dumps(opts))


# --------------------------------------------------------------------------- the API


_EXTRACTORS = ("greedy", "dag", "exact")


def optimize(graph, *, target="cpu", device=None, assume=(), extra_rules=(), rules=None,
             time_limit=None, cache_dir=None, cache=True, extractor="dag",
             extract_time_limit=None) -> tuple[dict, dict]:
    """Optimise a graph; returns ``(doc, report)``: the optimised FX-JSON document (same inputs,
    same outputs in the same order) and the report (``fxsat optimize --report``'s document
    with ``cache``).

    ``target``: "cpu" or "cuda" (the device the result runs on); ``device``: the cost-model
    profile (cpu, a100, h100, h100-tf32 or a JSON file; default the target's); ``assume``:
    assumption names (e.g. "no-fully-masked-rows"); ``rules``: a directory of .rules files
    replacing the compiled-in rules; ``extra_rules``: more .rules files or directories;
    ``time_limit``: seconds (default 10, as the command line); ``cache``/``cache_dir``: the
    result cache; ``extractor``: "dag" (the default), "greedy" or "exact" (the command line's
    ``--extractor``: with "exact" the report has an ``exact`` section, see docs/research.md);
    ``extract_time_limit``: seconds of the exact extractor per e-graph (default 10, as the
    command line; ``float("inf")``: none)."""
    text, file = _graph_text(graph)
    opts = _optimize_options(target, device, assume, extra_rules, rules, time_limit, cache_dir,
                             cache)
    opts.update(_extract_options(extractor, extract_time_limit))
    out, report = _call(_native().optimize, text, file, opts)
    return json.loads(out), json.loads(report)


def _extract_options(extractor, extract_time_limit) -> dict:
    if extractor not in _EXTRACTORS:
        raise FxsatError(f"extractor: expected one of {', '.join(_EXTRACTORS)}, "
                         f"got {extractor!r}")
    return {"extractor": extractor,
            "extract_time_limit": _number(extract_time_limit, "extract_time_limit")}


def dump_egraph(graph, *, target="cpu", device=None, assume=(), extra_rules=(), rules=None,
                time_limit=None) -> list[dict]:
    """The saturated e-graph(s) of optimising ``graph`` (options as :func:`optimize`), before
    extraction, in the egraph-serialize format (what extraction-gym reads): a list of dicts
    ``{"nodes", "root_eclasses", "class_data"}``, one per e-graph optimised: one for a graph
    optimised whole, one per region optimised for a graph cut into regions (docs/scale.md),
    in region order. Each is the JSON ``fxsat optimize --dump-egraph`` writes (per region:
    ``FILE.0.json``, ``FILE.1.json``, ...). Never from the result cache (it keeps no e-graph).
    See docs/research.md for the format."""
    text, file = _graph_text(graph)
    opts = _optimize_options(target, device, assume, extra_rules, rules, time_limit, None,
                             False)
    return json.loads(_call(_native().dump_egraph, text, file, opts))


def _corpus_item(k: int, graph: Any) -> dict:
    """A graph of a rules report: a path stays a path (read by fxsat as the command line reads
    its arguments: a directory stands for its graphs, gzipped files are read), anything else
    becomes FX-JSON text named by its document's ``name`` (else ``<graph K>``)."""
    if isinstance(graph, os.PathLike):
        return {"path": os.fspath(graph)}
    text, _ = _graph_text(graph)
    if isinstance(graph, dict):
        name = graph.get("name")
    else:  # text, or a GraphModule's document
        try:
            name = json.loads(text).get("name")
        except (ValueError, AttributeError):
            name = None  # fxsat names the error
    return {"name": name if isinstance(name, str) else f"<graph {k}>", "text": text}


def rules_report(graphs, *, target="cpu", device=None, assume=(), rules=None,
                 progress=None) -> dict:
    """The rules report of a corpus (``fxsat rules-report --json``'s document): every graph
    optimised with all rules, then once more without each rule that fired on it. Returns
    ``{"format": "fxsat-rules-report", "version", "options", "graphs", "failed",
    "total_cost", "rules": [{"name", "origin", "enabled", "applications", "graphs_fired",
    "cost_change", "cost_change_relative", "graphs_changed", "graphs_failed"}],
    "never_fired", "disabled"}`` (docs/research.md).

    ``graphs``: a list of FX-JSON documents (dicts), FX-JSON texts, paths
    (``pathlib.Path``: a file, or a directory standing for its ``*.forward.json`` and
    ``*.joint.json`` graphs, gzipped too, recursively, as the command line's arguments) or
    GraphModules; a single path or document is a corpus of one. ``rules``: a directory of
    .rules files replacing the compiled-in rules; ``progress``: a callable given each run's
    progress line (what the command line prints on stderr); an exception it raises stops the
    report and propagates (so does Ctrl-C). Not cached."""
    if isinstance(graphs, (dict, str, os.PathLike)) or _is_graph_module(graphs):
        graphs = [graphs]
    items = [_corpus_item(k, g) for k, g in enumerate(graphs)]
    if not items:
        raise FxsatError("graphs: expected at least one graph")
    opts = {"target": _target(target), "device": None if device is None else str(device),
            "assume": _names(assume, "assume"),
            "rules": None if rules is None else os.fspath(rules)}
    if progress is not None and not callable(progress):
        raise FxsatError(f"progress: expected a callable, got {progress!r}")
    return json.loads(_native().rules_report(json.dumps(items), json.dumps(opts), progress))


def partition(joint, *, budget=1.0, target="cpu", device=None) -> tuple[dict, dict, dict]:
    """Partition a joint graph under a memory budget in [0, 1] (1: the runtime-optimised cut,
    0: save only inputs); returns ``(fw_doc, bw_doc, report)`` (``fxsat partition``'s files
    and report). Not cached (the partitioner is fast)."""
    fw, bw, report = _partition_texts(joint, budget=budget, target=target, device=device)
    return json.loads(fw), json.loads(bw), report


def _partition_texts(joint, *, budget=1.0, target="cpu", device=None) -> tuple[str, str, dict]:
    """:func:`partition` with the forward and backward documents as FX-JSON text (the backend
    reads them only when it cannot split the joint graph at the saved values itself)."""
    text, file = _graph_text(joint)
    opts = {"budget": _number(budget, "budget"), "target": _target(target),
            "device": None if device is None else str(device)}
    fw, bw, report = _call(_native().partition, text, file, opts)
    return fw, bw, json.loads(report)


def optimize_and_partition(joint, *, budget=1.0, target="cpu", device=None, assume=(),
                           extra_rules=(), rules=None, time_limit=None, cache_dir=None,
                           cache=True) -> tuple[dict, dict, dict]:
    """:func:`optimize` a joint graph, then :func:`partition` the result (the same bytes as the
    two calls); returns ``(fw_doc, bw_doc, report)``, the report holding both reports
    (``optimize``, ``partition``) and ``cache``. One cache entry covers both steps."""
    text, file = _graph_text(joint)
    opts = _optimize_options(target, device, assume, extra_rules, rules, time_limit, cache_dir,
                             cache)
    opts["budget"] = _number(budget, "budget")
    fw, bw, report = _call(_native().optimize_and_partition, text, file, opts)
    return json.loads(fw), json.loads(bw), json.loads(report)


def check_rules(*, rules=None, extra_rules=(), seed=None, instances=None) -> dict:
    """Check every rule numerically (``fxsat check-rules``): ``instances`` random instances per
    rule (default 100) from ``seed`` (default 0). Returns ``{"rules": [{"rule", "origin", "ok",
    "untested", "cases", "max_error", "failure", "line", ...}], "count", "failed", "untested",
    "cases", "seed", "seconds"}``."""
    opts: dict[str, Any] = {"rules": None if rules is None else os.fspath(rules),
                            "extra_rules": _paths(extra_rules, "extra_rules")}
    if seed is not None:
        opts["seed"] = int(seed)
    if instances is not None:
        opts["instances"] = int(instances)
    return json.loads(_native().check_rules(json.dumps(opts)))


def version() -> str:
    """fxsat's version and build: ``"0.1.0+<hash of the sources>"`` (part of every cache key)."""
    return _native().version()


def rules_hash(rules=None, extra_rules=()) -> str:
    """A hash (64 hex digits) of the rules' text: the compiled-in rules, or the ``rules``
    directory's, plus ``extra_rules``."""
    return _native().rules_hash(None if rules is None else os.fspath(rules),
                                _paths(extra_rules, "extra_rules"))


def cache_stats(cache_dir=None) -> dict:
    """``{"dir", "entries", "bytes"}`` of the result cache (``fxsat cache stats``)."""
    d = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    if d is None:
        raise FxsatError("no cache directory: pass cache_dir, or set FXSAT_CACHE_DIR or HOME")
    entries, size = _native().cache_stats(d)
    return {"dir": d, "entries": entries, "bytes": size}


def cache_clear(cache_dir=None) -> int:
    """Removes every entry of the result cache; returns how many (``fxsat cache clear``)."""
    d = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    if d is None:
        raise FxsatError("no cache directory: pass cache_dir, or set FXSAT_CACHE_DIR or HOME")
    return _native().cache_clear(d)
