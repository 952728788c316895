"""Quantization-aware training of the QKeras zoo models (``hwflow train --framework qkeras``).

- classification models (``TASK = "classify"``): softmax cross-entropy on the logits;
- ECON-T (``TASK = "autoencode"``): the quantized encoder + the float decoder of
  ``models/econt_keras.py`` trained end to end with the telescope loss (trigger cells,
  2x2 and 4x4 super-cells, :func:`telescope_loss`); metric: the energy mover's distance
  over the 48 cell centres (:mod:`hwflow.train.econt_metrics`, exact transport LP), with the
  trivial baseline "predict the mean training shower" for comparison;
- BiPer models: the paper's two-stage schedule -- stage 1 trains with the real-valued
  ``sin(w0 * w)`` weights (binary activations), stage 2 continues from stage 1 with
  binarized weights (``TRAIN["biper_stage1_fraction"]`` of the epochs in stage 1).

``train_keras`` writes ``model.h5`` (QKeras model, HDF5: QKeras layers do not survive the
``.keras`` format), ``model.onnx`` (QONNX, checked bit-exact against the trained model on
``check_samples`` IR stimulus samples plus corners) and the stage record ``train.json``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwflow.artifacts import stage
from hwflow.errors import ConfigError, MismatchError
from hwflow.train import EpochLog, describe_epoch
from hwflow.quant import keras_env

tf, keras = keras_env()

from hwflow.data import hgcal  # noqa: E402
from hwflow.train.econt_metrics import REMAP_2X2, REMAP_4X4, emd_batch  # noqa: E402

_CELL_FLAT = hgcal.CELL_ROWCOL[:, 0] * 8 + hgcal.CELL_ROWCOL[:, 1]
AUTOENCODER_TASKS = ("autoencode", "autoencoder")


def _cells(img):
    """(N, 8, 8, 1) -> (N, 48) in ``hgcal.CELL_CENTRES`` order (TensorFlow)."""
    return tf.gather(tf.reshape(img, (-1, 64)), _CELL_FLAT, axis=1)


def telescope_loss(true_img, pred_img):
    """Telescope MSE (after fastml-science ``telescopeMSE2``): squared error weighted by
    ``max(true, pred)`` on the 48 trigger cells, the 12 2x2 and the 3 4x4 super-cells,
    combined ``4 * TC + 2 * (2x2) + (4x4)``; same definition as the Brevitas trainer."""
    t, p = _cells(tf.cast(true_img, tf.float32)), _cells(pred_img)
    r2 = tf.constant(REMAP_2X2, tf.float32)
    r4 = tf.constant(REMAP_4X4, tf.float32)

    def term(a, b):
        return tf.reduce_mean(tf.square(a - b) * tf.maximum(a, b), axis=1)

    return 4.0 * term(t, p) + 2.0 * term(t @ r2, p @ r2) + term(t @ r4, p @ r4)


def econt_emd(reco: np.ndarray, x_test: np.ndarray, x_train: np.ndarray, n: int = 400) -> dict:
    """Mean EMD (cm) of the reconstruction and of the trivial mean-shower baseline."""
    true = hgcal.image_to_cells(x_test[:n]).astype(np.float64)
    pred = hgcal.image_to_cells(reco[:n]).astype(np.float64)
    mean_shape = hgcal.image_to_cells(x_train).mean(0)
    e_model = emd_batch(true, pred)
    e_base = emd_batch(true, np.broadcast_to(mean_shape, true.shape))
    return {"emd_model_cm": float(np.nanmean(e_model)),
            "emd_model_std_cm": float(np.nanstd(e_model)),
            "emd_baseline_mean_shape_cm": float(np.nanmean(e_base)),
            "emd_samples": int(len(true))}


@dataclass
class Trained:
    model: Any  # the hardware model (ECON-T: the encoder)
    metrics: dict[str, Any]
    decoder: Any = None


class _EpochLog(keras.callbacks.Callback):
    def __init__(self, log: list, phase: str):
        super().__init__()
        self.log, self.phase = log, phase

    def on_epoch_end(self, epoch, logs=None):
        self.log.append({"phase": self.phase, "epoch": len([e for e in self.log
                                                            if e["phase"] == self.phase]) + 1,
                         **{k: round(float(v), 6) for k, v in (logs or {}).items()}})


def _fit(model, x, y, loss, epochs: int, batch_size: int, lr: float, log: list, phase: str,
         seed: int, metrics=None) -> None:
    if epochs <= 0:
        return
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=metrics or [])
    keras.utils.set_random_seed(seed + len(log))
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
              callbacks=[_EpochLog(log, phase)])


def _predict(model, x, batch: int = 1024) -> np.ndarray:
    # eager calls, not model.predict: predict() caches a traced function that would keep
    # the BiPer stage it was traced with
    return np.concatenate([np.asarray(model(x[i:i + batch], training=False))
                           for i in range(0, len(x), batch)])


def _accuracy(model, x, y) -> float:
    return float((np.argmax(_predict(model, x), 1) == y).mean())


def _limit_threads() -> None:
    # tiny models on a shared 2-core machine: more threads only add contention
    n = int(os.environ.get("HWFLOW_TF_THREADS", "1"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        pass  # TensorFlow already initialised in this process


def train_model(name: str, epochs: int | None = None, seed: int = 0, lr: float | None = None,
                batch_size: int | None = None, log: list | None = None, model=None,
                data=None, options: dict | None = None) -> Trained:
    """Train QKeras zoo model ``name`` in memory (``model`` overrides the zoo build, e.g.
    another variant of the same architecture; ``data`` overrides the dataset; ``options``
    are the builder's keyword options)."""
    from hwflow import zoo
    from hwflow.data import load_dataset
    from hwflow.quant.biper_keras import BiPerWeight, set_biper_stage

    _limit_threads()
    mod = zoo.load_definition(name, "qkeras")
    cfg = dict(getattr(mod, "TRAIN", {}))
    epochs = zoo.default_epochs(name, "qkeras") if epochs is None else int(epochs)
    if epochs < 0:
        raise ConfigError(f"epochs must be >= 0, got {epochs}")
    lr = float(cfg.get("lr", 1e-3) if lr is None else lr)
    batch_size = int(cfg.get("batch_size", 128) if batch_size is None else batch_size)
    task = getattr(mod, "TASK", "classify")
    log = [] if log is None else log
    if model is None:
        model = zoo.build_model(name, "qkeras", seed=seed, **(options or {}))
    x_tr, y_tr, x_te, y_te = data if data is not None else load_dataset(mod.DATASET, seed=seed)
    metrics: dict[str, Any] = {"task": task, "epochs": epochs, "lr": lr,
                               "batch_size": batch_size, "train_samples": int(len(x_tr)),
                               "test_samples": int(len(x_te)),
                               "parameters": int(model.count_params())}

    if task in AUTOENCODER_TASKS:
        decoder = mod.build_decoder(seed)
        ae = keras.Model(model.inputs, decoder(model.outputs[0]), name=f"{name}_autoencoder")
        _fit(ae, x_tr, x_tr, telescope_loss, epochs, batch_size, lr, log, "qat", seed)
        reco = _predict(ae, x_te)
        metrics["test_telescope_loss"] = float(np.mean(telescope_loss(x_te, reco).numpy()))
        metrics.update(econt_emd(reco, x_te, x_tr))
        return Trained(model, metrics, decoder)
    if task != "classify":
        raise ConfigError(f"model {name!r}: unknown TASK {task!r} (classify or autoencode)")

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    acc = [keras.metrics.SparseCategoricalAccuracy(name="acc")]
    biper = [q for l in model.layers for q in [getattr(l, "kernel_quantizer_internal", None)]
             if isinstance(q, BiPerWeight)]
    frac = float(cfg.get("biper_stage1_fraction", 0.5))
    if biper:
        e1 = int(round(epochs * frac))
        set_biper_stage(model, 1)
        _fit(model, x_tr, y_tr, loss, e1, batch_size, lr, log, "biper_stage1", seed, acc)
        metrics["stage1"] = {"epochs": e1,
                             "test_accuracy_real_sin_weights": _accuracy(model, x_te, y_te)}
        set_biper_stage(model, 2)
        metrics["stage2_start_test_accuracy"] = _accuracy(model, x_te, y_te)
        _fit(model, x_tr, y_tr, loss, epochs - e1, batch_size, lr, log, "biper_stage2", seed, acc)
        metrics["stage2"] = {"epochs": epochs - e1}
    else:
        _fit(model, x_tr, y_tr, loss, epochs, batch_size, lr, log, "qat", seed, acc)
    metrics["test_accuracy"] = _accuracy(model, x_te, y_te)
    return Trained(model, metrics)


def train_keras(name: str, run_dir: str | os.PathLike, epochs: int | None = None, seed: int = 0,
                lr: float | None = None, batch_size: int | None = None,
                check_samples: int = 1000, progress: Callable[[str], None] | None = None,
                options: dict | None = None) -> dict:
    """QAT of QKeras zoo model ``name`` (built with the builder's keyword ``options``); writes ``model.h5``, ``model.onnx`` (and
    ``decoder.h5`` for ECON-T) and ``train.json`` in ``run_dir``; returns the metrics.

    Raises ConfigError for an unknown model/option and MismatchError if the exported graph
    does not reproduce the trained model bit-exactly (the stage is then recorded failed and
    ``model.onnx`` removed).
    """
    from hwflow.frontends.qkeras import check_export, export_keras_model, load_keras_model

    run_dir = Path(run_dir)
    params = {"model": name, "framework": "qkeras", "epochs": epochs, "seed": seed, "lr": lr,
              "batch_size": batch_size, **({"options": dict(options)} if options else {})}
    with stage(run_dir, "train", params=params) as st:
        t0 = time.time()
        log = EpochLog(None if progress is None else lambda rec: progress(describe_epoch(rec, epochs)))
        trained = train_model(name, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, log=log,
                              options=options)
        model, metrics = trained.model, trained.metrics
        metrics["train_time_s"] = round(time.time() - t0, 2)
        metrics["history"] = log
        h5 = run_dir / "model.h5"
        model.save(h5)
        st.output(h5)
        if trained.decoder is not None:
            trained.decoder.save(run_dir / "decoder.h5")
            st.output(run_dir / "decoder.h5")
        onnx_path = run_dir / "model.onnx"
        export_keras_model(model, onnx_path, name=name)
        try:
            metrics["export_check"] = check_export(model, onnx_path, n=check_samples, seed=seed)
            reloaded = load_keras_model(h5)  # the saved file rebuilds the same model
            x = np.asarray(tf.random.stateless_uniform((64,) + tuple(model.inputs[0].shape[1:]),
                                                       seed=(seed, 1), minval=-1, maxval=2))
            metrics["export_check"]["reloaded_equal"] = bool(
                np.array_equal(reloaded(x).numpy(), model(x).numpy()))
        except MismatchError:
            onnx_path.unlink(missing_ok=True)
            raise
        st.output(onnx_path)
        st.result.update({"metrics": metrics})
    return metrics


__all__ = ["train_keras", "train_model", "telescope_loss", "econt_emd", "Trained"]
