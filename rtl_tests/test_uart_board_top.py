"""cocotb tests of the whole board top: UART in, core, UART out.

The launcher (``tests/test_fpga_board_top.py``) builds ``hwflow_board_top`` around a core
and writes a JSON case file (``HWFLOW_BOARD_CASE``): vector formats, clock and baud, input
integers and the reference's expected output integers. The host side here uses the same
framing functions as ``hwflow deploy`` (``hwflow.synth.framing``), so the deploy protocol is
what these tests exercise against the real RTL.
"""

from __future__ import annotations

import json
import os
import queue
import threading

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer, with_timeout
from cocotbext.uart import UartSink, UartSource

from hwflow.synth.deploy import query_info, run_session
from hwflow.synth.framing import AnswerParser, InfoReply, VectorFormat, encode_info_request, encode_infer


def _case() -> dict:
    with open(os.environ["HWFLOW_BOARD_CASE"]) as f:
        return json.load(f)


async def _setup(dut, case):
    cocotb.start_soon(Clock(dut.clk, case["clk_period_ps"], unit="ps").start())
    src = UartSource(dut.uart_rx, baud=case["baud"])
    sink = UartSink(dut.uart_tx, baud=case["baud"])
    await ClockCycles(dut.clk, 40)   # power-on reset
    return src, sink


def _frame_time_ns(case, n_bytes: int) -> int:
    return int(n_bytes * 10 * 1e9 / case["baud"])


async def _read_answers(sink, parser, n: int, timeout_ns: int) -> list:
    answers: list = []
    while len(answers) < n:
        data = await with_timeout(sink.read(), timeout_ns, "ns")
        answers.extend(parser.feed(bytes(data)))
    return answers


@cocotb.test()
async def info_reports_widths_and_design_id(dut):
    case = _case()
    in_fmt, out_fmt = VectorFormat(**case["input"]), VectorFormat(**case["output"])
    src, sink = await _setup(dut, case)
    parser = AnswerParser(out_fmt)
    await src.write(encode_info_request())
    (kind, info), = await _read_answers(sink, parser, 1, 4 * _frame_time_ns(case, 10))
    assert kind == "info"
    assert info == InfoReply(in_fmt.tdata_width, out_fmt.tdata_width, case["design_id"]), info


@cocotb.test()
async def answers_match_reference(dut):
    """Every sample goes through the UART and the core; answers equal the reference, in
    order. The host keeps up to ``window`` requests in flight, as deploy does."""
    case = _case()
    in_fmt, out_fmt = VectorFormat(**case["input"]), VectorFormat(**case["output"])
    src, sink = await _setup(dut, case)
    parser = AnswerParser(out_fmt)
    inputs, expected, window = case["inputs"], case["expected"], case["window"]
    timeout = 4 * _frame_time_ns(case, 2 + in_fmt.n_bytes + out_fmt.n_bytes) + case["latency_ns"]

    # bytes between frames that are not a command are ignored by the board
    await src.write(bytes([0x00, 0x13]))
    sent, got = 0, []
    while len(got) < len(inputs):
        while sent < len(inputs) and sent - len(got) < window:
            await src.write(encode_infer(inputs[sent], in_fmt))
            sent += 1
        for kind, value in await _read_answers(sink, parser, 1, timeout):
            assert kind == "infer", kind
            got.append([int(v) for v in value])
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} of {len(inputs)} answers differ; " + "; ".join(
        f"sample {i}: input {inputs[i]} -> board {got[i]}, reference {expected[i]}" for i in bad[:5])
    assert parser.pending == 0
    assert dut.u_bridge.error.value == 0


@cocotb.test()
async def truncated_frame_is_dropped_after_timeout(dut):
    """A request cut short is dropped after the inter-byte timeout (error flag set) and
    the next request is answered correctly."""
    case = _case()
    in_fmt, out_fmt = VectorFormat(**case["input"]), VectorFormat(**case["output"])
    src, sink = await _setup(dut, case)
    parser = AnswerParser(out_fmt)
    frame = encode_infer(case["inputs"][0], in_fmt)
    await src.write(frame[: max(1, len(frame) - 1)])     # the last byte never comes
    await src.wait()
    await Timer(int((case["timeout_bits"] + 40) * 1e9 / case["baud"]), "ns")
    assert dut.u_bridge.error.value == 1
    assert sink.empty()
    await src.write(encode_infer(case["inputs"][1], in_fmt))
    (kind, value), = await _read_answers(sink, parser, 1, 4 * _frame_time_ns(case, 2 + in_fmt.n_bytes + out_fmt.n_bytes))
    assert kind == "infer"
    assert [int(v) for v in value] == case["expected"][1]


class _SimTransport:
    """The serial-port side of ``hwflow deploy`` wired to the simulated UART: the deploy
    session runs unchanged in a thread; the coroutine below moves bytes between it and
    cocotbext-uart."""

    def __init__(self) -> None:
        self.to_board: queue.Queue[bytes] = queue.Queue()
        self.from_board: queue.Queue[bytes] = queue.Queue()

    def write(self, data: bytes) -> int:
        self.to_board.put(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        try:
            return self.from_board.get(timeout=0.01)
        except queue.Empty:
            return b""


@cocotb.test()
async def deploy_session_against_simulated_board(dut):
    """``hwflow deploy``'s own session code (design check + windowed requests) talks to
    the RTL board top; its answers equal the reference."""
    case = _case()
    in_fmt, out_fmt = VectorFormat(**case["input"]), VectorFormat(**case["output"])
    src, sink = await _setup(dut, case)
    t = _SimTransport()
    result: dict = {}

    def host():
        try:
            result["info"] = query_info(t, out_fmt, timeout_s=60)
            result["session"] = run_session(t, in_fmt, out_fmt, case["inputs"], window=case["window"],
                                            timeout_s=60)
        except BaseException as e:  # reported in the simulator thread below
            result["error"] = e

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    step_ns = max(1, int(2e9 / case["baud"]))
    while thread.is_alive():
        while not t.to_board.empty():
            await src.write(t.to_board.get_nowait())
        if not sink.empty():
            t.from_board.put(bytes(sink.read_nowait()))
        await Timer(step_ns, "ns")
    if "error" in result:
        raise result["error"]
    assert result["info"] == InfoReply(in_fmt.tdata_width, out_fmt.tdata_width, case["design_id"])
    got = result["session"].outputs.tolist()
    assert got == case["expected"], "deploy session answers differ from the reference"
