"""The backend's load-back cache: what a warm compile needs to skip fxsat's optimizer call and
the fake-value propagation of its result.

The pre-pass (``fxsat.dynamo``) hands a graph to ``fxsat.optimize``, loads the FX-JSON result
back and gives every node a fake value (``meta["val"]``, :func:`fxsat.dynamo.propagate`). The
optimizer's own result cache makes a second compile skip saturation, but not the rest. An
entry of this cache holds, next to the optimizer's result and report, a *recipe* for every
node's value: the input graph's namesake value (the very object), or a fake tensor of recorded
shape, strides, offset, dtype and device whose storage is that of an earlier value of the
graph (aliasing as the propagation gave it) or a fresh one of recorded size. Replaying it
(:func:`replay`) builds the same values without running any node in the fake mode.

Keys (:func:`key`) cover the input graph's FX-JSON, the aliasing and offsets of its values,
the optimizer's options, fxsat's version and rules, these Python sources and torch's version:
anything else never hits. Entries live in the optimizer's cache directory, in its layout
(``DIR/<first two hex digits>/<key>.json``, so ``fxsat cache clear`` removes them too), and
are written atomically. An entry that cannot be read or does not fit is a miss with a warning
(:class:`LoadCacheWarning`), never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import warnings
from typing import Any, Sequence

import torch
import torch.fx

log = logging.getLogger("fxsat.loadcache")

FORMAT = "fxsat-backend-loadback"
VERSION = 1


class LoadCacheWarning(UserWarning):
    """An entry of the backend's load-back cache could not be used (it is a miss)."""


class _NotRecordable(Exception):
    pass


# --------------------------------------------------------------------------- keys


def _tensors(v: Any, out: list) -> list:
    if isinstance(v, torch.Tensor):
        out.append(v)
    elif isinstance(v, (list, tuple)):
        for x in v:
            _tensors(x, out)
    return out


def graph_signature(nodes: Sequence[torch.fx.Node]) -> list:
    """What the FX-JSON of a graph leaves out and a recipe depends on: every tensor value's
    storage offset and which earlier value's storage it shares (by first appearance)."""
    first: dict[int, int] = {}
    sig = []
    for n in nodes:
        for t in _tensors(n.meta.get("val"), []):
            try:
                cd = t.untyped_storage()._cdata
                off = int(t.storage_offset())
            except Exception:  # noqa: BLE001 - no storage (sparse, symbolic): never recorded
                sig.append([n.name, None])
                continue
            sig.append([n.name, off, first.setdefault(cd, len(first)), str(t.device)])
    return sig


def key(*parts: Any) -> str:
    """The entry key: a hash of this cache's format and ``parts`` (JSON-able; dict keys are
    hashed in their order, which ``fxsat.export.graph_to_doc`` fixes)."""
    hs = hashlib.sha256(f"{FORMAT}/{VERSION}|torch {torch.__version__}".encode())
    for p in parts:
        hs.update(b"\0")
        hs.update(json.dumps(p, separators=(",", ":"), default=str).encode())
    return hs.hexdigest()


# --------------------------------------------------------------------------- files


def _path(cache_dir: str, k: str) -> str:
    return os.path.join(cache_dir, k[:2], f"{k}.json")


def load(cache_dir: str | None, k: str) -> dict | None:
    """The entry for key ``k`` (``{"out", "report", "recipe"}``), or None: absent, or
    unusable (then a warning)."""
    if not cache_dir:
        return None
    path = _path(cache_dir, k)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        _warn(f"{path}: cannot be read ({e})")
        return None
    try:
        e = json.loads(text)
        if not (isinstance(e, dict) and e.get("format") == FORMAT and e.get("version") == VERSION):
            raise ValueError("not an entry of this format and version")
        if e.get("key") != k:
            raise ValueError("its key is not its file's")
        if not (isinstance(e.get("out"), dict) and isinstance(e.get("report"), dict)
                and isinstance(e.get("recipe"), list)):
            raise ValueError("field 'out', 'report' or 'recipe' is missing or malformed")
        return e
    except ValueError as err:
        _warn(f"{path}: corrupt entry ignored ({str(err)[:200]})")
        return None


def store(cache_dir: str | None, k: str, out: dict, report: dict, recipe: list) -> None:
    """Writes the entry atomically (a temporary file renamed); failures are logged only."""
    if not cache_dir:
        return
    path = _path(cache_dir, k)
    text = json.dumps({"format": FORMAT, "version": VERSION, "key": k, "out": out,
                       "report": report, "recipe": recipe}, separators=(",", ":"))
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # the optimizer's cache's temporary-file names: `fxsat cache clear` removes leftovers
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                                   prefix=f".{k}.json.fxsat-tmp.{os.getpid()}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        log.warning("fxsat: the backend's load-back cache entry %s was not written: %s", path, e)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _warn(msg: str) -> None:
    log.warning("fxsat: %s", msg)
    warnings.warn(f"fxsat load-back cache: {msg}", LoadCacheWarning, stacklevel=3)


# --------------------------------------------------------------------------- recipes


