"""`ReferenceExecutor`: bit-exact, batch-vectorized execution of a QONNX graph.

The judge of bit-exactness for hls4ml C-simulation and RTL co-simulation. Fixed-point
tensors are computed exactly (float64 holding dyadic values whose integer part stays below
2**52, verified per tensor at construction from the inferred ranges: that is integer
arithmetic carried by BLAS). Float tensors (pre-processing, Softmax/Sigmoid, unfolded
BatchNormalization, non-power-of-two scales) are computed in float32 op by op, as
onnxruntime does in ``execute_onnx``. Constant sub-graphs (weight quantizers) are evaluated
once at construction.
"""

from __future__ import annotations

import math

import numpy as np

from hwflow.errors import ModelError
from hwflow.limits import env_limit
from hwflow.ir.analysis import EXACT_BITS_F32, EXACT_BITS_F64, GraphAnalysis, attrs_of
from hwflow.ir.kernels import KERNELS
from hwflow.ir.ort_node import OrtNode

# float ops run by onnxruntime itself (transcendentals: same float32 as execute_onnx)
ORT_OPS = {"Softmax", "Sigmoid", "BatchNormalization"}
# float (non-power-of-two scale) products: onnxruntime's summation order, not numpy's
ORT_WHEN_FLOAT = {"MatMul", "Gemm", "Conv", "AveragePool", "GlobalAveragePool"}


def _fold_shape_arithmetic(model):
    """A model as exported may compute its Reshape targets (Shape/Gather/Unsqueeze/Concat):
    fold that into constants first (names of every other tensor are kept)."""
    from hwflow.ir.load import PREPROCESSING_OPS

    if not any(n.op_type in PREPROCESSING_OPS for n in model.graph.node):
        return model
    import warnings

    from qonnx.transformation.fold_constants import FoldConstants

    from hwflow.ir.clean import KEEP_OPS
    from hwflow.ir.transforms import FoldStaticShapes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model.transform(FoldStaticShapes())
        return model.transform(FoldConstants(exclude_op_types=KEEP_OPS))


MAX_EXEC_BYTES_ENV = "HWFLOW_MAX_EXEC_BYTES"
DEFAULT_MAX_EXEC_BYTES = 4 << 30


def max_exec_bytes() -> int:
    """Memory the executor may plan for one ``run``: ``HWFLOW_MAX_EXEC_BYTES`` or 4 GiB."""
    return env_limit(MAX_EXEC_BYTES_ENV, DEFAULT_MAX_EXEC_BYTES, "number of bytes")


