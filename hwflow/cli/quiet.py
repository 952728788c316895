"""Quiet third-party logging on the console (``hwflow -v`` shows it).

TensorFlow's C++ runtime writes absl log lines (oneDNN notices, CUDA stubs, cuInit
failures) straight to file descriptor 2, some before ``TF_CPP_MIN_LOG_LEVEL`` is read
("All log messages before absl::InitializeLog() is called are written to STDERR"); no
Python setting reaches them. So fd 2 goes through a pipe, and a thread forwards every line
to the real stderr except absl's. Python-level warnings and loggers of the ML stacks are
lowered to errors.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

# absl's prefix: severity, date, time, thread id, file:line] (and its pre-init notice)
ABSL_LINE = re.compile(rb"^([IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]|WARNING: All log messages before "
                       rb"absl::InitializeLog\(\) is called)")
STACKS = ("tensorflow", "tf_keras", "keras", "qkeras", "absl", "h5py", "brevitas", "torch", "hls4ml", "qonnx",
          "onnx", "tensorflow_model_optimization", "onnxscript")
_installed: list = []


def quiet_third_party() -> None:
    """Filter absl lines out of fd 2 and lower the ML stacks' warnings (once per process;
    only when stderr is the process's real fd 2, not a test runner's buffer)."""
    if _installed:
        return
    for name in STACKS:
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    real = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)

    def forward():
        with os.fdopen(r, "rb") as pipe:
            for line in pipe:
                if not ABSL_LINE.match(line):
                    try:
                        os.write(real, line)
                    except OSError:  # the real stderr went away: keep draining, never block writers
                        pass

    t = threading.Thread(target=forward, name="hwflow-stderr-filter", daemon=True)
    t.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # the pipe's last writer closes: the thread reads to the end
        t.join(timeout=2)

    atexit.register(restore)
    _installed.append(t)
