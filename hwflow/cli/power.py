"""`hwflow profile`: a thin layer over :func:`hwflow.power.profile`."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, hardware_run, out, print_progress


@cli_command
def profile(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    target: str = typer.Option("asic-osu018", help="asic-osu018 | ecp5 | ice40"),
    clock: str = typer.Option("40MHz", help="clock: a frequency (40MHz) or a period (25ns); a bare number is MHz"),
    data: str = typer.Option(None, help="model inputs as .npy (real values), or 'zeros'"),
    dataset: str = typer.Option(None, help="drive the simulation with this dataset's test split (hgcal, jets, digits)"),
    samples: int = typer.Option(200, help="samples streamed through the gate-level simulation"),
    seed: int = typer.Option(0, help="seed of the random stimulus when no data is given"),
    simulator: str = typer.Option("yosys", help="ASIC gate-level simulator: yosys (no build step, large "
                                                "netlists), verilator (the library's Verilog cell models), "
                                                "bulk (Verilator + the C++ bulk harness, cell models from the "
                                                "liberty's functions, SAIF toggle counts) or levelized (numpy, "
                                                "cycle-based; no build, deep logic)"),
    effort: str = typer.Option("default", help="ASIC synthesis effort: default (area by module, ABC's default "
                                               "script) or fast (flat, ABC's fast script; slightly larger)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines"),
    compare_weights: bool = typer.Option(
        False, help="also compare hard-wired against register-bank weights on measured layer slices (ASIC; "
                    "writes weights_comparison.json and comparison.md next to profile.json)"),
) -> None:
    """Area, power and energy per inference."""
    from hwflow.power import profile as run_profile

    run = hardware_run(run, "profile")
    r = run_profile(run, target=target, clock_mhz=clock, samples=samples, data=data, dataset=dataset, seed=seed,
                    simulator=simulator, synth=effort, progress=None if quiet else print_progress)
    if compare_weights:
        from hwflow.power.regweights import compare_run_weights

        cmp_ = compare_run_weights(run, r, samples=samples, data=data, dataset=dataset, seed=seed)
        out.print(f"weights: registers/hard-wired area x {cmp_['area_ratio']:.2f}, "
                  f"energy x {cmp_['energy_ratio']:.2f} (ESTIMATE from measured slices) -> {cmp_['markdown']}")
    kind = "ESTIMATE " if r.get("estimate") else ""
    area = f"{r['area_um2']:.0f} um^2" if "area_um2" in r else \
        ", ".join(f"{k} {v}" for k, v in r.get("resources", {}).items())
    out.print(f"{r['target']} @ {r['clock_mhz']:g} MHz: {area}; {kind}power {r['total_power_mw']:.4g} mW; "
              f"energy/inference {r['energy_per_inference_nj']:.4g} nJ; "
              f"Fmax {r['fmax_mhz'] if r.get('fmax_mhz') is not None else 'n/a'} MHz -> {run / 'profile.json'}")
