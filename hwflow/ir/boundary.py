"""The software boundary around the hardware, defined once: what runs in software in front
of the input port and behind the output port. ``exec``, ``rtl``/``sim``, ``hls``, ``profile``
and the report all use it, so the same data in gives the same answers out.

The hardware computes the cleaned (streamlined) graph from its input quantizer to its last
fixed-point tensor (``hardware_model``). Around it, software runs:

- in front (``Boundary.to_port``): the source framework's layout (a Keras-exported graph is
  NCHW, the user's arrays NHWC: metadata ``hwflow.source_layout``), the float
  pre-processing ``clean_model`` cut off (Reshape, Mul/Sub normalisation; metadata
  ``hwflow.preprocessing_model``) and the input quantizer: the model's inputs -> the
  values on the input port;
- behind (``Boundary.from_port``): the float tail the hardware stops before (Softmax, the
  last layer's float scale and bias): the output port's values -> the model's outputs.

``exec`` is ``from_port(reference(to_port(x)))``; a co-simulation whose output words equal
the reference's therefore gives ``exec``'s outputs word for word after the tail.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from hwflow.errors import ConfigError, ModelError
from hwflow.ir.transforms import INPUT_QUANTIZERS, PREPROCESSING_MODEL_KEY

LAYOUT_KEY = "hwflow.source_layout"
FRONT_FILE = "software_in.onnx"
TAIL_FILE = "software_out.onnx"
NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


def set_source_layout(model: onnx.ModelProto, layout: str) -> None:
    """Record at export that the source framework holds 4-D tensors as ``layout`` (NHWC)."""
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, LAYOUT_KEY: layout})


def source_layout(model) -> str | None:
    proto = getattr(model, "model", model)
    return next((p.value for p in proto.metadata_props if p.key == LAYOUT_KEY), None)


@dataclass
class Boundary:
    input_shape: list[int]                 # the model's input in the graph's layout
    output_shape: list[int]                # the model's output in the graph's layout
    layout: str | None = None              # the source framework's layout of 4-D tensors
    front: onnx.ModelProto | None = None   # model input -> input port values
    tail: onnx.ModelProto | None = None    # output port values -> model output
    front_ops: list[str] = field(default_factory=list)
    tail_ops: list[str] = field(default_factory=list)
    _exec: dict = field(default_factory=dict, repr=False)

    # -- what runs where ------------------------------------------------------------------
    def record(self, front_file: str | None = None, tail_file: str | None = None) -> dict:
        return {"layout": self.layout, "input_shape": self.input_shape, "output_shape": self.output_shape,
                "before": {"ops": self.before_ops(), "model": front_file if self.front is not None else None},
                "after": {"ops": self.after_ops(), "model": tail_file if self.tail is not None else None}}

    def before_ops(self) -> list[str]:
        return ([f"Transpose {self.layout} -> NCHW"] if self._transposes(self.input_shape) else []) + self.front_ops

    def after_ops(self) -> list[str]:
        return self.tail_ops + ([f"Transpose NCHW -> {self.layout}"] if self._transposes(self.output_shape) else [])

    def describe(self) -> str:
        """One console line: what runs in software on each side of the hardware."""
        return describe_record(self.record())

    def _transposes(self, shape: list[int]) -> bool:
        return self.layout == "NHWC" and len(shape) == 4

    # -- files ------------------------------------------------------------------------------
    def save(self, run_dir: Path) -> tuple[dict, list[Path]]:
        """Write the software models beside the hardware; (record for rtl.json/hls.json, files)."""
        files = []
        for proto, name in ((self.front, FRONT_FILE), (self.tail, TAIL_FILE)):
            p = Path(run_dir) / name
            if proto is not None:
                onnx.save(proto, str(p))
                files.append(p)
            else:
                p.unlink(missing_ok=True)
        return self.record(FRONT_FILE, TAIL_FILE), files

    @classmethod
    def load(cls, run_dir: Path, rec: dict | None, port_shape: list[int], out_shape: list[int]) -> Boundary:
        """The boundary a run directory recorded (``software`` in rtl.json); none recorded (a
        run made before it was): nothing runs in software."""
        if not rec:
            return cls(input_shape=list(port_shape), output_shape=list(out_shape))

        def model(side):
            name = rec[side].get("model")
            if not name:
                return None
            from hwflow.ir.load import load_model

            # through the file gate and the IR's validation, as every model hwflow reads
            return load_model(str(Path(run_dir) / name)).model

        layout = rec.get("layout")
        b = cls(input_shape=list(rec["input_shape"]), output_shape=list(rec["output_shape"]), layout=layout,
                front=model("before"), tail=model("after"))
        b.front_ops = [o for o in rec["before"]["ops"] if o != f"Transpose {layout} -> NCHW"]
        b.tail_ops = [o for o in rec["after"]["ops"] if o != f"Transpose NCHW -> {layout}"]
        return b

    # -- data -------------------------------------------------------------------------------
    def _executor(self, side: str):
        if side not in self._exec:
            from qonnx.core.modelwrapper import ModelWrapper

            from hwflow.ir.executor import ReferenceExecutor

            self._exec[side] = ReferenceExecutor(ModelWrapper(copy.deepcopy(getattr(self, side))))
        return self._exec[side]

    def graph_layout(self, x: np.ndarray, what: str = "inputs") -> np.ndarray:
        """The user's batch in the graph's layout: a Keras-exported model takes NHWC (its
        source layout) or NCHW (the graph's); flat samples, or samples that differ from the
        graph's shape only in dimensions of size 1, are reshaped when no source layout was
        recorded (nothing else is: a reshape of other shapes could reorder the values)."""
        x = np.asarray(x, dtype=np.float64)
        want = tuple(self.input_shape[1:])
        if x.shape[1:] == want:
            return x
        if self._transposes(self.input_shape) and x.ndim == 4 and x.shape[1:] == (want[1], want[2], want[0]):
            return x.transpose(NHWC_TO_NCHW)
        per = int(np.prod(want))
        squeezed = [d for d in x.shape[1:] if d != 1] == [d for d in want if d != 1]
        if self.layout is None and x.ndim >= 1 and int(np.prod(x.shape[1:])) == per and (x.ndim == 2 or squeezed):
            return x.reshape((-1, *want))
        accepted = f"[N, {', '.join(map(str, want))}]"
        if self._transposes(self.input_shape):
            accepted += f" (NCHW) or [N, {want[1]}, {want[2]}, {want[0]}] (NHWC, the source framework's)"
        raise ModelError(f"{what} of shape {list(x.shape)}: the model takes {accepted}")

    def to_port(self, x: np.ndarray) -> np.ndarray:
        """Model inputs -> values on the hardware's input port (float64, graph layout)."""
        x = self.graph_layout(x)
        if self.front is None:
            return x
        return np.asarray(self._executor("front").run_batched(x), dtype=np.float64)

    def from_port(self, y: np.ndarray) -> np.ndarray:
        """Values of the hardware's output port -> the model's outputs (source layout)."""
        y = np.asarray(y, dtype=np.float64)
        if self.tail is not None:
            y = np.asarray(self._executor("tail").run_batched(y), dtype=np.float64)
        if self._transposes(self.output_shape) and y.ndim == 4:
            y = y.transpose(NCHW_TO_NHWC)
        return y


def hardware_model(source, input_type=None):
    """(hardware model, Boundary) of a source model (path or ModelWrapper): the cleaned graph
    from the input quantizer to the last fixed-point tensor, and the software around it.
    ``input_type``: FixedType of the input quantizer given to a float input (default the IR's)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hwflow.ir.clean import clean_model
    from hwflow.ir.load import load_model

    raw = source if isinstance(source, ModelWrapper) else load_model(str(source))
    model = clean_model(raw, **({"input_type": input_type} if input_type is not None else {}))
    return model, boundary_around(raw, model)


def boundary_around(raw, model) -> Boundary:
    """The Boundary between ``raw`` (the model as given) and ``model`` (``clean_model(raw)``),
    whose float tail is cut off here (in place)."""
    in_shape = _input_shape(raw)
    out_shape = [int(d) for d in raw.get_tensor_shape(raw.graph.output[0].name) or []] \
        if len(raw.graph.output) == 1 else []
    tail, tail_ops = split_float_tail(model)
    # a chain cut by this clean-up (a stale record copied from an earlier clean-up: the
    # graph given no longer holds that chain)
    pre_b64 = model.get_metadata_prop(PREPROCESSING_MODEL_KEY)
    if pre_b64 and pre_b64 == raw.get_metadata_prop(PREPROCESSING_MODEL_KEY):
        pre_b64 = None
    front, front_ops = _front(model, onnx.load_from_string(base64.b64decode(pre_b64)) if pre_b64 else None)
    return Boundary(input_shape=in_shape, output_shape=out_shape or _output_shape(model, tail),
                    layout=source_layout(raw), front=front, tail=tail, front_ops=front_ops, tail_ops=tail_ops)


def _graph_inputs(model) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def _input_shape(model) -> list[int]:
    names = _graph_inputs(model)
    if len(names) != 1:
        raise ModelError(f"the hardware boundary needs exactly one graph input, found {names}")
    return [int(d) for d in model.get_tensor_shape(names[0])]


def _output_shape(model, tail) -> list[int]:
    g = tail.graph if tail is not None else model.graph
    return [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]


def _front(model, pre: onnx.ModelProto | None) -> tuple[onnx.ModelProto | None, list[str]]:
    """The software in front of the port: the cut pre-processing chain, then the input
    quantizer the hardware model starts with (a copy; on the port's grid it is the identity)."""
    from hwflow.ir.stimulus import input_types

    inp = _graph_inputs(model)[0]
    cons = model.find_consumers(inp) or []
    quant = cons[0] if len(cons) == 1 and cons[0].op_type in INPUT_QUANTIZERS else None
    if pre is None and quant is None:
        return None, []
    nodes, inits, ops = [], [], []
    start = inp
    in_vi = copy.deepcopy(next(i for i in model.graph.input if i.name == inp))
    if pre is not None:
        nodes += list(pre.graph.node)
        inits += list(pre.graph.initializer)
        in_vi = pre.graph.input[0]
        start = pre.graph.output[0].name
        ops += [n.op_type for n in pre.graph.node]
        out_vi = pre.graph.output[0]
    if quant is not None:
        q = copy.deepcopy(quant)
        q.input[0] = start
        nodes.append(q)
        taken = {i.name for i in inits}
        inits += [copy.deepcopy(t) for t in model.graph.initializer if t.name in quant.input[1:] and t.name not in taken]
        out_vi = helper.make_tensor_value_info(q.output[0], onnx.TensorProto.FLOAT, model.get_tensor_shape(inp))
        ops.append(f"{quant.op_type} ({input_types(model)[inp]})")
    g = helper.make_graph(nodes, "software_in", [in_vi], [out_vi], initializer=inits)
    m = helper.make_model(g, opset_imports=list(model.model.opset_import))
    m.ir_version = model.model.ir_version
    return m, ops


def split_float_tail(model) -> tuple[onnx.ModelProto | None, list[str]]:
    """Cut the trailing nodes whose output has no fixed-point type (Softmax, a float affine
    after the last MatMul, ...) from ``model`` (in place): the hardware computes up to the
    last fixed-point tensor, the rest is software. Returns (the cut nodes as a model, port
    values -> model outputs; their op types in execution order)."""
    from qonnx.transformation.general import RemoveUnusedTensors

    from hwflow.ir.infer import infer_fixed_point

    g = model.graph
    if len(g.output) != 1:
        return None, []
    final_out = copy.deepcopy(g.output[0])
    cut, inits = [], {}
    while g.node and g.node[-1].output[0] == g.output[0].name:
        t = infer_fixed_point(model).get(g.node[-1].output[0])
        last = g.node[-1]
        if t is None or not t.is_float:
            break
        consts = [i for i in last.input if i and model.get_initializer(i) is not None]
        live = [i for i in last.input if i and i not in consts]
        if len(live) != 1:
            break
        src = live[0]
        shape = model.get_tensor_shape(src)  # before its value_info moves to the outputs
        if shape is None:
            break
        for c in consts:
            inits[c] = onnx.numpy_helper.from_array(model.get_initializer(c), c)
        cut.insert(0, copy.deepcopy(last))
        g.node.remove(last)
        for vi in [v for v in g.value_info if v.name == src]:
            g.value_info.remove(vi)
        g.output.remove(g.output[0])
        g.output.append(helper.make_tensor_value_info(src, onnx.TensorProto.FLOAT, shape))
    if not cut:
        return None, []
    model.model.CopyFrom(model.transform(RemoveUnusedTensors()).model)
    tail_in = copy.deepcopy(g.output[0])
    t = helper.make_model(helper.make_graph(cut, "software_out", [tail_in], [final_out],
                                            initializer=list(inits.values())),
                          opset_imports=list(model.model.opset_import))
    t.ir_version = model.model.ir_version
    return t, [n.op_type for n in cut]


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 accuracy of ``outputs`` (N, classes) against class indices (N,) or one-hot (N, classes)."""
    y = np.asarray(outputs).reshape(len(outputs), -1)
    lab = np.asarray(labels)
    if lab.ndim == 2 and lab.shape == y.shape:
        lab = lab.argmax(axis=1)
    lab = lab.reshape(-1)
    if len(lab) != len(y):
        raise ConfigError(f"labels: {len(lab)} labels for {len(y)} samples")
    if not np.all(lab == np.round(lab)):
        raise ConfigError("labels must be class indices (integers) or one-hot rows")
    if y.shape[1] == 1:  # one output: a binary classifier thresholded at 0
        pred = (y[:, 0] > 0).astype(np.int64)
    else:
        pred = y.argmax(axis=1)
    correct = int(np.sum(pred == lab.astype(np.int64)))
    return {"samples": int(len(y)), "correct": correct, "accuracy": correct / len(y) if len(y) else None}


def load_labels(path) -> np.ndarray:
    from hwflow.artifacts import load_array_file

    lab = load_array_file(Path(path), "labels file")
    if isinstance(lab, dict):
        if len(lab) != 1:
            raise ConfigError(f"labels file {path}: one array expected, found {sorted(lab)}")
        lab = next(iter(lab.values()))
    return np.asarray(lab)


def describe_record(rec: dict | None) -> str | None:
    """The console line of a recorded boundary (``software`` of rtl.json/hls.json)."""
    if not rec:
        return None
    before = ", ".join(rec["before"]["ops"]) or "nothing (inputs go to the port as they are)"
    after = ", ".join(rec["after"]["ops"]) or "nothing (outputs are the port's values)"
    return f"software before the hardware: {before}; after it: {after}"


__all__ = ["Boundary", "hardware_model", "boundary_around", "split_float_tail", "source_layout", "set_source_layout", "accuracy",
           "load_labels", "describe_record", "LAYOUT_KEY"]
