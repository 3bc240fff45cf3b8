"""``torch.export`` programs as FX-JSON documents.

``from_exported_program(ep)`` runs the program's decompositions with Inductor's table (the
graphs Inductor would receive, as ``fxsat.export.capture`` does for ``torch.compile``) and
converts the graph (with its lifted parameters, buffers and constants as placeholders, in the
program's input order: parameters, buffers, constants, then the user's inputs) with
``fxsat.export.graph_to_doc``: a ``"forward"`` document. A 0-d tensor constant becomes an
``aten.full`` node carrying its value.

Also a command, which ``fxsat optimize model.pt2`` runs (``$FXSAT_PYTHON``, else ``python3``)::

    python -m fxsat.exported model.pt2 [--name NAME] > model.json
"""

from __future__ import annotations

import sys

from fxsat.errors import FxsatError

__all__ = ["from_exported_program", "main"]


def from_exported_program(ep, *, name: str = "exported") -> dict:
    """The FX-JSON document (kind ``"forward"``) of a ``torch.export.ExportedProgram``."""
    import torch
    from torch._inductor.decomposition import select_decomp_table
    from torch.export.graph_signature import InputKind

    from fxsat.export import graph_to_doc, inline_scalar_constants, replace_with_full
    from fxsat.fxjson import FxJsonError

    if not isinstance(ep, torch.export.ExportedProgram):
        raise FxsatError(f"{name}: expected a torch.export.ExportedProgram, got "
                         f"{type(ep).__name__}")
    ep = ep.run_decompositions(select_decomp_table())
    gm = ep.graph_module
    # 0-d constants lifted to placeholders: their value, as aten.full (a placeholder has none)
    consts = {s.arg.name: s.target for s in ep.graph_signature.input_specs
              if s.kind == InputKind.CONSTANT_TENSOR and s.target in ep.constants}
    changed = False
    first_op = next((n for n in gm.graph.nodes if n.op != "placeholder"), None)
    for n in list(gm.graph.nodes):
        if n.op != "placeholder" or n.name not in consts:
            continue
        changed |= replace_with_full(gm, n, ep.constants[consts[n.name]], before=first_op)
    if changed:
        gm.recompile()
    inline_scalar_constants(gm)
    try:
        return graph_to_doc(gm, name=name, kind="forward")
    except FxJsonError as e:
        raise FxsatError(f"{name}: {e}") from None


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m fxsat.exported",
                                description="A torch.export program (.pt2) as FX-JSON on stdout.")
    p.add_argument("file", help="a file written by torch.export.save")
    p.add_argument("--name", help="the graph's name (default: the file's stem)")
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(f"{a.file}: torch is not installed in {sys.executable}", file=sys.stderr)
        return 2
    from pathlib import Path

    from fxsat.fxjson import dumps_fx_json

    try:
        ep = torch.export.load(a.file)
    except Exception as e:  # noqa: BLE001 - any failure to load is the file's
        print(f"{a.file}: not a torch.export program: {type(e).__name__}: "
              f"{str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 2
    stem = Path(a.file).name.removesuffix(".pt2")
    try:
        doc = from_exported_program(ep, name=a.name or stem)
    except FxsatError as e:
        print(f"{a.file}: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(dumps_fx_json(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
