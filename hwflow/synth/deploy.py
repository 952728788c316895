"""``hwflow deploy``: run inputs through the design on a board over UART and compare every
answer with the reference executor.

The session logic (``run_session``) takes any transport with ``write(bytes)`` and
``read(n) -> bytes`` (pyserial's ``Serial`` is one), keeps up to ``window`` requests in
flight, and uses the framing functions that the cocotb board-top test exercises against
the RTL. ``deploy`` opens the serial port, checks the board's design id against the run
directory, and writes ``deploy.json`` with the comparison and the measured throughput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from hwflow.artifacts import stage, stage_record
from hwflow.backends.rtl.design import RtlDesign, load_design
from hwflow.boards import load_board
from hwflow.errors import BoardTimeout, ConfigError, FramingError, MismatchError, ToolNotFound
from hwflow.synth.framing import AnswerParser, InfoReply, VectorFormat, encode_infer, encode_info_request


class Transport(Protocol):
    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...


@dataclass(frozen=True)
class SessionResult:
    outputs: np.ndarray      # integers, (n, elements)
    seconds: float
    bytes_sent: int
    bytes_received: int


def _read_answers(t: Transport, parser: AnswerParser, n: int, timeout_s: float) -> list:
    answers: list = []
    deadline = time.monotonic() + timeout_s
    while len(answers) < n:
        data = t.read(max(1, parser.out_fmt.n_bytes + 1))
        if data:
            answers.extend(parser.feed(data))
            deadline = time.monotonic() + timeout_s
        elif time.monotonic() > deadline:
            raise BoardTimeout(f"no answer from the board within {timeout_s:g} s "
                               f"(got {len(answers)} of {n}; {parser.pending} bytes of a partial frame)")
    return answers


def query_info(t: Transport, out_fmt: VectorFormat, timeout_s: float = 2.0) -> InfoReply:
    t.write(encode_info_request())
    (kind, info), = _read_answers(t, AnswerParser(out_fmt), 1, timeout_s)
    if kind != "info":
        raise FramingError(f"expected the info answer, got {kind!r}")
    return info


def run_session(t: Transport, in_fmt: VectorFormat, out_fmt: VectorFormat, inputs_q: np.ndarray,
                window: int = 2, timeout_s: float = 2.0) -> SessionResult:
    """Send every input vector, at most ``window`` unanswered at a time; return the answers
    in order. ``window`` > 2 can overrun the board's single input buffer while it is
    sending (see docs/uart_framing.md)."""
    if window < 1:
        raise ConfigError("window must be at least 1")
    parser = AnswerParser(out_fmt)
    frames = [encode_infer(row, in_fmt) for row in np.asarray(inputs_q)]
    outputs: list[np.ndarray] = []
    sent = bytes_sent = bytes_received = 0
    t0 = time.monotonic()
    while len(outputs) < len(frames):
        while sent < len(frames) and sent - len(outputs) < window:
            t.write(frames[sent])
            bytes_sent += len(frames[sent])
            sent += 1
        for kind, value in _read_answers(t, parser, 1, timeout_s):
            if kind != "infer":
                raise FramingError(f"unexpected {kind!r} answer during inference")
            outputs.append(np.asarray(value, dtype=np.int64))
            bytes_received += 1 + out_fmt.n_bytes
    seconds = time.monotonic() - t0
    return SessionResult(np.array(outputs, dtype=np.int64).reshape(len(frames), out_fmt.elements), seconds,
                         bytes_sent, bytes_received)


def reference_ints(design: RtlDesign, x: np.ndarray) -> np.ndarray:
    """The reference executor's outputs for real inputs ``x``, as output integers."""
    from hwflow.ir import ReferenceExecutor, load_model

    if design.model is None or not design.model.exists():
        raise ConfigError(f"{design.run_dir}/rtl.json names no model file to compute the reference from")
    y = ReferenceExecutor(load_model(design.model)).run(x)
    return design.output.to_ints(np.asarray(y).reshape(len(x), -1))


