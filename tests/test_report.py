"""The report of a real (small) run: Markdown + HTML with the plots embedded, and the page
renders in headless Chromium with the plots visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwflow.errors import ToolNotFound
from hwflow.tools import Chromium

HWFLOW = str(Path(sys.executable).parent / "hwflow")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """The previous demo model (biper_mlp), briefly trained, through RTL co-simulation and iCE40
    synthesis."""
    tmp = tmp_path_factory.mktemp("report")
    flow = tmp / "flow.yaml"
    flow.write_text(
        "name: report-test\nmodel:\n  zoo: biper_mlp\n  framework: qkeras\n"
        "train:\n  epochs: 2\nhls:\n  enabled: false\nrtl:\n  samples: 300\n"
        "targets:\n  fpga: [ice40]\n"
    )
    run = tmp / "run"
    out = subprocess.run([HWFLOW, "run", str(flow), "-o", str(run)], capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "summary of" in out.stdout  # the summary table printed at the end
    return run


def test_report_files_and_content(small_run):
    md = (small_run / "report.md").read_text()
    html = (small_run / "report.html").read_text()
    assert "## Summary" in md and "## Bit-exactness certificate" in md and "## Model" in md
    assert "0 mismatches / 300 samples" in md
    assert "test accuracy" in md
    # plots: training curves, resources per target and utilization against the device (the
    # flow synthesizes for iCE40), each embedded in the page once
    plots = ("training_curves.png", "resources_per_target.png", "utilization.png")
    assert all((small_run / "plots" / p).exists() for p in plots)
    assert html.count("data:image/png;base64,") == len(plots)
    sim = json.loads((small_run / "hw" / "sim.json").read_text())
    assert f"{sim['mismatches']} mismatches / {sim['samples']} samples" in html


def test_report_renders_in_chromium(small_run, tmp_path):
    from PIL import Image

    try:
        Chromium().locate()
    except ToolNotFound as e:
        pytest.skip(str(e))  # setup.sh installs it as root; a non-root developer may not have it
    png = Chromium().screenshot(small_run / "report.html", tmp_path / "report.png", width=1200, height=3000)
    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.int32)
    assert img.shape[0] >= 3000 and img.shape[1] >= 1200
    # the page is not blank, and has colour (the plots) somewhere below the title
    assert (img < 200).any(axis=2).mean() > 0.01
    saturation = img.max(axis=2) - img.min(axis=2)
    assert (saturation > 60).sum() > 2000, "no coloured pixels: the plots did not render"
