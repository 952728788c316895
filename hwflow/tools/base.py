"""What every external tool has: where it is found, the variable that overrides it, how to
install it, its version, and the stages it enables (``hwflow doctor`` shows them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hwflow.errors import ToolNotFound
from hwflow.tools.process import capture

SETUP_HINT = "scripts/setup.sh"


def venv_bin() -> Path:
    """The ``bin/`` of the Python running hwflow (console scripts of our dependencies)."""
    return Path(sys.executable).parent


def _which(name: str, env_var: str | None) -> Path | None:
    if env_var and os.environ.get(env_var):
        p = Path(os.environ[env_var])
        return p if p.exists() else None
    found = shutil.which(name)
    if found:
        return Path(found)
    candidate = venv_bin() / name
    return candidate if candidate.exists() else None


@dataclass(frozen=True)
class ToolStatus:
    name: str
    found: bool
    version: str | None
    path: str | None
    enables: tuple[str, ...]
    required: bool
    install: str
    error: str | None = None


class Tool:
    """A command-line tool found on PATH, in the venv, or where ``env_var`` points."""

    name: str = ""
    binary: str = ""
    env_var: str | None = None
    install: str = SETUP_HINT
    enables: tuple[str, ...] = ()
    required = True  # needed by the default flow (``hwflow doctor`` exit code)
    missing_error: type[ToolNotFound] = ToolNotFound

    def locate(self) -> Path:
        path = _which(self.binary, self.env_var)
        if path is None:
            raise self.missing_error(self.name, self.install, self.env_var)
        return path

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def version(self) -> str:
        return self.parse_version(capture([self.locate(), *self.version_args], env=self.env()).stdout.strip())

    version_args: tuple[str, ...] = ("--version",)

    def parse_version(self, text: str) -> str:
        m = re.search(r"\d+\.\d+(\.\d+)?", text)
        return m.group(0) if m else text.splitlines()[0] if text else "unknown"

    def status(self) -> ToolStatus:
        try:
            path = self.locate()
            return ToolStatus(self.name, True, self.version(), str(path), self.enables, self.required,
                              self.install)
        except ToolNotFound as e:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, self.install, str(e))
        except (OSError, subprocess.SubprocessError) as e:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, self.install,
                              f"{type(e).__name__}: {e}")
