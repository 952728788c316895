"""Verilog models of a liberty's cells, generated from the liberty's own cell functions.

For a compiled gate-level simulation (Verilator): one ``assign`` per output pin from its
``function`` (combinational cells), a register per ``ff`` group (``next_state`` on the
``clocked_on`` edge, asynchronous ``clear``/``preset``), a level-sensitive latch per
``latch`` group, ``three_state`` as a ``z`` driver. Zero-delay and 2-state where the cell
is: the vendor's Verilog models (UDPs, ``specify`` delays) need ``--timing`` and take
Verilator many times longer to compile for the same netlist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.errors import ConfigError


@dataclass
class Cell:
    name: str
    inputs: list[str] = field(default_factory=list)
    outputs: dict[str, str | None] = field(default_factory=dict)        # pin -> function
    three_state: dict[str, str] = field(default_factory=dict)           # pin -> disable condition
    ff: dict[str, str] | None = None      # iq, iqn, next_state, clocked_on, clear, preset
    latch: dict[str, str] | None = None   # iq, iqn, data_in, enable


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def _group_body(text: str, start: int) -> tuple[str, int]:
    """The text between the ``{`` at/after ``start`` and its matching ``}``; and the end."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j], j + 1
    raise ConfigError("liberty: unbalanced braces")


def _attrs(body: str) -> dict[str, str]:
    """Simple attributes ``key : value ;`` at the top level of a group body."""
    flat, depth = [], 0
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            flat.append(ch)
    return {m.group(1): m.group(2).strip().strip('"') for m in re.finditer(r"(\w+)\s*:\s*([^;]+);", "".join(flat))}


def _groups(body: str, kind: str) -> list[tuple[str, str]]:
    """(argument, body) of each ``kind (arg) { ... }`` directly or deeper in ``body``."""
    out, pos = [], 0
    pat = re.compile(rf"\b{kind}\s*\(([^)]*)\)\s*{{")
    while True:
        m = pat.search(body, pos)
        if not m:
            return out
        inner, end = _group_body(body, m.end() - 1)
        out.append((m.group(1).strip().strip('"'), inner))
        pos = end


def read_cells(liberty: str | Path) -> dict[str, Cell]:
    text = _strip_comments(Path(liberty).read_text())
    cells: dict[str, Cell] = {}
    for name, body in _groups(text, "cell"):
        c = Cell(name)
        for pin, pbody in _groups(body, "pin"):
            a = _attrs(pbody)
            if a.get("direction") == "input":
                c.inputs.append(pin)
            elif a.get("direction") in ("output", "inout"):
                c.outputs[pin] = a.get("function")
                if "three_state" in a:
                    c.three_state[pin] = a["three_state"]
        for kind in ("ff", "latch"):
            g = _groups(body, kind)
            if g:
                names = [v.strip() for v in g[0][0].split(",")]
                if len(names) != 2 or not all(names):
                    raise ConfigError(f"{liberty}: cell {name}: {kind}({g[0][0]}) must name two state variables "
                                      "(IQ, IQN)")
                setattr(c, kind, {"iq": names[0], "iqn": names[1], **_attrs(g[0][1])})
        cells[name] = c
    if not cells:
        raise ConfigError(f"{liberty}: no cells found")
    return cells


_TOKEN = re.compile(r"\s*([A-Za-z_][\w\[\]\.]*|[01]|[()!'+|*&^])")


