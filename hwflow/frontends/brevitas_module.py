"""``hwflow export net.py --class Net [--weights w.pt] [--input-shape 1,28,28]``: a user's
own Brevitas ``nn.Module`` -> QONNX.

The Python file is the user's own code and runs as any import does (it defines the class);
the weights file is read with ``torch.load(..., weights_only=True)`` (``read_weights_file``),
so no pickled object in it is ever executed. The input shape (one sample, without the batch
axis) comes from ``--input-shape`` or the class's ``INPUT_SHAPE`` attribute. The export is
checked against the module's own forward pass, as zoo exports are.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from hwflow.errors import ConfigError, InvalidModelFile, MismatchError


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        shape = ()
    if not shape or any(v < 1 for v in shape):
        raise ConfigError(f"--input-shape {text!r}: give the shape of one sample, e.g. 1,28,28 or 16")
    return shape


def load_module_class(path: str | os.PathLike, class_name: str):
    """The class ``class_name`` defined in the Python file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFile("Python model file does not exist", path=str(path))
    spec = importlib.util.spec_from_file_location(f"hwflow_user_model_{abs(hash(str(path.resolve())))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling-free torch code look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise InvalidModelFile(f"importing the model file failed: {type(e).__name__}: {e}", path=str(path)) from e
    cls = getattr(module, class_name, None)
    if cls is None or not isinstance(cls, type):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == spec.name)
        raise ConfigError(f"{path} defines no class {class_name!r} (classes: {', '.join(found) or 'none'})")
    return cls


def export_module_file(path: str | os.PathLike, out_path: str | os.PathLike, class_name: str | None = None,
                       weights: str | os.PathLike | None = None, input_shape: str | tuple | None = None,
                       check_samples: int = 1000) -> Path:
    import torch

    from hwflow.frontends.brevitas import export_brevitas, read_weights_file

    if not class_name:
        raise ConfigError(f"{path}: name the nn.Module class to export (--class NAME)")
    cls = load_module_class(path, class_name)
    if not issubclass(cls, torch.nn.Module):
        raise ConfigError(f"{class_name} in {path} is not a torch.nn.Module")
    try:
        net = cls()
    except TypeError as e:
        raise ConfigError(f"{class_name}() needs arguments ({e}); give it defaults") from e
    if weights is not None:
        state, _meta = read_weights_file(weights)  # weights_only=True: tensors, never pickled code
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise InvalidModelFile(f"weights do not fit {class_name}: {str(e).splitlines()[0]}", path=str(weights)) \
                from e
    shape = input_shape if isinstance(input_shape, tuple) else \
        parse_shape(input_shape) if input_shape else getattr(cls, "INPUT_SHAPE", None)
    if shape is None:
        raise ConfigError(f"give the input shape of one sample (--input-shape 1,28,28), or set {class_name}.INPUT_SHAPE")
    out = export_brevitas(net, out_path, tuple(int(v) for v in shape))
    if check_samples:
        from hwflow.ir import load_model, make_stimulus

        x = make_stimulus(load_model(str(out)), n=check_samples + 5, seed=0, corners=True)
        try:
            check_float_export(net, out, np.asarray(x, np.float32))
        except BaseException:
            os.unlink(out)  # a mismatch (or Ctrl-C) leaves no file that looks like a finished export
            raise
    return Path(out)


def check_float_export(net, onnx_path, x: np.ndarray) -> dict:
    """Brevitas' forward vs the exported graph's reference execution. Brevitas' default
    quantizers carry float scales, multiplied in float32 in a different order by PyTorch
    and by the graph, so the bound is float32 rounding (1e-5 of the largest output); the
    hardware later computes the streamlined graph exactly (docs/streamlining.md)."""
    from hwflow.frontends.brevitas import reference_forward, torch_forward

    y_t = torch_forward(net, x)
    y_r = reference_forward(onnx_path, x).reshape(y_t.shape)
    diff = np.abs(y_t - y_r)
    tol = 1e-5 * max(1.0, float(np.abs(y_t).max()) if y_t.size else 1.0)
    bad = np.nonzero(np.any((diff > tol).reshape(len(x), -1), axis=1))[0]
    if len(bad):
        i = int(bad[0])
        raise MismatchError(f"{onnx_path}: Brevitas and the QONNX reference differ beyond float32 rounding ({tol:.3g}) "
                            f"on {len(bad)} of {len(x)} samples; first sample {i}: brevitas {y_t[i].ravel()[:8]} vs "
                            f"reference {y_r[i].ravel()[:8]}")
    return {"samples": int(len(x)), "max_abs_diff": float(diff.max()) if diff.size else 0.0, "tolerance": tol}


__all__ = ["export_module_file", "load_module_class", "parse_shape"]
