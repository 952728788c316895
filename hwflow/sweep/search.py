"""An Optuna search as the source of a sweep's points (ask, run on Ray, tell).

The study lives in ``DIR/optuna.db`` (SQLite), so a rerun continues it: trials that
finished count against the budget and keep their records; a trial left running by a killed
sweep is failed and its parameters asked again first (its run directory still holds the
stages it completed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwflow.artifacts import read_json
from hwflow.errors import ToolNotFound
from hwflow.sweep.spec import Point, Sweep


class OptunaSource:
    def __init__(self, sweep: Sweep, out_dir: Path):
        try:
            import optuna
        except ImportError as e:
            raise ToolNotFound("optuna", "pip install optuna (part of scripts/setup.sh)") from e
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.sweep = sweep
        self.spec = sweep.spec.search
        samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
                    "nsga2": optuna.samplers.NSGAIISampler}
        self.study = optuna.create_study(
            study_name=sweep.spec.name, storage=f"sqlite:///{out_dir / 'optuna.db'}", load_if_exists=True,
            sampler=samplers[self.spec.sampler](seed=self.spec.seed),
            directions=list(self.spec.objectives.values()))
        self._trials: dict[str, Any] = {}  # point id -> trial in flight
        self._values: dict[str, list | None] = {}  # point id -> objective values (None: failed)
        self._carried = self._resume(out_dir)
        self._asked = 0

    def _resume(self, out_dir: Path) -> list[dict]:
        TrialState = self.optuna.trial.TrialState
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            if t.state == TrialState.RUNNING:
                self.study.tell(t.number, state=TrialState.FAIL)
                self.study.enqueue_trial(t.params)
        previous = {}
        if (out_dir / "sweep.json").exists():
            previous = {p.get("trial"): p for p in read_json(out_dir / "sweep.json").get("points", [])}
        done = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        failed = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                  if t.user_attrs.get("point_failed")]
        carried = [previous[t.number] for t in sorted(done + failed, key=lambda t: t.number) if t.number in previous]
        for i, rec in enumerate(carried):
            rec["index"] = i
        for t in done + failed:
            if t.number in previous:
                self._values[previous[t.number]["id"]] = t.values if t.state == TrialState.COMPLETE else None
        self._finished = len(done) + len(failed)
        return carried

    def carried(self) -> list[dict]:
        return self._carried

    def total(self) -> int:
        return self.spec.trials

    def next_point(self) -> Point | None:
        while self._finished + self._asked < self.spec.trials:
            trial = self.study.ask()
            point = self._point(trial)
            if point.id in self._trials or point.id in self._values:
                # asked again: tell it what that point gave (or failed), without running it twice
                values = self._values.get(point.id)
                self.study.tell(trial, values, state=None if values else self.optuna.trial.TrialState.FAIL)
                self._finished += 1
                continue
            self._trials[point.id] = trial
            self._asked += 1
            return point
        return None

    def _point(self, trial) -> Point:
        settings = {}
        for key, p in self.spec.space.items():
            if p.choices is not None:
                # Optuna stores choices as plain values: index lists (board lists) by position
                idx = trial.suggest_categorical(key, list(range(len(p.choices))))
                settings[key] = p.choices[idx]
            elif float(p.low).is_integer() and float(p.high).is_integer() and (p.step is None or float(p.step).is_integer()):
                settings[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
            else:
                settings[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
        return self.sweep.point(settings, ("search", "space"))

    def finished(self, record: dict) -> None:
        trial = self._trials.pop(record["id"])
        record["trial"] = trial.number
        self._asked -= 1
        self._finished += 1
        TrialState = self.optuna.trial.TrialState
        values = [record.get("metrics", {}).get(m) for m in self.spec.objectives]
        if record["status"] == "complete" and all(isinstance(v, (int, float)) for v in values):
            self.study.tell(trial, values)
            self._values[record["id"]] = values
        else:
            # a failed point (FitError, ...) or one without the objective's number
            trial.set_user_attr("point_failed", True)
            self.study.tell(trial, state=TrialState.FAIL)
            self._values[record["id"]] = None
