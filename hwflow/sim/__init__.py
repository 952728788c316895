"""cocotb + Verilator co-simulation of generated designs against the reference executor."""

from hwflow.sim.simulate import simulate

__all__ = ["simulate"]
