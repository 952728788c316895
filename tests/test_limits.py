"""Environment limits: every HWFLOW_MAX_* / grace reader rejects the same bad values."""

import pytest

from hwflow.artifacts import max_model_bytes
from hwflow.errors import ConfigError
from hwflow.ir.executor import max_exec_bytes
from hwflow.ir.validate import max_tensor_elements
from hwflow.limits import env_limit
from hwflow.tools import GRACE_ENV, run_tool

pytestmark = pytest.mark.unit

READERS = [
    ("HWFLOW_MAX_MODEL_BYTES", max_model_bytes),
    ("HWFLOW_MAX_EXEC_BYTES", max_exec_bytes),
    ("HWFLOW_MAX_TENSOR_ELEMENTS", max_tensor_elements),
]


@pytest.mark.parametrize("name,reader", READERS)
@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "lots", "0", "-5"])
def test_bad_limit_is_config_error_naming_the_variable(monkeypatch, name, reader, bad):
    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigError, match=name):
        reader()


@pytest.mark.parametrize("name,reader", READERS)
def test_limit_read_and_default(monkeypatch, name, reader):
    monkeypatch.delenv(name, raising=False)
    default = reader()
    assert default > 0 and isinstance(default, int)
    monkeypatch.setenv(name, "1e6")
    assert reader() == 1_000_000


def test_fractional_seconds():
    assert env_limit("HWFLOW_TEST_UNSET_LIMIT", 5.0, integer=False) == 5.0


def test_bad_grace_fails_before_the_tool_starts(monkeypatch, tmp_path):
    monkeypatch.setenv(GRACE_ENV, "inf")
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match=GRACE_ENV):
        run_tool(["touch", str(marker)], tool="touch")
    assert not marker.exists()
