"""Generate a corpus of malformed and hostile input files for hwflow (issue #17).

``make_corpus(out_dir, marker)`` writes every file into ``out_dir`` and returns the cases:
what file to give hwflow, which commands to run it through (``inspect``, ``exec``, ``rtl``,
``hls``, ``export``) and what must happen: ``"error"`` (a typed hwflow error, optionally of
a given class) or ``"ok"`` (a correct result). Files whose code would run if anything
deserialised it write ``marker``; the test asserts it never appears.

Nothing here is committed as a binary: the corpus is generated at test time into a
temporary directory. Run it by hand with ``python tests/hostile/make_corpus.py OUT_DIR``.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QDOM = "qonnx.custom_op.general"


@dataclass
class Case:
    name: str
    path: Path
    commands: tuple[str, ...]
    expect: str = "error"             # "error" or "ok"
    error: str | None = None          # class name from hwflow.errors (subclasses count)
    inputs: Path | None = None        # for exec: the --inputs file (default: a valid one)
    env: dict = field(default_factory=dict)
    group: str = ""


# ---------------------------------------------------------------- ONNX building blocks

def _t(name, arr, dtype=TensorProto.FLOAT):
    arr = np.asarray(arr)
    return helper.make_tensor(name, dtype, arr.shape, arr.ravel().tolist())


class Net:
    """A small valid QONNX MLP, easy to mutate: x[1,8] -> Quant -> MatMul(Quant(W)) -> Add(b)
    -> Quant -> y[1,4]."""

    def __init__(self, name="hostile", in_name="x", out_name="y", w=None, bias=None):
        rng = np.random.default_rng(0)
        self.w = rng.integers(-8, 8, size=(8, 4)) * 0.25 if w is None else w
        self.b = rng.integers(-8, 8, size=(4,)) * 0.125 if bias is None else bias
        self.name, self.in_name, self.out_name = name, in_name, out_name
        self.inits = [
            _t("s_in", 0.25), _t("z", 0.0), _t("b_in", 4.0),
            _t("W", self.w), _t("s_w", 0.25), _t("b_w", 4.0),
            _t("bias", self.b),
            _t("s_out", 0.125), _t("b_out", 8.0),
        ]
        self.nodes = [
            helper.make_node("Quant", [in_name, "s_in", "z", "b_in"], ["xq"], name="quant_in", domain=QDOM,
                             signed=1, narrow=0, rounding_mode="ROUND"),
            helper.make_node("Quant", ["W", "s_w", "z", "b_w"], ["Wq"], name="quant_w", domain=QDOM,
                             signed=1, narrow=0, rounding_mode="ROUND"),
            helper.make_node("MatMul", ["xq", "Wq"], ["mm"], name="matmul"),
            helper.make_node("Add", ["mm", "bias"], ["acc"], name="add_bias"),
            helper.make_node("Quant", ["acc", "s_out", "z", "b_out"], [out_name], name="quant_out", domain=QDOM,
                             signed=1, narrow=0, rounding_mode="ROUND"),
        ]
        self.inputs = [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [1, 8])]
        self.outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, 4])]
        self.value_info = []
        self.annotations = []
        self.opset = 13

    def init(self, name):
        return next(i for i in self.inits if i.name == name)

    def set_init(self, name, value, dtype=TensorProto.FLOAT):
        self.inits = [i for i in self.inits if i.name != name] + [_t(name, value, dtype)]

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def set_attr(self, node, attr, value):
        n = self.node(node)
        for a in list(n.attribute):
            if a.name == attr:
                n.attribute.remove(a)
        n.attribute.append(helper.make_attribute(attr, value))

    def proto(self) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.inits,
                              value_info=self.value_info)
        for tensor, dt in self.annotations:
            qa = onnx.TensorAnnotation()
            qa.tensor_name = tensor
            kv = qa.quant_parameter_tensor_names.add()
            kv.key, kv.value = "finn_datatype", dt
            g.quantization_annotation.append(qa)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset), helper.make_opsetid(QDOM, 1)])
        m.ir_version = 8
        return m

    def bytes(self) -> bytes:
        return self.proto().SerializeToString()


def _net(**kw) -> Net:
    return Net(**kw)


# ------------------------------------------------------------------ hostile code payloads

def _marker_code(marker: Path):
    """A code object that writes ``marker`` when run (what Keras' func_dump stores). No
    free variables (the path is a constant), so Keras' func_load can rebuild it."""
    src = f"lambda *args, **kwargs: (open({str(marker)!r}, 'w').write('code from a model file ran'), args[0])[1]"
    return eval(compile(src, "<payload>", "eval")).__code__  # noqa: S307 - our own constant text


def _marshalled(marker: Path) -> str:
    return base64.b64encode(marshal.dumps(_marker_code(marker))).decode() + "\n"


# --------------------------------------------------------------------------- the corpus

def make_corpus(out: Path, marker: Path) -> list[Case]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    ir_cmds = ("inspect", "exec")

    def onnx_case(name, data, expect="error", error=None, commands=ir_cmds, group="graph", **kw):
        p = out / f"{name}.onnx"
        p.write_bytes(data if isinstance(data, bytes) else data.SerializeToString())
        cases.append(Case(name, p, commands, expect, error, group=group, **kw))
        return p

    # -- valid baselines (a correct result must come out)
    onnx_case("valid_mlp", _net().bytes(), "ok", commands=("inspect", "exec", "rtl"), group="valid")

    # -- file level
    onnx_case("empty", b"", error="InvalidModelFile", group="file")
    onnx_case("random_bytes", np.random.default_rng(1).bytes(4096), error="InvalidModelFile", group="file")
    good = _net().bytes()
    onnx_case("truncated_half", good[: len(good) // 2], error="InvalidModelFile", group="file")
    onnx_case("truncated_tail", good[:-7], error="InvalidModelFile", group="file")
    onnx_case("text_file", b"this is not a model\n" * 20, error="InvalidModelFile", group="file")
    onnx_case("json_text", json.dumps({"graph": {"node": []}}).encode(), error="InvalidModelFile", group="file")
    onnx_case("zip_file", b"PK\x03\x04" + bytes(60), error="InvalidModelFile", group="file")
    onnx_case("varint_bomb", b"\x0a" + b"\xff" * 9 + b"\x01" + bytes(32), error="InvalidModelFile", group="file")
    onnx_case("nul_bytes", bytes(1000), error="InvalidModelFile", group="file")
    d = out / "a_directory.onnx"
    d.mkdir(exist_ok=True)
    cases.append(Case("directory", d, ir_cmds, error="InvalidModelFile", group="file"))
    fifo = out / "fifo.onnx"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("fifo", fifo, ("inspect", "exec", "rtl", "hls"), error="InvalidModelFile", group="file"))
    z = out / "dev_zero_link.onnx"
    if not z.is_symlink():
        z.symlink_to("/dev/zero")
    cases.append(Case("dev_zero_symlink", z, ("inspect", "exec", "rtl", "hls"), error="InvalidModelFile",
                      group="file"))
    n = out / "dev_null_link.onnx"
    if not n.is_symlink():
        n.symlink_to("/dev/null")
    cases.append(Case("dev_null_symlink", n, ir_cmds, error="InvalidModelFile", group="file"))
    dang = out / "dangling_link.onnx"
    if not dang.is_symlink():
        dang.symlink_to(out / "nowhere" / "x.onnx")
    cases.append(Case("dangling_symlink", dang, ir_cmds, error="InvalidModelFile", group="file"))
    loop = out / "loop_link.onnx"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    cases.append(Case("symlink_loop", loop, ir_cmds, error="InvalidModelFile", group="file"))
    cases.append(Case("missing_file", out / "does_not_exist.onnx", ("inspect", "exec", "rtl", "hls"),
                      error="InvalidModelFile", group="file"))
    big = onnx_case("over_size_limit", good, error="TooLarge", group="file")
    cases[-1].env = {"HWFLOW_MAX_MODEL_BYTES": str(len(good) - 1)}
    del big

    # -- graph structure
    def mut(name, fn, expect="error", error="ModelError", commands=ir_cmds, group="graph", **kw):
        net = _net()
        r = fn(net)
        data = r if isinstance(r, (bytes, onnx.ModelProto)) else net.proto()
        return onnx_case(name, data, expect, error, commands, group, **kw)

    mut("no_nodes", lambda n: setattr(n, "nodes", []), error="InvalidModelFile")
    mut("no_outputs", lambda n: setattr(n, "outputs", []), error="InvalidModelFile")

    def cycle(n):
        n.node("matmul").input[0] = "y"  # y is produced downstream: a cycle
    mut("cycle", cycle, error="InvalidModelFile")

    def unsorted(n):
        n.nodes = list(reversed(n.nodes))
    mut("unsorted_nodes", unsorted, error="InvalidModelFile")

    def dup_vi(n):
        vi = helper.make_tensor_value_info("mm", TensorProto.FLOAT, [1, 4])
        n.value_info = [vi, vi]
    mut("duplicate_value_info", dup_vi, error="InvalidModelFile")

    def dup_vi_output(n):
        n.value_info = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    mut("value_info_repeats_output", dup_vi_output, error="InvalidModelFile")

    def dup_out(n):
        n.node("add_bias").output[0] = "mm"
    mut("two_producers", dup_out, error="InvalidModelFile")

    def dup_init(n):
        n.inits.append(_t("W", n.w))
    mut("duplicate_initializer", dup_init, error="InvalidModelFile")

    def extra_input(n):
        n.inputs.append(helper.make_tensor_value_info("unused", TensorProto.FLOAT, [1, 3]))
    mut("unused_extra_input", extra_input, commands=("inspect", "exec", "rtl", "hls"))

    for dt, label in ((TensorProto.STRING, "string"), (TensorProto.COMPLEX64, "complex64"),
                      (TensorProto.COMPLEX128, "complex128"), (TensorProto.BOOL, "bool"),
                      (TensorProto.UNDEFINED, "undefined")):
        def in_type(n, dt=dt):
            n.inputs = [helper.make_tensor_value_info("x", dt, [1, 8])]
        mut(f"input_dtype_{label}", in_type)

    def dims(shape):
        def f(n):
            n.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
        return f
    mut("zero_dim", dims([1, 0]))
    mut("negative_dim", dims([1, -8]))
    mut("dynamic_feature_dim", dims([1, "F"]))
    mut("rank0_input", dims([]))
    mut("huge_declared_dims", dims([1, 1000, 1000, 1000]), error="TooLarge")

    def huge_batch(n):
        n.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10 ** 9, 8])]
    mut("huge_batch_dim", huge_batch, error="TooLarge")

    def no_shape(n):
        n.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)]
    mut("input_without_shape", no_shape)

    def missing_ref(n):
        n.node("matmul").input[1] = "no_such_tensor"
    mut("dangling_tensor_reference", missing_ref, error="InvalidModelFile")

    def shape_mismatch(n):
        n.set_init("W", np.zeros((7, 4)))
    mut("matmul_shape_mismatch", shape_mismatch)

    def bias_mismatch(n):
        n.set_init("bias", np.zeros((5,)))
    mut("bias_shape_mismatch", bias_mismatch)

    def unsupported(n):
        n.nodes.insert(4, helper.make_node("Erf", ["acc"], ["erf"], name="erf_node"))
        n.node("quant_out").input[0] = "erf"
    mut("unsupported_op", unsupported, error="UnsupportedOp")

    def custom_domain(n):
        n.nodes.insert(4, helper.make_node("PythonOp", ["acc"], ["py"], name="py_node", domain="evil.domain",
                                           code="__import__('os').system('touch marker')"))
        n.node("quant_out").input[0] = "py"
    mut("custom_domain_op", custom_domain, error="UnsupportedOp")

    def loop_op(n):
        body = helper.make_graph([], "body", [], [])
        n.nodes.insert(4, helper.make_node("If", ["acc"], ["iff"], name="if_node", then_branch=body,
                                           else_branch=body))
        n.node("quant_out").input[0] = "iff"
    mut("subgraph_if", loop_op)

    def opset_high(n):
        n.opset = 99
    mut("opset_99", opset_high)

    def opset_low(n):
        n.opset = 3
    mut("opset_3", opset_low)

    def neg_init_dims(n):
        t = n.init("W")
        t.dims[0] = -8
    mut("initializer_negative_dims", neg_init_dims, error="InvalidModelFile")

    def bad_raw(n):
        n.inits = [i for i in n.inits if i.name != "W"]
        t = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[8, 4], raw_data=b"\x00" * 10)
        n.inits.append(t)
    mut("initializer_wrong_byte_count", bad_raw, error="InvalidModelFile")

    def string_init(n):
        n.inits.append(helper.make_tensor("s_extra", TensorProto.STRING, [1], [b"rm -rf /"]))
        n.node("add_bias").input[1] = "s_extra"
    mut("string_initializer", string_init)

    def empty_init(n):
        n.set_init("s_in", np.zeros((0,)))
    mut("empty_scale", empty_init)

    def identity_chain(k):
        def f(n):
            prev = "acc"
            for i in range(k):
                n.nodes.insert(4 + i, helper.make_node("Identity", [prev], [f"id{i}"], name=f"identity_{i}"))
                prev = f"id{i}"
            n.node("quant_out").input[0] = prev
        return f
    mut("identity_chain_300", identity_chain(300), expect="ok", error=None, group="perf")
    mut("identity_chain_1000", identity_chain(1000), expect="ok", error=None, group="perf")

    # -- quantizer parameters
    def q(node, idx, value):
        def f(n):
            nd = n.node(node)
            name = f"{node}_p{idx}"
            n.inits.append(_t(name, value))
            nd.input[idx] = name
        return f

    for label, v in (("zero", 0.0), ("negative", -0.25), ("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf)):
        mut(f"act_quant_scale_{label}", q("quant_out", 1, v), commands=("inspect", "exec", "rtl", "hls"),
            group="quant")
        mut(f"weight_quant_scale_{label}", q("quant_w", 1, v), group="quant")
    for label, v in (("zero", 0.0), ("negative", -3.0), ("half", 0.5), ("fraction", 4.5), ("nan", np.nan),
                     ("huge", 64.0), ("inf", np.inf)):
        mut(f"quant_bitwidth_{label}", q("quant_out", 3, v), group="quant")
    mut("quant_zeropt_nan", q("quant_in", 2, np.nan), group="quant")
    mut("quant_scale_per_channel_with_zero", q("quant_w", 1, [0.25, 0.0, 0.25, 0.25]), group="quant")

    def signed_narrow_1bit(n):
        n.set_init("b_1", 1.0)
        n.node("quant_out").input[3] = "b_1"
        n.set_attr("quant_out", "narrow", 1)
    mut("signed_narrow_1bit", signed_narrow_1bit, commands=("inspect", "exec", "rtl", "hls"), group="quant")

    def unsigned_narrow_1bit(n):
        n.set_init("b_1", 1.0)
        n.node("quant_out").input[3] = "b_1"
        n.set_attr("quant_out", "narrow", 1)
        n.set_attr("quant_out", "signed", 0)
    mut("unsigned_narrow_1bit", unsigned_narrow_1bit, group="quant")

    def bad_rounding(n):
        n.set_attr("quant_out", "rounding_mode", "SOMETIMES")
    mut("quant_rounding_unknown", bad_rounding, group="quant")

    def signed_two(n):
        n.set_attr("quant_out", "signed", 2)
    mut("quant_signed_2", signed_two, group="quant")

    def bipolar(scale):
        def f(n):
            n.set_init("s_bp", scale)
            n.nodes[-1] = helper.make_node("BipolarQuant", ["acc", "s_bp"], ["y"], name="bipolar_out", domain=QDOM)
        return f
    mut("bipolar_valid", bipolar(1.0), expect="ok", error=None, group="quant")
    for label, v in (("zero", 0.0), ("nan", np.nan), ("negative", -1.0)):
        mut(f"bipolar_scale_{label}", bipolar(v), group="quant")

    def multithreshold(thr, **attrs):
        def f(n):
            n.set_init("thr", thr)
            n.nodes[-1] = helper.make_node("MultiThreshold", ["acc", "thr"], ["y"], name="mt_out",
                                           domain=QDOM, **attrs)
        return f
    good_thr = np.tile(np.array([-1.0, 0.0, 1.0]), (4, 1))
    mut("multithreshold_valid", multithreshold(good_thr, out_dtype="UINT2"), expect="ok", error=None,
        group="quant")
    mut("multithreshold_nan", multithreshold(np.where(good_thr == 0, np.nan, good_thr), out_dtype="UINT2"),
        group="quant")
    mut("multithreshold_out_scale_zero", multithreshold(good_thr, out_dtype="UINT2", out_scale=0.0),
        group="quant")
    mut("multithreshold_out_scale_inf", multithreshold(good_thr, out_dtype="UINT2", out_scale=float("inf")),
        group="quant")
    mut("multithreshold_out_bias_nan", multithreshold(good_thr, out_dtype="UINT2", out_bias=float("nan")),
        group="quant")
    mut("multithreshold_bad_dtype", multithreshold(good_thr, out_dtype="INT-3"), group="quant")
    mut("multithreshold_1d", multithreshold(np.array([-1.0, 0.0, 1.0]), out_dtype="UINT2"), group="quant")

    def trunc(in_bits, out_bits):
        def f(n):
            n.set_init("t_s", 0.125)
            n.set_init("t_in", in_bits)
            n.set_init("t_out", out_bits)
            n.nodes.append(helper.make_node("Trunc", ["y", "t_s", "z", "t_in", "t_out"], ["yt"], name="trunc",
                                            domain=QDOM))
            n.outputs = [helper.make_tensor_value_info("yt", TensorProto.FLOAT, [1, 4])]
        return f
    mut("trunc_out_wider_than_in", trunc(8.0, 10.0), group="quant")
    mut("trunc_zero_bits", trunc(8.0, 0.0), group="quant")

    # -- weights, biases, annotations
    w_nan = _net().w.copy()
    w_nan[2, 1] = np.nan
    onnx_case("weights_nan", Net(w=w_nan).bytes(), error="ModelError", commands=("inspect", "exec", "rtl", "hls"),
              group="weights")
    w_inf = _net().w.copy()
    w_inf[0, 0] = np.inf
    onnx_case("weights_inf", Net(w=w_inf).bytes(), error="ModelError", group="weights")
    b_nan = _net().b.copy()
    b_nan[3] = np.nan
    onnx_case("bias_nan", Net(bias=b_nan).bytes(), error="ModelError", commands=("inspect", "exec", "rtl"),
              group="weights")
    b_inf = _net().b.copy()
    b_inf[0] = -np.inf
    onnx_case("bias_inf", Net(bias=b_inf).bytes(), error="ModelError", group="weights")

    def float_weights_false_int8(n):
        rng = np.random.default_rng(3)
        n.set_init("W", rng.normal(size=(8, 4)))
        n.node("matmul").input[1] = "W"        # no weight quantizer ...
        n.nodes = [x for x in n.nodes if x.name != "quant_w"]
        n.annotations.append(("W", "INT8"))    # ... but an annotation claiming INT8
    mut("float_weights_false_int8_annotation", float_weights_false_int8, group="weights")

    def out_of_range_int4(n):
        n.set_init("W", np.full((8, 4), 100.0))
        n.node("matmul").input[1] = "W"
        n.nodes = [x for x in n.nodes if x.name != "quant_w"]
        n.annotations.append(("W", "INT4"))
    mut("int_weights_out_of_annotated_range", out_of_range_int4, group="weights")

    def unknown_annotation(n):
        n.annotations.append(("xq", "INT_EVIL"))
    mut("annotation_unknown_type", unknown_annotation, group="weights")

    def true_int_annotation(n):
        n.set_init("W", np.random.default_rng(4).integers(-8, 8, size=(8, 4)).astype(float))
        n.node("matmul").input[1] = "W"
        n.nodes = [x for x in n.nodes if x.name != "quant_w"]
        n.annotations.append(("W", "INT4"))
    mut("int_weights_true_annotation", true_int_annotation, expect="ok", error=None, group="weights")

    # -- external data
    def ext_model(name, location, blob_name=None, blob=None, expect="error", error="InvalidModelFile"):
        net = _net()
        m = net.proto()
        w = next(i for i in m.graph.initializer if i.name == "W")
        raw = np.asarray(net.w, np.float32).tobytes()
        w.ClearField("float_data")
        w.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
            e = w.external_data.add()
            e.key, e.value = k, v
        if blob_name is not None:
            (out / blob_name).write_bytes(raw if blob is None else blob)
        onnx_case(name, m, expect, error, group="external")

    ext_model("external_data_beside", "ext_beside.bin", "ext_beside.bin", expect="ok", error=None)
    ext_model("external_data_parent_dir", "../outside.bin")
    ext_model("external_data_absolute", "/etc/passwd")
    ext_model("external_data_missing", "not_there.bin")
    ext_model("external_data_too_short", "ext_short.bin", "ext_short.bin", blob=b"\x00" * 5)
    dz = out / "ext_zero.bin"
    if not dz.is_symlink():
        dz.symlink_to("/dev/zero")
    ext_model("external_data_dev_zero", "ext_zero.bin")
    ef = out / "ext_fifo.bin"
    if not ef.exists():
        os.mkfifo(ef)
    ext_model("external_data_fifo", "ext_fifo.bin")
    (out / "sub").mkdir(exist_ok=True)
    esc = out / "sub" / "escape.bin"
    if not esc.is_symlink():
        esc.symlink_to(Path("/etc/hostname"))
    ext_model("external_data_symlink_escape", "sub/escape.bin")

    # -- hostile names (valid models: a correct result, names made safe)
    for label, model_name, tensor in (
        ("verilog_module", "module", "input"),
        ("cpp_class", "class", "int"),
        ("path_traversal", "../../etc/passwd", "x/../../y"),
        ("shell_meta", "$(touch pwned);`id`", "a b\"c'd"),
        ("unicode_newline", "m\u00f6del\nname\u202e", "t\u00e9nsor\n"),
        ("very_long", "n" * 400, "t" * 300),
    ):
        net = Net(name=model_name, in_name=tensor, out_name=tensor + "_out")
        cmds = ("inspect", "exec", "rtl") if label in ("verilog_module", "shell_meta") else ("inspect", "exec")
        if label == "verilog_module":
            cmds = ("inspect", "exec", "rtl", "hls")
        p = out / f"name_{label}.onnx"
        p.write_bytes(net.bytes())
        cases.append(Case(f"name_{label}", p, cmds, "ok", None, group="names"))
    kw = out / "module.onnx"  # the file name itself is a Verilog keyword (default top name)
    kw.write_bytes(_net().bytes())
    cases.append(Case("file_named_module", kw, ("rtl",), "ok", None, group="names"))
    kw2 = out / "always.onnx"
    kw2.write_bytes(_net().bytes())
    cases.append(Case("file_named_always", kw2, ("rtl",), "ok", None, group="names"))

    # -- inputs files for exec (with the valid model)
    valid = out / "valid_mlp.onnx"

    def inp(name, writer, error="InvalidInputsFile", expect="error"):
        p = out / f"inputs_{name}.npy"
        writer(p)
        cases.append(Case(f"inputs_{name}", valid, ("exec",), expect, error, inputs=p, group="inputs"))

    def save(arr, **kw):
        return lambda p: np.save(p, arr, **kw)

    inp("valid", save(np.random.default_rng(0).uniform(-2, 2, (5, 8)).astype(np.float32)), None, "ok")
    inp("string_dtype", save(np.array([["a"] * 8] * 3)))
    inp("bytes_dtype", save(np.array([[b"a"] * 8] * 3)))
    inp("object_pickle", save(np.array([{"a": 1}] * 8, dtype=object), allow_pickle=True))
    inp("complex", save(np.ones((3, 8), dtype=np.complex64)))
    inp("nan", save(np.full((3, 8), np.nan)))
    inp("inf", save(np.full((3, 8), np.inf)))
    inp("bool", save(np.ones((3, 8), dtype=bool)))
    inp("scalar", save(np.float32(1.0)))
    inp("structured", save(np.zeros(3, dtype=[("a", "f4"), ("b", "i4")])))
    inp("datetime", save(np.array(["2020-01-01"] * 8, dtype="datetime64[D]")))
    inp("wrong_shape", save(np.zeros((3, 7), np.float32)), "ModelError")
    inp("empty_file", lambda p: p.write_bytes(b""))
    inp("truncated", lambda p: (np.save(p, np.zeros((100, 8))), p.write_bytes(p.read_bytes()[:200])))
    inp("text", lambda p: p.write_text("1,2,3\n"))

    class PickleBomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    def pickled_raw(p):
        import pickle

        p.write_bytes(pickle.dumps(PickleBomb()))
    inp("raw_pickle_payload", pickled_raw)

    def npz_wrong_key(p):
        with open(p, "wb") as f:
            np.savez(f, not_the_input=np.zeros((3, 8)))
    inp("npz_wrong_key", npz_wrong_key)

    def npz_right_key(p):
        with open(p, "wb") as f:
            np.savez(f, x=np.zeros((3, 8), np.float32))
    inp("npz_named_after_input", npz_right_key, None, "ok")

    def npz_pickle(p):
        with open(p, "wb") as f:
            np.savez(f, x=np.array([object()] * 8, dtype=object))
    inp("npz_object_member", npz_pickle)

    def npz_empty(p):
        with open(p, "wb") as f:
            np.savez(f)
    inp("npz_empty", npz_empty)

    def fifo_inputs(p):
        if p.exists():
            p.unlink()
        os.mkfifo(p)
    inp("fifo", fifo_inputs)

    def zero_inputs(p):
        if p.exists() or p.is_symlink():
            p.unlink()
        p.symlink_to("/dev/zero")
    inp("dev_zero", zero_inputs)

    def huge_header(p):
        # a valid .npy header declaring 10**12 float64 values, then nothing
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 8), }"
        header += " " * (63 - (10 + len(header)) % 64) + "\n"
        p.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    inp("huge_declared_shape", huge_header)

    # -- Keras files (export)
    cases += _keras_cases(out, marker)
    return cases


