"""Loading QKeras model files without executing code from them.

The JSON configuration (of a ``.json`` architecture, an HDF5 file's ``model_config`` or a
``.keras`` archive's ``config.json``) is checked *before* Keras deserialises anything:
only whitelisted classes and configuration keys, no marshalled code under any key, no
foreign modules, bounded nesting. Keras then loads under safe mode.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from hwflow.errors import InvalidModelFile, ModelError, UnsupportedOp


_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFLambda"}
_SAFE_MODULE_PREFIXES = ("keras", "tf_keras", "qkeras", "hwflow", "builtins")
MAX_DEPTH = 64               # a real model's config nests < 20 deep
MAX_CONFIG_BYTES = 64 << 20  # JSON architecture / .keras config.json / HDF5 model_config

# Every class a configuration may name: the layers hwflow's exporter knows (plus a few
# harmless ones it refuses later with a better message), the models around them, and the
# initializers, regularizers, constraints, quantizers and serialisation helpers inside them.
# Anything else (Lambda, RNN cell wrappers carrying marshalled functions, custom classes) is
# refused before Keras deserialises a byte.
ALLOWED_CLASSES = frozenset("""
Sequential Functional Model InputLayer
Dense Conv2D DepthwiseConv2D Conv2DTranspose Activation ReLU Softmax BatchNormalization MaxPooling2D
AveragePooling2D GlobalAveragePooling2D GlobalMaxPooling2D Flatten Reshape Dropout
QDense QConv2D QConv1D QDepthwiseConv2D QSeparableConv2D QActivation QAveragePooling2D
QGlobalAveragePooling2D QBatchNormalization QInitializer Clip
quantized_bits quantized_relu quantized_po2 quantized_relu_po2 quantized_ulaw quantized_tanh
quantized_sigmoid quantized_hswish quantized_linear binary stochastic_binary bernoulli ternary
stochastic_ternary
BiPerWeight ApproxSign SignSTE BiPerActivation BinaryScale hwflow>BiPerWeight hwflow>ApproxSign
hwflow>SignSTE hwflow>BiPerActivation hwflow>BinaryScale
GlorotUniform GlorotNormal HeUniform HeNormal LecunUniform LecunNormal RandomUniform RandomNormal
TruncatedNormal VarianceScaling Zeros Ones Constant Orthogonal Identity
L1 L2 L1L2 MaxNorm NonNeg UnitNorm MinMaxNorm
Policy DTypePolicy __keras_tensor__ __tuple__ __numpy__ TensorShape
""".split())

# Every key a configuration (the "config" of a class above) may hold: what get_config() of
# those classes writes. An unknown key is refused: it is how marshalled code hides
# (tf_keras ResidualWrapper's residual_fn + residual_fn_type "lambda").
ALLOWED_CONFIG_KEYS = frozenset("""
name trainable dtype units activation use_bias kernel_initializer bias_initializer kernel_regularizer
bias_regularizer activity_regularizer kernel_constraint bias_constraint filters kernel_size strides
padding data_format dilation_rate groups depth_multiplier depthwise_initializer depthwise_regularizer
depthwise_constraint pointwise_initializer pointwise_regularizer pointwise_constraint output_padding
axis momentum epsilon center scale beta_initializer gamma_initializer moving_mean_initializer
moving_variance_initializer beta_regularizer gamma_regularizer beta_constraint gamma_constraint
pool_size keepdims target_shape rate noise_shape seed max_value negative_slope threshold
batch_input_shape batch_shape input_shape batch_size sparse ragged optional input_layers output_layers
layers build_input_shape kernel_quantizer bias_quantizer depthwise_quantizer pointwise_quantizer
kernel_range bias_range depthwise_range average_quantizer beta_quantizer gamma_quantizer
mean_quantizer variance_quantizer beta_range gamma_range initializer quantizer use_scale
bits integer symmetric keep_negative alpha use_stochastic_rounding qnoise_factor relu_upper_bound
use_sigmoid log2_rounding quadratic_approximation use_01 number_of_unrolls elements_per_scale
min_po2_exponent max_po2_exponent var_name scale_axis use_variables use_real_sigmoid u
binarize w0 log2_period alpha_init minval maxval mean stddev mode distribution gain value
l1 l2 min_value rate shape keras_history class_name module registered_name config
""".split())

# keys beside class_name/config in a serialised object (layer entries of a model, nested
# objects of the .keras format)
ALLOWED_OBJECT_KEYS = frozenset("""
class_name config module registered_name name inbound_nodes build_config compile_config
keras_version backend shared_object_id __passive_serialization__
""".split())

# callables a quantizer/activation *string* may name ("quantized_bits(4,0,1)"): QKeras
# resolves the name in its quantizers module's globals, so only these
ALLOWED_FUNCTIONS = frozenset("""
quantized_bits quantized_relu quantized_po2 quantized_relu_po2 quantized_ulaw quantized_tanh
quantized_sigmoid quantized_hswish quantized_linear binary stochastic_binary bernoulli ternary
stochastic_ternary linear relu relu6 softmax sigmoid hard_sigmoid tanh elu selu softplus softsign
exponential swish gelu
""".split())
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\(.*\))?\s*$", re.S)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{16,}$")


def _looks_marshalled(s: str) -> bool:
    """A base64 string decoding to a marshalled code object (Keras' func_dump format)."""
    if not _BASE64.match(s):
        return False
    try:
        raw = base64.b64decode("".join(s.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 12 and raw[0] in (0x63, 0xE3)  # TYPE_CODE, with or without FLAG_REF


def _check_config_safe(cfg: Any, where: str) -> None:
    """Refuse configurations that would make Keras execute or import code.

    Checked on the raw JSON before Keras sees it: the top level is one object; nesting
    stays within ``MAX_DEPTH``; every ``class_name`` is in ``ALLOWED_CLASSES`` and every key
    of its ``config`` in ``ALLOWED_CONFIG_KEYS``; no string is marshalled code, whatever
    its key; quantizer/activation strings name only ``ALLOWED_FUNCTIONS``; modules are
    Keras', QKeras' or hwflow's."""
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise InvalidModelFile(f"not a Keras model configuration: the top level is a "
                               f"{type(cfg).__name__}, not an object with a class_name", path=where)
    _check_depth(cfg, where)
    stack = [(cfg, 0, None)]
    while stack:
        node, depth, key = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidModelFile(f"Keras configuration nested deeper than {MAX_DEPTH} levels: refused",
                                   path=where)
        if isinstance(node, dict):
            _check_object(node, where)
            stack.extend((v, depth + 1, k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, key) for v in node)
        elif isinstance(node, str):
            _check_string(node, key, where)


def _check_depth(cfg: Any, where: str) -> None:
    stack = [(cfg, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidModelFile(f"Keras configuration nested deeper than {MAX_DEPTH} levels: refused",
                                   path=where)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _check_object(d: dict, where: str) -> None:
    for k in d:
        if not isinstance(k, str):
            raise InvalidModelFile("Keras configuration has a non-string key", path=where)
    cls = d.get("class_name")
    if cls is None:
        if "function_type" in d or "function" in d:
            raise UnsupportedOp("serialised Python function refused", path=where)
        return
    cfg = d.get("config")
    name = cfg.get("name", cls) if isinstance(cfg, dict) else cls
    if not isinstance(cls, str) or cls in _CODE_LAYERS or cls not in ALLOWED_CLASSES:
        what = ("loading it would deserialise and run Python code from the model file"
                if cls in _CODE_LAYERS else "not a layer or object hwflow loads (no custom or code-carrying "
                "classes; supported: Q/Dense, Q/Conv2D, QDepthwiseConv2D, QActivation, pooling, "
                "BatchNormalization, Flatten, Reshape, BiPer)")
        raise UnsupportedOp(f"{cls!r} refused: {what}", node=str(name), path=where)
    extra = sorted(k for k in d if k not in ALLOWED_OBJECT_KEYS)
    if extra:
        raise UnsupportedOp(f"{cls} entry key {extra[0]!r} refused (not part of a serialised Keras object; "
                            "unknown keys can carry serialised code)", node=str(name), path=where)
    mod = d.get("module")
    if mod is not None and (not isinstance(mod, str) or not mod.startswith(_SAFE_MODULE_PREFIXES)):
        raise UnsupportedOp(f"object of class {cls!r} from module {mod!r} refused (only keras/qkeras/hwflow "
                            "objects are loaded)", node=str(name), path=where)
    if isinstance(cfg, dict):
        unknown = sorted(k for k in cfg if k not in ALLOWED_CONFIG_KEYS)
        if unknown:
            raise UnsupportedOp(f"{cls} configuration key {unknown[0]!r} refused (not a key of a supported "
                                "layer; unknown keys can carry serialised code)", node=str(name), path=where)


def _check_string(s: str, key, where: str) -> None:
    if _looks_marshalled(s):
        raise UnsupportedOp(f"value of {key!r} is marshalled Python code: refused (it would run when "
                            "Keras loads the model)", path=where)
    if isinstance(key, str) and (key.endswith("quantizer") or key == "activation"):
        m = _CALL.match(s)
        if m is None or m.group(1) not in ALLOWED_FUNCTIONS:
            raise UnsupportedOp(f"{key} {s[:80]!r} refused: not a QKeras quantizer or Keras activation "
                                f"({', '.join(sorted(ALLOWED_FUNCTIONS)[:6])}, ...)", path=where)


def custom_objects() -> dict[str, Any]:
    """QKeras' custom objects plus hwflow's BiPer quantizers and layers."""
    from hwflow.quant import keras_env

    keras_env()
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict[str, Any] = {}
    _add_supported_quantized_objects(objs)
    from hwflow.quant import biper_keras

    objs.update(biper_keras.custom_objects())
    return objs


def _parse_json(text: str | bytes, where: str) -> Any:
    if len(text) > MAX_CONFIG_BYTES:
        raise InvalidModelFile(f"Keras configuration is {len(text):,} bytes, over {MAX_CONFIG_BYTES:,}",
                               path=where)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        msg = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise InvalidModelFile(f"not a Keras JSON model: {msg}", path=where) from None


def _read_json(path: Path) -> Any:
    from hwflow.artifacts import read_input_file

    return _parse_json(read_input_file(path, "Keras JSON model", max_bytes=MAX_CONFIG_BYTES), str(path))


def _weights_beside(json_path: Path) -> Path | None:
    for cand in (
        json_path.with_name(json_path.stem + "_weights.h5"),
        json_path.with_suffix(".h5"),
        json_path.with_name(json_path.stem + ".weights.h5"),
    ):
        if cand.is_file():
            return cand
    return None


def _safe_mode():
    """Keras safe mode for every load: ``load_model(safe_mode=True)`` covers only the
    .keras format; the scope reaches legacy JSON/HDF5 deserialisation too (Lambda layers
    and ``__lambda__`` objects refuse to unmarshal code in it)."""
    from tf_keras.src.saving import serialization_lib

    return serialization_lib.SafeModeScope(True)


def _h5_config(path: Path) -> Any:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except (OSError, ValueError) as e:
        raise InvalidModelFile(f"not an HDF5 file: {' '.join(str(e).split())[:200]}", path=str(path)) from None
    if raw is None:
        raise InvalidModelFile("HDF5 file has no model architecture (weights only?); pass the .json",
                               path=str(path))
    if not isinstance(raw, (str, bytes)):
        raise InvalidModelFile("HDF5 model_config is not a JSON string", path=str(path))
    return _parse_json(raw, str(path))


def load_keras_model(path: str | Path, weights: str | Path | None = None):
    """Load a QKeras model from ``.json`` (+ ``.h5`` weights), ``.h5`` or ``.keras``.

    The file passes the file gate (regular file within the size limit); its architecture
    is checked by :func:`_check_config_safe` (class and key whitelists, no marshalled code)
    before Keras sees it, and Keras then deserialises under safe mode. Lambda layers raise
    ``UnsupportedOp`` naming the layer. For ``.json`` the weights file is ``weights`` or, if
    omitted, ``<stem>_weights.h5`` / ``<stem>.h5`` beside it.
    """
    from hwflow.artifacts import check_input_file
    from hwflow.quant import keras_env

    tf, keras = keras_env()
    path = Path(path)
    check_input_file(path, "Keras model file")
    objs = custom_objects()
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            cfg = _read_json(path)
            _check_config_safe(cfg, str(path))
            wpath = Path(weights) if weights else _weights_beside(path)
            if wpath is None:
                raise InvalidModelFile(
                    "no weights file found beside the JSON architecture (<stem>_weights.h5)",
                    path=str(path),
                )
            check_input_file(wpath, "Keras weights file")
            with _safe_mode():
                model = keras.models.model_from_json(json.dumps(cfg), custom_objects=objs)
                model.load_weights(str(wpath))
            return model
        if suffix in (".h5", ".hdf5"):
            _check_config_safe(_h5_config(path), str(path))
            with _safe_mode():
                return keras.models.load_model(str(path), custom_objects=objs, compile=False)
        if suffix == ".keras":
            try:
                with zipfile.ZipFile(path) as z:
                    info = z.getinfo("config.json")
                    if info.file_size > MAX_CONFIG_BYTES:
                        raise InvalidModelFile(f"config.json unpacks to {info.file_size:,} bytes", path=str(path))
                    raw = z.read(info)
            except (zipfile.BadZipFile, KeyError, OSError, RuntimeError) as e:
                raise InvalidModelFile(f"not a .keras archive: {e}", path=str(path)) from None
            _check_config_safe(_parse_json(raw, str(path)), str(path))
            with _safe_mode():
                return keras.models.load_model(
                    str(path), custom_objects=objs, compile=False, safe_mode=True
                )
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, OSError, AttributeError, IndexError, RecursionError,
            NotImplementedError, RuntimeError, tf.errors.OpError) as e:
        # the configuration passed the whitelists but Keras/QKeras/TensorFlow refuse it
        # (a negative bit width, a shape that does not fit the weights, a truncated file)
        msg = " ".join(str(e).split())[:400]
        raise InvalidModelFile(f"Keras could not load the model: {type(e).__name__}: {msg}",
                               path=str(path)) from None
    raise InvalidModelFile(
        f"unsupported Keras model file type {suffix!r} (use .json+.h5, .h5 or .keras)",
        path=str(path),
    )


def load_trained(trained):
    """A Keras model from ``trained``: a model object, a model file, or a run directory
    written by ``hwflow train`` (``model.keras`` inside)."""
    if trained is None or hasattr(trained, "layers"):
        return trained
    p = Path(trained)
    if p.is_dir():
        for cand in ("model.keras", "model.h5", "model.json"):
            if (p / cand).is_file():
                return load_keras_model(p / cand)
        raise InvalidModelFile("no model.keras/.h5/.json in the run directory", path=str(p))
    return load_keras_model(p)
