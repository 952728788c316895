#!/usr/bin/env python
"""Energy per inference of the zoo models on the 180 nm ASIC flow (and, for ECON-T, the
hard-wired vs register-weight comparison and the table next to the paper's 65 nm numbers).

    .venv/bin/python scripts/bench_energy.py [--models econt,jet_mlp,biper_mlp,biper_bnn]
        [--samples 100] [--clock 40] [--out bench_out] [--regweights] [--json FILE]
        [--trained] [--pipeline-for-clock] [--simulator levelized] [--effort fast]

A model is ``name`` or ``name:framework`` (qkeras|brevitas); its dataset is the zoo
definition's ``DATASET``. For each model: export the zoo model (QONNX, random init, seed 0;
``--trained``: train it first, ``hwflow train``'s defaults, seed 0), generate the RTL
(hwflow.backends.rtl; ``--pipeline-for-clock``: the pipeline depth chosen for ``--clock``), profile it (Yosys -> gate-level simulation on the
model's dataset -> OpenSTA). Writes ``<out>/bench_energy.json`` (and ``--json FILE``, a copy
without machine-local paths) and, with ``--regweights``, ``<out>/econt_comparison.md``.
Run directories are reused: a second run skips export/RTL generation, synthesis and, when
``profile.json`` is complete for the same design and parameters, the whole profile; the
JSON then gives both this invocation's wall time and the recorded wall time of the profile
run that produced the numbers.
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

DEFAULT_MODELS = "econt,jet_mlp,biper_mlp,biper_bnn"
# default framework per model (both exist for most; biper_mlp is QKeras only)
FRAMEWORK = {"econt": "qkeras", "jet_mlp": "brevitas", "biper_mlp": "qkeras", "biper_bnn": "qkeras"}


def model_spec(item: str) -> tuple[str, str, str]:
    """'name' or 'name:framework' -> (name, framework, dataset of the zoo definition)."""
    import ast

    from hwflow import zoo

    name, _, framework = item.partition(":")
    framework = framework or FRAMEWORK.get(name, "qkeras")
    # read DATASET without importing the definition (that would import TensorFlow or torch)
    tree = ast.parse(zoo.definition_path(name, framework).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DATASET" for t in node.targets):
            return name, framework, ast.literal_eval(node.value)
    raise ValueError(f"zoo model {name} ({framework}) has no DATASET")


def prepare(name: str, framework: str, run: Path, trained: bool = False, clock_mhz: float | None = None) -> Path:
    """RTL of the zoo model in ``run``: random-init weights, or trained (in ``run/train``);
    with ``clock_mhz`` the pipeline depth is chosen for that clock."""
    if (run / "rtl.json").exists():
        return run / "rtl.json"
    from hwflow.backends.rtl.generate import generate_rtl

    if trained:
        onnx = run / "train" / "model.onnx"
        if not onnx.exists():
            if framework == "qkeras":
                from hwflow.train.keras import train_keras as train
            else:
                from hwflow.train.torch import train_torch as train
            train(name, run / "train", seed=0, progress=print)
    else:
        from hwflow.frontends import export_zoo_model

        onnx = export_zoo_model(name, framework, run / f"{name}_{framework}.onnx")
    return generate_rtl(onnx, run, top=name, clock_mhz=clock_mhz)


def model_inputs(run: Path, dataset: str, samples: int) -> np.ndarray:
    """Dataset samples in the model's input layout, on the RTL input grid."""
    from hwflow.backends.rtl.design import load_design
    from hwflow.power.data import load_stimulus

    d = load_design(run)
    q = load_stimulus(d.input, samples, dataset=dataset).q
    x = q * d.input.scale * 2.0 ** -d.input.frac
    return x.reshape((len(x), *d.input.shape[1:])).astype(np.float32)


