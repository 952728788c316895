"""Streaming (dataflow) architecture for MLPs: one folded matrix-vector unit per layer."""
