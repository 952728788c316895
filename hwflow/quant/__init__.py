"""Quantizers that the frameworks lack: BiPer (``biper_keras``, ``biper_torch``) and fixed
power-of-two grids (``fixed_torch``). Framework modules are imported on demand only."""

from __future__ import annotations

import os


def check_fixed_bits(bits, integer=0) -> None:
    """A fixed-point quantizer's widths (both frameworks' zoo models take them as options):
    ``bits`` an int >= 2 (sign + at least one more bit), ``integer`` an int; else ConfigError."""
    from hwflow.errors import ConfigError

    if not (isinstance(bits, int) and not isinstance(bits, bool) and bits >= 2):
        raise ConfigError(f"fixed-point quantizer needs bits >= 2, got {bits!r}")
    if not (isinstance(integer, int) and not isinstance(integer, bool)):
        raise ConfigError(f"fixed-point quantizer needs an integer number of integer bits, got {integer!r}")


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
