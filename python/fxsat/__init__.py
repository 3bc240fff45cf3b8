"""fxsat's Python side: the optimizer in-process, and capture / load / compare of FX-JSON.

In-process (the native extension, ``pip install .``; see docs/python.md):
    fxsat.optimize(graph, ...)                -> (doc, report)
    fxsat.partition(joint, budget=...)        -> (fw_doc, bw_doc, report)
    fxsat.optimize_and_partition(joint, ...)  -> (fw_doc, bw_doc, report)
    fxsat.check_rules(...), fxsat.version(), fxsat.rules_hash(...)
    fxsat.dump_egraph(graph, ...)             -> [egraph-serialize dict, ...] (docs/research.md)
    fxsat.rules_report(graphs, ...)           -> the rules report (fxsat rules-report --json)
    fxsat.from_exported_program(ep)           -> FX-JSON document of a torch.export program
    fxsat.FxsatError (bad input, a ValueError), fxsat.FxsatInternalError (a RuntimeError)

Modules:
    fxsat.api      the functions above
    fxsat.fxjson   FX-JSON v1 encoding/decoding helpers and the canonical writer
    fxsat.export   capture graphs through torch.compile (AOTAutograd + Inductor decompositions)
    fxsat.exported torch.export programs -> FX-JSON (also ``python -m fxsat.exported F.pt2``)
    fxsat.load     FX-JSON -> runnable torch.fx.GraphModule, random inputs
    fxsat.compare  run two FX-JSON graphs on the same inputs and compare outputs (also a CLI)

Submodules are imported lazily so that ``import fxsat`` stays cheap (no torch, no native code).
"""

import pkgutil as _pkgutil

# When this directory is imported from a source checkout (python/ on sys.path) while the
# package is also installed (pip install .), the installed copy's native extension is found too.
__path__ = _pkgutil.extend_path(__path__, __name__)

from fxsat.errors import FxsatError, FxsatInternalError  # noqa: E402
from fxsat.fxjson import read_fx_json, write_fx_json, dumps_fx_json  # noqa: E402,F401

_LAZY = {
    "optimize": "fxsat.api",
    "partition": "fxsat.api",
    "optimize_and_partition": "fxsat.api",
    "check_rules": "fxsat.api",
    "dump_egraph": "fxsat.api",
    "rules_report": "fxsat.api",
    "version": "fxsat.api",
    "rules_hash": "fxsat.api",
    "cache_stats": "fxsat.api",
    "cache_clear": "fxsat.api",
    "from_exported_program": "fxsat.exported",
    "backend": "fxsat.dynamo",
}

__all__ = ["read_fx_json", "write_fx_json", "dumps_fx_json", "FxsatError", "FxsatInternalError",
           *_LAZY]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'fxsat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value
