"""``run_sweep``: the points of a sweep through Ray, their results into ``DIR/sweep.json``.

The driver keeps at most ``max_parallel`` points in flight; a point is a chain of Ray tasks
(one per segment, ``hwflow.sweep.segments``), the next submitted when the previous one
completes. A point that fails (a ``FitError``, a tool failure) is recorded with its stage
and message and the sweep goes on. ``sweep.json`` is rewritten after every point, so an
interrupted sweep leaves what it finished; rerunning it sends every point again and each
``hwflow run`` skips the stages that are up to date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hwflow.sweep.ray_engine import RaySession, check_request
from hwflow.sweep.segments import Segment, segments
from hwflow.sweep.spec import Point, Sweep, grid_points


@dataclass
class _InFlight:
    point: Point
    record: dict
    segments: list[Segment]
    index: int = 0
    stages: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0


class GridSource:
    """The grid's points, in order."""

    def __init__(self, sweep: Sweep, out_dir: Path):
        self.points = grid_points(sweep)
        self._next = 0

    def total(self) -> int:
        return len(self.points)

    def next_point(self) -> Point | None:
        if self._next >= len(self.points):
            return None
        self._next += 1
        return self.points[self._next - 1]

    def finished(self, record: dict) -> None:
        pass

    def carried(self) -> list[dict]:
        return []


def _source(sweep: Sweep, out_dir: Path):
    if sweep.spec.search is not None:
        from hwflow.sweep.search import OptunaSource

        return OptunaSource(sweep, out_dir)
    return GridSource(sweep, out_dir)


def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    address: str | None = None,
    max_parallel: int | None = None,
    on_event: Callable[[str, dict], None] | None = None,
) -> dict[str, Any]:
    """Run every point of ``sweep`` on Ray; returns the ``sweep.json`` record (also written,
    with ``sweep.csv``, ``plots/`` and ``sweep.html``, into ``out_dir``).

    ``on_event(event, point_record)``: ``start``, ``done`` (complete, failed or interrupted).
    """
    from hwflow.sweep.results import write_results

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    notify = on_event or (lambda event, rec: None)
    source = _source(sweep, out_dir)  # a bad point is a ConfigError before Ray starts
    records: list[dict] = list(source.carried())
    t0 = time.time()
    summary: dict[str, Any] = {"engine": {"name": "ray"}}
    with RaySession(address) as ray_session:
        summary["engine"] = ray_session.describe()
        largest = ray_session.largest_node()
        for name, res in {"default": sweep.spec.resources_for("default"), **sweep.spec.resources}.items():
            check_request(largest, res.cpus, res.memory_gb, sweep.line("resources", name) + f": resources.{name}")
        limit = max_parallel or sweep.spec.max_parallel or max(
            1, int(summary["engine"]["cpus"] // sweep.spec.resources_for("default").cpus))
        summary["max_parallel"] = limit
        inflight: dict[Any, _InFlight] = {}

        def submit(job: _InFlight) -> None:
            seg = job.segments[job.index]
            # the mapping as written, not a dump of the model: a dump spells out every default
            # (and deprecated aliases) that the flow's validators may refuse side by side
            ref = ray_session.submit(job.point.raw, out_dir / "points" / job.point.id,
                                     seg.first, seg.last, final=job.index == len(job.segments) - 1,
                                     cpus=seg.resources.cpus, memory_gb=seg.resources.memory_gb,
                                     name=f"{job.point.id}:{seg.first}-{seg.last}")
            inflight[ref] = job

        def save() -> None:
            write_results(out_dir, sweep, records, {**summary, "wall_time_s": round(time.time() - t0, 2)},
                          total=source.total())

        try:
            exhausted = False
            while True:
                while not exhausted and len(inflight) < limit:
                    point = source.next_point()
                    if point is None:
                        exhausted = True
                        break
                    rec = _new_record(point, len(records))
                    records.append(rec)
                    job = _InFlight(point, rec, segments(sweep.spec, point.flow))
                    submit(job)
                    notify("start", rec)
                if not inflight:
                    break
                for ref, result, error in ray_session.wait(list(inflight), timeout=5.0):
                    job = inflight.pop(ref)
                    if _advance(job, result, error):
                        submit(job)
                        continue
                    source.finished(job.record)
                    save()
                    notify("done", job.record)
        except KeyboardInterrupt:
            ray_session.cancel(list(inflight))
            for job in inflight.values():
                job.record["status"] = "interrupted"
            save()
            raise
    summary["wall_time_s"] = round(time.time() - t0, 2)
    return write_results(out_dir, sweep, records, summary, total=source.total(), final=True)


def _new_record(point: Point, index: int) -> dict:
    return {"index": index, "id": point.id, "settings": point.settings, "status": "running",
            "run_dir": f"points/{point.id}", "stages": {}, "metrics": {}}


def _advance(job: _InFlight, result: dict | None, error: str | None) -> bool:
    """Fold a finished segment into the point's record; True when the next segment should run."""
    rec = job.record
    if result is None:  # the Ray task itself failed (its worker died, hwflow missing on the node)
        rec.update(status="failed", error=error)
        return False
    job.stages.update(result.get("stages", {}))
    job.wall_time_s += result.get("wall_time_s", 0.0)
    rec["stages"] = dict(job.stages)
    rec["wall_time_s"] = round(job.wall_time_s, 2)
    rec.setdefault("nodes", [])
    if result.get("node") not in rec["nodes"]:
        rec["nodes"].append(result.get("node"))
    if result.get("status") != "complete":
        rec.update(status=result["status"], error=result.get("error"), failed_stage=result.get("failed_stage"))
        rec["metrics"] = result.get("metrics", {})
        return False
    job.index += 1
    if job.index < len(job.segments):
        return True
    rec["status"] = "complete"
    rec["metrics"] = {**result.get("metrics", {}), "wall_time_s": rec["wall_time_s"]}
    ran = [s for s in job.stages.values() if s in ("complete", "skipped")]
    # every stage already up to date (the report always reruns): the point was reused
    rec["reused"] = bool(ran) and all(s == "skipped" for n, s in job.stages.items() if n != "report"
                                      and s in ("complete", "skipped"))
    return False
