"""The one reader of ``rtl.json`` (hwflow.backends.rtl.design): fields and error behaviour; the
one packer of stream words (``PortFormat.pack``/``unpack``) and their hex files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwflow.backends.rtl.design import PortFormat, RtlNotGenerated, load_design
from hwflow.backends.rtl.words import read_hex, write_hex
from hwflow.errors import ConfigError, MismatchError, NotBuiltYet

pytestmark = pytest.mark.unit

POWER_CORE = Path(__file__).parent / "data" / "power"


@pytest.fixture
def run(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(POWER_CORE, run)
    return run


def _edit(run: Path, **changes) -> None:
    rec = json.loads((run / "rtl.json").read_text())
    for k, v in changes.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    (run / "rtl.json").write_text(json.dumps(rec))


def test_fields(run):
    d = load_design(run)
    assert d.top == "dot_core" and d.files == ((run / "verilog" / "dot_core.v").resolve(),)
    assert (d.ii, d.latency_cycles, d.clock_port, d.reset_port, d.reset_active_high) == (1, 1, "clk", "rst", True)
    assert d.input == PortFormat(8, 4, True, 0, 1.0, (1, 8)) and d.input.tdata_width == 32
    assert d.output.tdata_width == 16 and (d.output.int_min, d.output.int_max) == (0, 255)
    assert d.weights == "hardwired" and d.model is None and d.config is None
    assert d.raw["top"] == "dot_core" and d.rtl_json == run / "rtl.json"
    first = d.design_id
    (run / "verilog" / "dot_core.v").write_text((run / "verilog" / "dot_core.v").read_text() + "\n// edited\n")
    assert load_design(run).design_id != first


def test_missing_rtl_json_names_the_command(tmp_path):
    with pytest.raises(RtlNotGenerated, match=r"rtl\.json does not exist.*hwflow rtl MODEL -o") as e:
        load_design(tmp_path)
    assert isinstance(e.value, NotBuiltYet) and isinstance(e.value, ConfigError)


@pytest.mark.parametrize("change, message", [
    ({"top": None}, "'top'"),
    ({"input": {"elements": 8, "element_width": 4, "signed": True, "frac": 0}}, "input: bad port format.*tdata_width"),
    ({"output": {"elements": 2, "element_width": 8, "signed": False, "frac": 0, "tdata_width": 17}},
     "output: tdata_width 17 != elements x element_width"),
    ({"ii": 0}, "ii must be >= 1"),
    ({"files": ["verilog/dot_core.v", "verilog/gone.v"]}, "lists Verilog files that do not exist: .*gone.v"),
    ({"config": {"addr_width": 3}}, "config: bad config port"),
])
def test_bad_records_raise_config_errors_naming_file_and_field(run, change, message):
    _edit(run, **change)
    with pytest.raises(ConfigError, match=message) as e:
        load_design(run)
    assert str(run / "rtl.json") in str(e.value) and not isinstance(e.value, NotBuiltYet)


def test_unreadable_json(run):
    (run / "rtl.json").write_text("{not json")
    with pytest.raises(ConfigError, match="rtl.json"):
        load_design(run)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("width", range(1, 18))
def test_pack_unpack_round_trip_and_bit_layout(width, signed):
    fmt = PortFormat(elements=5, element_width=width, signed=signed)
    lo, hi = fmt.int_min, fmt.int_max
    assert (lo, hi) == ((-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2 ** width - 1))
    rows = np.array([[0] * 5, [hi] * 5, [lo] * 5, [hi, lo, hi, lo, hi], [lo, hi, lo, hi, lo],
                     *np.random.default_rng(width).integers(lo, hi + 1, size=(20, 5))], dtype=np.int64)
    words = fmt.pack(rows)
    assert len(words) == len(rows)
    for w, row in zip(words, rows.tolist()):
        # element i in bits [i*EW +: EW], two's complement: written out bit by bit, independently of pack
        expect = sum(((x + 2 ** width) % 2 ** width) << (i * width) for i, x in enumerate(row))
        assert w == expect and 0 <= w < 2 ** fmt.tdata_width
    assert fmt.pack(rows[1:2])[0] == (2 ** (width - 1) - 1 if signed else 2 ** width - 1) * sum(
        2 ** (i * width) for i in range(5))
    back = fmt.unpack(words)
    assert back.dtype == np.int64 and back.shape == rows.shape and (back == rows).all()
    # most negative: only the top bit of each element set
    if signed:
        assert fmt.pack([[lo] * 5])[0] == sum(1 << (i * width + width - 1) for i in range(5))


def test_pack_takes_vectors_flattened_and_integer_valued_floats():
    fmt = PortFormat(elements=4, element_width=3, signed=True)
    q = np.array([[[1, -2], [3, -4]], [[0, 0], [-1, 1]]])
    assert fmt.pack(q) == fmt.pack(q.reshape(2, 4)) == fmt.pack(q.astype(np.float64))
    assert fmt.pack(np.zeros((0, 4), dtype=np.int64)) == [] and fmt.unpack([]).shape == (0, 4)
    wide = PortFormat(elements=2, element_width=40, signed=False)     # tdata wider than 64 bits
    assert wide.unpack(wide.pack([[2 ** 40 - 1, 5]])).tolist() == [[2 ** 40 - 1, 5]]


@pytest.mark.parametrize("q, message", [
    ([[1, 2, 3]], "vectors have 3 elements, the port takes 4"),
    ([[0, 0, 0, 4]], r"vector 0, element 3 = 4 does not fit 3 bits \(signed: \[-4, 3\]\)"),
    ([[0, 0, 0, 0], [0, -5, 0, 0]], "vector 1, element 1 = -5 does not fit 3 bits"),
    ([[0, 0.5, 0, 0]], "vector 0, element 1 = 0.5 is not an integer"),
])
def test_pack_names_shape_and_range_errors(q, message):
    with pytest.raises(ConfigError, match=message):
        PortFormat(elements=4, element_width=3, signed=True).pack(q)


def test_pack_unsigned_refuses_negative_and_unpack_refuses_wide_words():
    fmt = PortFormat(elements=2, element_width=4, signed=False)
    with pytest.raises(ConfigError, match=r"element 0 = -1 does not fit 4 bits \(unsigned: \[0, 15\]\)"):
        fmt.pack([[-1, 0]])
    with pytest.raises(ConfigError, match="word 1 = 0x100 does not fit the 8-bit tdata"):
        fmt.unpack([0xFF, 0x100])


def test_hex_files_zero_padded_and_read_back(tmp_path):
    fmt = PortFormat(elements=3, element_width=6, signed=True)   # 18 bits: 5 hex digits
    words = fmt.pack([[0, 0, 0], [-1, -1, -1], [-32, 31, 1]])
    path = write_hex(tmp_path / "s.hex", words, fmt.tdata_width)
    assert path.read_text().splitlines() == ["00000", "3ffff", "017e0"]
    assert read_hex(path) == words
    (tmp_path / "unpadded.hex").write_text("0\n3ffff\n17e0\n")     # digits not padded: read the same
    assert read_hex(tmp_path / "unpadded.hex") == words
    with pytest.raises(ConfigError, match="word 1 = 0x40000 does not fit 18 bits"):
        write_hex(tmp_path / "bad.hex", [0, 1 << 18], 18)


def test_read_hex_names_unknown_bits_and_garbage(tmp_path):
    (tmp_path / "x.hex").write_text("0f\n1x\n")
    with pytest.raises(MismatchError, match=r"x.hex: word 1 = '1x' has unknown \(x/z\) bits"):
        read_hex(tmp_path / "x.hex")
    (tmp_path / "g.hex").write_text("0f\nhello\n")
    with pytest.raises(ConfigError, match="word 1 = 'hello' is not a hex number"):
        read_hex(tmp_path / "g.hex")
