"""Liberty cell models: a cell file hwflow cannot model is a ConfigError naming the cell and
what is missing, not a KeyError/ValueError from deep inside."""

import pytest

from hwflow.errors import ConfigError
from hwflow.power.cell_models import cell_verilog, read_cells

pytestmark = pytest.mark.unit

GOOD_DFF = """
library (t) {
  cell (DFFX) {
    ff (IQ, IQN) { clocked_on : "CLK"; next_state : "D"; }
    pin (CLK) { direction : input; }
    pin (D) { direction : input; }
    pin (Q) { direction : output; function : "IQ"; }
  }
}
"""


def _lib(tmp_path, text):
    p = tmp_path / "t.lib"
    p.write_text(text)
    return p


def test_a_flip_flop_becomes_a_clocked_model(tmp_path):
    v = cell_verilog(read_cells(_lib(tmp_path, GOOD_DFF))["DFFX"])
    assert "always @(posedge hw_clk) IQ <= D;" in v and "assign Q = IQ;" in v


@pytest.mark.parametrize("text,match", [
    (GOOD_DFF.replace("(IQ, IQN)", "(IQ)"), "DFFX: ff.*two state variables"),
    (GOOD_DFF.replace('clocked_on : "CLK"; ', ""), "DFFX: its ff group has no clocked_on"),
    (GOOD_DFF.replace('next_state : "D"; ', ""), "DFFX: its ff group has no next_state"),
    (GOOD_DFF.replace("ff (IQ, IQN) { clocked_on : \"CLK\"; next_state : \"D\"; }",
                      "latch (IQ, IQN) { data_in : \"D\"; }"), "DFFX: its latch group has no enable"),
])
def test_incomplete_sequential_cells_are_config_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        cell_verilog(read_cells(_lib(tmp_path, text))["DFFX"])
