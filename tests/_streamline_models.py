"""Models as their authors write them, for the streamlining tests: Brevitas with its default
float-scale quantizers and batch norms (trained a few steps, exported with ``export_qonnx``),
and a FINN-style graph built by hand (BatchNormalization nodes, non-power-of-two input and
activation scales, a binary layer made of BatchNormalization + BipolarQuant).

Each builder takes (path, seed, size) and writes the ONNX file; ``size="small"`` keeps the
hardware small enough for the default test run (4-bit activations: 15 thresholds per
channel), ``size="full"`` uses Brevitas' 8-bit defaults (255 thresholds per channel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _train_and_export(net, x_shape, n_classes, path: Path, seed: int, steps: int = 20) -> Path:
    import torch
    from brevitas.export import export_qonnx

    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    net.train()
    for _ in range(steps):  # a few steps: batch-norm statistics and scales move off their init
        x = torch.randn(32, *x_shape)
        y = torch.randint(0, n_classes, (32,))
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    export_qonnx(net, torch.randn(1, *x_shape), export_path=str(path))
    return path


def brevitas_mlp_bn(path: Path, seed: int = 0, size: str = "small") -> Path:
    """QuantIdentity -> QuantLinear -> BatchNorm1d -> QuantReLU -> QuantLinear (defaults)."""
    import torch
    import brevitas.nn as qnn

    act_bits = 4 if size == "small" else 8
    hidden = 16 if size == "small" else 32

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity()
            self.fc1 = qnn.QuantLinear(16, hidden, bias=True)
            self.bn1 = torch.nn.BatchNorm1d(hidden)
            self.act1 = qnn.QuantReLU(bit_width=act_bits)
            self.fc2 = qnn.QuantLinear(hidden, 5, bias=True)

        def forward(self, x):
            return self.fc2(self.act1(self.bn1(self.fc1(self.inp(x)))))

    torch.manual_seed(seed)
    return _train_and_export(Net(), (16,), 5, path, seed)


def brevitas_cnn_bn_pool(path: Path, seed: int = 0, size: str = "small") -> Path:
    """QuantIdentity -> [QuantConv2d -> BatchNorm2d -> QuantReLU -> MaxPool2d] x 2 -> QuantLinear."""
    import torch
    import brevitas.nn as qnn

    act_bits = 3 if size == "small" else 8
    side, ch = (6, 4) if size == "small" else (8, 8)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity()
            self.c1 = qnn.QuantConv2d(1, ch, 3, padding=1, bias=True)
            self.b1 = torch.nn.BatchNorm2d(ch)
            self.a1 = qnn.QuantReLU(bit_width=act_bits)
            self.c2 = qnn.QuantConv2d(ch, ch, 3, padding=1, bias=True)
            self.b2 = torch.nn.BatchNorm2d(ch)
            self.a2 = qnn.QuantReLU(bit_width=act_bits)
            self.fc = qnn.QuantLinear(ch * (side // 2) * (side // 2), 5, bias=True)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(self.a1(self.b1(self.c1(self.inp(x)))), 2)
            x = self.a2(self.b2(self.c2(x)))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(seed)
    return _train_and_export(Net(), (1, side, side), 5, path, seed)


def brevitas_binary_mlp_bn(path: Path, seed: int = 0, size: str = "small") -> Path:
    """Float-scale 8-bit input, binary weights, BatchNorm1d before every sign activation."""
    import torch
    import brevitas.nn as qnn
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    hidden = 16 if size == "small" else 64

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity()
            self.fc1 = qnn.QuantLinear(16, hidden, bias=False, weight_quant=SignedBinaryWeightPerTensorConst)
            self.bn1 = torch.nn.BatchNorm1d(hidden)
            self.s1 = qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
            self.fc2 = qnn.QuantLinear(hidden, hidden, bias=False, weight_quant=SignedBinaryWeightPerTensorConst)
            self.bn2 = torch.nn.BatchNorm1d(hidden)
            self.s2 = qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
            self.fc3 = qnn.QuantLinear(hidden, 5, bias=False, weight_quant=SignedBinaryWeightPerTensorConst)

        def forward(self, x):
            x = self.s1(self.bn1(self.fc1(self.inp(x))))
            return self.fc3(self.s2(self.bn2(self.fc2(x))))

    torch.manual_seed(seed)
    return _train_and_export(Net(), (16,), 5, path, seed)


def finn_style_mlp(path: Path, seed: int = 0, size: str = "small") -> Path:
    """Built node by node as FINN's streamlining tests build graphs:
    x -> Quant(s=0.0371, INT8) -> MatMul(Quant(W1, per-channel float scales, INT4)) ->
    BatchNormalization -> Relu -> Quant(s=0.0517, UINT3) -> MatMul(BipolarQuant(W2)) ->
    BatchNormalization -> BipolarQuant (the binary layer: no Add, no MultiThreshold) ->
    MatMul(Quant(W3, s=0.173, INT4)) -> Add(float bias) -> y."""
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper

    rng = np.random.default_rng(seed)
    n_in, h1, h2, n_out = (16, 12, 10, 5) if size == "small" else (64, 48, 32, 10)
    act_bits = 3 if size == "small" else 6
    f32 = np.float32
    inits = {
        "s_in": f32(0.0371), "zero": f32(0.0), "b8": f32(8.0), "b4": f32(4.0), "b_act": f32(act_bits),
        "w1": rng.normal(size=(n_in, h1)).astype(f32) * f32(0.3),
        "s_w1": rng.uniform(0.05, 0.2, size=(1, h1)).astype(f32),
        "bn1_g": rng.uniform(0.5, 2.0, size=h1).astype(f32) * rng.choice([-1, 1], size=h1).astype(f32),
        "bn1_b": rng.normal(size=h1).astype(f32), "bn1_m": rng.normal(size=h1).astype(f32),
        "bn1_v": rng.uniform(0.5, 3.0, size=h1).astype(f32),
        "s_act": f32(0.0517),
        "w2": rng.normal(size=(h1, h2)).astype(f32), "one": f32(1.0),
        "bn2_g": rng.uniform(0.5, 2.0, size=h2).astype(f32) * rng.choice([-1, 1], size=h2).astype(f32),
        "bn2_b": rng.normal(size=h2).astype(f32), "bn2_m": (rng.normal(size=h2) * 2).astype(f32),
        "bn2_v": rng.uniform(1.0, 9.0, size=h2).astype(f32),
        "w3": rng.normal(size=(h2, n_out)).astype(f32), "s_w3": f32(0.173),
        "bias3": rng.normal(size=(1, n_out)).astype(f32),
    }
    q = dict(domain="qonnx.custom_op.general", rounding_mode="ROUND")
    nodes = [
        helper.make_node("Quant", ["x", "s_in", "zero", "b8"], ["xq"], name="quant_in", signed=1, narrow=0, **q),
        helper.make_node("Quant", ["w1", "s_w1", "zero", "b4"], ["w1q"], name="quant_w1", signed=1, narrow=1, **q),
        helper.make_node("MatMul", ["xq", "w1q"], ["a1"], name="fc1"),
        helper.make_node("BatchNormalization", ["a1", "bn1_g", "bn1_b", "bn1_m", "bn1_v"], ["n1"], name="bn1",
                         epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("Quant", ["r1", "s_act", "zero", "b_act"], ["h1q"], name="quant_act1", signed=0, narrow=0,
                         **q),
        helper.make_node("BipolarQuant", ["w2", "one"], ["w2q"], name="quant_w2", domain="qonnx.custom_op.general"),
        helper.make_node("MatMul", ["h1q", "w2q"], ["a2"], name="fc2"),
        helper.make_node("BatchNormalization", ["a2", "bn2_g", "bn2_b", "bn2_m", "bn2_v"], ["n2"], name="bn2",
                         epsilon=1e-5),
        helper.make_node("BipolarQuant", ["n2", "one"], ["h2q"], name="sign2", domain="qonnx.custom_op.general"),
        helper.make_node("Quant", ["w3", "s_w3", "zero", "b4"], ["w3q"], name="quant_w3", signed=1, narrow=1, **q),
        helper.make_node("MatMul", ["h2q", "w3q"], ["a3"], name="fc3"),
        helper.make_node("Add", ["a3", "bias3"], ["y"], name="bias3"),
    ]
    g = helper.make_graph(nodes, "finn_style_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)])
    ModelWrapper(m).save(str(path))
    return path


BUILDERS = {
    "brevitas_mlp_bn": brevitas_mlp_bn,
    "brevitas_cnn_bn_pool": brevitas_cnn_bn_pool,
    "brevitas_binary_mlp_bn": brevitas_binary_mlp_bn,
    "finn_style_mlp": finn_style_mlp,
}


def build(name: str, directory: Path, seed: int = 0, size: str = "small") -> Path:
    return BUILDERS[name](Path(directory) / f"{name}_{size}_{seed}.onnx", seed=seed, size=size)
