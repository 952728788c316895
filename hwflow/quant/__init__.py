"""Quantizers that the frameworks lack: BiPer (``biper_keras``, ``biper_torch``) and fixed
power-of-two grids (``fixed_torch``). Framework modules are imported on demand only."""

from __future__ import annotations

import os


def keras_env():
    """Import TensorFlow with the legacy Keras 2 (tf-keras) that QKeras needs.

    ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported; returns
    ``(tf, keras)`` where ``keras`` is ``tf.keras`` (tf-keras 2.x).
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf, tf.keras
