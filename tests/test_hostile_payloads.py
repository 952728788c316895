"""Issue #17: the corpus's code payloads are live. Loaded by Keras without hwflow's checks
(safe mode off) they do write the marker file, so a marker-free corpus run means hwflow
ran none of them, not that the payloads were duds."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hostile.make_corpus import make_corpus  # noqa: E402


def test_payloads_write_the_marker_when_their_code_runs(tmp_path):
    from hwflow.quant import keras_env

    tf, keras = keras_env()
    from tf_keras.src.saving import serialization_lib

    marker = tmp_path / "MARKER"
    files = tmp_path / "files"
    make_corpus(files, marker)
    assert not marker.exists()

    # a Lambda layer: Keras runs the function while building the model
    with serialization_lib.SafeModeScope(False):
        keras.models.model_from_json((files / "keras_lambda_layer.json").read_text())
    assert marker.exists()
    marker.unlink()

    # tf_keras' ResidualWrapper: the marshalled residual_fn (not under function_type) runs when called
    cfg = json.loads((files / "keras_residual_wrapper.json").read_text())
    cell = cfg["config"]["layers"][1]["config"]["cell"]
    with serialization_lib.SafeModeScope(False):
        wrapper = keras.layers.deserialize(cell)
    wrapper._residual_fn(1, 2)
    assert marker.exists()
    marker.unlink()

    # the pickle payloads (an inputs file, a torch checkpoint) open the marker when unpickled
    pickle.loads((files / "torch_pickle_bomb.pt").read_bytes())
    assert marker.exists()
