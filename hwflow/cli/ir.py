"""`hwflow inspect` and `hwflow exec`: thin layers over ``hwflow.ir``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from hwflow.cli.common import cli_command, model_file, out


@cli_command
def inspect(
    model: Path = typer.Argument(..., help="QONNX model"),
    json_: bool = typer.Option(False, "--json", help="machine-readable output (the content of ir.json)"),
    raw: bool = typer.Option(False, "--raw", help="inspect the model as loaded, without clean-up"),
    ir_json: Path = typer.Option(None, "--ir-json", help="also write ir.json to this path"),
    ort_check: bool = typer.Option(False, "--ort-check",
                                   help="also run the graph in onnxruntime (QONNX -> QCDQ) and compare"),
    board: str = typer.Option(None, "--board", help="also show the streaming design hwflow rtl --board would "
                              "build (folding, cycles, II, estimated LUT/FF/BRAM/DSP per layer), building nothing"),
    throughput: float = typer.Option(None, "--throughput", help="with --board: target inferences/s"),
    clock: str = typer.Option(None, "--clock", help="with --board: clock, a frequency (40MHz) or a period (25ns); "
                              "a bare number is MHz (default: the board's)"),
) -> None:
    """Layers, shapes, fixed-point types, MACs, bit-operations and weight bits of a QONNX model."""
    from hwflow.ir import clean_model, infer_fixed_point, ir_summary, load_model

    m = load_model(model_file(model, "inspect"))
    if not raw:
        m = clean_model(m)
    types = infer_fixed_point(m)
    summary = ir_summary(m, types)
    if ir_json:
        from hwflow.artifacts import write_json

        write_json(ir_json, summary)
    if ort_check:
        from hwflow.ir import ort_cross_check

        summary["ort_cross_check"] = ort_cross_check(m, n=200)
    if board is not None:
        from hwflow.backends.rtl.streaming.plan import plan_streaming

        from hwflow.units import parse_clock

        summary["streaming_plan"] = plan_streaming(model, board, throughput=throughput,
                                                   clock_mhz=None if clock is None else parse_clock(clock))
    elif throughput is not None or clock is not None:
        from hwflow.errors import ConfigError

        raise ConfigError("--throughput and --clock go with --board (the streaming plan for that board)")
    if json_:
        out.print_json(json.dumps(summary))
        return
    from rich.table import Table

    table = Table(title=f"{model.name} ({'as loaded' if raw else 'cleaned'})")
    for col in ("node", "op", "output", "shape", "type", "MACs", "bit-ops"):
        table.add_column(col, justify="right" if col in ("MACs", "bit-ops") else "left")
    for name in summary["inputs"]:
        table.add_row("(input)", "", name, str(summary["tensors"][name]["shape"]), str(types[name]), "", "")
    for n in summary["nodes"]:
        o = n["outputs"][0]
        const = summary["tensors"].get(o, {}).get("constant", False)
        table.add_row(n["name"], n["op_type"], o, str(summary["tensors"].get(o, {}).get("shape", "")),
                      str(types.get(o, "")) + (" (const)" if const else ""),
                      str(n["macs"] or ""), str(n.get("bit_ops", "") or ""))
    out.print(table)
    out.print(f"total MACs {summary['total_macs']}, bit-operations {summary['total_bit_ops']}, "
              f"weight bits {summary['weight_bits']}")
    if ort_check:
        out.print_json(json.dumps(summary["ort_cross_check"]))
    pre = m.get_metadata_prop("hwflow.preprocessing")
    if pre:
        chain = [c["op_type"] for c in json.loads(pre)["chain"]]
        out.print(f"float pre-processing cut off before the input quantizer: {' -> '.join(chain)}")
    for r in summary["streamlining"]:
        out.print(f"streamlined: {_describe_rewrite(r)}")
    if board is not None:
        _print_plan(summary["streaming_plan"])


def _print_plan(plan: dict) -> None:
    from rich.table import Table

    t = Table(title=f"streaming on {plan['board']} ({plan['device']}), {plan['clock_hz'] / 1e6:g} MHz; {plan['note']}")
    for col in ("layer", "in -> out", "PE x SIMD", "cycles", "LUT", "FF", "BRAM", "DSP"):
        t.add_column(col, justify="left" if col in ("layer", "in -> out", "PE x SIMD") else "right")
    for row in plan["layers"]:
        e = row["estimate"]
        io = f"{row['inputs']} -> {row['outputs']}"
        if "conv" in row:  # a convolution: window size -> channels, on the map
            g = row["conv"]
            io = f"conv {g['kernel'][0]}x{g['kernel'][1]} {io} on {g['output'][0]}x{g['output'][1]}" + (
                f", pool {row['pool']['kernel']}" if "pool" in row else "")
        t.add_row(row["node"], io, f"{row['pe']} x {row['simd']}",
                  str(row["cycles"]), f"{e['lut']:.0f}", f"{e['ff']:.0f}", f"{e['bram']:g}", f"{e['dsp']:g}")
    tot, cap = plan["estimate_total"], plan["capacity"]
    t.add_row("total", "", "", "", f"{tot['lut']:.0f} / {cap['lut']}", f"{tot['ff']:.0f} / {cap['ff']}",
              f"{tot['bram']:g} / {cap['bram']}", f"{tot['dsp']:g} / {cap['dsp']}")
    out.print(t)
    out.print(f"II {plan['ii']} cycles, latency {plan['latency_cycles']} cycles, "
              f"{plan['inferences_per_s']:,.0f} inferences/s at {plan['clock_hz'] / 1e6:g} MHz"
              + (f", {plan['input_buffers']} input buffers" if plan["input_buffers"] > 1 else ""))


def _describe_rewrite(r: dict) -> str:
    """One line per streamlining rewrite (see hwflow/ir/streamline.py)."""
    kind = r["transformation"]
    if kind == "FoldFloatIntoThresholds":
        chain = " -> ".join(r.get("chain", []))
        if r.get("applied") is False:
            return f"{chain} before {r['node']} stays float: {r['reason']}"
        return (f"{chain} -> {r['node']} became a MultiThreshold ({r['channels']} channels x "
                f"{r['thresholds_per_channel']} thresholds)")
    if kind == "ExtractFloatScales":
        sc = r["scale"]
        what = f"float scale {sc[0]:.6g}" if len(sc) == 1 else "per-channel float scales"
        return f"{what} of {r['node']} extracted (the quantizer now counts integers)"
    if "past" in r:
        return f"{kind}: {r['node']} moved behind {r['past']}"
    return f"{kind}: {', '.join(r.get('nodes', []))}"


def _npz_to_model_inputs(arrays: dict, raw, cleaned_inputs: list[str], path) -> dict:
    """An .npz names its arrays after the model's inputs as the user knows them; the cleaned
    graph renamed them (global_in, global_in_1, ... in the same order)."""
    from hwflow.errors import InvalidInputsFile

    inits = {t.name for t in raw.graph.initializer}
    original = [i.name for i in raw.graph.input if i.name not in inits]
    rename = dict(zip(original, cleaned_inputs))
    mapped = {rename.get(k, k): v for k, v in arrays.items()}
    if any(n not in mapped for n in cleaned_inputs):
        raise InvalidInputsFile(f"inputs file {path} holds arrays {sorted(arrays)}, but the model's inputs are "
                                f"{original}: name the .npz arrays after them")
    return mapped


@cli_command
def exec_(
    model: Path = typer.Argument(..., help="QONNX model"),
    inputs: Path = typer.Option(..., "--inputs", help="batch of inputs (.npy, batch on axis 0; .npz for several inputs)"),
    output: Path = typer.Option(..., "-o", "--output", help="outputs (.npy; .npz if the model has several)"),
    intermediate: bool = typer.Option(False, help="also dump every tensor to <output stem>_tensors.npz "
                                      "(implies --as-exported)"),
    as_exported: bool = typer.Option(False, "--as-exported", help="run the graph exactly as given (no input "
                                     "quantizer added, no streamlining) instead of what hwflow builds"),
    labels: Path = typer.Option(None, "--labels", help="class labels (.npy): report the accuracy"),
) -> None:
    """Bit-exact reference execution of a batch: by default the model as hwflow builds it (the
    software before the hardware, the hardware graph, the software after it: the outputs
    `hwflow sim --save-outputs` gives); --as-exported: the graph as given."""
    from hwflow.artifacts import load_array_file
    from hwflow.ir import ReferenceExecutor, clean_model, load_model

    model = model_file(model, "exec")
    # finite real numbers only, no pickles, file gate first (InvalidInputsFile otherwise)
    x = load_array_file(inputs, "inputs file")
    y_labels = None
    if labels is not None:
        from hwflow.ir.boundary import load_labels

        y_labels = load_labels(labels)
    raw = load_model(model)
    n_in = len({i.name for i in raw.graph.input} - {t.name for t in raw.graph.initializer})
    if not (as_exported or intermediate or n_in != 1 or len(raw.graph.output) != 1):
        res = _exec_through_boundary(raw, x, inputs)
    else:
        # several inputs or outputs: no hardware boundary (the RTL takes one of each)
        m = clean_model(raw, input_type=None, strip_preprocessing=False, streamline=False)
        ex = ReferenceExecutor(m)
        if isinstance(x, dict):
            x = _npz_to_model_inputs(x, raw, ex.inputs, inputs)
        res = ex.run_batched(x, intermediate=intermediate)
        out.print("ran the graph as exported" + ("" if as_exported or intermediate else
                                                 " (several inputs or outputs: no hardware boundary)"))
    output.parent.mkdir(parents=True, exist_ok=True)
    if intermediate:
        tensors_path = output.with_name(output.stem + "_tensors.npz")
        np.savez(tensors_path, **{k: np.asarray(v) for k, v in res.items()})
        outs = {o: res[o] for o in ex.outputs}
        res = outs[ex.outputs[0]] if len(outs) == 1 else outs
        out.print(f"wrote every tensor ({len(ex.analysis.info)}) to {tensors_path}")
    if isinstance(res, dict):
        np.savez(output, **res)
    else:
        np.save(output, res)
    n = next(iter(res.values())).shape[0] if isinstance(res, dict) else res.shape[0]
    out.print(f"executed {n} samples; outputs written to {output}")
    if y_labels is not None:
        from hwflow.ir.boundary import accuracy

        if isinstance(res, dict):
            from hwflow.errors import ConfigError

            raise ConfigError("--labels needs a model with one output")
        a = accuracy(res, y_labels)
        out.print(f"accuracy {a['accuracy']:.4f} ({a['correct']} of {a['samples']} labels)")


def _exec_through_boundary(raw, x, path) -> np.ndarray:
    """The software before the hardware, the hardware graph (reference executor), the
    software after it (``hwflow.ir.boundary``)."""
    from hwflow.ir import ReferenceExecutor
    from hwflow.ir.boundary import hardware_model

    if isinstance(x, dict):  # named after the model's input
        name = next(i.name for i in raw.graph.input if i.name not in {t.name for t in raw.graph.initializer})
        x = _npz_to_model_inputs(x, raw, [name], path)[name]
    hw, boundary = hardware_model(raw)
    out.print(boundary.describe())
    return boundary.from_port(ReferenceExecutor(hw).run_batched(boundary.to_port(x)))
