"""Issue #17 building blocks: identifiers, the file gate, the executor's memory estimate."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from hwflow.artifacts import (RESERVED_WORDS, check_input_file, file_digest, load_array_file,
                              sanitize_identifier, stage)
from hwflow.errors import InvalidInputsFile, InvalidModelFile, TooLarge

sys.path.insert(0, str(Path(__file__).parent))
from hostile.make_corpus import Net  # noqa: E402

pytestmark = pytest.mark.unit

IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
HOSTILE = ["module", "endmodule", "input", "output", "wire", "reg", "logic", "always_ff", "class", "int",
           "return", "namespace", "template", "main", "std", "ap_fixed", "", "_", "__init__", "0day", "a-b",
           "a b", "../../etc/passwd", "$(rm -rf ~)", "`id`", "x;y", "n\u00f6de", "\u202eevil", "a\nb", "\\escaped ",
           "x" * 5000, "module" + "_" * 200, "\x00", "\ud800"]


@pytest.mark.parametrize("name", HOSTILE)
def test_sanitized_identifiers_are_safe_everywhere(name):
    s = sanitize_identifier(name)
    assert IDENT.match(s), s
    assert s not in RESERVED_WORDS
    assert len(s) <= 120
    assert sanitize_identifier(s) == s  # idempotent: a safe name stays as it is


def test_reserved_word_lists_cover_the_languages():
    for w in ("module", "endmodule", "always_comb", "interface", "class", "typedef", "constexpr", "co_await",
              "namespace", "template", "int", "void"):
        assert w in RESERVED_WORDS
    assert sanitize_identifier("module") == "n_module"
    assert sanitize_identifier("Module") == "Module"  # both languages are case-sensitive


def test_long_names_stay_distinct():
    a, b = "layer" * 100 + "A", "layer" * 100 + "B"
    assert sanitize_identifier(a) != sanitize_identifier(b)


def test_file_gate_names_each_kind(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"abc")
    assert check_input_file(f).st_size == 3
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    for p, words in ((tmp_path / "fifo", "FIFO"), (tmp_path / "zero", "device"), (tmp_path, "directory"),
                     (tmp_path / "dangling", "symbolic link"), (tmp_path / "missing", "does not exist")):
        with pytest.raises(InvalidModelFile, match=words):
            check_input_file(p)
    with pytest.raises(TooLarge, match="HWFLOW_MAX_MODEL_BYTES"):
        check_input_file(f, max_bytes=2)
    # stage inputs pass the gate before hashing; file_digest itself never blocks on a FIFO
    with pytest.raises(InvalidModelFile, match="FIFO"):
        with stage(tmp_path / "run", "s", inputs={"model": tmp_path / "fifo"}):
            pass
    with pytest.raises(InvalidModelFile, match="FIFO"):
        file_digest(tmp_path / "fifo")


def test_inputs_policy(tmp_path):
    ok = tmp_path / "ok.npy"
    np.save(ok, np.arange(16, dtype=np.int16).reshape(2, 8))
    assert load_array_file(ok).dtype == np.int16
    for arr, words in ((np.array([1 + 2j]), "complex"), (np.array([np.nan]), "finite"), (np.array(["a"]), "text")):
        p = tmp_path / "bad.npy"
        np.save(p, arr)
        with pytest.raises(InvalidInputsFile, match=words):
            load_array_file(p)


def test_executor_refuses_a_batch_over_the_memory_limit(monkeypatch):
    from hwflow.ir import ReferenceExecutor, clean_model, load_model

    m = clean_model(load_model(Net().bytes()), input_type=None, strip_preprocessing=False)
    ex = ReferenceExecutor(m)
    per = ex.per_sample_bytes()[0]
    x = np.random.default_rng(0).uniform(-2, 2, (100, 8)).astype(np.float32)
    full = ex.run(x)
    monkeypatch.setenv("HWFLOW_MAX_EXEC_BYTES", str(per * 10))
    with pytest.raises(TooLarge, match="HWFLOW_MAX_EXEC_BYTES") as e:
        ex.run(x)
    assert "largest tensor" in str(e.value)
    # run_batched splits the batch into chunks that fit, with the same result
    np.testing.assert_array_equal(ex.run_batched(x), full)
