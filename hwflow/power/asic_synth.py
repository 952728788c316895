"""Map an RTL design to a standard-cell library with Yosys: gate-level netlist + area.

Two mappings run in one Yosys script:
- hierarchical (``synth`` without ``-flatten``): area of each module's own cells, for the
  "area by module" plot (no cross-boundary optimisation, so its total is a little larger);
- flat: the netlist that is simulated and analysed by OpenSTA. After ``abc -liberty`` the
  recipe of docs/DESIGN.md makes it parseable by the Debian OpenSTA (``setundef -zero``,
  ``splitnets``, ``insbuf``, ``write_verilog -noattr``). We split every net (not only the
  ports) and give every wire and cell a short plain name (``n123``/``u45``) so that net
  names are identical in the netlist, the simulator's VCD and OpenSTA's Tcl.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwflow.artifacts import file_digest, read_json
from hwflow.backends.rtl.design import RtlDesign
from hwflow.errors import ToolFailed
from hwflow.power.liberty import read_liberty
from hwflow.tools import Yosys
from hwflow.tools.yosys import yosys_path


@dataclass
class AsicNetlist:
    top: str
    netlist_v: Path
    netlist_json: Path
    liberty: Path
    area_um2: float
    sequential_area_um2: float
    cell_counts: dict[str, int]
    area_by_cell_type: dict[str, float]
    area_by_module: list[dict]          # {"module", "instances", "own_area_um2", "total_um2"}
    log: Path


# ABC without its SAT sweeping (&fraig -x, scorr) and choice computation: the script of older
# Yosys' `abc -fast` for cell libraries (Yosys 0.70 has no -fast option); used with
# `synth -noabc`, so this is the only ABC run
ABC_FAST_SCRIPT = '-script "+strash;dretime;map"'


def _script(design: RtlDesign, lib: Path, out: Path, hierarchical: bool, abc_fast: bool = False) -> str:
    files = " ".join(yosys_path(f) for f in design.files)
    top = design.top
    # -defer: only modules reachable from the top are elaborated (da4ml's unused library
    # modules $readmemh files that do not exist)
    # the liberty cells as blackboxes: gives `check` and write_json their port directions
    lines = [f'read_liberty -lib "{lib}"', f"read_verilog -sv -defer {files}", f"hierarchy -check -top {top}"]
    if hierarchical:
        lines += [
            "design -save rtl",
            f"synth -top {top}",
            f'dfflibmap -liberty "{lib}"',
            f'abc -liberty "{lib}"',
            "opt_clean",
            f'tee -q -o "{out / "stat_hier.json"}" stat -json -liberty "{lib}"',
            "design -load rtl",
        ]
    lines += [
        # fast: skip synth's own generic-gate ABC run (its default script, SAT sweeping
        # included, is where wide sums of Yosys multipliers spend tens of minutes)
        f"synth -top {top} -flatten{' -noabc' if abc_fast else ''}",
        f'dfflibmap -liberty "{lib}"',
        f'abc {ABC_FAST_SCRIPT + " " if abc_fast else ""}-liberty "{lib}"',
        "setundef -zero",
        "splitnets -ports -format _",
        "opt_clean -purge",
        "insbuf -buf BUFX2 A Y",
        # plain names: ports keep theirs (rename -hide ignores ports)
        "rename -hide w:* t:*",
        "rename -enumerate -pattern n% w:*",
        "rename -enumerate -pattern u% t:*",
        "check -assert",
        f'tee -q -o "{out / "stat.json"}" stat -json -liberty "{lib}"',
        f'write_verilog -noattr "{out / "netlist.v"}"',
        f'write_json "{out / "netlist.json"}"',
    ]
    return "\n".join(lines) + "\n"


def _clean_module_name(name: str) -> str:
    # "$paramod$<hash>\\dot_neuron" and "$paramod\\reg\\W=8" -> "dot_neuron", "reg"; "\\top" -> "top"
    name = name.lstrip("\\")
    if name.startswith("$paramod"):
        return name.split("\\")[1]
    return name


def _area_by_module(stat_hier: dict, top: str, lib_areas: dict[str, float]) -> list[dict]:
    mods = {k.lstrip("\\"): v for k, v in stat_hier["modules"].items()}
    own: dict[str, float] = {}
    subs: dict[str, dict[str, int]] = {}
    for name, m in mods.items():
        counts = {t.lstrip("\\"): n for t, n in m.get("num_cells_by_type", {}).items()}
        own[name] = sum(n * lib_areas.get(t, 0.0) for t, n in counts.items() if t in lib_areas)
        subs[name] = {t: n for t, n in counts.items() if t in mods}
    top_key = next((k for k in mods if _clean_module_name(k) == top), None)
    if top_key is None:
        return []
    instances: dict[str, int] = {}

    def visit(mod: str, mult: int) -> None:
        instances[mod] = instances.get(mod, 0) + mult
        for sub, n in subs[mod].items():
            visit(sub, mult * n)

    visit(top_key, 1)
    # parametrised variants of one module (da4ml writes hundreds of shift_adder variants)
    # are summed under the module's name
    rows_by_name: dict[str, dict] = {}
    for mod, n in instances.items():
        base = _clean_module_name(mod)
        r = rows_by_name.setdefault(base, {"module": base, "variants": 0, "instances": 0, "total_um2": 0.0})
        r["variants"] += 1
        r["instances"] += n
        r["total_um2"] += own[mod] * n
    rows = sorted(rows_by_name.values(), key=lambda r: -r["total_um2"])
    for r in rows:
        r["total_um2"] = round(r["total_um2"], 3)
    return rows


def synthesis_digest(design: RtlDesign, liberty: Path, script_text: str, out_dir: Path) -> str:
    """What a netlist was made from: the Yosys script with the run directory's location taken
    out (a copied run directory keeps its netlist), the sources' and the liberty's contents."""
    text = script_text.replace(str(Path(out_dir).resolve()), "<out>").replace(str(design.run_dir.resolve()), "<run>")
    digest = hashlib.sha256(text.encode())
    for f in (*design.files, Path(liberty)):
        digest.update(bytes.fromhex(file_digest(f)))
    return digest.hexdigest()


def synthesize_asic(design: RtlDesign, liberty: Path, out_dir: Path, hierarchical: bool = True,
                    timeout: float | None = None, abc_fast: bool = False,
                    progress: Callable[[str], None] | None = None) -> AsicNetlist:
    """Run Yosys; return the flat netlist and its area (um^2, from the liberty ``area``).

    ``abc_fast``: ABC's fast script (no SAT sweeping: ABC's default ``&fraig``/``scorr`` took over
    15 minutes on one 128-input sum of products from Yosys' own multipliers, where da4ml's
    shift-and-add netlists of 150k cells map in minutes); slightly larger netlists.
    ``progress`` gets a line per Yosys pass."""
    out_dir = Path(out_dir).resolve()  # Yosys runs in out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / "asic_synth.ys"
    text = _script(design, Path(liberty).resolve(), out_dir.resolve(), hierarchical, abc_fast)
    script.write_text(text)
    log = out_dir / "asic_synth.log"
    # skip Yosys when the same script already ran on the same sources (profiling the same
    # design with other data reuses the netlist)
    digest = synthesis_digest(design, liberty, text, out_dir)
    stamp = out_dir / "inputs.sha256"
    outputs = [out_dir / n for n in ("stat.json", "netlist.v", "netlist.json")]
    if not (stamp.exists() and stamp.read_text() == digest and all(p.exists() for p in outputs)):
        stamp.unlink(missing_ok=True)
        from hwflow.synth.yosys import yosys_progress

        Yosys().run_script(script, cwd=out_dir, log=log, timeout=timeout,
                           on_line=yosys_progress(progress, "yosys asic"))
        stamp.write_text(digest)
    elif progress:
        progress(f"yosys asic: netlist of the same sources and script reused ({out_dir / 'netlist.v'})")
    stat = read_json(out_dir / "stat.json")
    mod = stat["design"]
    lib = read_liberty(liberty)
    counts = {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()}
    unknown = [c for c in counts if c not in lib.areas]
    if unknown:
        raise ToolFailed("yosys", 0, str(log), f"netlist has cells not in {liberty}: {', '.join(unknown)}")
    area_by_type = {c: round(n * lib.areas[c], 3) for c, n in sorted(counts.items())}
    by_module = []
    if hierarchical and (out_dir / "stat_hier.json").exists():
        by_module = _area_by_module(read_json(out_dir / "stat_hier.json"), design.top, lib.areas)
    return AsicNetlist(
        top=design.top, netlist_v=out_dir / "netlist.v", netlist_json=out_dir / "netlist.json",
        liberty=Path(liberty), area_um2=float(mod["area"]),
        sequential_area_um2=float(mod.get("sequential_area", 0.0)), cell_counts=counts,
        area_by_cell_type=area_by_type, area_by_module=by_module, log=log,
    )