def load_inputs(design: RtlDesign, inputs: str | Path | None, samples: int, seed: int = 0) -> np.ndarray:
    """Input port values: the model's inputs from a .npy file through the software before the
    hardware (``hwflow.ir.boundary``, as exec and sim run them), or the reference stimulus
    (corners + random)."""
    shape = design.input.shape or (1, design.input.elements)
    if inputs is not None:
        from hwflow.artifacts import load_array_file

        x = load_array_file(inputs, "inputs file")  # finite real numbers, no pickles, typed errors
        if isinstance(x, dict):
            raise ConfigError(f"inputs {inputs} must be one array (.npy), not an .npz")
        from hwflow.ir.boundary import Boundary

        raw = design.raw
        boundary = Boundary.load(design.run_dir, raw.get("software"), raw["input"]["shape"], raw["output"]["shape"])
        return boundary.to_port(x).reshape((-1, *shape[1:]))
    from hwflow.ir import load_model, make_stimulus

    return np.asarray(make_stimulus(load_model(design.model), n=samples, seed=seed, corners=True),
                      dtype=np.float64)


def open_serial(port: str, baud: int, timeout_s: float = 0.05):
    try:
        import serial
    except ImportError as e:
        raise ToolNotFound("pyserial", "pip install pyserial") from e
    try:
        return serial.Serial(port, baudrate=baud, timeout=timeout_s)
    except serial.SerialException as e:
        raise ConfigError(f"cannot open serial port {port}: {e}") from e


def deploy(run_dir: str | Path, board: str, port: str = "/dev/ttyUSB0", inputs: str | Path | None = None,
           samples: int = 100, window: int = 2, baud: int | None = None, timeout_s: float = 2.0,
           transport: Transport | None = None) -> dict:
    """Send inputs to the board, compare with the reference; writes ``deploy.json``.
    ``transport`` replaces the serial port (tests)."""
    run_dir = Path(run_dir)
    b = load_board(board)
    design = load_design(run_dir)
    if baud is None:
        # the rate the bitstream was built with, else the board's default
        built = stage_record(run_dir, "bitstream")
        baud = int(built["baud"]) if built and built.get("board") == b.name and built.get("baud") else b.uart.baud
    x = load_inputs(design, inputs, samples)
    q_in = design.input.to_ints(x.reshape(len(x), -1))
    expected = reference_ints(design, x)
    params = {"board": b.name, "port": port, "baud": baud, "samples": len(x), "window": window}
    with stage(run_dir, "deploy", inputs={"rtl.json": run_dir / "rtl.json"}, params=params) as st:
        t = transport if transport is not None else open_serial(port, baud)
        try:
            info = query_info(t, design.output, timeout_s)
            want = InfoReply(design.input.tdata_width, design.output.tdata_width, design.design_id)
            if info != want:
                raise ConfigError(f"the board runs another design: it reports input/output widths "
                                  f"{info.in_width}/{info.out_width} and id {info.design_id:08x}; this run "
                                  f"expects {want.in_width}/{want.out_width} and {want.design_id:08x}. "
                                  f"Program it with `hwflow bitstream {run_dir} --board {b.name}` first.")
            res = run_session(t, design.input, design.output, q_in, window, timeout_s)
        finally:
            if transport is None:
                t.close()
        bad = np.nonzero(np.any(res.outputs != expected, axis=1))[0]
        wire_bits = 10 * (res.bytes_sent + res.bytes_received)
        st.result = {
            "board": b.name, "samples": len(x), "mismatches": int(len(bad)),
            "first_mismatch": None if not len(bad) else {
                "sample": int(bad[0]), "input": q_in[bad[0]].tolist(), "board": res.outputs[bad[0]].tolist(),
                "reference": expected[bad[0]].tolist()},
            "seconds": round(res.seconds, 4),
            "inferences_per_s": round(len(x) / res.seconds, 2) if res.seconds > 0 else None,
            # full duplex: requests and answers overlap, the longer frame sets the pace
            "uart_bound_inferences_per_s": round(
                baud / (10 * (1 + max(design.input.n_bytes, design.output.n_bytes))), 2),
            "bytes_sent": res.bytes_sent, "bytes_received": res.bytes_received,
            "line_utilization": round(wire_bits / (baud * res.seconds), 3) if res.seconds > 0 else None,
        }
        result = st.result
    if result["mismatches"]:
        m = result["first_mismatch"]
        raise MismatchError(f"{result['mismatches']} of {len(x)} board answers differ from the reference; first: "
                            f"sample {m['sample']} input {m['input']} -> board {m['board']}, reference {m['reference']}")
    return result
