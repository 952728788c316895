"""`hwflow train` and `hwflow export`: thin layers over ``hwflow.train`` and
``hwflow.frontends``."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, out, print_progress
from hwflow.errors import ConfigError


def parse_options(items: list[str]) -> dict[str, int | float | bool | str]:
    """``NAME=VALUE`` strings -> a dict; values read as YAML scalars (4 -> int, 0.5 -> float,
    true -> bool), as the same options in a flow file are."""
    import yaml

    options: dict[str, int | float | bool | str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--option {item!r}: write NAME=VALUE, e.g. -O w_bits=4")
        parsed = yaml.safe_load(value) if value.strip() else value
        if not isinstance(parsed, (int, float, bool, str)):
            raise ConfigError(f"--option {item!r}: the value must be a number, true/false or a word")
        options[name.strip()] = parsed
    return options


@cli_command
def train(
    model: str = typer.Argument(..., help="model name from models/ (e.g. jet_mlp, econt, biper_bnn)"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
    epochs: int = typer.Option(None, "--epochs", help="training epochs (model default if omitted)"),
    framework: str = typer.Option("qkeras", "--framework", help="qkeras or brevitas"),
    seed: int = typer.Option(0, "--seed", help="seeds data split, initialisation, batch order"),
    lr: float = typer.Option(None, "--lr", help="learning rate (model default if omitted)"),
    batch_size: int = typer.Option(None, "--batch-size", help="batch size (model default if omitted)"),
    option: list[str] = typer.Option(None, "--option", "-O", help="a builder option of the model, NAME=VALUE "
                                     "(repeatable), e.g. -O w_bits=4 for jet_mlp; an unknown NAME lists the "
                                     "model's options"),
) -> None:
    """Quantization-aware training of a model from models/; writes the model and model.onnx."""
    if framework in ("qkeras", "keras"):
        from hwflow.train.keras import train_keras as run
        model_file = "model.h5"
    elif framework in ("brevitas", "torch"):
        from hwflow.train.torch import train_torch as run
        model_file = "model.pt"
    else:
        raise ConfigError(f"unknown framework {framework!r}; valid: qkeras, brevitas")
    metrics = run(model, output, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size,
                  progress=print_progress, options=parse_options(option or []))
    summary = {k: metrics[k] for k in ("test_accuracy", "emd_model_cm",
                                       "emd_baseline_mean_shape_cm", "test_telescope_loss")
               if k in metrics}
    check = metrics.get("export_check", {})
    out.print(f"trained {model} ({framework}, {metrics.get('epochs')} epochs): "
              + ", ".join(f"{k}={v:.4g}" for k, v in summary.items()))
    out.print(f"wrote {output / model_file}, {output / 'model.onnx'} "
              f"(bit-exact on {check.get('samples', 0)} samples), {output / 'train.json'}")


@cli_command
def export(
    file: Path = typer.Argument(..., help="QKeras (.json + --weights .h5, .h5, .keras), Brevitas weights of a zoo "
                                "model (.pt, --model NAME), or your own Brevitas nn.Module (.py, --class NAME)"),
    output: Path = typer.Option(..., "-o", "--output", help="QONNX file to write"),
    weights: Path = typer.Option(None, "--weights", help="weights: .h5 for a Keras .json architecture, .pt "
                                 "(state_dict, read weights-only) for a .py module"),
    model: str = typer.Option(None, "--model", help="zoo model name of a Brevitas weights file"),
    class_name: str = typer.Option(None, "--class", help="the nn.Module class of a .py file (built with no arguments)"),
    input_shape: str = typer.Option(None, "--input-shape", help="with a .py file: shape of one input sample, e.g. "
                                    "1,28,28 (default: the class's INPUT_SHAPE)"),
) -> None:
    """Export a QKeras or Brevitas model to QONNX, checked against the framework's own forward pass."""
    from hwflow.frontends import export_file

    kwargs = {}
    if weights is not None:
        kwargs["weights"] = weights
    if model is not None:
        kwargs["model"] = model
    if class_name is not None:
        kwargs["class_name"] = class_name
    if input_shape is not None:
        kwargs["input_shape"] = input_shape
    path = export_file(file, output, **kwargs)
    out.print(f"wrote {path}")
