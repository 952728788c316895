"""The ``hwflow`` command line: one sub-command per stage, each a thin layer over the API.

Commands are registered explicitly here (no registration by import side effect); each
area of the code owns the module that defines its commands.
"""

from __future__ import annotations

import os

# TensorFlow's C++ INFO/WARNING lines (oneDNN, CUDA stubs) would bury the progress display;
# errors still show. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

from hwflow.cli import doctor, fpga, hls, ir, pipeline, power, rtl, sweep, training

app = typer.Typer(
    name="hwflow",
    help="Train -> quantize -> synthesize small neural networks, bit-exact from QAT to RTL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _print_version(asked: bool) -> None:
    if asked:
        from hwflow import __version__

        print(f"hwflow {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    verbose: bool = typer.Option(False, "-v", "--verbose", help="also show third-party log lines (TensorFlow's "
                                 "absl/oneDNN/CUDA notices, library warnings)"),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=lambda v: _print_version(v),
                                 help="print hwflow's version and exit"),
) -> None:
    """Options of every command (give them before the command: hwflow -v export ...)."""
    if not verbose:
        from hwflow.cli.quiet import quiet_third_party

        quiet_third_party()


app.command("doctor")(doctor.doctor)
app.command("train")(training.train)
app.command("export")(training.export)
app.command("inspect")(ir.inspect)
app.command("exec")(ir.exec_)
app.command("hls")(hls.hls)
app.command("rtl")(rtl.rtl)
app.command("sim")(rtl.sim)
app.command("synth")(fpga.synth)
app.command("bitstream")(fpga.bitstream)
app.command("deploy")(fpga.deploy)
app.command("profile")(power.profile)
app.command("report")(pipeline.report)
app.command("run")(pipeline.run)
app.command("sweep")(sweep.sweep)

__all__ = ["app"]
