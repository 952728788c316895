"""Limits a user may raise through the environment (``HWFLOW_MAX_*``, ``HWFLOW_TOOL_GRACE_S``).

One reader for all of them, so every limit rejects the same bad values the same way: a
value that is not a finite positive number is a ``ConfigError`` naming the variable
(``inf`` would otherwise overflow ``int()``, ``nan`` would compare false with everything
and switch the limit off).
"""

from __future__ import annotations

import math
import os

from hwflow.errors import ConfigError


def env_limit(name: str, default: float, what: str = "number", integer: bool = True) -> float:
    """``name`` from the environment as a finite positive number, else ``default``.

    ``what`` names the unit in the error message ("number of bytes", "seconds").
    """
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {what}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a finite positive {what}")
    return int(value) if integer else value
