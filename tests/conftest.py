"""Fixtures shared by every test module.

The external models live in ``shared/models/external`` beside the repository (in CI a copy
of ``shared/`` lies next to the clone); ``HWFLOW_SHARED`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
