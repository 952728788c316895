"""`hwflow hls`: hls4ml project + C-simulation check, vendor build when installed."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, model_file, out


@cli_command
def hls(
    model: Path = typer.Argument(..., help="QONNX model"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
    backend: str = typer.Option("Vitis", help="hls4ml backend: Vitis, Vivado, VivadoAccelerator"),
    io: str = typer.Option("parallel", "--io", help="parallel or stream (hls4ml io_parallel/io_stream)"),
    strategy: str = typer.Option("Latency", help="Latency or Resource"),
    reuse: int = typer.Option(1, "--reuse", help="reuse factor of every layer"),
    layer_reuse: list[str] = typer.Option([], "--layer-reuse", help="NODE=N: reuse factor of one ONNX node"),
    part: str = typer.Option(None, help="FPGA part (default: the backend's)"),
    clock: str = typer.Option("200MHz", "--clock", help="clock: a frequency (200MHz) or a period (5ns); a bare "
                              "number is MHz"),
    samples: int = typer.Option(1000, help="random samples checked (corners are added)"),
    seed: int = typer.Option(0, help="stimulus seed"),
    inputs: Path = typer.Option(None, "--inputs", help="the model's inputs (.npy, as exec takes them) instead of "
                                "the random stimulus; the software before the hardware runs on them"),
    labels: Path = typer.Option(None, "--labels", help="class labels of --inputs (.npy): report the accuracy"),
    build: bool = typer.Option(False, help="run vendor HLS synthesis (needs vitis_hls/vivado_hls)"),
    cosim: bool = typer.Option(False, help="with --build: also C/RTL co-simulation"),
    export: bool = typer.Option(False, help="with --build: also export the IP"),
    vsynth: bool = typer.Option(False, help="with --build: also Vivado synthesis of the RTL"),
) -> None:
    """hls4ml project + C-simulation check against the reference."""
    from hwflow.backends.hls4ml import BuildSteps, HLSOptions, LayerOptions, run_hls
    from hwflow.errors import ConfigError

    model = model_file(model, "hls")
    if not model.is_file():
        from hwflow.errors import InvalidModelFile

        raise InvalidModelFile("model file not found", path=str(model))
    layers = {}
    for item in layer_reuse:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ConfigError(f"--layer-reuse expects NODE=N, got {item!r}")
        layers[name] = LayerOptions(reuse_factor=int(value))
    from hwflow.units import parse_clock

    opts = HLSOptions(backend=backend, io_type=io, strategy=strategy, reuse_factor=reuse, part=part,
                      clock_period=1e3 / parse_clock(clock), layers=layers)
    steps = BuildSteps(cosim=cosim, export=export, vsynth=vsynth)
    x = y_labels = None
    if inputs is not None:
        from hwflow.artifacts import load_array_file

        x = load_array_file(inputs, "inputs file")
        if isinstance(x, dict):
            if len(x) != 1:
                raise ConfigError(f"inputs file {inputs}: one array expected, found {sorted(x)}")
            x = next(iter(x.values()))
    if labels is not None:
        if inputs is None:
            raise ConfigError("--labels go with --inputs (the labels of those samples)")
        from hwflow.ir.boundary import load_labels

        y_labels = load_labels(labels)
    rec = run_hls(model, output, opts, samples=samples, seed=seed, build=build, build_steps=steps, inputs=x,
                  labels=y_labels)
    cs = rec["csim"]
    if rec.get("software"):
        from hwflow.ir.boundary import describe_record

        out.print(describe_record(rec["software"]))
    out.print(f"hls4ml {rec['backend']} {rec['io_type']} project: {output / rec['project_dir']}")
    out.print(f"C-sim compiled in {cs['compile_time_s']:.1f} s; {cs['samples']} samples, "
              f"{cs['mismatches']} mismatches against the reference")
    if rec.get("accuracy"):
        a = rec["accuracy"]
        out.print(f"accuracy {a['accuracy']:.4f} ({a['correct']} of {a['samples']} labels)")
    b = rec.get("build", {})
    if b.get("status") == "complete":
        lat = b.get("latency_cycles", {})
        out.print(f"HLS synthesis: latency {lat.get('worst')} cycles, II {b.get('ii', {}).get('max')}, "
                  f"resources {b.get('resources')}, estimated clock {b.get('estimated_clock_ns')} ns")
    out.print(f"record: {output / 'hls.json'}")
