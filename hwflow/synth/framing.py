"""The UART framing of the board top, as pure functions (spec: docs/uart_framing.md).

Shared by ``hwflow deploy`` (a real board behind pyserial) and the cocotb test of the board
top (the simulated board), so the host side that runs on hardware is the one that is tested.

Host -> board: ``0xA5`` + the input vector (``in_bytes``), or ``0xA6`` (design information).
Board -> host: ``0xA5`` + the output vector (``out_bytes``), or
``0xA6`` + IN_W (u16) + OUT_W (u16) + DESIGN_ID (u32), all little-endian.
A vector is the wrapper's tdata (element i in bits [i*EW +: EW], two's complement when
signed) sent as little-endian bytes, zero-padded to whole bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from hwflow.backends.rtl.design import PortFormat
from hwflow.errors import FramingError

CMD_INFER = 0xA5
CMD_INFO = 0xA6
INFO_PAYLOAD_BYTES = 8


# A vector on the wire is the wrapper's tdata word: the framing uses the port format of
# rtl.json (one definition, in hwflow.backends.rtl.design) under the name it has here.
VectorFormat = PortFormat


def pack_vector(q: Iterable[int], fmt: VectorFormat) -> bytes:
    """Integers of one vector -> the little-endian bytes of its tdata (``fmt.pack``)."""
    return fmt.pack([list(q)])[0].to_bytes(fmt.n_bytes, "little")


def unpack_vector(payload: bytes, fmt: VectorFormat) -> np.ndarray:
    """The bytes of one tdata -> integers (sign-extended when signed; ``fmt.unpack``)."""
    if len(payload) != fmt.n_bytes:
        raise FramingError(f"vector payload has {len(payload)} bytes, expected {fmt.n_bytes}")
    tdata = int.from_bytes(payload, "little")
    if tdata >> fmt.tdata_width:
        raise FramingError(f"padding bits above bit {fmt.tdata_width} are not zero: {payload.hex()}")
    return fmt.unpack([tdata])[0]


def encode_infer(q: Iterable[int], fmt: VectorFormat) -> bytes:
    """The request frame for one inference."""
    return bytes([CMD_INFER]) + pack_vector(q, fmt)


def encode_info_request() -> bytes:
    return bytes([CMD_INFO])


@dataclass(frozen=True)
class InfoReply:
    in_width: int
    out_width: int
    design_id: int


class AnswerParser:
    """Splits the byte stream from the board into answers.

    ``feed(data)`` returns the complete answers found so far: ``("infer", ints)`` or
    ``("info", InfoReply)``; partial frames are kept for the next call. A byte that starts
    no known frame raises ``FramingError`` (the board never sends one).
    """

    def __init__(self, out_fmt: VectorFormat) -> None:
        self.out_fmt = out_fmt
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        self._buf.extend(data)
        answers: list[tuple[str, object]] = []
        while self._buf:
            head = self._buf[0]
            if head == CMD_INFER:
                need = 1 + self.out_fmt.n_bytes
                if len(self._buf) < need:
                    break
                answers.append(("infer", unpack_vector(bytes(self._buf[1:need]), self.out_fmt)))
            elif head == CMD_INFO:
                need = 1 + INFO_PAYLOAD_BYTES
                if len(self._buf) < need:
                    break
                answers.append(("info", parse_info(bytes(self._buf[1:need]))))
            else:
                raise FramingError(f"unexpected byte 0x{head:02x} from the board where an answer should start "
                                   f"(expected 0x{CMD_INFER:02x} or 0x{CMD_INFO:02x})")
            del self._buf[:need]
        return answers


def parse_info(payload: bytes) -> InfoReply:
    if len(payload) != INFO_PAYLOAD_BYTES:
        raise FramingError(f"info payload has {len(payload)} bytes, expected {INFO_PAYLOAD_BYTES}")
    return InfoReply(int.from_bytes(payload[0:2], "little"), int.from_bytes(payload[2:4], "little"),
                     int.from_bytes(payload[4:8], "little"))
