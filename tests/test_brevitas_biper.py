"""BiPer for Brevitas/PyTorch: forward values, surrogate gradients against finite
differences, the quantizers inside Brevitas layers, and the BiPer activation's export."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from brevitas import nn as qnn  # noqa: E402

from hwflow.errors import ConfigError, ModelError  # noqa: E402
from hwflow.quant import biper_torch as bp  # noqa: E402
from hwflow.quant.fixed_torch import signed_act  # noqa: E402

W0 = 20.0


def fd(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central finite difference of an elementwise float64 function."""
    return (f(x + h) - f(x - h)) / (2 * h)


# ------------------------------------------------------------------- BiPer weights
def test_biper_sign_forward_values():
    w = torch.tensor([0.0, 0.1, 0.2, -0.1, -0.2, math.pi / 20 * 0.5, math.pi / 20 * 1.5, 0.3])
    got = bp.biper_sign(w, W0)
    want = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0])  # sin(20w): 0, .91, -.76, ...
    assert torch.equal(got, want)
    # sign(0) = +1 wherever sin(w0 w) is exactly 0
    assert bp.biper_sign(torch.zeros(3), W0).tolist() == [1.0, 1.0, 1.0]
    # a square wave: +1 on the first half of each period 2 pi / w0, -1 on the second
    w = (torch.arange(-50, 50, dtype=torch.float64) + 0.25) * (math.pi / W0)
    assert torch.equal(bp.biper_sign(w, W0), torch.where(torch.arange(-50, 50) % 2 == 0, 1.0, -1.0).double())


