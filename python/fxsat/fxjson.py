"""FX-JSON v1 documents: canonical writer and reader (no torch needed here).

The format is described in docs/format.md. This module fixes the
*canonical serialization* every fxsat writer (Python and Rust) emits, so files are compact,
diff well, and can be compared byte for byte:

    {"format": "fx-json", "version": 1, "name": "<name>", "kind": "<kind>", "nodes": [
    <node 0>,
    <node 1>,
    ...
    <output node>
    ]}

* line 1 is the header; ``"num_fwd_outputs": N`` sits between ``kind`` and ``nodes`` for
  joint graphs only;
* then one node per line, each ``json.dumps(node)`` with Python's default separators
  (``", "`` and ``": "``) and ``ensure_ascii=True``, lines joined with ``",\\n"``;
* then ``"\\n]}\\n"``.
* Node keys in this order: ``name, op, target, args, kwargs, val``; ``target``/``args`` are
  absent for placeholders, ``kwargs`` is present only when non-empty, the output node has no
  ``val``. Unknown fields are dropped by the writer.
* Floats are written as Python's ``repr`` (shortest round-trip: ``0.25``, ``1e-05``,
  ``-3.4028234663852886e+38``); a float that is integral keeps its ``.0`` (``2.0`` is not ``2``).
  Non-finite floats are ``{"float": "inf"|"-inf"|"nan"}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

FORMAT = "fx-json"
VERSION = 1
KINDS = ("forward", "joint", "fw", "bw")
NODE_KEYS = ("name", "op", "target", "args", "kwargs", "val")


class FxJsonError(ValueError):
    """A malformed FX-JSON document (the message names the node and field)."""


def _check_no_nonfinite(x: Any, where: str) -> None:
    if isinstance(x, float) and not math.isfinite(x):
        raise FxJsonError(f"{where}: raw non-finite float {x!r}; encode as {{\"float\": ...}}")
    if isinstance(x, list):
        for y in x:
            _check_no_nonfinite(y, where)
    elif isinstance(x, dict):
        for y in x.values():
            _check_no_nonfinite(y, where)


def canonical_node(node: dict) -> dict:
    """The node with its known keys in canonical order (empty kwargs dropped)."""
    out = {}
    for key in NODE_KEYS:
        if key not in node:
            continue
        if key == "kwargs" and not node[key]:
            continue
        if key == "val" and node.get("op") == "output":
            continue
        out[key] = node[key]
    return out


def dumps_fx_json(doc: dict) -> str:
    """Serialize a document in the canonical one-node-per-line form (see module doc)."""
    if doc.get("format", FORMAT) != FORMAT or doc.get("version", VERSION) != VERSION:
        raise FxJsonError(f"not an FX-JSON v1 document: format={doc.get('format')!r} "
                          f"version={doc.get('version')!r}")
    kind = doc["kind"]
    if kind not in KINDS:
        raise FxJsonError(f"document: bad kind {kind!r} (expected one of {KINDS})")
    head = {"format": FORMAT, "version": VERSION, "name": doc.get("name", ""), "kind": kind}
    if kind == "joint":
        if "num_fwd_outputs" not in doc:
            raise FxJsonError("document: joint graph without num_fwd_outputs")
        head["num_fwd_outputs"] = int(doc["num_fwd_outputs"])
    header = json.dumps(head)
    assert header.endswith("}")
    lines = []
    for node in doc["nodes"]:
        cn = canonical_node(node)
        _check_no_nonfinite(cn, f"node {cn.get('name')!r}")
        line = json.dumps(cn, allow_nan=False)
        assert "\n" not in line
        lines.append(line)
    return header[:-1] + ', "nodes": [\n' + ",\n".join(lines) + "\n]}\n"


def write_fx_json(doc: dict, path) -> None:
    """Write ``doc`` to ``path`` in the canonical serialization."""
    text = dumps_fx_json(doc)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def validate(doc: dict) -> None:
    """Structural checks of the spec's reader rules; raises FxJsonError naming node/field."""
    if doc.get("format") != FORMAT:
        raise FxJsonError(f"document: field 'format' is {doc.get('format')!r}, expected 'fx-json'")
    if doc.get("version") != VERSION:
        raise FxJsonError(f"document: field 'version' is {doc.get('version')!r}, expected 1")
    if doc.get("kind") not in KINDS:
        raise FxJsonError(f"document: field 'kind' is {doc.get('kind')!r}")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise FxJsonError("document: field 'nodes' missing or empty")
    seen: set[str] = set()

    def refs(x, where):
        if isinstance(x, dict):
            if "node" in x:
                if x["node"] not in seen:
                    raise FxJsonError(f"{where}: reference to undefined node {x['node']!r}")
            else:
                for v in x.values():
                    refs(v, where)
        elif isinstance(x, list):
            for v in x:
                refs(v, where)

    for i, n in enumerate(nodes):
        name = n.get("name")
        if not isinstance(name, str):
            raise FxJsonError(f"node #{i}: missing field 'name'")
        if name in seen:
            raise FxJsonError(f"node {name!r}: duplicate name")
        op = n.get("op")
        if op not in ("placeholder", "get_attr", "call_function", "output"):
            raise FxJsonError(f"node {name!r}: field 'op' is {op!r}")
        if op == "output":
            if i != len(nodes) - 1:
                raise FxJsonError(f"node {name!r}: output node is not last")
            args = n.get("args")
            if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], list):
                raise FxJsonError(f"node {name!r}: field 'args' must be [[outputs...]]")
        else:
            if "val" not in n:
                raise FxJsonError(f"node {name!r}: missing field 'val'")
        if op in ("call_function", "get_attr") and not isinstance(n.get("target"), str):
            raise FxJsonError(f"node {name!r}: missing field 'target'")
        refs(n.get("args", []), f"node {name!r}: field 'args'")
        refs(n.get("kwargs", {}), f"node {name!r}: field 'kwargs'")
        seen.add(name)
    if nodes[-1].get("op") != "output":
        raise FxJsonError("document: last node is not the output node")


def read_fx_json(path) -> dict:
    """Read and validate an FX-JSON document."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    validate(doc)
    return doc
