#!/usr/bin/env python3
"""The crate's module graph, from its `crate::` and `super::` paths.

Reads every `.rs` file under `src/` (the binary excepted), drops comments, string literals and
`#[cfg(test)]` items, and draws an arrow from a top-level module to each top-level module its
code names (`use crate::{a, b::c}`, `crate::a::f(..)`, `super::` from a top-level file). Names
that the crate root re-exports (`crate::optimize`) count as the root, `lib`.

It reports
  * circles: strongly connected sets of top-level modules, and of the files within one
    top-level module (e.g. rule registries that import each other);
  * upward arrows: arrows from a module to one of a higher layer (`LAYERS`, lowest first).

    python3 tools/modgraph.py            # summary
    python3 tools/modgraph.py --edges    # every arrow, with the files that draw it
    python3 tools/modgraph.py --root DIR # the graph of another checkout
    python3 tools/modgraph.py --check    # exit 1 on a circle between modules or more than
                                         # MAX_UPWARD upward arrows

`tests/layers.rs` runs `--check`.
"""

import os
import re
import sys
from collections import defaultdict

# Lowest first; a module may name modules of its own layer or below.
LAYERS = [
    ["error", "progress"],
    ["ir"],
    ["target"],  # Target, device profiles
    ["ops"],  # the op table
    ["io"],  # FX-JSON read/write
    ["egraph"],
    ["rules"],
    ["saturate"],
    ["cost"],
    ["extract"],
    ["passes", "regions"],  # CSE, regions (regions: the module before it moved)
    ["lowering"],  # device kernels chosen after extraction
    ["partition"],
    ["pipeline"],
    ["interp", "check"],  # the reference interpreter and the rule checker
    ["cache"],  # the persistent result cache
    ["request"],  # requests by name, through the cache: the CLI's and the Python module's entry
    ["stats", "pad_sweep", "research"],
    ["lib"],
]
MAX_UPWARD = 1

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if "--root" in sys.argv:  # another checkout, e.g. to compare before and after
    ROOT = sys.argv[sys.argv.index("--root") + 1]


def strip(text):
    """Code without comments, string/char literals and `#[cfg(test)]` items."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif re.match(r'r#*"', text[i : i + 8]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i : i + 4]):
            m = re.match(r"'(\\[^']*|[^\\'])'", text[i:])
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    return drop_cfg_test(code)


def drop_cfg_test(code):
    """Removes each item that follows `#[cfg(test)]` (up to its `;` or balanced `{}`)."""
    while True:
        k = code.find("#[cfg(test)]")
        if k < 0:
            return code
        i = k + len("#[cfg(test)]")
        while i < len(code) and code[i] not in "{;":
            i += 1
        if i < len(code) and code[i] == "{":
            depth = 0
            while i < len(code):
                if code[i] == "{":
                    depth += 1
                elif code[i] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
        code = code[:k] + code[i + 1 :]


def group_heads(body):
    """Top-level names of a `{a, b::c, d::{e, f}}` use group (without its braces)."""
    heads, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            heads.append(cur)
            cur = ""
        else:
            cur += ch
    heads.append(cur)
    return [re.match(r"\s*(\w*)", h).group(1) for h in heads if h.strip()]


def balanced(code, i):
    """The text inside the braces that open at `code[i]`."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return code[i + 1 : j]
    return code[i + 1 :]


def files():
    src = os.path.join(ROOT, "src")
    for dirpath, dirnames, names in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        if rel == "bin" or rel.startswith("bin" + os.sep):
            continue
        for name in sorted(names):
            if name.endswith(".rs"):
                yield os.path.relpath(os.path.join(dirpath, name), src)


def top_of(path):
    """`pipeline.rs` → pipeline, `rules/apply.rs` → rules, `lib.rs` → lib."""
    first = path.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def sub_of(path):
    """The file's module within its top-level module (`rules/apply.rs` → apply, mod.rs → mod)."""
    parts = path.split(os.sep)
    return parts[1][:-3] if len(parts) > 1 and parts[1].endswith(".rs") else (
        parts[1] if len(parts) > 1 else "mod"
    )


