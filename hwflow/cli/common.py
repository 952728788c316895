"""What every CLI command shares: error handling and the console.

The CLI is a thin layer: a command parses options, calls one API function, prints a short
summary. ``cli_command`` turns a ``HwflowError`` into a one-paragraph message on stderr and
the error's exit code; any other exception is a bug and keeps its traceback. It also makes
SIGTERM/SIGHUP/SIGINT stop the tools a command started (``install_signal_forwarding``).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, TypeVar

from rich.console import Console
from rich.markup import escape

from hwflow.errors import HwflowError

console = Console(stderr=True)
out = Console()


def print_progress(line: str) -> None:
    """A stage's progress line (epoch, traced segment, router iteration), dimmed."""
    out.print(f"[dim]{escape(line)}[/dim]")

F = TypeVar("F", bound=Callable)


def cli_command(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from hwflow.tools import install_signal_forwarding

        # SIGTERM/SIGHUP/SIGINT reach the tools we start and end the command cleanly
        install_signal_forwarding()
        try:
            return fn(*args, **kwargs)
        except HwflowError as e:
            # escape: messages name nodes as "[node 'x']", which rich would take for markup
            console.print(f"[bold red]error[/] ({type(e).__name__}): {escape(str(e))}", highlight=False,
                          soft_wrap=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:  # Ctrl-C, or hwflow.errors.Interrupted (SIGTERM/SIGHUP)
            console.print(f"[yellow]{escape(str(e) or 'interrupted')}[/]")
            sys.exit(getattr(e, "exit_code", 130))

    return wrapper  # type: ignore[return-value]


def hardware_run(run: Path, command: str) -> Path:
    """The directory holding rtl.json for ``hwflow <command> RUN``: RUN itself (made by
    ``hwflow rtl MODEL -o RUN``) or RUN/hw (made by ``hwflow run FLOW -o RUN``); a model
    file given instead is refused with the command that makes a run directory from it."""
    from hwflow.errors import ConfigError

    run = Path(run)
    if run.is_file():
        raise ConfigError(f"`hwflow {command}` takes a run directory, and {run} is a file: make one with "
                          f"`hwflow rtl {run} -o RUN`, then run `hwflow {command} RUN`")
    if not (run / "rtl.json").exists() and (run / "hw" / "rtl.json").exists():
        return run / "hw"  # the layout of `hwflow run -o RUN`
    return run


def model_file(model: Path, command: str) -> Path:
    """A model argument that is a directory gets a message naming what to give instead."""
    from hwflow.errors import InvalidModelFile

    model = Path(model)
    if model.is_dir():
        inner = next((p for p in (model / "model.onnx", model / "hw" / "model.onnx") if p.is_file()), None)
        hint = (f"; the model of that run directory is {inner}" if inner else "")
        raise InvalidModelFile(f"`hwflow {command}` takes a model file (.onnx), not a directory{hint}",
                               path=str(model))
    return model
