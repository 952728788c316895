"""Digits benchmark, Brevitas side: float vs 8-bit QAT vs plain sign-STE BNN vs BiPer BNN.

The PyTorch twin of ``scripts/bench_digits.py`` (QKeras): same architecture
(``models/biper_bnn_torch.py``, ``build(mode=...)``: 8-bit first conv, two 3x3 hidden
convolutions of 32 and 64 channels with a per-channel scale, max-pooling, 8-bit dense),
same epochs, optimiser (Adam, cosine schedule), batch size and seeds (each seed changes the
train/test split, the initialisation and the batch order). BiPer uses the two-stage
schedule inside the same epoch budget (``TRAIN["biper_stage1_fraction"]`` of the epochs
with real-valued sin(w0 w) weights, the rest binarized).

    .venv/bin/python scripts/bench_digits_torch.py --epochs 30 --seeds 5 -o runs/bench_digits_torch

Writes ``bench_digits_torch.json`` (per mode: accuracies, mean, std) and a bar plot.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES = ("float", "int8", "sign", "biper")
LABELS = {"float": "float", "int8": "8-bit QAT", "sign": "sign-STE BNN", "biper": "BiPer BNN"}


def run(epochs: int, seeds: int, out: Path, w0: float) -> dict:
    from hwflow import zoo
    from hwflow.artifacts import write_json
    from hwflow.data import load_dataset
    from hwflow.train import torch as tt

    mod = zoo.load_definition("biper_bnn", "brevitas")
    results: dict = {"dataset": "digits (scikit-learn, 8x8)", "framework": "brevitas",
                     "architecture": "models/biper_bnn_torch.py", "epochs": epochs,
                     "seeds": list(range(seeds)), "w0": w0, "batch_size": mod.TRAIN["batch_size"],
                     "lr": mod.TRAIN["lr"], "biper_stage1_fraction": mod.TRAIN["biper_stage1_fraction"],
                     "modes": {m: {"label": LABELS[m], "test_accuracy": [], "train_time_s": []} for m in MODES}}
    for seed in range(seeds):
        data = load_dataset("digits", seed=seed, layout="nchw")
        for mode in MODES:
            t0 = time.time()
            model = mod.build(seed=seed, mode=mode, w0=w0)
            tr = tt.train_model("biper_bnn", epochs=epochs, seed=seed, model=model, data=data)
            r = results["modes"][mode]
            r["test_accuracy"].append(tr.metrics["test_accuracy"])
            r["train_time_s"].append(round(time.time() - t0, 1))
            if mode == "biper":
                r.setdefault("stage1_test_accuracy", []).append(
                    tr.metrics["stage1"]["test_accuracy_real_sin_weights"])
            print(f"seed {seed} {mode:6s} acc {tr.metrics['test_accuracy']:.4f} ({time.time() - t0:.0f} s)",
                  flush=True)
            for m in results["modes"].values():
                a = np.asarray(m["test_accuracy"])
                if a.size:
                    m["mean"], m["std"] = float(a.mean()), float(a.std(ddof=1) if a.size > 1 else 0.0)
            write_json(out / "bench_digits_torch.json", results)  # partial results survive a kill
    plot(results, out / "bench_digits_torch.png")
    return results


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if results["modes"][m]["test_accuracy"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, m in enumerate(modes):
        r = results["modes"][m]
        ax.bar(i, r["mean"], yerr=r["std"], capsize=6, color=f"C{i}", alpha=0.7)
        ax.scatter(np.full(len(r["test_accuracy"]), i), r["test_accuracy"], color="k", s=12, zorder=3)
    ax.set_xticks(range(len(modes)), [LABELS[m] for m in modes])
    ax.set_ylabel("test accuracy")
    lo = min(min(results["modes"][m]["test_accuracy"]) for m in modes)
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_title(f"Brevitas, digits 8x8, same architecture, {results['epochs']} epochs, "
                 f"{len(results['seeds'])} seeds (mean ± std)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--w0", type=float, default=20.0)
    ap.add_argument("-o", "--output", type=Path, default=Path("runs/bench_digits_torch"))
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    res = run(args.epochs, args.seeds, args.output, args.w0)
    for m in MODES:
        r = res["modes"][m]
        print(f"{LABELS[m]:14s} {r['mean']:.4f} ± {r['std']:.4f}")


if __name__ == "__main__":
    main()
