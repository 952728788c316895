"""Units the user writes: one clock syntax for every command and the flow file."""

from __future__ import annotations

import math
import re

from hwflow.errors import ConfigError

CLOCK_HELP = "a frequency (40MHz) or a period (25ns); a bare number is MHz"


def parse_clock(text: str | float) -> float:
    """'40MHz' / '40 MHz' / '1.5GHz' / '25ns' / 40 -> MHz."""
    if isinstance(text, (int, float)):
        mhz = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(ghz|mhz|khz|hz|ns|us)?\s*", text, re.I)
        if not m:
            raise ConfigError(f"clock {text!r}: give a frequency like 40MHz or a period like 25ns")
        v, unit = float(m.group(1)), (m.group(2) or "mhz").lower()
        mhz = {"ghz": v * 1e3, "mhz": v, "khz": v * 1e-3, "hz": v * 1e-6,
               "ns": 1e3 / v if v else 0.0, "us": 1.0 / v if v else 0.0}[unit]
    if not (mhz > 0 and math.isfinite(mhz)):  # also inf and nan (float inputs, 1e999MHz)
        raise ConfigError(f"clock must be a finite positive frequency, got {text!r}")
    return mhz
