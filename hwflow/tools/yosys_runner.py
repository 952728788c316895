"""Run one Yosys script through pyosys, in its own process.

``python -m hwflow.tools.yosys_runner SCRIPT.ys`` — ``hwflow.tools.Yosys`` starts this in a
process of its own so that every synthesis job gets a fresh Yosys (pyosys keeps global state
between passes) and a Yosys error or crash fails only that job, with its log kept.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hwflow.tools.yosys_runner SCRIPT.ys", file=sys.stderr)
        return 2
    from pyosys import libyosys as ys

    design = ys.Design()
    try:
        ys.run_pass(f"script {argv[0]}", design)
    except Exception as e:  # pyosys raises on log_error; the message is already in the log
        print(f"yosys error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
