"""Fan-out buffer trees for the gate-level netlist before OpenSTA.

``abc -liberty`` maps logic without limiting fan-out, so the pipeline's clock-enable,
reset and the clock drive thousands of pins from one INVX1. OpenSTA then extrapolates its
delay and internal-power tables to microsecond slews (a 150k-cell ECON-T showed a 9 us
path and 15 W). A physical flow would repair this (OpenROAD ``repair_design``,
clock-tree synthesis); Yosys has no such pass, so we insert balanced trees of buffer cells
(fan-out <= ``max_fanout`` at every level) into the mapped netlist here. Buffers do not
change the logic, so every buffer output carries the activity of the net it buffers: the
gate-level simulation of the unbuffered netlist still gives all activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hwflow.artifacts import read_json

Load = tuple[str, str]   # (cell, pin) or ("", output port name)


@dataclass
class BufferedNetlist:
    verilog: Path
    buffers: dict[str, int] = field(default_factory=dict)     # buffered source net -> buffers added
    buffer_sources: dict[str, str] = field(default_factory=dict)  # "bufN/Y" -> source net name
    cells_added: int = 0


def _net_names(mod: dict) -> dict[int, str]:
    """One name per bit: the port name for port bits, else the shortest net name."""
    names: dict[int, str] = {}
    for pname, port in mod["ports"].items():
        for b in port["bits"]:
            if isinstance(b, int):
                names[b] = pname
    for nname, nn in sorted(mod["netnames"].items(), key=lambda kv: len(kv[0])):
        if len(nn["bits"]) == 1 and isinstance(nn["bits"][0], int):
            names.setdefault(nn["bits"][0], nname)
    return names


def _esc(name: str) -> str:
    return name if name.replace("_", "a").isalnum() and not name[0].isdigit() else f"\\{name} "


def buffer_netlist(netlist_json: Path, top: str, out: Path, buf_cell: str = "BUFX4", buf_in: str = "A",
                   buf_out: str = "Y", max_fanout: int = 16) -> BufferedNetlist:
    mod = read_json(netlist_json)["modules"][top]
    names = _net_names(mod)
    cells = {c: dict(cell) for c, cell in mod["cells"].items()}
    conns = {c: {p: list(bits) for p, bits in cell["connections"].items()} for c, cell in cells.items()}
    loads: dict[int, list[Load]] = {}
    for c, cell in cells.items():
        for pin, d in cell.get("port_directions", {}).items():
            if d == "input":
                b = conns[c][pin][0]
                if isinstance(b, int):
                    loads.setdefault(b, []).append((c, pin))
    res = BufferedNetlist(out)
    next_bit = max([b for bb in (list(loads) + list(names)) for b in [bb]] + [0]) + 1
    new_cells: dict[str, dict] = {}

    def tree(src: int, ls: list[Load]) -> None:
        nonlocal next_bit
        while len(ls) > max_fanout:
            groups = [ls[i:i + max_fanout] for i in range(0, len(ls), max_fanout)]
            new_loads: list[Load] = []
            for g in groups:
                nb = next_bit
                next_bit += 1
                bname = f"hwbuf{len(new_cells)}"
                names[nb] = f"{bname}_y"
                new_cells[bname] = {"type": buf_cell, "A": src, "Y": nb}
                res.buffer_sources[f"{bname}/{buf_out}"] = names[src]
                for c, pin in g:
                    (new_cells[c] if c in new_cells else conns[c])[pin if c not in new_cells else "A"] = \
                        nb if c in new_cells else [nb]
                new_loads.append((bname, buf_in))
            ls = new_loads

    for b, ls in loads.items():
        if len(ls) > max_fanout:
            before = len(new_cells)
            tree(b, ls)
            res.buffers[names.get(b, str(b))] = len(new_cells) - before
    res.cells_added = len(new_cells)

    def ref(b) -> str:
        if b in ("0", "1"):
            return f"1'b{b}"
        if b in ("x", "z"):
            return "1'b0"
        return _esc(names[b])

    lines = [f"// {top} with fan-out buffer trees (hwflow.power.buffering; max fan-out {max_fanout})",
             f"module {top} ({', '.join(_esc(p) for p in mod['ports'])});"]
    for p, port in mod["ports"].items():
        lines.append(f"  {port['direction']} {_esc(p)};")
    ports = set(mod["ports"])
    for b, n in sorted(names.items()):
        if n not in ports:
            lines.append(f"  wire {_esc(n)};")
    for c, cell in cells.items():
        pins = ", ".join(f".{p}({ref(bits[0])})" for p, bits in conns[c].items() if bits)
        lines.append(f"  {cell['type']} {_esc(c)} ({pins});")
    for c, nc in new_cells.items():
        lines.append(f"  {nc['type']} {c} (.{buf_in}({ref(nc['A'])}), .{buf_out}({ref(nc['Y'])}));")
    lines.append("endmodule")
    out.write_text("\n".join(lines) + "\n")
    return res
