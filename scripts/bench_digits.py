"""Digits benchmark: float vs 8-bit QAT vs plain sign-STE BNN vs BiPer BNN (QKeras or Brevitas).

Same architecture for all four (``models/biper_bnn_{keras,torch}.py``: 8-bit first conv, two
3x3 hidden convolutions of 32 and 64 channels with a per-channel scale, max-pooling,
8-bit dense classifier; only the hidden layers change), same epochs, same optimiser and
batch size, several seeds (each seed changes the train/test split, the initialisation and
the batch order). BiPer uses the paper's two-stage schedule inside the same epoch budget
(half the epochs with real-valued sin(w0 w) weights, half binarized).

    .venv/bin/python scripts/bench_digits.py --epochs 30 --seeds 5 -o runs/bench_digits
    .venv/bin/python scripts/bench_digits.py --framework brevitas -o runs/bench_digits_torch

Writes ``bench_digits_<framework>.json`` (per mode: accuracies, mean, std) and a bar plot
``bench_digits_<framework>.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

MODES = ("float", "int8", "sign", "biper")
LABELS = {"float": "float", "int8": "8-bit QAT", "sign": "sign-STE BNN", "biper": "BiPer BNN"}


def run(epochs: int, seeds: int, out: Path, w0: float, framework: str = "qkeras") -> dict:
    from hwflow import zoo
    from hwflow.artifacts import write_json
    from hwflow.data import load_dataset

    if framework == "qkeras":
        from hwflow.train import keras as trainer
    else:
        from hwflow.train import torch as trainer
    # PyTorch models take NCHW images, Keras models NHWC
    layout = {"layout": "nchw"} if framework == "brevitas" else {}
    suffix = "keras" if framework == "qkeras" else "torch"
    mod = zoo.load_definition("biper_bnn", framework)
    results: dict = {"dataset": "digits (scikit-learn, 8x8)", "framework": framework,
                     "architecture": f"models/biper_bnn_{suffix}.py", "epochs": epochs,
                     "seeds": list(range(seeds)), "w0": w0,
                     "batch_size": mod.TRAIN["batch_size"], "lr": mod.TRAIN["lr"],
                     "biper_stage1_fraction": mod.TRAIN["biper_stage1_fraction"], "modes": {}}
    for mode in MODES:
        results["modes"][mode] = {"label": LABELS[mode], "test_accuracy": [], "train_time_s": []}
    for seed in range(seeds):
        data = load_dataset("digits", seed=seed, **layout)
        for mode in MODES:
            t0 = time.time()
            model = mod.build(seed=seed, mode=mode, w0=w0)
            tr = trainer.train_model("biper_bnn", epochs=epochs, seed=seed, model=model, data=data)
            r = results["modes"][mode]
            r["test_accuracy"].append(tr.metrics["test_accuracy"])
            r["train_time_s"].append(round(time.time() - t0, 1))
            if mode == "biper":
                r.setdefault("stage1_test_accuracy", []).append(
                    tr.metrics["stage1"]["test_accuracy_real_sin_weights"])
            print(f"seed {seed} {mode:6s} acc {tr.metrics['test_accuracy']:.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
            for m in results["modes"].values():
                a = np.asarray(m["test_accuracy"])
                if a.size:
                    m["mean"], m["std"] = float(a.mean()), float(a.std(ddof=1) if a.size > 1 else 0.0)
            write_json(out / f"bench_digits_{framework}.json", results)  # partial results survive a kill
    plot(results, out / f"bench_digits_{framework}.png")
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
    ax.set_title(f"{results['framework']}, digits 8x8, same architecture, {results['epochs']} epochs, "
                 f"{len(results['seeds'])} seeds (mean ± std)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--w0", type=float, default=20.0)
    ap.add_argument("--framework", choices=("qkeras", "brevitas"), default="qkeras")
    ap.add_argument("-o", "--output", type=Path, default=Path("runs/bench_digits"))
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    res = run(args.epochs, args.seeds, args.output, args.w0, args.framework)
    for m in MODES:
        r = res["modes"][m]
        print(f"{LABELS[m]:14s} {r['mean']:.4f} ± {r['std']:.4f}")


if __name__ == "__main__":
    main()
