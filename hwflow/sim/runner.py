"""The production stream testbench (``rtl_tests/stream_tb.py``), run by cocotb on a built
design (``hwflow.tools.cocotb``)."""

from __future__ import annotations

import os
from pathlib import Path

from hwflow.bundled import bundled_dir
from hwflow.errors import HwflowError
from hwflow.tools.cocotb import run_test

# the generic stream testbench (rtl_tests/stream_tb.py); HWFLOW_TB_DIR overrides
TB_MODULE = "stream_tb"


def testbench_dir() -> Path:
    env = os.environ.get("HWFLOW_TB_DIR")
    d = Path(env) if env else bundled_dir("rtl_tests")
    if not (d / f"{TB_MODULE}.py").exists():
        raise HwflowError(f"testbench {TB_MODULE}.py not found in {d} (set HWFLOW_TB_DIR)")
    return d


def run_testbench(top: str, build_dir: Path, work_dir: Path, cfg_path: Path, waves: bool = False) -> Path:
    """Run the stream testbench; returns the results XML (failures are read by the caller)."""
    return run_test(TB_MODULE, testbench_dir(), top, build_dir, work_dir, {"HWFLOW_STREAM_CFG": str(cfg_path)},
                    waves)
