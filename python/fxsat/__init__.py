"""fxsat's Python side: capture PyTorch aten graphs as FX-JSON, load them back, compare.

Modules:
    fxsat.fxjson   FX-JSON v1 encoding/decoding helpers and the canonical writer
    fxsat.export   capture graphs through torch.compile (AOTAutograd + Inductor decompositions)
    fxsat.load     FX-JSON -> runnable torch.fx.GraphModule, random inputs
    fxsat.compare  run two FX-JSON graphs on the same inputs and compare outputs (also a CLI)
    fxsat.dynamo   the torch.compile backend (``backend="fxsat"``, ``fxsat.backend(...)``)
    fxsat.inductor hooks into Inductor's own pipeline (``fxsat.inductor.install(...)``)

Submodules are imported lazily so that ``import fxsat`` stays cheap.
"""

from fxsat.fxjson import read_fx_json, write_fx_json, dumps_fx_json  # noqa: F401

__all__ = ["read_fx_json", "write_fx_json", "dumps_fx_json", "backend"]


def __getattr__(name):
    # lazy: importing fxsat must not import torch
    if name == "backend":
        from fxsat.dynamo import backend

        return backend
    if name in ("dynamo", "inductor"):
        import importlib

        return importlib.import_module(f"fxsat.{name}")
    raise AttributeError(f"module 'fxsat' has no attribute {name!r}")
