"""Zoo entry ``digits_cnn_8bit``: defined in ``models/digits_cnn_torch.py`` (see there)."""

from __future__ import annotations

from hwflow.zoo import load_definition

_base = load_definition("digits_cnn", "torch")

DATASET, TASK, INPUT_SHAPE, INPUT_RANGE = _base.DATASET, _base.TASK, _base.INPUT_SHAPE, _base.INPUT_RANGE
EPOCHS, TRAIN = _base.EPOCHS, _base.TRAIN
build = _base.ZOO["digits_cnn_8bit"]
ZOO = {"digits_cnn_8bit": build}
