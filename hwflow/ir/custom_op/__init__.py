"""QONNX custom ops of hwflow (domain ``hwflow.ir.custom_op``).

qonnx's registry imports the module named by a node's domain and looks the op class up in
``__all__`` / the ``custom_op`` dict, so ``execute_onnx`` runs these ops like its own.
"""

from hwflow.ir.custom_op.biper import BiPer, biper

DOMAIN = "hwflow.ir.custom_op"

custom_op = {"BiPer": BiPer}

__all__ = ["BiPer", "biper", "custom_op", "DOMAIN"]
