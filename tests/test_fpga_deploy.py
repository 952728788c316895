"""UART framing functions and the deploy session (against a Python stand-in of the board;
the same session runs against the RTL board top in rtl_tests/test_uart_board_top.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.artifacts import read_json
from hwflow.errors import ConfigError, MismatchError
from hwflow.synth.deploy import BoardTimeout, deploy, run_session
from hwflow.synth.framing import (CMD_INFER, CMD_INFO, AnswerParser, FramingError, InfoReply, VectorFormat,
                                  encode_infer, pack_vector, parse_info, unpack_vector)

from _fpga_util import generated_run, make_tiny_mlp

pytestmark = pytest.mark.unit


def test_pack_matches_documented_example():
    # docs/uart_framing.md: [1, -2, 31, -32] as 4 x 6-bit signed -> bytes 81 FF 81
    assert pack_vector([1, -2, 31, -32], VectorFormat(4, 6, True)) == bytes.fromhex("81ff81")


@pytest.mark.parametrize("fmt", [VectorFormat(4, 6, True), VectorFormat(3, 2, True), VectorFormat(5, 5, False),
                                 VectorFormat(16, 8, True), VectorFormat(1, 1, False), VectorFormat(7, 13, True)])
def test_pack_unpack_round_trip_with_corners(fmt):
    rng = np.random.default_rng(1)
    rows = [[0] * fmt.elements, [fmt.int_max] * fmt.elements, [fmt.int_min] * fmt.elements,
            [fmt.int_min if i % 2 else fmt.int_max for i in range(fmt.elements)],
            *rng.integers(fmt.int_min, fmt.int_max + 1, size=(20, fmt.elements)).tolist()]
    for row in rows:
        payload = pack_vector(row, fmt)
        assert len(payload) == fmt.n_bytes == (fmt.elements * fmt.element_width + 7) // 8
        assert unpack_vector(payload, fmt).tolist() == row


def test_pack_rejects_out_of_range_and_padding_errors():
    fmt = VectorFormat(2, 3, True)
    with pytest.raises(ConfigError, match="element 1 = 4 does not fit 3 bits"):
        pack_vector([0, 4], fmt)
    with pytest.raises(FramingError, match="padding bits"):
        unpack_vector(bytes([0xC0]), fmt)      # bit 6 set, tdata is 6 bits wide


def test_real_values_to_ints():
    fmt = VectorFormat(2, 6, True, frac=3)
    assert fmt.to_ints(np.array([[0.125, -4.0]])).tolist() == [[1, -32]]
    with pytest.raises(ConfigError, match="not on the input grid"):
        fmt.to_ints(np.array([[0.1, 0.0]]))
    with pytest.raises(ConfigError, match="outside the input range"):
        fmt.to_ints(np.array([[4.0, 0.0]]))


def test_answer_parser_handles_split_frames_and_rejects_garbage():
    fmt = VectorFormat(4, 5, False)
    p = AnswerParser(fmt)
    stream = bytes([CMD_INFER]) + pack_vector([1, 2, 3, 31], fmt) + bytes([CMD_INFO]) + bytes.fromhex("1800140078563412")
    answers = []
    for i in range(len(stream)):          # one byte at a time
        answers += p.feed(stream[i:i + 1])
    assert answers[0][0] == "infer" and answers[0][1].tolist() == [1, 2, 3, 31]
    assert answers[1] == ("info", InfoReply(24, 20, 0x12345678))
    assert p.pending == 0
    with pytest.raises(FramingError, match="unexpected byte 0x00"):
        p.feed(b"\x00")
    assert parse_info(bytes(8)) == InfoReply(0, 0, 0)


class FakeBoard:
    """The board side of the protocol in Python (stand-in for a serial port): answers with
    ``fn`` of the input integers."""

    def __init__(self, in_fmt, out_fmt, info, fn, silent=False):
        self.in_fmt, self.out_fmt, self.info, self.fn = in_fmt, out_fmt, info, fn
        self.rx, self.tx = bytearray(), bytearray()
        self.silent = silent

    def write(self, data):
        self.rx += data
        while self.rx:
            if self.rx[0] == CMD_INFO:
                del self.rx[:1]
                self.tx += bytes([CMD_INFO]) + self.info.in_width.to_bytes(2, "little") + \
                    self.info.out_width.to_bytes(2, "little") + self.info.design_id.to_bytes(4, "little")
            elif self.rx[0] == CMD_INFER and len(self.rx) > self.in_fmt.n_bytes:
                q = unpack_vector(bytes(self.rx[1:1 + self.in_fmt.n_bytes]), self.in_fmt)
                del self.rx[:1 + self.in_fmt.n_bytes]
                if not self.silent:
                    self.tx += bytes([CMD_INFER]) + pack_vector(self.fn(q), self.out_fmt)
            else:
                break
        return len(data)

    def read(self, size=1):
        out = bytes(self.tx[:size])
        del self.tx[:size]
        return out

    def close(self):
        self.closed = True


def test_run_session_keeps_window_and_order():
    in_fmt, out_fmt = VectorFormat(3, 4, True), VectorFormat(3, 5, True)
    q = np.random.default_rng(0).integers(-8, 8, size=(30, 3))
    sent = []

    class Recording(FakeBoard):
        def write(self, data):
            sent.append(bytes(data))
            return super().write(data)

    board = Recording(in_fmt, out_fmt, InfoReply(12, 15, 0), lambda v: (2 * v).tolist())
    res = run_session(board, in_fmt, out_fmt, q, window=3)
    assert res.outputs.tolist() == (2 * q).tolist()
    assert sent == [encode_infer(row, in_fmt) for row in q]
    assert res.bytes_sent == 30 * (1 + in_fmt.n_bytes) and res.bytes_received == 30 * (1 + out_fmt.n_bytes)


def test_run_session_times_out_on_a_silent_board():
    fmt = VectorFormat(1, 8, False)
    board = FakeBoard(fmt, fmt, InfoReply(8, 8, 0), lambda v: v.tolist(), silent=True)
    with pytest.raises(BoardTimeout, match="no answer from the board"):
        run_session(board, fmt, fmt, np.zeros((2, 1), dtype=int), timeout_s=0.2)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("deploy")
    return generated_run(make_tiny_mlp(d / "tiny_mlp.onnx"), d / "run")


def _reference_board(design, corrupt_sample=None):
    from hwflow.ir import ReferenceExecutor, load_model

    ex = ReferenceExecutor(load_model(design.model))
    count = {"n": 0}

    def fn(q):
        y = ex.run(design.input.to_real(q).reshape(1, -1))
        out = design.output.to_ints(np.asarray(y).reshape(1, -1))[0]
        if count["n"] == corrupt_sample:
            out[0] = (out[0] + 1) % (design.output.int_max + 1)
        count["n"] += 1
        return out.tolist()

    info = InfoReply(design.input.tdata_width, design.output.tdata_width, design.design_id)
    return FakeBoard(design.input, design.output, info, fn)


def test_deploy_compares_with_reference_and_reports_throughput(tiny_run):
    r = deploy(tiny_run.run_dir, "icebreaker", samples=25, transport=_reference_board(tiny_run))
    rec = read_json(tiny_run.run_dir / "deploy.json")
    assert rec["status"] == "complete" and rec["samples"] == 25 and rec["mismatches"] == 0
    assert r["inferences_per_s"] > 0
    # 36-bit input = 5 bytes, 20-bit output = 3 bytes: 6-byte request frames set the pace
    assert r["uart_bound_inferences_per_s"] == round(115200 / 60, 2)


def test_deploy_reports_first_mismatch(tiny_run):
    with pytest.raises(MismatchError, match="1 of 25 board answers differ.*first: sample 7"):
        deploy(tiny_run.run_dir, "icebreaker", samples=25, transport=_reference_board(tiny_run, corrupt_sample=7))
    assert read_json(tiny_run.run_dir / "deploy.json")["first_mismatch"]["sample"] == 7


def test_deploy_refuses_a_board_with_another_design(tiny_run):
    board = _reference_board(tiny_run)
    board.info = InfoReply(board.info.in_width, board.info.out_width, board.info.design_id ^ 1)
    with pytest.raises(ConfigError, match="the board runs another design"):
        deploy(tiny_run.run_dir, "icebreaker", samples=3, transport=board)


def test_deploy_reads_inputs_from_npy(tiny_run, tmp_path):
    x = np.array([[0.125 * i - 2 for i in range(6)], [1.0] * 6])
    np.save(tmp_path / "x.npy", x)
    r = deploy(tiny_run.run_dir, "icebreaker", inputs=tmp_path / "x.npy", transport=_reference_board(tiny_run))
    assert r["samples"] == 2 and r["mismatches"] == 0


def test_deploy_cli_without_a_serial_port(tiny_run):
    from typer.testing import CliRunner

    from hwflow.cli import app

    res = CliRunner().invoke(app, ["deploy", str(tiny_run.run_dir), "--board", "icebreaker",
                                   "--port", "/dev/hwflow-no-such-port", "--samples", "3"])
    assert res.exit_code == ConfigError.exit_code, res.output
    assert "cannot open serial port /dev/hwflow-no-such-port" in res.output


def test_deploy_uses_the_baud_rate_of_the_bitstream(tiny_run, monkeypatch):
    from hwflow.artifacts import write_json
    from hwflow.synth import deploy as deploy_mod

    write_json(tiny_run.run_dir / "bitstream.json", {"stage": "bitstream", "status": "complete",
                                                     "board": "icebreaker", "baud": 57600})
    opened = {}

    def fake_open(port, baud, timeout_s=0.05):
        opened["baud"] = baud
        return _reference_board(tiny_run)

    monkeypatch.setattr(deploy_mod, "open_serial", fake_open)
    try:
        r = deploy(tiny_run.run_dir, "icebreaker", samples=3)
    finally:
        (tiny_run.run_dir / "bitstream.json").unlink()
    assert opened["baud"] == 57600 and r["uart_bound_inferences_per_s"] == round(57600 / 60, 2)