def to_verilog(expr: str, where: str) -> str:
    """A liberty boolean function as a Verilog expression: ``!`` and postfix ``'`` are NOT,
    ``+``/``|`` OR, ``*``/``&``/juxtaposition AND, ``^`` XOR."""
    toks, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ConfigError(f"{where}: cannot read function {expr!r} at {expr[pos:]!r}")
        toks.append(m.group(1))
        pos = m.end()
    out: list[str] = []
    prev = None
    for t in toks:
        operand_start = t not in (")", "+", "|", "*", "&", "^", "'")
        if prev is not None and (prev == ")" or prev == "'" or _is_operand(prev)) and operand_start:
            out.append("&")                 # juxtaposition is AND
        if t == "'":
            # postfix NOT of the preceding operand or parenthesized group
            if out and out[-1] == ")":
                depth, k = 0, len(out) - 1
                while k >= 0:
                    depth += out[k] == ")"
                    depth -= out[k] == "("
                    if depth == 0:
                        break
                    k -= 1
                out.insert(k, "~")
            else:
                out.insert(len(out) - 1, "~")
        else:
            out.append({"!": "~", "+": "|", "*": "&", "0": "1'b0", "1": "1'b1"}.get(t, t))
        prev = t
    return " ".join(out)


def _is_operand(t: str) -> bool:
    return bool(re.match(r"[A-Za-z_01]", t))


def _attr(c: Cell, group: dict, kind: str, key: str) -> str:
    """A required attribute of a cell's ff/latch group (a ConfigError naming both if absent)."""
    if not group.get(key):
        raise ConfigError(f"liberty cell {c.name}: its {kind} group has no {key}")
    return group[key]


def cell_verilog(c: Cell) -> str:
    ports = [*c.inputs, *c.outputs]
    lines = [f"module {c.name} ({', '.join(ports)});"]
    lines += [f"  input {p};" for p in c.inputs]
    lines += [f"  output {p};" for p in c.outputs]
    state = c.ff or c.latch
    if state:
        lines.append(f"  reg {state['iq']};")
        lines.append(f"  wire {state['iqn']} = ~{state['iq']};")
    if c.ff:
        f = c.ff
        clk = to_verilog(_attr(c, f, "ff", "clocked_on"), c.name)
        edges = [f"posedge hw_clk"]
        lines.append(f"  wire hw_clk = {clk};")
        body = []
        if f.get("clear"):
            lines.append(f"  wire hw_clear = {to_verilog(f['clear'], c.name)};")
            edges.append("posedge hw_clear")
            body.append(f"if (hw_clear) {f['iq']} <= 1'b0;")
        if f.get("preset"):
            lines.append(f"  wire hw_preset = {to_verilog(f['preset'], c.name)};")
            edges.append("posedge hw_preset")
            body.append(f"{'else ' if body else ''}if (hw_preset) {f['iq']} <= 1'b1;")
        body.append(f"{'else ' if body else ''}{f['iq']} <= {to_verilog(_attr(c, f, 'ff', 'next_state'), c.name)};")
        lines.append(f"  always @({' or '.join(edges)}) {' '.join(body)}")
    if c.latch:
        g = c.latch
        lines.append(f"  always @* if ({to_verilog(_attr(c, g, 'latch', 'enable'), c.name)}) {g['iq']} = "
                     f"{to_verilog(_attr(c, g, 'latch', 'data_in'), c.name)};")
    for pin, fn in c.outputs.items():
        if fn is None:
            raise ConfigError(f"liberty cell {c.name}: output {pin} has no function")
        value = to_verilog(fn, c.name)
        if pin in c.three_state:
            value = f"({to_verilog(c.three_state[pin], c.name)}) ? 1'bz : ({value})"
        lines.append(f"  assign {pin} = {value};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def write_cell_models(liberty: str | Path, path: str | Path, cells: set[str] | None = None) -> Path:
    """Verilog models of the liberty's cells (only ``cells`` when given) in ``path``."""
    lib = read_cells(liberty)
    missing = sorted(set(cells or ()) - set(lib))
    if missing:
        raise ConfigError(f"{liberty} has no cells {', '.join(missing)}")
    text = ["// generated by hwflow.power.cell_models from " + str(liberty),
            "// verilator lint_off UNUSEDSIGNAL", "// verilator lint_off LATCH",
            # a cell's pins are the netlist's nets, traced one level up: the cells' own
            # copies would only make the trace code (and its compile) many times larger
            "// verilator tracing_off"]
    text += [cell_verilog(lib[n]) for n in sorted(cells or lib)]
    Path(path).write_text("\n".join(text))
    return Path(path)
