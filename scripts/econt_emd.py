"""Train the Brevitas ECON-T encoder on the synthetic HGCAL data and report the energy
mover's distance of its reconstruction next to a trivial baseline (the mean training shape
predicted for every event). Writes JSON (default ``econt_emd.json``).

    .venv/bin/python scripts/econt_emd.py --epochs 30 --seed 0 -o runs/econt_emd.json

The EMD is over the 48 trigger-cell centres (cm), on the first 500 test events
(``hwflow.train.torch.EMD_SAMPLES``); the data are synthetic (``hwflow.data.hgcal``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", type=Path, default=None, help="keep model.pt/model.onnx here")
    ap.add_argument("-o", "--output", type=Path, default=Path("econt_emd.json"))
    args = ap.parse_args(argv)

    from hwflow.artifacts import write_json
    from hwflow.train.torch import train_torch

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="econt_emd_"))
    m = train_torch("econt", run_dir, epochs=args.epochs, seed=args.seed)
    result = {
        "model": "econt", "framework": "brevitas", "data": "synthetic HGCAL-like (hwflow.data.hgcal)",
        "epochs": args.epochs, "seed": args.seed, "loss": "telescope (TC, 2x2, 4x4)",
        "encoder_parameters": m["encoder_parameters"],
        "emd_model_cm": m["emd_model_cm"], "emd_model_std_cm": m["emd_model_std_cm"],
        "emd_baseline_mean_shape_cm": m["emd_baseline_mean_shape_cm"], "emd_samples": m["emd_samples"],
        "model_better_than_baseline": m["emd_model_cm"] < m["emd_baseline_mean_shape_cm"],
        "test_telescope_loss": m["test_telescope_loss"], "export_check": m["export_check"],
        "train_time_s": m["train_time_s"], "run_dir": str(run_dir),
    }
    write_json(args.output, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
