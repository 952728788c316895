"""Run one standard ONNX node with onnxruntime over a whole batch.

Used for the float ops whose result depends on the library's transcendental functions
(Softmax, Sigmoid, BatchNormalization): running them in onnxruntime, as ``execute_onnx``
does, gives the very same float32 numbers, where numpy's exp would differ in the last ulp.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper


class OrtNode:
    def __init__(self, node, opset: int, const_inputs: dict[str, np.ndarray], per_sample: bool = False):
        import onnxruntime as rt

        self.node = node
        # onnxruntime's float32 GEMM sums in a different order for 1 row than for many:
        # float products are run one sample at a time, exactly like execute_onnx does
        self.per_sample = per_sample
        self.const_names = set(const_inputs)
        inputs, inits = [], []
        self.feed_names = []
        for name in node.input:
            if not name:
                continue
            if name in const_inputs and not per_sample:
                inits.append(onnx.numpy_helper.from_array(np.asarray(const_inputs[name], dtype=np.float32), name))
            else:
                inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
                self.feed_names.append(name)
        outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output]
        g = helper.make_graph([node], "one-node", inputs, outputs, initializer=inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = min(model.ir_version, 9)
        # default session options, as execute_onnx creates its sessions
        self.sess = rt.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def __call__(self, attrs, ins, f32):
        feeds = {}
        k = 0
        for name, v in zip([n for n in self.node.input if n], [v for n, v in zip(self.node.input, ins) if n]):
            if name in self.feed_names:
                feeds[name] = np.asarray(v, dtype=np.float32)
        if self.per_sample:  # constants are fed like execute_onnx feeds them (not prepacked)
            consts = {k: v for k, v in feeds.items() if v.ndim < 2 or k in self.const_names}
            batched = {k: v for k, v in feeds.items() if k not in consts}
            n = next(iter(batched.values())).shape[0]
            rows = [self.sess.run(None, {**consts, **{k: v[i:i + 1] for k, v in batched.items()}}) for i in range(n)]
            return [np.concatenate([r[j] for r in rows]).astype(np.float64) for j in range(len(self.node.output))]
        outs = self.sess.run(None, feeds)
        return [np.asarray(o, dtype=np.float64) for o in outs]
