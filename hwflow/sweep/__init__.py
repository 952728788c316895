"""``hwflow sweep``: design-space sweeps of flow files on Ray (docs/sweep.md).

``load_sweep`` reads and validates a sweep file (``spec``), ``run_sweep`` runs its points
(``run``, on Ray through ``ray_engine``) and writes ``sweep.json``, ``sweep.csv``, the
Pareto plots and ``sweep.html`` (``results``, ``pareto``).
"""

from hwflow.sweep.run import run_sweep
from hwflow.sweep.spec import load_sweep

__all__ = ["load_sweep", "run_sweep"]
