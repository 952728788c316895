"""What every CLI command shares: error handling and the console.

The CLI is a thin layer: a command parses options, calls one API function, prints a short
summary. ``cli_command`` turns a ``HwflowError`` into a one-paragraph message on stderr and
the error's exit code; any other exception is a bug and keeps its traceback. It also makes
SIGTERM/SIGHUP/SIGINT stop the tools a command started (``install_signal_forwarding``).
"""

from __future__ import annotations

import functools
import sys
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
