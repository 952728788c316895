"""Place and route with nextpnr (YoWASP builds) and bitstream packing (icepack/ecppack).

``NextpnrPnR(board).run(netlist, constraints, out_dir)`` places and routes a Yosys JSON
netlist for the board's device with the board clock as the timing constraint, and reads
achieved Fmax and utilization from nextpnr's ``--report`` JSON. ``BitstreamPacker`` turns
the routed result into the file the board loads.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwflow.artifacts import read_json
from hwflow.boards import OPEN_BITSTREAM_FAMILIES, Board
from hwflow.errors import ConfigError, FitError, ToolFailed
from hwflow.tools import Nextpnr, Packer, run_tool


@dataclass(frozen=True)
class PnrResult:
    fmax_mhz: dict[str, float]           # achieved, per clock net
    constraint_mhz: float
    timing_met: bool
    utilization: dict[str, dict]         # nextpnr's cell types: used / available
    routed: Path                         # .asc (iCE40) or .config (ECP5)
    report: Path
    log: Path
    seconds: float

    @property
    def fmax_min_mhz(self) -> float | None:
        return min(self.fmax_mhz.values()) if self.fmax_mhz else None


def _rel(path: Path, base: Path) -> Path:
    """``path`` relative to ``base`` (with ``..`` when needed): what a YoWASP tool run in
    ``base`` can open."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve()))


def _require_open_family(board: Board) -> None:
    if board.family not in OPEN_BITSTREAM_FAMILIES:
        raise ConfigError(f"board {board.name} ({board.family}) has no open place-and-route here; "
                          f"nextpnr is used for {', '.join(OPEN_BITSTREAM_FAMILIES)} boards")


# nextpnr's routers. router1 is its default for iCE40 and ECP5 and routes the small designs
# in seconds. For a congested 50k-LUT ECP5 design (the jet tagger on the ULX3S) neither
# finished (measured November 2026 on a 2-core machine): router1 ran > 2.5 h, router2
# resolves overused wires at a few minutes per iteration
# (benchmarks/bench_ecp5_jettagger.json), but it shows how far it is.
ROUTERS = ("router1", "router2")


# nextpnr log lines worth a progress line: the placer's and the router's iterations, and the
# timing estimate after placement. A 50k-LUT ECP5 design spends hours in the router here, so
# the user sees the overused-wire count fall (router2) or the arcs left (router1).
_PROGRESS = (
    (re.compile(r"Running main analytical placer"), lambda m: "placing (HeAP)"),
    (re.compile(r"at iteration #(\d+), type ALL: wirelen solved = (\d+)"),
     lambda m: f"placer iteration {m[1]}: wirelength {m[2]}"),
    (re.compile(r"Running simulated annealing placer"), lambda m: "refining placement (annealing)"),
    (re.compile(r"at iteration #(\d+): temp = [\d.]+, timing cost = \d+, wirelen = (\d+)"),
     lambda m: f"placement refinement iteration {m[1]}: wirelength {m[2]}"),
    (re.compile(r"Max frequency for clock '([^']+)': ([\d.]+) MHz"),
     lambda m: f"timing analysis: Fmax {m[2]} MHz"),     # after placement, then after routing
    (re.compile(r"Running (router\d)"), lambda m: f"routing ({m[1]})"),
    (re.compile(r"^Info: Routing (\d+) arcs"), lambda m: f"routing {m[1]} arcs (router1)"),
    (re.compile(r"iter=(\d+) wires=(\d+) overused=(\d+)"),
     lambda m: f"router iteration {m[1]}: {m[3]} of {m[2]} wires overused"),
    (re.compile(r"^Info:\s+(\d+) \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|"),
     lambda m: f"router: {m[2]} arcs left after {m[1]} iterations"),
)


def nextpnr_progress(line: str) -> str | None:
    """A short progress line for a line of nextpnr's log, or None for the other lines."""
    for pattern, describe in _PROGRESS:
        m = pattern.search(line)
        if m:
            return describe(m)
    return None


# nextpnr's words when the design is too big for the device or too full to place (iCE40
# packer/placer, ECP5 placer, either's utilisation check)
_PLACEMENT_FAILURES = ("Unable to find legal placement", "Failed to expand region", "Design utilisation too high",
                       "but device only has", "Failed to place")
_UTILISATION_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")


def placement_failure(log: Path, board: Board) -> FitError | None:
    """A ``FitError`` when nextpnr's log says the design did not fit or could not be placed
    (with the last utilisation it printed), else None (another failure: the ToolFailed stands)."""
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    reason = next((r for r in _PLACEMENT_FAILURES if r in text), None)
    if reason is None:
        return None
    usage: dict[str, str] = {}
    for line in text.splitlines():
        m = _UTILISATION_LINE.match(line)
        if m and int(m.group(2)) > 0:
            usage[m.group(1)] = f"{int(m.group(2)):,}/{int(m.group(3)):,} ({m.group(4)}%)"
    used = ", ".join(f"{k} {v}" for k, v in usage.items()) or "see the log"
    return FitError(f"nextpnr could not place the design on the {board.name} ({board.device}): "
                    f"'{reason}'; utilisation {used}. Build a smaller design: hwflow rtl MODEL -o RUN "
                    f"--board {board.name} --throughput N with a lower N (or --folding). Log: {log}")


