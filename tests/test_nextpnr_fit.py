"""nextpnr's placement failures become FitError (exit 8) with the utilisation and a hint;
other failures stay ToolFailed. The log excerpt is nextpnr-ice40 0.11's own output for the
demo model's fastest folding on the iCEBreaker (4,698 of 5,280 cells, not placeable)."""

from pathlib import Path

import pytest

from hwflow.boards import load_board
from hwflow.errors import FitError
from hwflow.synth.nextpnr import placement_failure

pytestmark = pytest.mark.unit

EXCERPT = Path(__file__).with_name("data") / "synth" / "nextpnr_ice40_unplaceable.log"


def test_unplaceable_design_is_a_fit_error(tmp_path):
    err = placement_failure(EXCERPT, load_board("icebreaker"))
    assert isinstance(err, FitError) and err.exit_code == 8
    msg = str(err)
    assert "Unable to find legal placement" in msg
    assert "ICESTORM_LC 4,698/5,280 (88%)" in msg
    assert "--throughput" in msg and "icebreaker" in msg


def test_other_failures_are_not_fit_errors(tmp_path):
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: Importing module top\nERROR: Unable to open JSON file\n")
    assert placement_failure(log, load_board("icebreaker")) is None
    assert placement_failure(tmp_path / "missing.log", load_board("icebreaker")) is None
