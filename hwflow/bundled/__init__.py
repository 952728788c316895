"""The repository folders hwflow reads at run time, shipped inside the package.

``models/`` (zoo definitions), ``boards/`` (board and device data), ``hls/`` (hls4ml
extension headers) and ``rtl_tests/`` (the cocotb stream testbench) live at the top of the
repository, where people edit them. This package holds one symbolic link to each, so the
same path works in a source checkout or an editable install (the link is followed) and in a
wheel (setuptools copies the files behind the links as package data, see pyproject.toml):
no code reaches outside ``hwflow/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FOLDERS = ("models", "boards", "hls", "rtl_tests")


def bundled_dir(name: str) -> Path:
    """The folder ``name`` (one of ``FOLDERS``) as installed with hwflow."""
    if name not in FOLDERS:
        raise ValueError(f"no bundled folder {name!r}; bundled: {', '.join(FOLDERS)}")
    return Path(str(files(__name__) / name))
