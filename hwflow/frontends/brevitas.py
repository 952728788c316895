"""Brevitas (PyTorch) -> QONNX.

The graph comes from Brevitas' own exporter (``brevitas.export.export_qonnx``, which runs
torch's ONNX exporter); hwflow adds what Brevitas does not know:

- BiPer weights: the latent weights are replaced by their binary values for the duration
  of the export (:class:`hwflow.quant.biper_torch.binarized_weights_for_export`), so the
  ``BipolarQuant`` on each weight computes ``sign(sin(w0 w))``;
- binary layers' per-channel scale is exported folded into integer thresholds
  (:meth:`hwflow.quant.biper_torch.BinaryScale.freeze`);
- the hwflow ``BiPer`` activation (custom op, domain ``hwflow.ir.custom_op``) gets its
  output annotated ``BIPOLAR``;
- a zero ``Pad`` in front of a ``Conv`` (PyTorch's way to write TensorFlow's asymmetric
  ``same`` padding) is folded into the ``Conv``'s ``pads``;
- qonnx' standard clean-up (shapes, constant folding except quantizers, static inputs
  removed, readable names).

Layout: PyTorch models are NCHW and flatten in (c, h, w) order, so their QONNX graphs take
NCHW inputs natively. The QKeras twins compute in NHWC and flatten in (h, w, c) order; the
QKeras exporter writes NCHW graphs too and folds that flatten permutation into the next
dense layer's weight rows. The two graphs of one zoo model therefore have the same input
layout and compute the same function given the same weights (checked in
``tests/test_brevitas_vs_qkeras.py``), but their dense weight initializers after a
flatten are row-permuted relative to each other.

Trained weights are loaded from a ``state_dict`` file with ``torch.load(...,
weights_only=True)``: a pickled full model is refused (:class:`InvalidModelFile`), nothing
from a file is executed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from hwflow.errors import ConfigError, HwflowError, InvalidModelFile, MismatchError, ModelError

#: the zoo models with a Brevitas definition (``models/*_torch.py``, see hwflow.zoo)
ZOO_NAMES = ("econt", "jet_mlp", "digits_cnn", "digits_cnn_8bit", "digits_cnn_apriori", "biper_bnn",
             "biper_bnn_periodic", "biper_mlp64")


# ------------------------------------------------------------------------------ loading
def _weights_path(path: str | os.PathLike) -> Path:
    """A weights file, or the ``model.pt`` of a ``hwflow train`` run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    return path


def read_weights_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """(state_dict, hwflow metadata) from a file read with ``weights_only=True``.

    Accepts a plain ``state_dict`` or ``{"hwflow": {...}, "state_dict": {...}}`` (what
    ``hwflow train`` writes). Raises :class:`InvalidModelFile` for a missing/unreadable
    file, a pickled full model (refused by the weights-only unpickler) or anything that is
    not a dict of tensors.
    """
    import pickle

    import torch

    path = _weights_path(path)
    if not path.is_file():
        raise InvalidModelFile("no such weights file", path=str(path))
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidModelFile(
            "not a weights-only state_dict (hwflow never unpickles full models; save "
            f"`model.state_dict()` instead): {first}", path=str(path)) from None
    meta: dict = {}
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        meta = sd.get("hwflow") if isinstance(sd.get("hwflow"), dict) else {}
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InvalidModelFile("file does not hold a state_dict of tensors", path=str(path))
    return sd, meta


def load_state_dict_file(path: str | os.PathLike) -> dict:
    """The ``state_dict`` of :func:`read_weights_file`."""
    return read_weights_file(path)[0]


def build_brevitas_zoo_model(name: str, seed: int = 0, trained: str | os.PathLike | None = None,
                             options: dict | None = None):
    """The zoo model ``name`` from ``models/<name>_torch.py`` (built with the builder's
    keyword ``options``), in eval mode, with the weights of ``trained`` (a state_dict file)
    if given."""
    from hwflow import zoo

    if name not in ZOO_NAMES:
        raise ConfigError(f"unknown zoo model {name!r}; valid names: {', '.join(ZOO_NAMES)}")
    model = zoo.build_model(name, "brevitas", seed=seed, **(options or {}))
    if trained is not None:
        sd = load_state_dict_file(trained)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise InvalidModelFile(f"weights do not match model {name!r}: {str(e).splitlines()[0]}",
                                   path=str(_weights_path(trained))) from None
    return model.eval()


def input_shape_of(name: str) -> tuple[int, ...]:
    from hwflow import zoo

    return tuple(zoo.load_definition(name, "brevitas").INPUT_SHAPE)


