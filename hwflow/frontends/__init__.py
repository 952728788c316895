"""Training frameworks -> QONNX.

``export_zoo_model(name, framework, out_path, seed=0, trained=None)`` (docs/INTERFACES.md
section 3) builds a zoo model (``models/``) and writes its QONNX graph: ``qkeras`` goes to
:mod:`hwflow.frontends.qkeras` (ours), ``brevitas`` to :mod:`hwflow.frontends.brevitas`.
Heavy frameworks are imported only when used.
"""

from __future__ import annotations

from pathlib import Path

from hwflow.errors import ConfigError

FRAMEWORKS = ("qkeras", "brevitas")


def export_zoo_model(name: str, framework: str, out_path, seed: int = 0, trained=None,
                     options: dict | None = None) -> Path:
    """Build zoo model ``name`` in ``framework`` (random init with ``seed``, or the trained
    weights in ``trained``: a model file or a ``hwflow train`` run directory) and export it
    to QONNX at ``out_path``; returns the path."""
    out_path = Path(out_path)
    if framework in ("qkeras", "keras"):
        from hwflow.frontends import qkeras

        return qkeras.export_zoo_model(name, out_path, seed=seed, trained=trained, options=options)
    if framework in ("brevitas", "torch"):
        from hwflow.frontends import brevitas

        return Path(brevitas.export_zoo_model(name, out_path, seed=seed, trained=trained, options=options))
    raise ConfigError(f"unknown framework {framework!r}; valid: {', '.join(FRAMEWORKS)}")


def export_file(path, out_path, **kwargs) -> Path:
    """``hwflow export``: a framework model file -> QONNX. Keras files (.json/.h5/.keras)
    go to the QKeras exporter, PyTorch files (.pt/.pth) to the Brevitas one, a Python file
    (.py) with ``class_name`` to the exporter of a user's own Brevitas module."""
    path = Path(path)
    if path.suffix.lower() == ".py":
        from hwflow.frontends.brevitas_module import export_module_file

        return export_module_file(path, out_path, **kwargs)
    if kwargs.get("class_name") or kwargs.get("input_shape"):
        from hwflow.errors import ConfigError

        raise ConfigError("--class and --input-shape go with a Python model file (.py)")
    kwargs = {k: v for k, v in kwargs.items() if k not in ("class_name", "input_shape")}
    if path.suffix.lower() in (".json", ".h5", ".hdf5", ".keras"):
        from hwflow.frontends import qkeras

        return qkeras.export_file(path, out_path, **kwargs)
    if path.suffix.lower() in (".pt", ".pth") or path.is_dir():
        from hwflow.frontends import brevitas

        return Path(brevitas.export_file(path, out_path, **kwargs))
    from hwflow.errors import InvalidModelFile

    raise InvalidModelFile(
        "unknown model file type (QKeras: .json+.h5, .h5, .keras; Brevitas: .pt/.pth weights of a zoo model, "
        "or a .py file with --class NAME [--weights .pt])",
        path=str(path),
    )


__all__ = ["export_zoo_model", "export_file", "FRAMEWORKS"]
