"""`hwflow synth`, `hwflow bitstream`, `hwflow deploy`: thin layers over hwflow.synth."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, hardware_run, out, print_progress


def _resources_line(r: dict) -> str:
    res = r["resources"]
    return (f"{res['lut']} LUT, {res['ff']} FF, {res['carry']} carry, {res['bram']:g} BRAM, {res['dsp']} DSP"
            f" ({r['family']}, {r['synthesized']})")


@cli_command
def synth(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    target: str = typer.Option(None, help="FPGA family: ecp5, ice40, gowin or xilinx (ASIC area and power: "
                               "`hwflow profile`)"),
    board: str = typer.Option(None, help="board name from boards/ (synthesizes the UART board top, checks fit)"),
    baud: int = typer.Option(None, help="UART baud rate of the board top (default: the board's)"),
    prescreen: bool = typer.Option(True, help="refuse designs the RTL generator estimates at > 2x the device"),
) -> None:
    """Synthesis with Yosys: resources per family (synth.json), fit check with --board."""
    from hwflow.synth import synthesize

    run = hardware_run(run, "synth")
    r = synthesize(run, target=target, board=board, baud=baud, prescreen_fit=prescreen, progress=print_progress)
    out.print(_resources_line(r))
    lut = r["utilization"]["lut"]
    out.print(f"{r['device']}: {lut['used']}/{lut['available']} LUT ({lut['percent']}%)"
              + ("" if r["fits"] else " -- does NOT fit"))
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
) -> None:
    """Board top -> Yosys -> fit check -> nextpnr -> icepack/ecppack (Vivado for Xilinx boards)."""
    from hwflow.synth import build_bitstream

    run = hardware_run(run, "bitstream")
    r = build_bitstream(run, board, baud=baud, seed=seed, prescreen_fit=prescreen, router=router,
                        progress=print_progress, pnr_timeout=None if pnr_timeout is None else pnr_timeout * 60)
    fmax = r.get("fmax_min_mhz")
    out.print(f"bitstream: {run / r['bitstream']}")
    if fmax is not None:
        status = "[green]met[/]" if r["timing_met"] else "[red]NOT met[/]"
        out.print(f"Fmax {fmax:.2f} MHz; board clock {r['clock_constraint_mhz']:g} MHz: timing {status}")
    out.print(f"wrote {run / 'synth.json'} and {run / 'bitstream.json'}")


@cli_command
def deploy(
    run: Path = typer.Argument(..., help="run directory with rtl.json (and the model)"),
    board: str = typer.Option(..., help="board name from boards/"),
    port: str = typer.Option("/dev/ttyUSB0", help="serial port of the board"),
    inputs: Path = typer.Option(None, help=".npy of input vectors (default: reference stimulus)"),
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