# ------------------------------------------------------------------------------ export
def export_brevitas(model, out_path: str | os.PathLike, input_shape: tuple[int, ...]) -> Path:
    """Export a Brevitas model (batch 1, input ``(1, *input_shape)``) to a clean QONNX file."""
    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper

    from hwflow.quant.biper_torch import BinaryScale, binarized_weights_for_export

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    folds = [m for m in model.modules() if isinstance(m, BinaryScale)]
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out_path.parent, prefix=".export.")
    os.close(fd)
    try:
        for m in folds:
            m.freeze()
        with binarized_weights_for_export(model), torch.no_grad(), _quiet():
            # TorchScript exporter: ~1 s here, where the dynamo exporter takes ~9 s per model
            try:
                export_qonnx(model, input_t=torch.zeros((1, *input_shape)), export_path=tmp, dynamo=False)
            except HwflowError:
                raise
            except Exception as e:  # torch/Brevitas tracing errors: say which model, keep the cause
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise ModelError(f"Brevitas QONNX export failed: {type(e).__name__}: {first}",
                                 node=type(model).__name__) from e
        mw = ModelWrapper(tmp)
        mw = postprocess(mw)
        mw.save(tmp)
        os.replace(tmp, out_path)
    finally:
        for m in folds:
            m.unfreeze()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


class _quiet:
    """torch.onnx's dynamo exporter prints progress lines to stdout; keep the CLI clean."""

    def __enter__(self):
        import contextlib
        import io

        self._buf = io.StringIO()
        self._cm = contextlib.redirect_stdout(self._buf)
        self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def postprocess(mw):
    """hwflow's additions to a Brevitas QONNX export (see the module docstring)."""
    from qonnx.core.datatype import DataType
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    from hwflow.quant.biper_torch import BIPER_DOMAIN

    mw = cleanup_model(mw)
    mw = _fuse_zero_pad_into_conv(mw)
    for node in mw.graph.node:
        if node.op_type == "BiPer":
            node.domain = BIPER_DOMAIN
            mw.set_tensor_datatype(node.output[0], DataType["BIPOLAR"])
    # the exporter names the opset of custom domains; make sure ours is declared
    if any(n.domain == BIPER_DOMAIN for n in mw.graph.node) and not any(
        o.domain == BIPER_DOMAIN for o in mw.model.opset_import
    ):
        op = mw.model.opset_import.add()
        op.domain, op.version = BIPER_DOMAIN, 1
    mw = mw.transform(InferShapes())
    return mw


def _fuse_zero_pad_into_conv(mw):
    """``Pad(constant 0) -> [Quant-free] Conv`` becomes ``Conv`` with the pads added.

    PyTorch has no asymmetric conv padding, so the models write TensorFlow's ``same``
    padding with stride 2 (pad 0 before, 1 after) as ``F.pad`` + ``Conv2d(padding=0)``.
    """
    from onnx import helper

    graph = mw.graph
    changed = True
    while changed:
        changed = False
        for pad in list(graph.node):
            if pad.op_type != "Pad":
                continue
            consumers = mw.find_consumers(pad.output[0]) or []
            if len(consumers) != 1 or consumers[0].op_type != "Conv":
                continue
            conv = consumers[0]
            mode = next((a.s.decode() for a in pad.attribute if a.name == "mode"), "constant")
            pads = mw.get_initializer(pad.input[1]) if len(pad.input) > 1 else None
            value = mw.get_initializer(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
            axes = pad.input[3] if len(pad.input) > 3 else ""
            if mode != "constant" or pads is None or axes or (value is not None and np.any(value != 0)):
                continue
            pads = np.asarray(pads, dtype=np.int64).reshape(-1)
            rank = pads.size // 2
            begin, end = pads[:rank], pads[rank:]
            if np.any(pads < 0) or np.any(begin[:2] != 0) or np.any(end[:2] != 0):
                continue
            old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0] * (2 * (rank - 2)))
            if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
                continue
            k = rank - 2
            new = [int(old[i] + begin[2 + i]) for i in range(k)] + [int(old[k + i] + end[2 + i]) for i in range(k)]
            for a in list(conv.attribute):
                if a.name == "pads":
                    conv.attribute.remove(a)
            conv.attribute.append(helper.make_attribute("pads", new))
            conv.input[0] = pad.input[0]
            graph.node.remove(pad)
            changed = True
            break
    from qonnx.transformation.general import RemoveUnusedTensors

    return mw.transform(RemoveUnusedTensors())


def export_brevitas_zoo_model(
    name: str, out_path: str | os.PathLike, seed: int = 0, trained: str | os.PathLike | None = None,
    options: dict | None = None,
) -> Path:
    """Build zoo model ``name`` (random init with ``seed``, or the state_dict ``trained``)
    and export it to QONNX at ``out_path`` (docs/INTERFACES.md section 3)."""
    model = build_brevitas_zoo_model(name, seed=seed, trained=trained, options=options)
    return export_brevitas(model, out_path, input_shape_of(name))


