"""Fixtures shared by every test module.

The external models live in ``shared/models/external`` beside the repository (in CI a copy
of ``shared/`` lies next to the clone); ``HWFLOW_SHARED`` overrides the location.
"""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def _mentions_unit_mark(path: Path) -> bool:
    """Whether a test module uses ``pytest.mark.unit`` anywhere (module ``pytestmark``, a
    decorator, a ``pytest.param(marks=...)``), read from its syntax tree."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(isinstance(n, ast.Attribute) and n.attr == "unit" and isinstance(n.value, ast.Attribute)
               and n.value.attr == "mark" for n in ast.walk(tree))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # `pytest -m unit` is the inner loop: importing every other module only to deselect its
    # tests would cost more than the unit tests themselves (TensorFlow, torch, qkeras: ~30 s
    # of collection on a loaded 2-core machine). A module that never mentions the mark cannot
    # hold a unit test, so under exactly `-m unit` it is not imported at all.
    if (config.getoption("markexpr", "").strip() == "unit" and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_")):
        if not _mentions_unit_mark(collection_path):
            return True
    return None  # never False: that would override --ignore and the other collection hooks


def shared_dir() -> Path:
    env = os.environ.get("HWFLOW_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


EXTERNAL_DIR = shared_dir() / "models" / "external"
EXTERNAL_ONNX = ["qkeras_jettagging.onnx", "bnn_model_fc_1layer.onnx", "TFC_2W2A.onnx"]


@pytest.fixture(scope="session")
def external_dir() -> Path:
    if not EXTERNAL_DIR.is_dir():
        pytest.fail(f"external models not found at {EXTERNAL_DIR} (set HWFLOW_SHARED)")
    return EXTERNAL_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
