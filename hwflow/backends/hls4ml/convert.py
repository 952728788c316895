"""Prepared QONNX -> hls4ml ``ModelGraph`` with every type set from the IR.

hls4ml applies its optimizer flows during conversion. We stop after the flows that shape
the graph (parsing, Quant folding, layer fusion, hls4ml's own type inference: everything up
to ``<backend>:optimize``), overwrite every type with the IR's (``precision.PrecisionSetter``),
and only then let hls4ml finish its default flow (backend-specific types, resource strategy,
templates). So the generated C++ is written from our types by hls4ml's own writer.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

from hwflow.backends.hls4ml.options import HLSOptions
from hwflow.backends.hls4ml.layer_types import LayerPrecision, PrecisionSetter
from hwflow.backends.hls4ml.prepare import PreparedModel, onnx_name_map
from hwflow.errors import ConfigError, HwflowError, UnsupportedOp

log = logging.getLogger(__name__)


@dataclass
class Converted:
    hmodel: object                      # hls4ml.model.ModelGraph
    precisions: list[LayerPrecision]
    names: dict[str, str]               # hls4ml variable name -> ONNX tensor name
    set_types: list                     # NamedType objects whose precision came from the IR
    hls4ml_log: str


def _split_flows(backend) -> tuple[list[str], str]:
    """The default flow's requirements up to its optimization flow, and the default flow."""
    from hls4ml.model.flow import get_flow

    default = backend.get_default_flow()
    reqs = list(get_flow(default).requires)
    opt = [i for i, f in enumerate(reqs) if f.endswith(":optimize") and f != "optimize"]
    if not opt:
        raise HwflowError(f"hls4ml backend {backend.name}: no optimize flow in {default}")
    return reqs[: opt[-1] + 1], default


def build_config(prepared: PreparedModel, opts: HLSOptions, backend_name: str) -> dict:
    import hls4ml

    with contextlib.redirect_stdout(io.StringIO()):
        cfg = hls4ml.utils.config.config_from_onnx_model(
            prepared.model.model, granularity="name", backend=backend_name, default_reuse_factor=opts.reuse_factor
        )
    cfg["Model"].update({"Strategy": opts.strategy, "ReuseFactor": opts.reuse_factor, "TraceOutput": True})
    node_names = {n.name for n in prepared.model.graph.node}
    for name, lo in opts.layers.items():
        if name not in node_names:
            raise ConfigError(f"per-layer option for unknown node {name!r}; nodes: {', '.join(sorted(node_names))}")
        layer_cfg = cfg["LayerName"].setdefault(name, {})
        if lo.reuse_factor is not None:
            layer_cfg["ReuseFactor"] = int(lo.reuse_factor)
        if lo.strategy is not None:
            layer_cfg["Strategy"] = lo.strategy
    for layer_cfg in cfg["LayerName"].values():
        layer_cfg["Trace"] = True
    return cfg


def convert(prepared: PreparedModel, opts: HLSOptions, output_dir) -> Converted:
    """Convert; raises ``UnsupportedOp`` naming the node hls4ml could not take."""
    import hls4ml

    from hwflow.backends.hls4ml import extensions

    extensions.register_all()
    supported = set(hls4ml.converters.get_supported_onnx_layers()) | {"Dropout", "Identity"}
    for node in prepared.model.graph.node:
        if node.op_type not in supported:
            raise UnsupportedOp(f"hls4ml 1.3 has no ONNX handler for {node.op_type}", node=node.name)

    backend = hls4ml.backends.get_backend(opts.backend)
    first_flows, default_flow = _split_flows(backend)
    cfg = build_config(prepared, opts, opts.backend)
    cfg["Flows"] = first_flows
    kwargs = dict(output_dir=str(output_dir), project_name=opts.project_name, backend=opts.backend,
                  io_type=opts.io_type, hls_config=cfg, clock_period=opts.clock_period)
    if opts.part:
        kwargs["part"] = opts.part
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            hmodel = hls4ml.converters.convert_from_onnx_model(prepared.model.model, **kwargs)
    except HwflowError:
        raise
    except (NotImplementedError, RuntimeError, Exception) as e:  # hls4ml raises bare Exception
        raise UnsupportedOp(f"hls4ml could not convert the model: {type(e).__name__}: {e}") from e
    names = onnx_name_map(prepared.model)
    setter = PrecisionSetter(hmodel, prepared, names)
    precisions = setter.apply()
    # every layer traced (only active when the bridge enables it): a mismatch is located
    # without recompiling
    hmodel.config.trace_output = True
    for layer in hmodel.get_layers():
        layer.set_attr("trace", True)
    with contextlib.redirect_stdout(buf):
        hmodel.apply_flow(default_flow)
    return Converted(hmodel=hmodel, precisions=precisions, names=names, set_types=setter.set_types,
                     hls4ml_log=buf.getvalue())