def save(out_json: Path, results: dict) -> None:
    """Write the results, keeping models (and the ECON-T weights comparison) that an earlier or
    concurrent run of this script recorded."""
    if out_json.exists():
        old = read_json(out_json)
        results["models"] = {**old.get("models", {}), **results["models"]}
        for k in ("econt_weights", "econt_comparison"):
            if k in old and k not in results:
                results[k] = old[k]
    write_json(out_json, results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated name[:framework]")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--clock", type=float, default=40.0, help="MHz")
    ap.add_argument("--out", type=Path, default=Path("bench_out"))
    ap.add_argument("--regweights", action="store_true", help="ECON-T hard-wired vs register weights")
    ap.add_argument("--regweights-samples", type=int, default=50, help="samples per weight slice")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here (paths made relative)")
    ap.add_argument("--trained", action="store_true", help="train each model first (hwflow train defaults, seed 0)")
    ap.add_argument("--pipeline-for-clock", action="store_true", help="pipeline depth chosen for --clock "
                    "(parallel designs; default: da4ml cutoff 5)")
    ap.add_argument("--simulator", default="yosys", help="gate-level simulator of hwflow profile")
    ap.add_argument("--effort", default="default", help="ASIC synthesis effort of hwflow profile (default|fast)")
    args = ap.parse_args(argv)

    from hwflow.power import profile

    # "samples" and "clock_mhz" of each model's entry are those of its profile (invocations with
    # other settings merge into one file)
    results: dict = {"target": "asic-osu018", "models": {}}
    out_json = args.out / "bench_energy.json"
    datasets = {}
    for item in [m.strip() for m in args.models.split(",") if m.strip()]:
        t0 = time.time()
        try:
            name, framework, dataset = model_spec(item)
        except Exception as e:
            print(f"unknown model {item!r}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
        datasets[name] = dataset
        run = args.out / name
        try:
            prepare(name, framework, run, trained=args.trained, clock_mhz=args.clock if args.pipeline_for_clock else None)
            r = profile(run, clock_mhz=args.clock, samples=args.samples, dataset=dataset, simulator=args.simulator,
                        synth=args.effort)
        except Exception as e:  # a benchmark records failures and goes on with the next model
            results["models"][name] = {"status": "failed", "framework": framework, "dataset": dataset,
                                       "wall_time_s": round(time.time() - t0, 1),
                                       "error": f"{type(e).__name__}: {e}"}
            save(out_json, results)
            print(f"{name}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
            continue
        rec = read_json(run / "profile.json")
        rtl = read_json(run / "rtl.json")
        results["models"][name] = {
            "status": "ok", "framework": framework, "dataset": dataset,
            "weights": _weights(run) if args.trained else "random init, seed 0",
            "pipeline": {k: rtl.get("pipeline", {}).get(k) for k in ("stages", "register_bits", "latency_cutoff")},
            "simulator": args.simulator, "synthesis_effort": args.effort,
            "samples": rec.get("params", {}).get("samples"), "clock_mhz": rec.get("params", {}).get("clock_mhz"),
            "architecture": rtl.get("pipeline", {}).get("architecture", "parallel"),
            "wall_time_s": round(time.time() - t0, 1),
            # the profile run that produced the numbers (earlier when this invocation reused it)
            "profile_wall_time_s": rec.get("wall_time_s"), "profile_started": rec.get("started"),
            "profile_reused": rec.get("started", "") < time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
            "flow_version": rec.get("params", {}).get("flow_version"),
            "rtl_generation_time_s": rtl.get("generation_time_s"),
            **{k: r[k] for k in ("area_um2", "cell_count", "total_power_mw", "dynamic_power_mw", "leakage_power_mw",
                                 "energy_per_inference_nj", "fmax_mhz", "ii", "latency_cycles")},
            "power_mw": r["power_mw"],
            "activity_mean_toggles_per_cycle": r["activity"]["mean_toggles_per_cycle"],
            "activity_source": r["activity"]["source"],
            "gate_level_check": r["gate_level_check"],
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
        t0 = time.time()
        x = model_inputs(run, datasets.get("econt", "hgcal"), args.regweights_samples)
        reg = compare_weight_storage(run / "model.onnx", x, args.out / "econt_regweights", clock_mhz=args.clock,
                                     samples=args.regweights_samples)
        reg["wall_time_s"] = round(time.time() - t0, 1)
        write_json(args.out / "econt_regweights.json", reg)
        results["econt_weights"] = {"estimate": True, "estimate_model": reg["estimate_model"],
                                    "samples_per_slice": args.regweights_samples, "wall_time_s": reg["wall_time_s"],
                                    "layers": reg["layers"],
                                    **{m: reg["scaled_totals"][m] for m in reg["scaled_totals"]}}
        md = write_comparison(args.out / "econt_comparison.md", read_json(run / "profile.json"), reg)
        results["econt_comparison"] = str(md)
        print(md.read_text())
    save(out_json, results)
    if args.json is not None:
        write_json(args.json, _portable(read_json(out_json), args.out))
        print(f"wrote {args.json}")
    print(f"wrote {out_json}")
    return 0


def _weights(run: Path) -> str:
    """What the trained weights are: the training record's test metrics."""
    t = read_json(run / "train" / "train.json").get("metrics", {})
    m = {k: v for k, v in t.items() if k in ("test_accuracy", "emd_model_cm", "epochs")}
    return "trained (hwflow train, seed 0): " + ", ".join(f"{k} {v:.4g}" for k, v in m.items())


def _portable(obj, out: Path):
    """Paths under ``out`` written relative to it (the JSON is committed; the run
    directories are not)."""
    root = str(out.resolve())
    if isinstance(obj, dict):
        return {k: _portable(v, out) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_portable(v, out) for v in obj]
    if isinstance(obj, str) and (obj.startswith(root) or obj.startswith(str(out))):
        return "<out>/" + str(Path(obj).resolve().relative_to(out.resolve()))
    return obj


if __name__ == "__main__":
    sys.exit(main())