export_zoo_model = export_brevitas_zoo_model  # the name hwflow.frontends dispatches to


def export_file(path: str | os.PathLike, out_path: str | os.PathLike, model: str | None = None,
                check_samples: int = 1000, **_ignored) -> Path:
    """``hwflow export``: a Brevitas weights file (or ``hwflow train`` run directory) ->
    QONNX. The architecture is rebuilt from ``models/`` -- named by ``model`` or by the
    file's hwflow metadata -- and the weights loaded weights-only; the export is checked
    against the model on ``check_samples`` stimulus samples plus corners."""
    _, meta = read_weights_file(path)
    name = model or meta.get("model")
    if not name:
        raise ConfigError(
            f"{path}: the weights file does not say which zoo model it belongs to; name it "
            f"(--model, one of {', '.join(ZOO_NAMES)})")
    # the builder options the weights were trained with (hwflow train records them)
    options = meta.get("options") if name == meta.get("model") else None
    if options is not None and not isinstance(options, dict):
        raise InvalidModelFile(f"the weights file's hwflow metadata has options {options!r}, not a mapping "
                               "of builder options", path=str(_weights_path(path)))
    net = build_brevitas_zoo_model(name, trained=path, options=options)
    out = export_brevitas(net, out_path, input_shape_of(name))
    if check_samples:
        from hwflow.ir import load_model, make_stimulus

        x = make_stimulus(load_model(str(out)), n=check_samples + 5, seed=0, corners=True)
        try:
            check_export(net, out, np.asarray(x, np.float32))
        except MismatchError:
            os.unlink(out)
            raise
    return out


def random_inputs(name: str, n: int, generator=None):
    """Random inputs over the range of the model's input quantizer (plus some outside)."""
    import torch

    lo, hi = input_range(name)
    shape = (n, *input_shape_of(name))
    span = hi - lo
    return torch.rand(shape, generator=generator) * span * 1.1 + lo - 0.05 * span


def input_range(name: str) -> tuple[float, float]:
    from hwflow import zoo

    lo, hi = zoo.load_definition(name, "brevitas").INPUT_RANGE
    return float(lo), float(hi)


# ----------------------------------------------------------------------- verification
def torch_forward(model, x: np.ndarray) -> np.ndarray:
    import torch

    model = model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return getattr(y, "value", y).detach().numpy().astype(np.float64)


def reference_forward(onnx_path: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """The QONNX graph's reference execution (hwflow's bit-exact executor, the whole batch)."""
    from hwflow.ir import ReferenceExecutor, load_model

    return np.asarray(ReferenceExecutor(load_model(str(onnx_path))).run(x), dtype=np.float64)


def corner_inputs(name: str) -> np.ndarray:
    """0, max, most negative, and two alternating patterns, on the input quantizer's grid."""
    lo, hi = input_range(name)
    shape = input_shape_of(name)
    size = int(np.prod(shape))
    alt = np.where(np.arange(size) % 2 == 0, hi, lo).reshape(shape)
    inv = np.where(alt == hi, lo, hi)
    return np.stack([np.zeros(shape), np.full(shape, hi), np.full(shape, lo), alt, inv]).astype(np.float32)


def check_export(model, onnx_path, x: np.ndarray) -> dict:
    """Compare Brevitas' forward with the graph's reference execution on ``x``.

    Returns ``{"samples", "mismatches", "max_abs_diff"}``; raises :class:`MismatchError`
    naming the first mismatching sample when any output differs.
    """
    y_t = torch_forward(model, x)
    y_r = reference_forward(onnx_path, x).reshape(y_t.shape)
    bad = np.nonzero(np.any((y_t != y_r).reshape(len(x), -1), axis=1))[0]
    res = {"samples": int(len(x)), "mismatches": int(len(bad)),
           "max_abs_diff": float(np.max(np.abs(y_t - y_r))) if y_t.size else 0.0}
    if len(bad):
        i = int(bad[0])
        raise MismatchError(
            f"{onnx_path}: Brevitas and the QONNX reference differ on {len(bad)} of {len(x)} "
            f"samples; first sample {i}: brevitas {y_t[i].ravel()[:8]} vs reference "
            f"{y_r[i].ravel()[:8]}")
    return res


__all__ = [
    "ZOO_NAMES", "load_state_dict_file", "read_weights_file", "export_zoo_model", "export_file", "build_brevitas_zoo_model", "export_brevitas",
    "export_brevitas_zoo_model", "postprocess", "check_export", "torch_forward",
    "reference_forward", "corner_inputs", "random_inputs",
]
