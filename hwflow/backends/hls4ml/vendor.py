"""Vendor HLS build of a written hls4ml project (only where Vitis/Vivado HLS is installed).

hls4ml's own ``build()`` calls ``os.system``/``os.chdir`` and ignores exit codes (Vivado) or
requires ``vitis-run`` (Vitis 2024+); we run the same project script with the tool found by
``hwflow.tools`` (``VitisHLS``/``VivadoHLS``), its output in ``vendor_build.log``, a failing
exit code raised as ``ToolFailed``. The options go where hls4ml's scripts read them:
``build_opt.tcl`` (Vitis, sourced by ``build_prj.tcl``) or ``key=value`` arguments (Vivado).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from hwflow.backends.hls4ml.report import parse_build
from hwflow.errors import ConfigError


@dataclass
class BuildSteps:
    reset: bool = True
    csim: bool = False      # our C-sim check already ran through the compiled library
    synth: bool = True
    cosim: bool = False
    validation: bool = False
    export: bool = False
    vsynth: bool = False
    fifo_opt: bool = False

    def tcl(self) -> str:
        body = "".join(f"    {k:<10} {int(v)}\n" for k, v in asdict(self).items())
        return "array set opt {\n" + body + "}\n"

    def args(self) -> str:
        return " ".join(f"{k}={int(v)}" for k, v in asdict(self).items())


def vendor_tool(backend: str):
    from hwflow import tools

    if backend == "Vitis":
        return tools.VitisHLS()
    if backend in ("Vivado", "VivadoAccelerator"):
        return tools.VivadoHLS()
    raise ConfigError(f"no vendor build for hls4ml backend {backend!r}; legal: Vitis, Vivado, VivadoAccelerator")


def build_command(backend: str, exe: Path, project_dir: Path, steps: BuildSteps) -> list[str]:
    """The command line, after writing the option file it reads (Vitis)."""
    if backend == "Vitis":
        (project_dir / "build_opt.tcl").write_text(steps.tcl())
        vitis_run = shutil.which("vitis-run")
        if exe.name != "vitis_hls" and vitis_run:
            return [vitis_run, "--tcl", "build_prj.tcl", "--mode", "hls"]
        return [str(exe), "-f", "build_prj.tcl"]
    return [str(exe), "-f", "build_prj.tcl", steps.args()]


def _extra_reports(project_dir: Path, steps: BuildSteps) -> dict:
    """Co-simulation and Vivado synthesis results, read by hls4ml's own report parser."""
    if not (steps.cosim or steps.vsynth):
        return {}
    import contextlib
    import io

    from hls4ml.report import parse_vivado_report

    with contextlib.redirect_stdout(io.StringIO()):
        rep = parse_vivado_report(str(project_dir)) or {}
    out = {}
    if steps.cosim and rep.get("CosimReport"):
        out["cosim"] = rep["CosimReport"]
    if steps.vsynth and rep.get("VivadoSynthReport"):
        out["vivado_synth"] = {k.lower(): int(v) if str(v).isdigit() else v
                               for k, v in rep["VivadoSynthReport"].items()}
    return out


def run_vendor_build(project_dir: str | Path, backend: str, top: str, steps: BuildSteps | None = None) -> dict:
    """Run HLS synthesis (and the chosen extra steps); return the parsed report.

    Raises ``VendorToolMissing`` (exit code 4) when the tool is not installed: the project
    stays written, ready to build elsewhere.
    """
    from hwflow.tools import run_tool

    steps = steps or BuildSteps()
    project_dir = Path(project_dir)
    tool = vendor_tool(backend)
    exe = tool.locate()
    cmd = build_command(backend, exe, project_dir, steps)
    log = project_dir / "vendor_build.log"
    run_tool(cmd, cwd=project_dir, log=log, env=tool.env(), tool=tool.name)
    report = parse_build(project_dir, top) if steps.synth else {}
    report.update(_extra_reports(project_dir, steps))
    report["command"] = cmd
    report["log"] = log.name
    report["steps"] = asdict(steps)
    return report
