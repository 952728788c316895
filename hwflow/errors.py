"""Typed errors of hwflow.

Every failure a user can cause (bad model, missing tool, design that does not fit, a
mismatch between two executions of the same model) is one of these classes. The CLI turns
them into a one-paragraph message and the exit code given by ``exit_code``; nothing else
in the library calls ``sys.exit``. One code per kind of failure (a subclass shares its
base's code), so a script can tell them apart:

1 any other hwflow error, 2 invalid configuration/option or not built yet, 3 tool not
found, 4 vendor tool missing, 5 tool failed or timed out, 6 model refused, 7 mismatch
between two executions, 8 design does not fit, 9 run directory in use, 10 framing error
from the board, 11 board timeout, 128 + N stopped by signal N.
"""

from __future__ import annotations


class HwflowError(Exception):
    """Base of every error hwflow raises on purpose."""

    exit_code = 1


class NotBuiltYet(HwflowError):
    """A CLI command or option whose implementation does not exist yet."""

    exit_code = 2


class ConfigError(HwflowError):
    """A flow file, board file or option value is invalid."""

    exit_code = 2


class ToolNotFound(HwflowError):
    """An external tool is not installed or not where we look for it.

    The message names the tool, the environment variable that overrides its location and
    the command that installs it.
    """

    exit_code = 3

    def __init__(self, tool: str, install: str, env_var: str | None = None, detail: str = ""):
        self.tool = tool
        self.install = install
        self.env_var = env_var
        msg = f"{tool} is not installed or not found"
        if detail:
            msg += f" ({detail})"
        msg += f". Install it with: {install}"
        if env_var:
            msg += f"; or point {env_var} at it"
        super().__init__(msg + ".")


class VendorToolMissing(ToolNotFound):
    """A vendor tool (Vivado, Vitis HLS) is needed for an optional step and is absent."""

    exit_code = 4


class ToolFailed(HwflowError):
    """An external tool ran and failed; the log file is named."""

    exit_code = 5

    def __init__(self, tool: str, returncode: int, log: str | None = None, tail: str = ""):
        self.tool, self.returncode, self.log = tool, returncode, log
        msg = self._headline()
        if log:
            msg += f"; log: {log}"
        if tail:
            msg += "\n" + tail
        super().__init__(msg)

    def _headline(self) -> str:
        return f"{self.tool} failed with exit code {self.returncode}"


class ToolTimeout(ToolFailed):
    """An external tool ran longer than the time it was given and was stopped."""

    def __init__(self, tool: str, seconds: float, log: str | None = None, tail: str = ""):
        self.seconds = seconds
        super().__init__(tool, -1, log, tail)

    def _headline(self) -> str:
        return f"{self.tool} was stopped after {self.seconds:g} s (its time limit)"


class ModelError(HwflowError):
    """A model file or graph that hwflow cannot take; ``node`` names the culprit if any."""

    exit_code = 6

    def __init__(self, message: str, node: str | None = None, path: str | None = None):
        self.node, self.path = node, path
        where = []
        if path:
            where.append(f"file {path}")
        if node:
            where.append(f"node {node!r}")
        super().__init__(f"{message}" + (f" [{', '.join(where)}]" if where else ""))


class InvalidModelFile(ModelError):
    """Not an ONNX/Keras/PyTorch file, truncated, or unreadable."""


class UnsupportedOp(ModelError):
    """An operator (or an attribute of it) that the chosen stage does not implement."""


class MissingQuantization(ModelError):
    """A multiply-accumulate whose input or weight carries no quantization."""


class MismatchError(HwflowError):
    """Two executions of the same model disagree; the first mismatch is described."""

    exit_code = 7


class FitError(HwflowError):
    """A design does not fit the chosen device; the message gives the numbers."""

    exit_code = 8


class InvalidInputsFile(ConfigError):
    """An inputs file (``--inputs``, stimulus .npy/.npz) that is not a finite real-valued
    numeric array: wrong dtype, NaN/Inf, pickled objects, unreadable."""


class TooLarge(ModelError):
    """A file or a tensor larger than the configured limit (the message names the limit and
    the option or environment variable that raises it)."""


class RunDirInUse(HwflowError):
    """Another hwflow process holds the run directory's lock (``.hwflow.lock``)."""

    exit_code = 9


class FramingError(HwflowError):
    """Bytes from the board that do not follow the UART framing (wrong header, short frame)."""

    exit_code = 10


class BoardTimeout(HwflowError):
    """The board did not answer in time (wrong port, wrong bitstream, wrong baud rate)."""

    exit_code = 11


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGTERM or SIGHUP (SIGINT stays a plain KeyboardInterrupt); the
    tool processes were stopped with it. A ``KeyboardInterrupt`` on purpose: no ``except
    Exception`` in a library can swallow it, and ``stage()`` records the stage as
    interrupted. Exit code 128 + the signal number, as a shell reports it."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
