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
    def __init__(self, node, opset: int, const_inputs: dict[str, np.ndarray]):
        import onnxruntime as rt

        self.node = node
        inputs, inits = [], []
        self.feed_names = []
        for name in node.input:
            if not name:
                continue
            if name in const_inputs:
                inits.append(onnx.numpy_helper.from_array(np.asarray(const_inputs[name], dtype=np.float32), name))
            else:
                inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
                self.feed_names.append(name)
        outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output]
        g = helper.make_graph([node], "one-node", inputs, outputs, initializer=inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = min(model.ir_version, 9)
        opts = rt.SessionOptions()
        opts.graph_optimization_level = rt.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = 1
        self.sess = rt.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, attrs, ins, f32):
        feeds = {}
        k = 0
        for name, v in zip([n for n in self.node.input if n], [v for n, v in zip(self.node.input, ins) if n]):
            if name in self.feed_names:
                feeds[name] = np.asarray(v, dtype=np.float32)
        outs = self.sess.run(None, feeds)
        return [np.asarray(o, dtype=np.float64) for o in outs]
