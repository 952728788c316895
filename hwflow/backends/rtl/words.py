"""Files of stream words, one ``tdata`` word a line in hex (the words ``PortFormat.pack``
makes): the stimulus the testbenches load with ``$readmemh`` or read in cocotb, and the
output beats they write back.

Digits are zero-padded to the word width (``ceil(width / 4)``): ``$readmemh`` (Verilator,
Yosys), the cocotb stream testbench and :func:`read_hex` all read that form, and so does
every reader with the digits unpadded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from hwflow.errors import ConfigError, MismatchError


def write_hex(path: str | Path, words: Iterable[int], width: int) -> Path:
    """Write ``words`` (each ``width`` bits wide) to ``path``, one a line; returns the path.

    Raises ``ConfigError`` naming the first word that is negative or wider than ``width``
    (``$readmemh`` would truncate it)."""
    path = Path(path)
    digits = max(1, (int(width) + 3) // 4)
    lines = []
    for k, w in enumerate(words):
        w = int(w)
        if w < 0 or w >> width:
            raise ConfigError(f"{path}: word {k} = {w:#x} does not fit {width} bits")
        lines.append(f"{w:0{digits}x}\n")
    path.write_text("".join(lines))
    return path


def read_hex(path: str | Path) -> list[int]:
    """The words of a hex file, one per whitespace-separated token.

    Raises ``MismatchError`` for a word with unknown (x/z) bits -- a simulated output that
    is not driven -- naming the file and the word, and ``ConfigError`` for any other token
    that is not hex."""
    words = []
    for k, tok in enumerate(Path(path).read_text().split()):
        try:
            words.append(int(tok, 16))
        except ValueError:
            if set(tok.lower()) & {"x", "z"}:
                raise MismatchError(f"{path}: word {k} = {tok!r} has unknown (x/z) bits") from None
            raise ConfigError(f"{path}: word {k} = {tok!r} is not a hex number") from None
    return words