def _layer(cls, name, **cfg):
    return {"class_name": cls, "config": {"name": name, **cfg}}


def _seq(*layers):
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        _layer("InputLayer", "in", batch_input_shape=[None, 8], dtype="float32"), *layers]},
        "keras_version": "2.21.0", "backend": "tensorflow"}


def _keras_cases(out: Path, marker: Path) -> list[Case]:
    cases: list[Case] = []
    code = _marshalled(marker)

    def kjson(name, cfg, error="ModelError", text=None):
        p = out / f"keras_{name}.json"
        p.write_text(text if text is not None else json.dumps(cfg))
        # a weights file beside it, so a refusal is about the architecture, not a missing file
        (out / f"keras_{name}_weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
        cases.append(Case(f"keras_{name}", p, ("export",), "error", error, group="keras"))

    lam = _layer("Lambda", "evil_lambda", function=[code, None, None], function_type="lambda", output_shape_type="raw",
                 output_shape=None, arguments={})
    kjson("lambda_layer", _seq(lam))
    res = {"class_name": "ResidualWrapper", "config": {"name": "res", "cell": _layer("SimpleRNNCell", "c", units=4),
           "residual_fn": [code, None, None], "residual_fn_type": "lambda"}}
    kjson("residual_wrapper", _seq(_layer("RNN", "rnn", cell=res)))
    kjson("marshal_under_odd_key", _seq(_layer("Dense", "d", units=4, note=code)))
    kjson("marshal_as_name", _seq(_layer("Dense", code, units=4)))
    kjson("tfoplambda", _seq(_layer("TFOpLambda", "op", function="math.add")))
    kjson("lambda_activation_object", _seq(_layer("Dense", "d", units=4, activation={
        "class_name": "__lambda__", "config": {"value": code}})))
    kjson("foreign_module", _seq({"module": "os", "class_name": "Dense", "config": {"name": "d", "units": 4}}))
    kjson("custom_class", _seq(_layer("MyEvilLayer", "e")))
    kjson("quantizer_string_exec", _seq(_layer("QDense", "qd", units=4,
                                               kernel_quantizer="__builtins__('os').system('id')")))
    kjson("activation_string_unknown", _seq(_layer("QActivation", "qa", activation="get_quantizer('x')")))
    kjson("function_key", _seq({"class_name": "Dense", "config": {"name": "d", "units": 4},
                                "function": "os.system"}))
    kjson("top_level_list", [_seq()], error="InvalidModelFile")
    kjson("top_level_string", "model", error="InvalidModelFile")
    kjson("nested_300", None, error="InvalidModelFile",
          text='{"class_name": "Sequential", "config": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}")
    kjson("nested_100k", None, error="InvalidModelFile", text="[" * 100000 + "]" * 100000)
    p = out / "keras_invalid_utf8.json"
    p.write_bytes(b'{"class_name": "\xff\xfe"}')
    cases.append(Case("keras_invalid_utf8", p, ("export",), "error", "InvalidModelFile", group="keras"))
    kjson("not_json", None, error="InvalidModelFile", text="class_name: Sequential")
    kjson("negative_activation_bits", _seq(_layer("QActivation", "qa", activation="quantized_relu(-2,0)"),
                                           _layer("QDense", "qd", units=4,
                                                  kernel_quantizer="quantized_bits(4,0,1)",
                                                  bias_quantizer="quantized_bits(4,0,1)")))
    kjson("zero_units", _seq(_layer("QDense", "qd", units=0, kernel_quantizer="quantized_bits(4,0,1)")))
    kjson("unsupported_layer_rnn", _seq(_layer("SimpleRNN", "rnn", units=4)))
    p = out / "keras_no_weights.json"
    p.write_text(json.dumps(_seq(_layer("Dense", "d", units=4))))
    cases.append(Case("keras_no_weights", p, ("export",), "error", "InvalidModelFile", group="keras"))

    # HDF5 files: a full model whose model_config carries the payloads
    try:
        import h5py
    except ImportError:  # pragma: no cover - part of the environment
        h5py = None
    if h5py is not None:
        def kh5(name, cfg, error="ModelError", raw=None):
            p = out / f"keras_{name}.h5"
            with h5py.File(p, "w") as f:
                if cfg is not None:
                    f.attrs["model_config"] = json.dumps(cfg)
                    f.attrs["keras_version"] = "2.21.0"
                    f.attrs["backend"] = "tensorflow"
                    f.create_group("model_weights")
            if raw is not None:
                p.write_bytes(raw)
            cases.append(Case(f"keras_{name}", p, ("export",), "error", error, group="keras"))

        kh5("h5_residual_wrapper", _seq(_layer("RNN", "rnn", cell=res)))
        kh5("h5_lambda", _seq(lam))
        kh5("h5_negative_activation_bits", _seq(_layer("QActivation", "qa", activation="quantized_relu(-2,0)")))
        kh5("h5_zero_units", _seq(_layer("QDense", "qd", units=0, kernel_quantizer="quantized_bits(4,0,1)",
                                         bias_quantizer="quantized_bits(4,0,1)")))
        kh5("h5_valid_config_no_weights", _seq(_layer("QDense", "qd", units=4,
                                                      kernel_quantizer="quantized_bits(4,0,1)",
                                                      bias_quantizer="quantized_bits(4,0,1)")))
        kh5("h5_list_config", [1, 2, 3], error="InvalidModelFile")
        kh5("h5_no_config", None, error="InvalidModelFile")
        kh5("h5_random_bytes", None, error="InvalidModelFile", raw=np.random.default_rng(2).bytes(2048))
        kh5("h5_empty", None, error="InvalidModelFile", raw=b"")

    # .keras archives
    import zipfile

    def kzip(name, members, error="ModelError"):
        p = out / f"keras_{name}.keras"
        with zipfile.ZipFile(p, "w") as z:
            for k, v in members.items():
                z.writestr(k, v)
        cases.append(Case(f"keras_{name}", p, ("export",), "error", error, group="keras"))

    kzip("zip_lambda", {"config.json": json.dumps(_seq(lam)), "metadata.json": "{}"})
    kzip("zip_lambda_object", {"config.json": json.dumps(_seq(_layer("Dense", "d", units=4, activation={
        "class_name": "__lambda__", "config": {"value": code}}))), "metadata.json": "{}"})
    kzip("zip_no_config", {"metadata.json": "{}"}, error="InvalidModelFile")
    kzip("zip_config_not_json", {"config.json": "\x00\x01"}, error="InvalidModelFile")
    p = out / "keras_not_a_zip.keras"
    p.write_bytes(b"not a zip")
    cases.append(Case("keras_not_a_zip", p, ("export",), "error", "InvalidModelFile", group="keras"))
    p = out / "keras_unknown_suffix.pkl"
    import pickle

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    p.write_bytes(pickle.dumps(Bomb()))
    cases.append(Case("keras_pickle_file", p, ("export",), "error", "HwflowError", group="keras"))
    pt = out / "torch_pickle_bomb.pt"
    pt.write_bytes(pickle.dumps(Bomb()))
    cases.append(Case("torch_pickle_bomb", pt, ("export",), "error", "HwflowError", group="keras"))
    fifo = out / "keras_fifo.h5"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("keras_fifo", fifo, ("export",), "error", "InvalidModelFile", group="keras"))
    z = out / "keras_dev_zero.json"
    if not z.is_symlink():
        z.symlink_to("/dev/zero")
    cases.append(Case("keras_dev_zero", z, ("export",), "error", "InvalidModelFile", group="keras"))
    d = out / "keras_dir.h5"
    d.mkdir(exist_ok=True)
    cases.append(Case("keras_directory", d, ("export",), "error", "InvalidModelFile", group="keras"))
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_corpus")
    made = make_corpus(target, target / "MARKER")
    runs = sum(len(c.commands) for c in made)
    print(f"{len(made)} cases ({runs} command runs) in {target}")