def record(graph: torch.fx.Graph, old: dict[str, torch.fx.Node]) -> list | None:
    """The recipe of the values ``graph``'s nodes hold (after :func:`fxsat.dynamo.propagate`
    with the input graph's nodes ``old``): one item per node in graph order, output excluded.
    None where a value cannot be recorded (then nothing is cached)."""
    first: dict[int, list[int]] = {}
    recipe: list = []
    try:
        for i, n in enumerate(graph.nodes):
            if n.op == "output":
                break
            v = n.meta.get("val")
            prev = old.get(n.name)
            if n.op == "placeholder":
                item: Any = "p"
            elif n.op == "get_attr":
                item = "g"
            elif prev is not None and "val" in prev.meta and v is prev.meta["val"]:
                item = "o"
            else:
                item = {"v": _spec(v, first, i, [0])}
            if not isinstance(item, dict):
                _register(v, first, i)
            recipe.append(item)
    except _NotRecordable as e:
        log.debug("fxsat: values not recorded (%s)", e)
        return None
    return recipe


def _register(v: Any, first: dict, i: int) -> None:
    for j, t in enumerate(_tensors(v, [])):
        first.setdefault(t.untyped_storage()._cdata, [i, j])


def _spec(v: Any, first: dict, i: int, j: list) -> Any:
    from torch._subclasses.fake_tensor import is_fake

    if isinstance(v, torch.Tensor):
        if not is_fake(v) or v.layout != torch.strided or v.requires_grad \
                or getattr(v, "constant", None) is not None:
            raise _NotRecordable(f"value {type(v).__name__} {v.layout}")
        st = v.untyped_storage()
        src = first.get(st._cdata)
        first.setdefault(st._cdata, [i, j[0]])
        j[0] += 1
        return {"t": [list(v.shape), list(v.stride()), int(v.storage_offset()),
                      str(v.dtype).removeprefix("torch."), str(v.device),
                      src if src is not None else int(st.nbytes())]}
    if isinstance(v, (list, tuple)):
        items = [_spec(x, first, i, j) for x in v]
        return {"tuple" if isinstance(v, tuple) else "list": items}
    if v is None or isinstance(v, (bool, int)) or (isinstance(v, float) and math.isfinite(v)):
        return v
    raise _NotRecordable(f"value of type {type(v).__name__}")


def replay(gm: Any, fakes: Sequence[Any], old: dict[str, torch.fx.Node], recipe: list,
           placeholder_vals) -> None:
    """``meta["val"]`` on every node of ``gm`` from ``recipe`` (:func:`record`), running
    nothing in the fake mode. ``placeholder_vals(phs, fakes, old)`` gives the placeholders'
    values and the fake mode, as the propagation takes them. Raises ValueError where the
    recipe does not fit the graph."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    nodes = list(gm.graph.nodes)
    if len(recipe) != len(nodes) - 1 or nodes[-1].op != "output":
        raise ValueError(f"{len(recipe)} values recorded for {len(nodes) - 1} nodes")
    phs = [n for n in nodes if n.op == "placeholder"]
    vals, mode, snap = placeholder_vals(phs, fakes, old)
    env = dict(zip(phs, vals))
    flats: list[list[torch.Tensor]] = []

    def build(s: Any) -> Any:
        if isinstance(s, dict):
            if "t" in s:
                shape, stride, off, dtype, device, src = s["t"]
                dt = getattr(torch, dtype, None)
                if not isinstance(dt, torch.dtype):
                    raise ValueError(f"bad dtype {dtype!r}")
                with unset_fake_temporarily():
                    storage = (flats[src[0]][src[1]].untyped_storage() if isinstance(src, list)
                               else torch.UntypedStorage(int(src), device="meta"))
                    meta = torch.empty(0, dtype=dt, device="meta")
                    meta.set_(storage, off, shape, stride)
                t = mode.fake_tensor_converter.from_meta_and_device(
                    mode, meta, torch.device(device))
                flats[-1].append(t)
                return t
            if "tuple" in s:
                return tuple(build(x) for x in s["tuple"])
            if "list" in s:
                return [build(x) for x in s["list"]]
            raise ValueError(f"bad value {s!r}")
        return s

    for n, item in zip(nodes, recipe):
        if n.op == "placeholder":
            if item != "p":
                raise ValueError(f"node {n.name!r}: recorded {item!r} for a placeholder")
            v = env[n]
        elif item == "g" and n.op == "get_attr":
            import operator

            v = snap(operator.attrgetter(n.target)(gm))
        elif item == "o":
            prev = old.get(n.name)
            if prev is None or "val" not in prev.meta:
                raise ValueError(f"node {n.name!r}: no namesake value in the input graph")
            v = prev.meta["val"]
        elif isinstance(item, dict) and "v" in item and n.op == "call_function":
            flats.append([])
            try:
                v = build(item["v"])
            except (TypeError, IndexError, KeyError, RuntimeError) as e:
                raise ValueError(f"node {n.name!r}: bad recorded value ({e})") from e
            n.meta["val"] = env[n] = v
            continue
        else:
            raise ValueError(f"node {n.name!r}: recorded {item!r} for a {n.op}")
        n.meta["val"] = env[n] = v
        flats.append(_tensors(v, []))
    out = nodes[-1]
    out.meta["val"] = torch.fx.map_arg(out.args[0], lambda a: env[a])
