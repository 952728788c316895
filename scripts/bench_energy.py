#!/usr/bin/env python
"""Energy per inference of the zoo models on the 180 nm ASIC flow (and, for ECON-T, the
hard-wired vs register-weight comparison and the table next to the paper's 65 nm numbers).

    .venv/bin/python scripts/bench_energy.py [--models econt,jet_mlp,biper_bnn] [--samples 100]
        [--clock 40] [--out bench_out] [--regweights]

For each model: export the zoo model (QONNX), generate the RTL (hwflow.backends.rtl),
profile it (Yosys -> gate-level simulation on the model's dataset -> OpenSTA). Writes
``<out>/bench_energy.json`` and, with ``--regweights``, ``<out>/econt_comparison.md``.
Run directories are reused: a second run skips export/RTL generation and synthesis.
Slow: ECON-T is ~150k cells at 180 nm (tens of minutes on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hwflow.artifacts import read_json, write_json  # noqa: E402

MODELS = {  # name -> (framework, dataset)
    "econt": ("qkeras", "hgcal"),
    "jet_mlp": ("brevitas", "jets"),
    "biper_bnn": ("qkeras", "digits"),
}


def prepare(name: str, run: Path) -> Path:
    if (run / "rtl.json").exists():
        return run / "rtl.json"
    from hwflow.backends.rtl.generate import generate_rtl
    from hwflow.frontends import export_zoo_model

    framework = MODELS[name][0]
    onnx = export_zoo_model(name, framework, run / f"{name}_{framework}.onnx")
    return generate_rtl(onnx, run, top=name)


def model_inputs(run: Path, dataset: str, samples: int) -> np.ndarray:
    """Dataset samples in the model's input layout, on the RTL input grid."""
    from hwflow.power.data import load_stimulus
    from hwflow.power.design import load_design

    d = load_design(run)
    q = load_stimulus(d.input, samples, dataset=dataset).q
    x = q * d.input.scale * 2.0 ** -d.input.frac
    return x.reshape((len(x), *d.input.shape[1:])).astype(np.float32)


def save(out_json: Path, results: dict) -> None:
    """Write the results, keeping models that a concurrent run of this script recorded."""
    if out_json.exists():
        other = read_json(out_json).get("models", {})
        results["models"] = {**other, **results["models"]}
    write_json(out_json, results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="econt,jet_mlp,biper_bnn")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--clock", type=float, default=40.0, help="MHz")
    ap.add_argument("--out", type=Path, default=Path("bench_out"))
    ap.add_argument("--regweights", action="store_true", help="ECON-T hard-wired vs register weights")
    ap.add_argument("--regweights-samples", type=int, default=50, help="samples per weight slice")
    args = ap.parse_args(argv)

    from hwflow.power import profile

    results: dict = {"clock_mhz": args.clock, "samples": args.samples, "target": "asic-osu018", "models": {}}
    out_json = args.out / "bench_energy.json"
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in MODELS:
            print(f"unknown model {name!r}; known: {', '.join(MODELS)}", file=sys.stderr)
            return 2
        run = args.out / name
        t0 = time.time()
        try:
            prepare(name, run)
            r = profile(run, clock_mhz=args.clock, samples=args.samples, dataset=MODELS[name][1])
        except Exception as e:  # a benchmark records failures and goes on with the next model
            results["models"][name] = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            save(out_json, results)
            print(f"{name}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
            continue
        results["models"][name] = {
            "status": "ok", "framework": MODELS[name][0], "dataset": MODELS[name][1],
            "wall_time_s": round(time.time() - t0, 1),
            **{k: r[k] for k in ("area_um2", "cell_count", "total_power_mw", "dynamic_power_mw", "leakage_power_mw",
                                 "energy_per_inference_nj", "fmax_mhz", "ii", "latency_cycles")},
            "activity_mean_toggles_per_cycle": r["activity"]["mean_toggles_per_cycle"],
            "profile": str(run / "profile.json"),
        }
        save(out_json, results)
        print(f"{name}: {r['area_um2'] * 1e-6:.3f} mm^2, {r['total_power_mw']:.3g} mW, "
              f"{r['energy_per_inference_nj']:.3g} nJ/inference, Fmax {r['fmax_mhz']} MHz")
    save(out_json, results)
    ok = {n: m for n, m in results["models"].items() if m.get("status") == "ok"}
    if ok:
        best = min(ok, key=lambda n: ok[n]["energy_per_inference_nj"])
        results["lowest_energy_per_inference"] = best
        results["energy_per_inference_nj"] = {n: m["energy_per_inference_nj"] for n, m in ok.items()}

    if args.regweights:
        from hwflow.power.node_scaling import write_comparison
        from hwflow.power.regweights import compare_weight_storage

        run = args.out / "econt"
        if "econt" not in ok:
            print("--regweights needs a profiled econt run", file=sys.stderr)
            return 1
        x = model_inputs(run, MODELS["econt"][1], args.regweights_samples)
        reg = compare_weight_storage(run / "model.onnx", x, args.out / "econt_regweights", clock_mhz=args.clock,
                                     samples=args.regweights_samples)
        write_json(args.out / "econt_regweights.json", reg)
        results["econt_weights"] = {m: reg["scaled_totals"][m] for m in reg["scaled_totals"]}
        md = write_comparison(args.out / "econt_comparison.md", read_json(run / "profile.json"), reg)
        results["econt_comparison"] = str(md)
        print(md.read_text())
    save(out_json, results)
    print(f"wrote {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