def references(code):
    """(path after `crate::` or `super::`, kind) for every such path in the code."""
    for m in re.finditer(r"\b(crate|super)::(\{|\w+)", code):
        kind = m.group(1)
        if m.group(2) == "{":
            for h in group_heads(balanced(code, m.end(2) - 1)):
                yield kind, h, code[m.end(2) - 1 :]
        else:
            yield kind, m.group(2), code[m.end(2) :]


def graph():
    tops = {top_of(f) for f in files()}
    edges = defaultdict(set)  # (from, to) -> files
    sub_edges = defaultdict(lambda: defaultdict(set))  # top -> (from sub, to sub) -> files
    for f in files():
        with open(os.path.join(ROOT, "src", f), encoding="utf-8") as fh:
            code = strip(fh.read())
        me = top_of(f)
        depth = len(f.split(os.sep))
        mod_file = f.endswith("mod.rs") or depth == 1
        for kind, head, rest in references(code):
            if kind == "super" and mod_file:
                # `super::` of a top-level module is the crate root
                kind = "crate"
            if kind == "crate":
                to = head if head in tops else "lib"
                if to != me:
                    edges[(me, to)].add(f)
                elif depth > 1:
                    nxt = re.match(r"::(\w+)", rest)
                    if nxt and os.path.exists(os.path.join(ROOT, "src", me, nxt.group(1) + ".rs")):
                        sub_edges[me][(sub_of(f), nxt.group(1))].add(f)
            elif depth > 1 and head not in ("self",):
                if os.path.exists(os.path.join(ROOT, "src", me, head + ".rs")) or os.path.isdir(
                    os.path.join(ROOT, "src", me, head)
                ):
                    sub_edges[me][(sub_of(f), head)].add(f)
                elif head != "super":
                    sub_edges[me][(sub_of(f), "mod")].add(f)
    return tops, edges, sub_edges


def sccs(nodes, arrows):
    """Tarjan's strongly connected sets of more than one node."""
    succ = defaultdict(set)
    for a, b in arrows:
        succ[a].add(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    tops, edges, sub_edges = graph()
    layer = {m: i for i, group in enumerate(LAYERS) for m in group}
    unknown = sorted(m for m in tops | {"lib"} if m not in layer)
    circles = sccs(tops | {"lib"}, edges.keys())
    # module "mod" of a directory is its parent: mod → child arrows are declarations, not
    # imports, and are not drawn (only `use`/paths are)
    inner = {
        top: c
        for top, se in sub_edges.items()
        for c in [sccs({a for a, _ in se} | {b for _, b in se}, [e for e in se if e[0] != e[1]])]
        if c
    }
    upward = sorted(
        (a, b) for a, b in edges if a in layer and b in layer and layer[b] > layer[a]
    )
    if "--edges" in sys.argv:
        for (a, b), fs in sorted(edges.items()):
            mark = "  UP" if (a, b) in upward else ""
            print(f"{a} -> {b}{mark}   ({', '.join(sorted(fs))})")
        print()
    print(f"modules: {len(tops)}, arrows: {len(edges)}")
    print(f"circles between modules: {len(circles)}")
    for c in circles:
        print("  " + " <-> ".join(c))
    print(f"circles within modules: {sum(len(c) for c in inner.values())}")
    for top, cs in sorted(inner.items()):
        for c in cs:
            print(f"  {top}: " + " <-> ".join(c))
    print(f"upward arrows: {len(upward)}")
    for a, b in upward:
        print(f"  {a} -> {b}   ({', '.join(sorted(edges[(a, b)]))})")
    if unknown:
        print(f"modules in no layer: {', '.join(unknown)}")
    if "--check" in sys.argv:
        # circles within a module and modules in no layer are reported, not (yet) failed
        sys.exit(1 if circles or len(upward) > MAX_UPWARD else 0)


if __name__ == "__main__":
    main()