class NextpnrPnR:
    def __init__(self, board: Board, seed: int = 1, router: str | None = None, clock_mhz: float | None = None) -> None:
        """``clock_mhz``: nextpnr's timing target (default: the board's oscillator, which the
        board top runs at)."""
        _require_open_family(board)
        if router is not None and router not in ROUTERS:
            raise ConfigError(f"unknown nextpnr router {router!r}; choose one of {', '.join(ROUTERS)}")
        self.board = board
        self.tool = Nextpnr(board.family)
        self.seed = seed
        self.router = router
        self.clock_mhz = float(clock_mhz) if clock_mhz else board.clock.frequency_hz / 1e6

    def command(self, netlist: Path, constraints: Path, routed: Path, report: Path) -> list[str]:
        """nextpnr's command line; paths are given relative to the directory it runs in (the
        WebAssembly build may not see every absolute path of the host)."""
        b = self.board
        cmd = [str(self.tool.locate()), *b.nextpnr_args, "--json", str(netlist),
               "--freq", f"{self.clock_mhz:g}", "--report", str(report), "--seed", str(self.seed),
               # a design that misses the board clock still gets a bitstream; timing_met says so
               "--timing-allow-fail"]
        if self.router:
            cmd += ["--router", self.router]
        if b.family == "ice40":
            cmd += ["--pcf", str(constraints), "--asc", str(routed)]
        else:
            cmd += ["--lpf", str(constraints), "--textcfg", str(routed)]
        return cmd

    def run(self, netlist: Path, constraints: Path, out_dir: str | Path, timeout: float | None = None,
            progress: Callable[[str], None] | None = None) -> PnrResult:
        out_dir = Path(out_dir)
        routed = out_dir / ("routed.asc" if self.board.family == "ice40" else "routed.config")
        report = out_dir / "nextpnr_report.json"
        log = out_dir / "nextpnr.log"
        for stale in (routed, report):
            stale.unlink(missing_ok=True)
        t0 = time.time()
        cmd = self.command(_rel(netlist, out_dir), _rel(constraints, out_dir), Path(routed.name), Path(report.name))
        on_line = None
        if progress is not None:
            def on_line(line: str) -> None:
                text = nextpnr_progress(line)
                if text:
                    progress(f"nextpnr: {text}")
        try:
            run_tool(cmd, cwd=out_dir, log=log, tool=self.tool.name, timeout=timeout, on_line=on_line)
        except ToolFailed as e:
            raise placement_failure(log, self.board) or e
        seconds = time.time() - t0
        if not report.exists() or not routed.exists():
            raise ToolFailed(self.tool.name, 0, str(log), "nextpnr finished without its report or routed design")
        data = read_json(report)
        fmax = {net: float(v["achieved"]) for net, v in data.get("fmax", {}).items()}
        constraint = self.clock_mhz
        return PnrResult(
            fmax_mhz=fmax, constraint_mhz=constraint,
            timing_met=bool(fmax) and min(fmax.values()) >= constraint,
            utilization={k: {"used": int(v["used"]), "available": int(v["available"])}
                         for k, v in data.get("utilization", {}).items()},
            routed=routed, report=report, log=log, seconds=round(seconds, 2),
        )


class BitstreamPacker:
    """icepack (iCE40 ``.asc`` -> ``.bin``) or ecppack (ECP5 ``.config`` -> ``.bit``)."""

    def __init__(self, board: Board) -> None:
        _require_open_family(board)
        self.board = board
        self.tool = Packer(board.family)

    def run(self, routed: Path, out_dir: str | Path, timeout: float | None = None) -> tuple[Path, Path]:
        out_dir = Path(out_dir)
        ext = "bin" if self.board.family == "ice40" else "bit"
        bitstream = out_dir / f"{self.board.name}.{ext}"
        bitstream.unlink(missing_ok=True)
        log = out_dir / f"{self.tool.name}.log"
        cmd = [str(self.tool.locate())]
        if self.board.family == "ecp5":
            cmd += ["--compress"]
        cmd += [str(_rel(routed, out_dir)), bitstream.name]
        run_tool(cmd, cwd=out_dir, log=log, tool=self.tool.name, timeout=timeout)
        if not bitstream.exists() or bitstream.stat().st_size == 0:
            raise ToolFailed(self.tool.name, 0, str(log), f"no bitstream written to {bitstream}")
        return bitstream, log
