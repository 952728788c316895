"""The model zoo: model definitions in the top-level ``models/`` folder (shipped as
``hwflow/bundled/models``), loaded by path.

Each model has one definition file per framework: ``models/<name>_keras.py`` (QKeras) and
``models/<name>_torch.py`` (Brevitas). A definition file is a plain Python module of this
repository (our code, not a user's model file) exposing at least:

- ``DATASET``: name for :func:`hwflow.data.load_dataset`
- ``build(seed=0)``: a fresh, untrained model; its other keyword parameters are the
  model's options (``builder_options``; flow file ``model.options``)

and optionally ``TASK`` ("classify" / "autoencode"), ``INPUT_SHAPE`` (without the batch
axis), ``DEFAULT_EPOCHS`` and ``ZOO``: a dict ``name -> builder(seed=0)`` when one file
defines several zoo entries (``models/digits_cnn_keras.py`` defines ``digits_cnn``,
``digits_cnn_8bit`` and ``digits_cnn_apriori``). A name ``a_b_c`` is looked up in
``a_b_c_<fw>.py``, then in the ``ZOO`` of ``a_b_<fw>.py``, then ``a_<fw>.py``. The ``ZOO``
keys are read with ``ast`` (no import) to list names. See ``models/README.md``.

The modules are imported with ``importlib`` from their path (not as a package) so that
``models/`` needs no ``__init__.py`` and the two frameworks' files do not import each other.
``HWFLOW_MODELS`` overrides the folder.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType

from hwflow.bundled import bundled_dir
from hwflow.errors import ConfigError

FRAMEWORKS = {"qkeras": "keras", "keras": "keras", "brevitas": "torch", "torch": "torch"}


def models_dir() -> Path:
    env = os.environ.get("HWFLOW_MODELS")
    return Path(env) if env else bundled_dir("models")


def _suffix(framework: str) -> str:
    try:
        return FRAMEWORKS[framework]
    except KeyError:
        raise ConfigError(
            f"unknown framework {framework!r}; valid: qkeras, brevitas"
        ) from None


def _zoo_keys(path: Path) -> list[str]:
    """Keys of a module-level ``ZOO = {...}`` literal, read without importing the file."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError:
        return []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "ZOO" for t in targets) and isinstance(
            node.value, ast.Dict
        ):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


def _files(suffix: str) -> list[Path]:
    return sorted(models_dir().glob(f"*_{suffix}.py"))


def names(framework: str | None = None) -> list[str]:
    """Model names with a definition (for one framework, or for any)."""
    suffixes = [_suffix(framework)] if framework else ["keras", "torch"]
    found = set()
    for s in suffixes:
        for p in _files(s):
            found.add(p.name[: -len(f"_{s}.py")])
            found.update(_zoo_keys(p))
    return sorted(found)


def definition_path(name: str, framework: str) -> Path:
    """The file that defines ``name`` for ``framework`` (see the module docstring)."""
    suffix = _suffix(framework)
    parts = name.split("_")
    for n in range(len(parts), 0, -1):
        path = models_dir() / f"{'_'.join(parts[:n])}_{suffix}.py"
        if path.is_file() and (n == len(parts) or name in _zoo_keys(path)):
            return path
    valid = names(framework)
    raise ConfigError(
        f"no {framework} model named {name!r} in {models_dir()}; valid names: "
        + (", ".join(valid) if valid else "(none)")
    )


def load_definition(name: str, framework: str) -> ModuleType:
    """Import the module defining ``name`` (``models/<file>_<keras|torch>.py``), cached."""
    path = definition_path(name, framework)
    mod_name = f"hwflow_models.{path.stem}"
    mod = sys.modules.get(mod_name)
    if mod is not None and getattr(mod, "__file__", None) == str(path):
        return mod
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - path checked above
        raise ConfigError(f"cannot import model definition {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    for attr in ("DATASET", "build"):
        if not hasattr(mod, attr):
            raise ConfigError(f"model definition {path} does not define {attr}")
    return mod


def builder(name: str, framework: str):
    """The function ``(seed=0) -> model`` of a zoo entry."""
    mod = load_definition(name, framework)
    zoo = getattr(mod, "ZOO", None) or {}
    return zoo.get(name, mod.build)


def default_epochs(name: str, framework: str, fallback: int = 10) -> int:
    mod = load_definition(name, framework)
    return int(getattr(mod, "DEFAULT_EPOCHS", getattr(mod, "EPOCHS", fallback)))


def builder_options(name: str, framework: str) -> dict[str, object]:
    """The keyword options of a zoo entry's builder besides ``seed`` (name -> default), e.g.
    ``{"w_bits": 6, "a_bits": 6}`` for ``jet_mlp``."""
    params = inspect.signature(builder(name, framework)).parameters.values()
    return {p.name: p.default for p in params
            if p.name != "seed" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _same_kind(value, default) -> bool:
    """Whether an option's value fits its default: true/false for a bool, an integer for an
    int, a number for a float, text for a str (bool is an int in Python, so it goes first)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    for kind, accepted in ((int, int), (float, (int, float)), (str, str)):
        if isinstance(default, kind):
            return isinstance(value, accepted)
    return True  # a default of another kind (None, a tuple): the builder checks


def build_model(name: str, framework: str, seed: int = 0, **options):
    """A fresh model of the named zoo entry; ``options`` are its builder's keyword options
    (a name the builder does not take is a ConfigError listing the ones it does)."""
    known = builder_options(name, framework)
    unknown = sorted(set(options) - set(known))
    if unknown:
        listing = ", ".join(f"{k} (default {v!r})" for k, v in known.items()) or "none"
        raise ConfigError(f"zoo model {name!r} ({framework}) has no option {', '.join(map(repr, unknown))}; "
                          f"its options: {listing}")
    for key, value in options.items():
        if not _same_kind(value, known[key]):
            raise ConfigError(f"zoo model {name!r} ({framework}): option {key}={value!r} must be of the kind of "
                              f"its default {known[key]!r} ({type(known[key]).__name__})")
    return builder(name, framework)(seed=seed, **options)


__all__ = ["names", "definition_path", "load_definition", "builder", "builder_options", "build_model", "default_epochs", "models_dir"]
