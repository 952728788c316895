"""Headless Chromium: renders a report page to PNG."""

from __future__ import annotations

import os
from pathlib import Path

from hwflow.errors import ToolFailed
from hwflow.tools.base import Tool
from hwflow.tools.process import run_tool

class Chromium(Tool):
    """Headless Chromium, to render a report page to PNG (checks that it opens and shows)."""

    name = "chromium"
    binary = "chromium"
    env_var = "HWFLOW_CHROMIUM"
    install = "apt-get install chromium (part of scripts/setup.sh, as root)"
    enables = ("report screenshot",)
    required = False

    # Without the background-networking flags Chromium keeps trying to reach Google's hosts,
    # which this sandboxed network refuses.
    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars")

    def screenshot(self, page: str | os.PathLike, png: str | os.PathLike, width: int = 1200,
                   height: int = 2400, timeout: float = 120) -> Path:
        import tempfile

        png = Path(png).resolve()
        with tempfile.TemporaryDirectory(prefix="hwflow-chromium-") as profile:
            run_tool([self.locate(), *self.FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                      f"--screenshot={png}", Path(page).resolve().as_uri()], tool="chromium", timeout=timeout)
        if not png.exists():
            raise ToolFailed("chromium", 0, None, f"no screenshot written to {png}")
        return png
