"""A non-editable install works: hwflow built into a wheel and installed into a fresh venv
finds its boards, model definitions, HLS headers and stream testbench inside the installed
package (``hwflow/bundled``), runs ``hwflow doctor``, and takes a small model through
``rtl`` and ``sim`` from a working directory outside the repository.

The fresh venv gets hwflow's dependencies from the test's own environment through a
``.pth`` line (a plain path: the editable install's finder there is not run), so nothing is
downloaded; hwflow itself is the wheel, installed with ``--ignore-installed`` so pip does
not touch the editable install it can see on that path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from _rtl_util import tiny_mlp

pytestmark = pytest.mark.tools

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list, cwd: Path, env: dict, timeout: float = 300) -> str:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(bin/ of a fresh venv with hwflow installed from a wheel, the environment to run it)."""
    root = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_CURRENT_TEST")}
    # built from a copy: an in-tree build would reuse the repository's build/ (stale files)
    src = root / "src"
    for name in ("hwflow", "models", "boards", "hls", "rtl_tests"):
        shutil.copytree(REPO / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    wheels = root / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, src],
         cwd=root, env=env)
    (wheel,) = wheels.glob("hwflow-*.whl")

    target = root / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    (site / "hwflow_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    py = target / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", "--no-index", wheel],
         cwd=root, env=env)
    # tools installed as console scripts (yowasp-nextpnr-*) stay where the test's venv has them
    env["PATH"] = f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}{os.pathsep}{Path(sys.executable).parent}"
    return target / "bin", env


def test_installed_package_has_its_resources(installed, tmp_path):
    bin_dir, env = installed
    code = ("import hwflow, hwflow.zoo as z, hwflow.boards as b, hwflow.sim.runner as r, "
            "hwflow.backends.hls4ml.ext_multithreshold as m\n"
            "print(hwflow.__file__); print(z.names()); print(b.list_boards()); print(r.testbench_dir()); "
            "print(m.HEADER.is_file())")
    lines = _run([bin_dir / "python", "-c", code], cwd=tmp_path, env=env).splitlines()
    site = Path(sysconfig.get_path("purelib", vars={"base": str(bin_dir.parent), "platbase": str(bin_dir.parent)}))
    assert Path(lines[0]).parent == site / "hwflow", "hwflow was not imported from the installed wheel"
    assert "jet_mlp" in lines[1] and "icebreaker" in lines[2]
    assert Path(lines[3]).is_relative_to(site) and lines[4] == "True"


def test_installed_doctor_rtl_sim(installed, tmp_path):
    bin_dir, env = installed
    hwflow = bin_dir / "hwflow"
    _run([hwflow, "doctor"], cwd=tmp_path, env=env)
    tiny_mlp(tmp_path / "tiny.onnx")
    _run([hwflow, "rtl", "tiny.onnx", "-o", "run", "--latency-cutoff", "2"], cwd=tmp_path, env=env)
    # the bulk engine (its C++ harness is package data); the cocotb engine's testbench is
    # checked above (its build would add half a minute to the default run)
    assert "0 mismatches" in _run([hwflow, "sim", "run", "--samples", "200"], cwd=tmp_path, env=env)
