"""`hwflow synth`, `hwflow bitstream`, `hwflow deploy`: thin layers over hwflow.synth."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, hardware_run, out, print_progress


def _resources_lines(r: dict) -> list[str]:
    """Cells as mapped, then each resource against the device (LUTs there count carry/LUT-RAM
    cells as the logic cells they occupy: lut_equivalent)."""
    res, util = r["resources"], r["utilization"]
    lines = [f"{r['family']} ({r['synthesized']}): {res['lut']} LUT, {res['ff']} FF, {res['carry']} carry, "
             f"{res['bram']:g} BRAM, {res['dsp']} DSP"]
    names = {"lut": "logic cells (LUT + carry + LUT-RAM)", "ff": "FF", "bram": "BRAM", "dsp": "DSP"}
    lines.append(f"{r['device']}: " + ", ".join(
        f"{names[k]} {row['used']:g}/{row['available']:g} ({row['percent']}%)" for k, row in util.items())
        + ("" if r["fits"] else " -- does NOT fit"))
    t = r.get("timing") or {}
    if t.get("critical_path_ns"):
        lines.append(f"timing estimate ({t['tool']}): critical path {t['critical_path_ns']:.3f} ns, Fmax <= "
                     f"{t['fmax_upper_bound_mhz']:.1f} MHz"
                     + (f"; slack {t['slack_ns']:+.3f} ns at {t['clock_mhz']:g} MHz" if "slack_ns" in t else ""))
    elif t.get("note"):
        lines.append(f"timing: {t['note']}")
    return lines


@cli_command
def synth(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    target: str = typer.Option(None, help="FPGA family: ecp5, ice40, gowin or xilinx (ASIC area and power: "
                               "`hwflow profile`)"),
    board: str = typer.Option(None, help="board name from boards/ (synthesizes the UART board top, checks fit)"),
    baud: int = typer.Option(None, help="UART baud rate of the board top (default: the board's)"),
    prescreen: bool = typer.Option(True, help="refuse designs the RTL generator estimates at > 2x the device"),
    clock: str = typer.Option(None, help="clock for the timing estimate's slack: a frequency (40MHz) or a period "
                              "(25ns); a bare number is MHz"),
) -> None:
    """Synthesis with Yosys: resources and device utilization (synth.json), a timing estimate (Yosys sta,
    iCE40), fit check with --board."""
    from hwflow.synth import synthesize

    run = hardware_run(run, "synth")
    from hwflow.units import parse_clock

    r = synthesize(run, target=target, board=board, baud=baud, prescreen_fit=prescreen, progress=print_progress,
                   clock_mhz=None if clock is None else parse_clock(clock))
    for line in _resources_lines(r):
        out.print(line)
    if r.get("note"):
        out.print(f"[yellow]{r['note']}[/]")
    out.print(f"wrote {run / 'synth.json'}")


@cli_command
def bitstream(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    board: str = typer.Option(..., help="board name from boards/"),
    baud: int = typer.Option(None, help="UART baud rate (default: the board's, usually 115200)"),
    seed: int = typer.Option(1, help="placer seed"),
    router: str = typer.Option(None, help="nextpnr router: router1 or router2 (negotiated congestion; its "
                                          "progress per iteration is shown); default: nextpnr's, router1"),
    prescreen: bool = typer.Option(True, help="refuse designs the RTL generator estimates at > 2x the device"),
    pnr_timeout: float = typer.Option(None, help="stop place and route after this many minutes (exit code 5)"),
    clock: str = typer.Option(None, help="nextpnr's timing target: a frequency (40MHz) or a period (25ns); a bare "
                              "number is MHz (default: the board's clock, which the board top runs at)"),
) -> None:
    """Board top -> Yosys -> fit check -> nextpnr -> icepack/ecppack (Vivado for Xilinx boards)."""
    from hwflow.synth import build_bitstream

    run = hardware_run(run, "bitstream")
    from hwflow.units import parse_clock

    r = build_bitstream(run, board, baud=baud, seed=seed, prescreen_fit=prescreen, router=router,
                        progress=print_progress, pnr_timeout=None if pnr_timeout is None else pnr_timeout * 60,
                        clock_mhz=None if clock is None else parse_clock(clock))
    fmax = r.get("fmax_min_mhz")
    out.print(f"bitstream: {run / r['bitstream']}")
    if fmax is not None:
        status = "[green]met[/]" if r["timing_met"] else "[red]NOT met[/]"
        out.print(f"Fmax {fmax:.2f} MHz (nextpnr, after routing); target {r['clock_constraint_mhz']:g} MHz: "
                  f"timing {status}")
    out.print(f"wrote {run / 'synth.json'} and {run / 'bitstream.json'}")


@cli_command
def deploy(
    run: Path = typer.Argument(..., help="run directory with rtl.json (and the model)"),
    board: str = typer.Option(..., help="board name from boards/"),
    port: str = typer.Option("/dev/ttyUSB0", help="serial port of the board"),
    inputs: Path = typer.Option(None, help="the model's inputs (.npy, as exec takes them; the software before the "
                                "hardware runs on them) (default: reference stimulus)"),
    samples: int = typer.Option(100, help="number of stimulus samples when no --inputs"),
    baud: int = typer.Option(None, help="UART baud rate (default: the board's)"),
    window: int = typer.Option(2, help="requests in flight"),
) -> None:
    """Send inputs to the board over UART and compare its answers with the reference."""
    from hwflow.synth.deploy import deploy as run_deploy

    run = hardware_run(run, "deploy")
    r = run_deploy(run, board, port=port, inputs=inputs, samples=samples, window=window, baud=baud)
    out.print(f"{r['samples']} samples, 0 mismatches; {r['inferences_per_s']} inferences/s "
              f"(UART bound {r['uart_bound_inferences_per_s']}/s)")