@pytest.mark.parametrize("w0", [1.0, 20.0, 33.0])
def test_biper_sign_gradient_is_derivative_of_sin(w0):
    w = torch.linspace(-0.7, 0.7, 301, dtype=torch.float64, requires_grad=True)
    g = torch.randn(301, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (bp.biper_sign(w, w0) * g).sum().backward()
    want = fd(lambda v: torch.sin(w0 * v), w.detach()) * g
    assert torch.allclose(w.grad, want, rtol=1e-6, atol=1e-6)
    assert w.grad.abs().max() > 0.1 * w0  # not vanishing


def test_biper_weight_quant_in_quant_linear_and_stages():
    torch.manual_seed(0)
    lin = qnn.QuantLinear(12, 5, bias=False, weight_quant=bp.BiPerWeightQuant)
    w = lin.weight.detach().clone()
    qw = lin.quant_weight()
    assert torch.equal(qw.value, torch.where(torch.sin(W0 * w) >= 0, 1.0, -1.0))
    assert float(qw.bit_width) == 1.0
    # backward reaches the latent weight as w0 cos(w0 w)
    x = torch.randn(7, 12, dtype=torch.float32)
    lin(x).sum().backward()
    want = W0 * torch.cos(W0 * w) * x.sum(0)[None, :]
    assert torch.allclose(lin.weight.grad, want, rtol=1e-4, atol=1e-4)
    # stage 1: the real-valued sin(w0 w) is the weight
    assert bp.set_biper_stage(lin, 1) == 1
    assert torch.allclose(lin.quant_weight().value, torch.sin(W0 * w))
    bp.set_biper_stage(lin, 2)
    assert torch.equal(lin.quant_weight().value, qw.value)
    with pytest.raises(ConfigError):
        bp.set_biper_stage(lin, 3)


def test_biper_w0_is_configurable_and_not_learned():
    q = bp.biper_weight_quant(7.5)
    conv = qnn.QuantConv2d(2, 3, 3, bias=False, weight_quant=q)
    w = conv.weight.detach()
    assert torch.equal(conv.quant_weight().value, torch.where(torch.sin(7.5 * w) >= 0, 1.0, -1.0))
    names = [n for n, _ in conv.named_parameters()]
    assert names == ["weight"]  # w0 is a hyper-parameter, not a parameter
    with pytest.raises(ConfigError):
        bp.biper_weight_quant(-1.0)


# ------------------------------------------------------------------- ApproxSign
def _approx_sign_primitive(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real's piecewise polynomial whose derivative is max(0, 2 - 2|x|)."""
    return torch.where(x < -1, -1.0, torch.where(x < 0, 2 * x + x * x, torch.where(x < 1, 2 * x - x * x, 1.0)))


def test_approx_sign_forward_and_gradient():
    x = torch.tensor([-2.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 3.0])
    assert bp.approx_sign(x).tolist() == [-1, -1, -1, 1, 1, 1, 1]
    x = torch.linspace(-1.5, 1.5, 601, dtype=torch.float64, requires_grad=True)
    bp.approx_sign(x).sum().backward()
    assert torch.allclose(x.grad, torch.clamp(2 - 2 * x.detach().abs(), min=0))
    away = (x.detach().abs() - 1).abs() > 1e-3
    want = fd(_approx_sign_primitive, x.detach())
    assert torch.allclose(x.grad[away], want[away], atol=1e-5)


def test_approx_sign_act_quant_in_quant_identity():
    act = qnn.QuantIdentity(act_quant=bp.ApproxSignActQuant, return_quant_tensor=True)
    x = torch.tensor([-0.75, 0.0, 0.25, 2.0], requires_grad=True)
    y = act(x)
    assert y.value.tolist() == [-1.0, 1.0, 1.0, 1.0]
    assert float(y.bit_width) == 1.0 and float(y.scale) == 1.0
    y.value.sum().backward()
    assert x.grad.tolist() == pytest.approx([0.5, 2.0, 1.5, 0.0])


# ------------------------------------------------- binary scale, folded at export
def test_binary_scale_thresholds_equal_the_float_forward():
    torch.manual_seed(0)
    bound = 18
    m = bp.BinaryScale(5, bound=bound)
    with torch.no_grad():
        m.log_alpha.copy_(torch.tensor([0.0, -1.3, 0.7, 2.0, -4.0]))
        # beta on/near integer multiples of alpha: the ties are where a fold can go wrong
        alpha = torch.exp(m.log_alpha)
        m.beta.copy_(torch.tensor([-3.0, 2.5, 0.0, 1000.0, -0.1]))
        m.beta[0] = -3 * alpha[0]
        m.beta[2] = 7 * alpha[2] + 1e-7
    m.eval()
    s = torch.arange(-bound, bound + 1, dtype=torch.float32)[:, None].repeat(1, 5)
    s4 = s[:, :, None, None].repeat(1, 1, 2, 3)  # also as an NCHW conv output
    want = torch.where(s * torch.exp(m.log_alpha) + m.beta >= 0, 1.0, -1.0)
    assert torch.equal(m(s), want)
    t = m.integer_thresholds()
    assert t.tolist()[3] == -bound  # beta = 1000: always +1
    assert torch.equal(torch.where(s >= t.float(), 1.0, -1.0), want)
    m.freeze()
    assert torch.equal(m(s), want) and torch.equal(m(s4), want[:, :, None, None].expand_as(s4))
    m.unfreeze()
    # training mode: ApproxSign gradient flows into alpha and beta
    m.train()
    m(s[:8] / 10).sum().backward()
    assert m.log_alpha.grad is not None and m.beta.grad.abs().sum() > 0
    with pytest.raises(ConfigError):
        bp.BinaryScale(3, bound=0)


# ------------------------------------------------------------ periodic activation
@pytest.mark.parametrize("k,f", [(0, 4), (1, 3), (-2, 5), (3, 0), (2, -1)])
def test_biper_activation_is_one_bit_of_the_integer(k, f):
    q = torch.arange(-(2**9), 2**9, dtype=torch.int64)
    x = q.double() * 2.0**-f
    y = bp.periodic_square(x.float(), k)
    bit = (q >> (k + f - 1)) & 1  # arithmetic shift: two's complement bit
    assert torch.equal(y, torch.where(bit == 1, -1.0, 1.0).float())
    # and equals sign(sin(2 pi x / P)) away from the zeros of the sine
    P = 2.0**k
    s = torch.sin(2 * math.pi * x / P)
    away = s.abs() > 1e-9
    assert torch.equal(y[away].double(), torch.sign(s[away]))
    assert torch.all(y[(torch.remainder(x, P) == 0)] == 1)  # even multiples of P/2 -> +1
    assert torch.all(y[(torch.remainder(x, P) == P / 2)] == -1)  # odd multiples -> -1


def test_biper_activation_gradient_is_derivative_of_sin():
    k = 1
    P = 2.0**k
    x = torch.linspace(-3, 3, 401, dtype=torch.float64, requires_grad=True)
    bp.periodic_square(x, k).sum().backward()
    want = fd(lambda v: torch.sin(2 * math.pi * v / P), x.detach())
    assert torch.allclose(x.grad, want, rtol=1e-6, atol=1e-6)


def test_biper_activation_checks_its_period():
    with pytest.raises(ConfigError):
        bp.BiPerAct(log2_period=-5, frac_bits=4)  # period below two input steps
    act = bp.BiPerAct(log2_period=-6)
    quant = qnn.QuantIdentity(act_quant=signed_act(8, 3), return_quant_tensor=True)
    with pytest.raises(ModelError):
        act(quant(torch.zeros(2, 3)))  # input step 2**-4, period 2**-6


# -------------------------------------------------------------------- export
def test_biper_activation_exports_as_custom_op(tmp_path):
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from hwflow import zoo
    from hwflow.frontends import brevitas as fb

    model = zoo.build_model("biper_bnn_periodic", "brevitas", seed=3).eval()
    path = fb.export_brevitas(model, tmp_path / "biper_act.onnx", (1, 8, 8))
    mw = ModelWrapper(str(path))
    nodes = [n for n in mw.graph.node if n.op_type == "BiPer"]
    assert len(nodes) == 1
    node = nodes[0]
    assert node.domain == "hwflow.ir.custom_op"
    assert {a.name: a.i for a in node.attribute} == {"log2_period": 1}
    assert mw.get_tensor_datatype(node.output[0]) == DataType["BIPOLAR"]
    g = torch.Generator().manual_seed(0)
    x = np.concatenate([fb.corner_inputs("biper_bnn"), fb.random_inputs("biper_bnn", 1000, generator=g).numpy()])
    assert fb.check_export(model, path, x)["mismatches"] == 0
    # qonnx' own executor runs the custom op too (a few samples: it is slow)
    y_t = fb.torch_forward(model, x[:8])
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    for i in range(8):
        y = execute_onnx(mw, {iname: x[i : i + 1]})[oname]
        assert np.array_equal(y.astype(np.float64), y_t[i : i + 1])


def test_biper_weights_export_as_bipolar_quant_of_binary_values(tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    from hwflow.frontends import brevitas as fb

    path = fb.export_brevitas_zoo_model("biper_bnn", tmp_path / "bnn.onnx", seed=0)
    mw = ModelWrapper(str(path))
    model = fb.build_brevitas_zoo_model("biper_bnn", seed=0)
    weights = []
    for n in mw.graph.node:
        if n.op_type == "BipolarQuant" and mw.get_initializer(n.input[0]) is not None:
            weights.append(mw.get_initializer(n.input[0]))
    assert sorted(w.shape for w in weights) == [(32, 32, 3, 3), (64, 32, 3, 3)]
    want = {w.shape: np.where(np.sin(20.0 * w) >= 0, 1.0, -1.0) for w in
            (model.block1[0].weight.detach().numpy(), model.block2[0].weight.detach().numpy())}
    for w in weights:
        assert set(np.unique(w)) <= {-1.0, 1.0}
        assert np.array_equal(w, want[w.shape])
    # the model's latent weights were restored after the export
    m2 = fb.build_brevitas_zoo_model("biper_bnn", seed=0)
    assert not set(np.unique(m2.block1[0].weight.detach().numpy())) <= {-1.0, 1.0}


def test_stage1_biper_model_is_refused_at_export(tmp_path):
    from hwflow.frontends import brevitas as fb

    model = fb.build_brevitas_zoo_model("biper_bnn", seed=0)
    bp.set_biper_stage(model, 1)
    with pytest.raises(ModelError, match="stage-1"):
        fb.export_brevitas(model, tmp_path / "s1.onnx", (1, 8, 8))
    assert not (tmp_path / "s1.onnx").exists()
