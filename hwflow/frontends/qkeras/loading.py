"""Loading QKeras model files without executing code from them.

The JSON configuration (of a ``.json`` architecture, an HDF5 file's ``model_config`` or a
``.keras`` archive's ``config.json``) is checked for ``Lambda``-like layers, serialised
functions and objects from foreign modules *before* Keras deserialises anything.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from hwflow.errors import InvalidModelFile, ModelError, UnsupportedOp


_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFLambda"}
_SAFE_MODULE_PREFIXES = ("keras", "tf_keras", "qkeras", "hwflow", "builtins")


def _check_config_safe(cfg: Any, where: str) -> None:
    """Reject configurations that would make Keras execute or import code."""
    if isinstance(cfg, dict):
        cls = cfg.get("class_name")
        if isinstance(cls, str) and cls in _CODE_LAYERS:
            name = (cfg.get("config") or {}).get("name", cls)
            raise UnsupportedOp(
                f"{cls} layer refused: loading it would deserialise and run Python code "
                "from the model file",
                node=str(name),
                path=where,
            )
        mod = cfg.get("module")
        if isinstance(mod, str) and not mod.startswith(_SAFE_MODULE_PREFIXES):
            raise UnsupportedOp(
                f"object of class {cls!r} from module {mod!r} refused (only keras/qkeras/hwflow "
                "objects are loaded)",
                path=where,
            )
        if "function_type" in cfg or ("function" in cfg and cls is None):
            raise UnsupportedOp("serialised Python function refused", path=where)
        for v in cfg.values():
            _check_config_safe(v, where)
    elif isinstance(cfg, list):
        for v in cfg:
            _check_config_safe(v, where)


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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidModelFile(f"not a Keras JSON model: {e}", path=str(path)) from None


def _weights_beside(json_path: Path) -> Path | None:
    for cand in (
        json_path.with_name(json_path.stem + "_weights.h5"),
        json_path.with_suffix(".h5"),
        json_path.with_name(json_path.stem + ".weights.h5"),
    ):
        if cand.is_file():
            return cand
    return None


def load_keras_model(path: str | Path, weights: str | Path | None = None):
    """Load a QKeras model from ``.json`` (+ ``.h5`` weights), ``.h5`` or ``.keras``.

    The architecture is checked by :func:`_check_config_safe` before Keras sees it; Lambda
    layers raise ``UnsupportedOp`` naming the layer. For ``.json`` the weights file is
    ``weights`` or, if omitted, ``<stem>_weights.h5`` / ``<stem>.h5`` beside it.
    """
    from hwflow.quant import keras_env

    tf, keras = keras_env()
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFile("model file not found", path=str(path))
    objs = custom_objects()
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            cfg = _read_json(path)
            _check_config_safe(cfg, str(path))
            model = keras.models.model_from_json(json.dumps(cfg), custom_objects=objs)
            wpath = Path(weights) if weights else _weights_beside(path)
            if wpath is None:
                raise InvalidModelFile(
                    "no weights file found beside the JSON architecture (<stem>_weights.h5)",
                    path=str(path),
                )
            model.load_weights(str(wpath))
            return model
        if suffix in (".h5", ".hdf5"):
            import h5py

            try:
                with h5py.File(path, "r") as f:
                    raw = f.attrs.get("model_config")
            except OSError as e:
                raise InvalidModelFile(f"not an HDF5 file: {e}", path=str(path)) from None
            if raw is None:
                raise InvalidModelFile(
                    "HDF5 file has no model architecture (weights only?); pass the .json",
                    path=str(path),
                )
            _check_config_safe(json.loads(raw if isinstance(raw, str) else raw.decode()), str(path))
            return keras.models.load_model(str(path), custom_objects=objs, compile=False)
        if suffix == ".keras":
            try:
                with zipfile.ZipFile(path) as z:
                    cfg = json.loads(z.read("config.json"))
            except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
                raise InvalidModelFile(f"not a .keras archive: {e}", path=str(path)) from None
            _check_config_safe(cfg, str(path))
            return keras.models.load_model(
                str(path), custom_objects=objs, compile=False, safe_mode=True
            )
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise InvalidModelFile(f"Keras could not load the model: {type(e).__name__}: {e}",
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
