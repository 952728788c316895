"""Quantizers that the frameworks lack: BiPer (``biper_keras``, ``biper_torch``) and fixed
power-of-two grids (``fixed_torch``). Framework modules are imported on demand only."""

from __future__ import annotations

import os


def keras_env():
    """Import TensorFlow with the legacy Keras 2 (tf-keras) that QKeras needs.

    ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported; returns
    ``(tf, keras)`` where ``keras`` is ``tf.keras`` (tf-keras 2.x).
    """
    import sys

    already = "tensorflow" in sys.modules
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if not tf.keras.layers.Layer.__module__.startswith("tf_keras"):
        version = getattr(tf.keras, "__version__", "?")
        from hwflow.errors import ConfigError

        raise ConfigError(
            f"TensorFlow was imported with Keras {version}; QKeras needs tf-keras 2: set "
            "TF_USE_LEGACY_KERAS=1 before anything imports TensorFlow"
            + (" (TensorFlow was already imported when hwflow needed it)" if already else ""))
    return tf, tf.keras
