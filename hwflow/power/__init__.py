"""Area, power and energy per inference.

ASIC: Yosys maps the design to a liberty, a gate-level simulation driven by real samples
gives each net's activity, OpenSTA reports internal/switching/leakage power and Fmax.
FPGA: an activity-based estimate from the post-synthesis netlist (labelled as such).
"""

from hwflow.power.profile import TARGETS, parse_clock, profile

__all__ = ["profile", "parse_clock", "TARGETS"]
