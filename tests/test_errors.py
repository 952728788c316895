"""Exit codes of hwflow's typed errors: one code per kind of failure, so a script can tell
a board that does not answer from a model whose two executions disagree."""

from __future__ import annotations

import inspect

import pytest

from hwflow import errors
from hwflow.synth import deploy, framing

pytestmark = pytest.mark.unit

# Two kinds share a code on purpose: both mean "the command as given cannot run" (exit 2),
# and RtlNotGenerated is both.
SHARED = {frozenset({"NotBuiltYet", "ConfigError"})}


def _kinds() -> dict[str, int]:
    """Every error class in hwflow.errors that sets its own exit code (a subclass that does
    not, such as ToolTimeout or UnsupportedOp, is its base's kind)."""
    return {name: cls.__dict__["exit_code"] for name, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, errors.HwflowError) and "exit_code" in cls.__dict__}


def test_every_kind_of_error_has_its_own_exit_code():
    kinds = _kinds()
    assert {"MismatchError", "FramingError", "BoardTimeout"} <= kinds.keys()
    by_code: dict[int, set[str]] = {}
    for name, code in kinds.items():
        by_code.setdefault(code, set()).add(name)
    shared = [names for names in by_code.values() if len(names) > 1]
    assert all(frozenset(names) in SHARED for names in shared), shared
    assert all(1 <= code < 128 for code in kinds.values())  # 128 + N is a signal


@pytest.mark.parametrize("cls", [framing.FramingError, deploy.BoardTimeout])
def test_board_errors_are_not_mismatches(cls):
    # raised by hwflow deploy; the modules that raise them export the classes of hwflow.errors
    assert cls in (errors.FramingError, errors.BoardTimeout)
    assert cls.exit_code != errors.MismatchError.exit_code
    assert errors.FramingError.exit_code != errors.BoardTimeout.exit_code