class ReferenceExecutor:
    def __init__(self, model):
        from hwflow.ir.load import ensure_shapes

        self.model = _fold_shape_arithmetic(ensure_shapes(model))
        g = self.model.graph
        self.analysis = GraphAnalysis(self.model)
        info = self.analysis.info
        self.inputs = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
        self.outputs = [o.name for o in g.output]
        self.input_shapes = {n: list(self.model.get_tensor_shape(n)) for n in self.inputs}
        elem = {i.name: i.type.tensor_type.elem_type for i in g.input}
        self.input_float32 = {n: elem.get(n) == 1 for n in self.inputs}
        self.consts: dict[str, np.ndarray] = {}
        for name, inf in info.items():
            if inf.const is not None:
                # keep the stored dtype: qonnx's quantizer functions follow numpy's type
                # promotion, so a float32 scale must stay float32 to round like execute_onnx
                self.consts[name] = np.asarray(inf.const)
        self.steps = []
        opset = {o.domain: o.version for o in self.model.model.opset_import}.get("", 13)
        for node in g.node:
            if all(o in self.consts for o in node.output):
                continue
            outs = [info[o] for o in node.output]
            f32 = any(o.is_float or o.scale != 1.0 for o in outs)
            for o, oi in zip(node.output, outs):
                if not (oi.is_float or oi.scale != 1.0):
                    self._check_exact(node, o, oi)
            kern = KERNELS[node.op_type]
            if not f32 and node.op_type in ("MatMul", "Gemm", "Conv") and self._fits_float32(node):
                # every operand and partial sum is an integer multiple of the output LSB below
                # 2**24: float32 BLAS is exact and twice as fast as float64
                f32 = True
            elif node.op_type in ORT_OPS or (f32 and node.op_type in ORT_WHEN_FLOAT):
                kern = OrtNode(node, opset, {i: self.consts[i] for i in node.input if i in self.consts},
                               per_sample=node.op_type in ORT_WHEN_FLOAT)
            self.steps.append((node, kern, attrs_of(node), f32))

    def per_sample_bytes(self) -> tuple[int, str, int]:
        """(bytes one sample keeps alive in ``run``, the largest tensor, its bytes): every
        input and node output is held (float64) until the run ends."""
        total, big, big_bytes = 0, "", 0
        g = self.model.graph
        shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                  for vi in list(g.input) + list(g.value_info) + list(g.output)}  # one pass: linear
        names = list(self.inputs) + [o for node, *_ in self.steps for o in node.output if o]
        for name in names:
            shape = shapes.get(name) or [1]
            b = 8 * math.prod(max(int(d), 1) for d in shape[1:])
            total += b
            if b > big_bytes:
                big, big_bytes = name, b
        return total, big, big_bytes

    def check_memory(self, n: int) -> None:
        """Refuse (``TooLarge``, naming the largest tensor) a batch of ``n`` samples whose
        tensors would need more than ``max_exec_bytes()``; checked before anything runs."""
        from hwflow.errors import TooLarge

        per, big, big_bytes = self.per_sample_bytes()
        limit = max_exec_bytes()
        if n * per > limit:
            raise TooLarge(f"executing {n:,} samples needs about {n * per / 2**30:.2f} GiB ({per:,} bytes per "
                           f"sample; largest tensor {big!r}: {n * big_bytes / 2**30:.2f} GiB), over the "
                           f"limit of {limit / 2**30:.2f} GiB: use a smaller batch or set "
                           f"{MAX_EXEC_BYTES_ENV}")

    def _fits_float32(self, node) -> bool:
        info = self.analysis.info
        out = info[node.output[0]]
        if out.absbound >= 2.0 ** EXACT_BITS_F32 or node.op_type == "Gemm" and any(
                attrs_of(node).get(k, 1.0) != 1.0 for k in ("alpha", "beta")):
            return False
        for i in node.input:
            if not i:
                continue
            t = info[i].fixed_type()
            if t.is_float or max(abs(t.int_min), abs(t.int_max)) >= 2 ** EXACT_BITS_F32:
                return False
        return True

    @staticmethod
    def _check_exact(node, name, inf):
        ft = inf.fixed_type()
        worst = max(abs(ft.int_min), abs(ft.int_max), inf.absbound)
        if worst >= 2.0 ** EXACT_BITS_F64:
            raise ModelError(f"tensor {name!r} needs more than {EXACT_BITS_F64} bits "
                             f"({math.log2(worst):.1f}); the reference executor cannot be exact",
                             node=node.name)

    def _prepare_inputs(self, x) -> dict[str, np.ndarray]:
        if not isinstance(x, dict):
            if len(self.inputs) != 1:
                raise ModelError(f"model has inputs {self.inputs}: pass a dict name -> array")
            x = {self.inputs[0]: x}
        feeds = {}
        for name in self.inputs:
            if name not in x:
                raise ModelError(f"missing input {name!r}")
            # a FLOAT graph input holds float32 values (what onnxruntime and execute_onnx
            # take); integer-valued fixed-point inputs are exact in it up to 24 bits
            dt = np.float32 if self.input_float32[name] else np.float64
            arr = np.asarray(x[name], dtype=dt)
            want = self.input_shapes[name]
            if list(arr.shape[1:]) != want[1:]:
                if arr.ndim == len(want) - 1 and list(arr.shape) == want[1:]:
                    arr = arr[None]
                else:
                    raise ModelError(f"input {name!r} has shape {list(arr.shape)}, model wants [N]+{want[1:]}")
            feeds[name] = arr
        return feeds

    def run(self, x, intermediate: bool = False):
        feeds = self._prepare_inputs(x)
        self.check_memory(next(iter(feeds.values())).shape[0] if feeds else 1)
        env: dict[str, np.ndarray] = dict(self.consts)
        env.update(feeds)
        for node, kern, attrs, f32 in self.steps:
            ins = [env[i] if i else None for i in node.input]
            try:
                outs = kern(attrs, ins, f32)
            except ModelError:
                raise
            except Exception as e:
                raise ModelError(f"{node.op_type} failed: {type(e).__name__}: {e}", node=node.name) from e
            for o, v in zip(node.output, outs):
                env[o] = v
        if intermediate:
            return {k: (v if k in self.consts or v.dtype == np.float64 else v.astype(np.float64))
                    for k, v in env.items()}
        if len(self.outputs) == 1:
            return np.asarray(env[self.outputs[0]], dtype=np.float64)
        return {o: np.asarray(env[o], dtype=np.float64) for o in self.outputs}

    def run_batched(self, x, batch_size: int = 65536, intermediate: bool = False):
        """``run`` in chunks (bounded memory for very large batches)."""
        feeds = self._prepare_inputs(x)
        n = next(iter(feeds.values())).shape[0]
        # chunks that fit the memory limit (one sample over it: check_memory refuses)
        per = self.per_sample_bytes()[0]
        batch_size = max(1, min(batch_size, max_exec_bytes() // max(per, 1)))
        if n <= batch_size:
            return self.run(feeds, intermediate)
        parts = [self.run({k: v[i:i + batch_size] for k, v in feeds.items()}, intermediate)
                 for i in range(0, n, batch_size)]
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) if k not in self.consts else parts[0][k]
                    for k in parts[0]}
        return np.concatenate(parts)
