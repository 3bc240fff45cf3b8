"""Shared helpers for fxsat's Python tests (run: PYTHONPATH=python pytest python/tests)."""

import json
import sys
from pathlib import Path

PYDIR = Path(__file__).resolve().parents[1]
ROOT = PYDIR.parent
FIXTURES = ROOT / "tests" / "fixtures"
if str(PYDIR) not in sys.path:
    sys.path.insert(0, str(PYDIR))


def load_index() -> dict:
    with open(FIXTURES / "index.json") as f:
        return json.load(f)


def fixture_entries() -> list[dict]:
    return load_index()["fixtures"]


def fixture_files() -> list[str]:
    return [e["file"] for e in fixture_entries()]
