"""`hwflow rtl` and `hwflow sim`: thin layers over
``hwflow.backends.rtl.generate_rtl`` and ``hwflow.sim.simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, hardware_run, model_file, out, print_progress


@cli_command
def rtl(
    model: Path = typer.Argument(..., help="QONNX model"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
    top: str = typer.Option(None, help="top module name (default: model file name)"),
    latency_cutoff: float = typer.Option(
        None, help="pipeline register spacing in da4ml delay units (~adder levels); <= 0: one stage "
        "(default 5, or chosen from --clock)"
    ),
    input_type: str = typer.Option(None, help="input format, e.g. 'ap_fixed<16,6>' (default: the IR's)"),
    no_lint: bool = typer.Option(False, "--no-lint", help="skip verilator --lint-only -Wall"),
    architecture: str = typer.Option(
        "auto", help="parallel (II = 1), folded (one kernel per conv layer, pixel by pixel), streaming (MLPs: "
        "one folded matrix-vector unit per layer) or auto (streaming with --board, else parallel/folded)"
    ),
    board: str = typer.Option(None, help="board name (boards/*.toml): choose the streaming folding to fit its device"),
    throughput: float = typer.Option(None, help="streaming: target inferences/s (at --clock or the board's clock)"),
    clock: str = typer.Option(None, help="clock (40MHz, 25ns; a number is MHz): streaming: the clock of --throughput "
                              "(default: the board's); parallel/folded: the pipeline depth that meets it on "
                              "--timing-target with the fewest registers"),
    timing_target: str = typer.Option("asic-osu018", help="parallel/folded with --clock: asic-osu018, ice40 or ecp5 "
                                      "(the delay per adder level, hwflow/backends/rtl/pipeline_depth.py)"),
    folding: str = typer.Option(None, help="streaming: PExSIMD per layer, e.g. '4x2,2x8,1x8,1x2' (no search)"),
) -> None:
    """Verilog of the model with a valid/ready wrapper."""
    from hwflow.artifacts import read_json
    from hwflow.backends.rtl import generate_rtl
    from hwflow.units import parse_clock

    model = model_file(model, "rtl")

    clock = parse_clock(clock) if clock is not None else None
    p = generate_rtl(model, output, top=top, latency_cutoff=latency_cutoff, input_type=input_type, lint=not no_lint,
                     architecture=architecture, progress=print_progress, board=board, throughput=throughput,
                     clock_mhz=clock, folding=folding, timing_target=timing_target)
    r = read_json(p)
    i, o = r["input"], r["output"]
    out.print(
        f"{r['top']}: {i['elements']} x {i['element_width']}b -> {o['elements']} x {o['element_width']}b, "
        f"{r['pipeline']['architecture']}, latency {r['latency_cycles']} cycles, II {r['ii']}, "
        f"{len(r['files'])} files; {p}"
    )
    timing = r["pipeline"].get("clock_choice")
    if timing:
        out.print(f"pipeline for {timing['clock_mhz']:g} MHz on {timing['timing_target']}: cutoff "
                  f"{timing['chosen_cutoff']:g} of {timing['logic_depth_levels']:g} levels, {r['pipeline']['stages']} "
                  f"stage(s), {timing['register_bits']} register bits (estimated stage delay "
                  f"{timing['estimated_stage_ns']:g} ns)")
    if r.get("software"):
        from hwflow.ir.boundary import describe_record

        out.print(describe_record(r["software"]))
    choice = r["pipeline"].get("folding_choice") or {}
    if choice.get("estimate"):
        t = choice["estimate"]["total"]
        out.print(f"folding ({choice['mode']}): " + ", ".join(f"{f['pe']}x{f['simd']}" for f in choice["folds"])
                  + f"; estimate LUT {t['lut']:,.0f}, FF {t['ff']:,.0f}, BRAM {t['bram']:,.0f}, DSP {t['dsp']:,.0f}"
                  + (f"; {choice['inferences_per_s_at_clock']:,.0f} inferences/s at {choice['clock_hz'] / 1e6:g} MHz"
                     if choice.get("inferences_per_s_at_clock") else ""))


@cli_command
def sim(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    samples: int = typer.Option(1000, help="random samples (+ corners)"),
    inputs: Path = typer.Option(None, help="the model's inputs (.npy, as exec takes them) instead of random ones; "
                                "the software before the hardware (layout, pre-processing, input quantizer) "
                                "runs on them"),
    save_outputs: Path = typer.Option(None, help="write the model's outputs (.npy): the RTL's, through the software "
                                      "after the hardware (Softmax, float scale/bias), as exec gives them"),
    raw: bool = typer.Option(False, "--raw", help="no software on either side: --inputs and --save-outputs hold "
                             "the ports' integers"),
    labels: Path = typer.Option(None, "--labels", help="class labels of --inputs (.npy): report the accuracy"),
    vcd: bool = typer.Option(False, help="dump waveforms (cocotb engine)"),
    seed: int = typer.Option(0, help="seed of the random inputs, gaps and back-pressure"),
    engine: str = typer.Option(None, help="bulk (C++ harness, fast; default) or cocotb (Python testbench; "
                                          "default with --vcd)"),
) -> None:
    """Verilator co-simulation against the reference (bulk C++ harness or cocotb)."""
    from hwflow.sim import simulate

    from hwflow.ir.boundary import describe_record

    run = hardware_run(run, "sim")
    r = simulate(run, inputs=inputs, samples=samples, vcd=vcd, seed=seed, save_outputs=save_outputs,
                 engine=engine, progress=print_progress, raw_ports=raw, labels=labels)
    if r.get("software") and (inputs is not None or save_outputs is not None):  # random stimulus: port values
        out.print(describe_record(r["software"]))
    build = "reused build" if r["build"]["cached"] else f"build {r['build_time_s']:.1f} s"
    out.print(
        f"{r['samples']} samples ({r['engine']}), {r['mismatches']} mismatches, {r['simulated_cycles']} cycles, "
        f"simulation speed {r['inferences_per_second']:,.0f} inferences/s ({build}); {Path(run) / 'sim.json'}"
    )
    if r.get("accuracy"):
        a = r["accuracy"]
        out.print(f"accuracy {a['accuracy']:.4f} ({a['correct']} of {a['samples']} labels)")
