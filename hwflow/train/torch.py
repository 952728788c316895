"""Quantization-aware training of the Brevitas zoo models (``models/<name>_torch.py``).

``train_torch(name, run_dir, epochs=None, seed=0, ...)`` is what ``hwflow train MODEL
--framework brevitas`` calls (the CLI lives in ``hwflow/cli/training.py``). It writes, in
``run_dir``:

- ``model.pt``: ``{"hwflow": {"model", "framework", "seed", "epochs"}, "state_dict": ...}``
  (tensors and plain data only: loadable with ``torch.load(..., weights_only=True)``);
- ``model.onnx``: the QONNX export (:func:`hwflow.frontends.brevitas.export_brevitas`),
  checked against the trained model's quantized forward pass on 1,000 stimulus samples
  plus corners (0 mismatches, else :class:`MismatchError` and the stage fails);
- ``train.json``: the stage record with the metrics (test accuracy; for ECON-T the EMD of
  the reconstruction and of a trivial baseline; per-stage results for BiPer models).

Tasks (``TASK`` of the model file): ``classify`` (cross-entropy on the logits) and
``autoencode`` (ECON-T: quantized encoder + float decoder from ``build_decoder``, telescope
loss, EMD metric, :mod:`hwflow.train.econt_metrics`). BiPer models
(``TRAIN["biper_stage1_fraction"]``: the fraction of the epochs in stage 1) train in two
stages: stage 1 with the real-valued ``sin(w0 w)`` weights, stage 2 from there with binary
weights (a fresh optimizer and learning-rate schedule per stage, as the paper's two runs).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hwflow.artifacts import stage
from hwflow.errors import ConfigError, MismatchError
from hwflow.train import EpochLog, describe_epoch

EMD_SAMPLES = 500  # test samples on which the ECON-T EMD is computed (an LP each)


def _data(mod, seed: int):
    from hwflow.data import load_dataset

    kwargs = {"layout": "nchw"} if len(mod.INPUT_SHAPE) == 3 else {}
    x_tr, y_tr, x_te, y_te = load_dataset(mod.DATASET, seed=seed, **kwargs)
    return (torch.from_numpy(np.asarray(x_tr, np.float32)), torch.from_numpy(np.asarray(y_tr)),
            torch.from_numpy(np.asarray(x_te, np.float32)), torch.from_numpy(np.asarray(y_te)))


def _batches(n: int, batch_size: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch_size):
        yield perm[i : i + batch_size]


def _value(y):
    return getattr(y, "value", y)


def _run_epochs(model: nn.Module, params, loss_fn, x, y, epochs: int, batch_size: int, lr: float,
                gen: torch.Generator, log: list, tag: str) -> None:
    if epochs <= 0:
        return
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    for ep in range(epochs):
        model.train()
        total, count = 0.0, 0
        for idx in _batches(len(x), batch_size, gen):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x[idx], y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        log.append({"stage": tag, "epoch": ep + 1, "loss": total / max(count, 1)})


@torch.no_grad()
def _accuracy(model: nn.Module, x, y) -> float:
    model.eval()
    pred = torch.cat([_value(model(x[i : i + 1024])).argmax(1) for i in range(0, len(x), 1024)])
    return float((pred == y).float().mean())


@torch.no_grad()
def econt_emd(encoder: nn.Module, decoder: nn.Module, x_test: torch.Tensor, x_train: torch.Tensor,
              n: int = EMD_SAMPLES) -> dict[str, float]:
    """Mean EMD (cm) of the reconstruction and of the trivial baseline that predicts the
    mean training shape for every event, on the first ``n`` test events."""
    from hwflow.train.econt_metrics import cells_torch, emd_batch

    encoder.eval()
    decoder.eval()
    xt = x_test[:n]
    reco = cells_torch(decoder(_value(encoder(xt)))).numpy()
    true = cells_torch(xt).numpy()
    mean_shape = cells_torch(x_train).mean(0).numpy()
    e_model = emd_batch(true, reco)
    e_base = emd_batch(true, np.broadcast_to(mean_shape, true.shape))
    return {"emd_model_cm": float(np.nanmean(e_model)), "emd_baseline_mean_shape_cm": float(np.nanmean(e_base)),
            "emd_model_std_cm": float(np.nanstd(e_model)), "emd_samples": int(len(xt))}


@dataclass
class Trained:
    model: nn.Module  # eval mode; what is exported
    metrics: dict[str, Any]
    decoder: nn.Module | None = None  # ECON-T's float decoder (training only)


def train_model(name: str, epochs: int | None = None, seed: int = 0, lr: float | None = None,
                batch_size: int | None = None, log: list | None = None, model: nn.Module | None = None,
                data: tuple | None = None, options: dict | None = None) -> Trained:
    """Train zoo model ``name`` in memory.

    ``model``: train this instance instead of a fresh ``build(seed)`` (e.g. another ``mode``
    of ``biper_bnn`` for the digits benchmark); ``data``: ``(x_train, y_train, x_test,
    y_test)`` instead of ``load_dataset(DATASET, seed)`` (images NCHW).
    """
    from hwflow import zoo
    from hwflow.quant.biper_torch import biper_quants, set_biper_stage

    mod = zoo.load_definition(name, "brevitas")
    cfg = dict(getattr(mod, "TRAIN", {}))
    epochs = int(zoo.default_epochs(name, "brevitas") if epochs is None else epochs)
    if epochs < 0:
        raise ConfigError(f"epochs must be >= 0, got {epochs}")
    lr = float(cfg.get("lr", 1e-3) if lr is None else lr)
    batch_size = int(cfg.get("batch_size", 128) if batch_size is None else batch_size)
    task = getattr(mod, "TASK", cfg.get("task", "classify"))
    log = [] if log is None else log
    # these models are tiny: intra-op threads only add contention (10x slower measured on
    # a loaded 2-core machine); HWFLOW_TORCH_THREADS overrides
    torch.set_num_threads(int(os.environ.get("HWFLOW_TORCH_THREADS", "1")))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if model is None:
        model = zoo.build_model(name, "brevitas", seed=seed, **(options or {}))
    if data is None:
        x_tr, y_tr, x_te, y_te = _data(mod, seed)
    else:
        x_tr, y_tr, x_te, y_te = (torch.as_tensor(np.asarray(a)) for a in data)
        x_tr, x_te = x_tr.float(), x_te.float()
    metrics: dict[str, Any] = {"task": task, "epochs": epochs, "lr": lr, "batch_size": batch_size,
                               "train_samples": int(len(x_tr)), "test_samples": int(len(x_te))}

    if task in ("autoencode", "autoencoder"):
        decoder = mod.build_decoder(seed)
        metrics["encoder_parameters"] = int(sum(p.numel() for p in model.parameters()))
        from hwflow.train.econt_metrics import telescope_loss_torch

        def loss_fn(xb, _yb):
            return telescope_loss_torch(xb, decoder(_value(model(xb))))

        params = list(model.parameters()) + list(decoder.parameters())
        _run_epochs(model, params, loss_fn, x_tr, x_tr, epochs, batch_size, lr, gen, log, "qat")
        with torch.no_grad():
            model.eval()
            decoder.eval()
            metrics["test_telescope_loss"] = float(telescope_loss_torch(x_te, decoder(_value(model(x_te)))))
        metrics.update(econt_emd(model, decoder, x_te, x_tr))
        return Trained(model.eval(), metrics, decoder.eval())

    if task != "classify":
        raise ConfigError(f"model {name!r}: unknown TASK {task!r} (classify or autoencode)")
    ce = nn.CrossEntropyLoss()

    def loss_fn(xb, yb):
        return ce(_value(model(xb)), yb)

    frac1 = cfg.get("biper_stage1_fraction")
    if frac1 is not None and any(True for _ in biper_quants(model)):
        e1 = int(round(epochs * float(frac1)))
        set_biper_stage(model, 1)
        _run_epochs(model, model.parameters(), loss_fn, x_tr, y_tr, e1, batch_size, lr, gen, log, "biper_stage1")
        metrics["stage1"] = {"epochs": e1, "test_accuracy_real_sin_weights": _accuracy(model, x_te, y_te)}
        set_biper_stage(model, 2)
        metrics["stage2_start_test_accuracy"] = _accuracy(model, x_te, y_te)
        _run_epochs(model, model.parameters(), loss_fn, x_tr, y_tr, epochs - e1, batch_size, lr, gen, log,
                    "biper_stage2")
        metrics["stage2"] = {"epochs": epochs - e1}
    else:
        _run_epochs(model, model.parameters(), loss_fn, x_tr, y_tr, epochs, batch_size, lr, gen, log, "qat")
    metrics["test_accuracy"] = _accuracy(model, x_te, y_te)
    return Trained(model.eval(), metrics)


def save_state_dict(model: nn.Module, path: str | os.PathLike, name: str, seed: int, epochs: int,
                    options: dict | None = None) -> Path:
    """Save weights as a weights-only-loadable file (no pickled classes); the metadata names
    the zoo model and its builder options, so ``hwflow export`` rebuilds the same architecture."""
    path = Path(path)
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = {"model": name, "framework": "brevitas", "seed": int(seed), "epochs": int(epochs)}
    if options:
        meta["options"] = dict(options)
    torch.save({"hwflow": meta, "state_dict": sd}, path)
    return path


def train_torch(name: str, run_dir: str | os.PathLike, epochs: int | None = None, seed: int = 0,
                lr: float | None = None, batch_size: int | None = None,
                check_samples: int = 1000, progress: Callable[[str], None] | None = None,
                options: dict | None = None) -> dict:
    """QAT of Brevitas zoo model ``name`` (built with the builder's keyword ``options``); writes ``model.pt``, ``model.onnx`` and the stage
    record ``train.json`` in ``run_dir``; returns the record's result (metrics).

    Args:
        name: zoo model (``models/<name>_torch.py``), e.g. ``jet_mlp``, ``econt``, ``biper_bnn``.
        run_dir: run directory (created).
        epochs: training epochs (the model file's ``DEFAULT_EPOCHS`` if None; 0 = no training).
        seed: seeds the data split/generator, the initialisation and the batch order.
        lr, batch_size: override the model file's ``TRAIN`` settings.
        check_samples: random stimulus samples (plus corners) for the export check.
        progress: called with one line of text per finished epoch (progress display).
    Raises:
        ConfigError for an unknown model/option, MismatchError if the exported graph does not
        reproduce the trained model (the stage is then recorded as failed).
    """
    from hwflow.frontends import brevitas as fb
    from hwflow.ir import load_model, make_stimulus

    run_dir = Path(run_dir)
    params = {"model": name, "framework": "brevitas", "epochs": epochs, "seed": seed, "lr": lr,
              "batch_size": batch_size, **({"options": dict(options)} if options else {})}
    with stage(run_dir, "train", params=params) as st:
        t0 = time.time()
        log = EpochLog(None if progress is None else lambda rec: progress(describe_epoch(rec, epochs)))
        trained = train_model(name, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, log=log,
                              options=options)
        model, metrics, decoder = trained.model, trained.metrics, trained.decoder
        metrics["train_time_s"] = round(time.time() - t0, 2)
        metrics["history"] = log
        pt = st.output(save_state_dict(model, run_dir / "model.pt", name, seed, metrics["epochs"], options))
        if decoder is not None:
            st.output(save_state_dict(decoder, run_dir / "decoder.pt", f"{name}_decoder", seed, metrics["epochs"]))
        onnx_path = fb.export_brevitas(model, run_dir / "model.onnx", fb.input_shape_of(name))
        x = make_stimulus(load_model(str(onnx_path)), n=check_samples + 5, seed=seed, corners=True)
        try:
            metrics["export_check"] = fb.check_export(model, onnx_path, np.asarray(x, np.float32))
        except MismatchError:
            # as the QKeras path does: a graph that does not compute the trained model is not
            # left where the next stage would take it
            onnx_path.unlink(missing_ok=True)
            raise
        st.output(onnx_path)
        # the saved weights rebuild the same model (weights_only load)
        reloaded = fb.build_brevitas_zoo_model(name, seed=seed, trained=pt, options=options)
        metrics["export_check"]["reloaded_equal"] = bool(
            np.array_equal(fb.torch_forward(reloaded, x[:64]), fb.torch_forward(model, x[:64])))
        st.result.update({"metrics": metrics})
    return metrics


__all__ = ["train_torch", "train_model", "Trained", "econt_emd", "save_state_dict"]
