"""Third-party log lines are hidden by default (#16 item 7), in a real process: TensorFlow's
absl lines go to file descriptor 2 directly, from C++ and from child processes, so the filter
works on the descriptor (hwflow/cli/quiet.py)."""

from __future__ import annotations

import subprocess
import sys

ABSL = "I0000 00:00:1796403768.443546   25463 port.cc:153] oneDNN custom operations are on."
CODE = f"""
import os, subprocess, sys
from hwflow.cli.quiet import quiet_third_party
quiet_third_party()
os.write(2, b"{ABSL}\\n")
subprocess.run([sys.executable, "-c", "import os; os.write(2, b'E0000 00:00:1.5   7 cuda_platform.cc:52] cuInit\\\\n')"])
print("error (ConfigError): kept", file=sys.stderr)
sys.exit(2)
"""


def test_absl_lines_dropped_from_fd2_other_lines_kept():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == "error (ConfigError): kept\n"


def test_without_the_filter_they_show():
    r = subprocess.run([sys.executable, "-c", f"import os; os.write(2, b'{ABSL}\\n')"], capture_output=True,
                       text=True, timeout=60)
    assert ABSL in r.stderr
