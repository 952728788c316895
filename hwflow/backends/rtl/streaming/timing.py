"""Cycle timing of a streaming design, exactly as the primitives behave (checked by the
co-simulation testbench, which measures latency and II).

Per layer k with C_k = NF_k * SF_k issue cycles: the input buffer fills at edge a_k (the
last input beat), issues run at edges a_k+1 .. a_k+C_k, neuron fold n's sum completes
SF_k cycles after its first issue, the tail registers it one edge later, the FIFO takes it
the next edge and the consumer the edge after: a_{k+1} = a_k + C_k + 4. The gather
completes the output vector at a_L and the consumer takes it one edge later.

Each input meets an empty pipeline when the throttle's period II is at least every unit's
occupancy: layer 0 is busy C_0 cycles; layer k > 0 receives its first beat
(NF_{k-1} - 1) * SF_{k-1} cycles before its buffer fills and computes C_k more (with two
buffers, each buffer serves every other input: 2 II >= that, and II >= C_k); the gather
is busy from its first beat until the output is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

CYCLES_PER_LAYER = 4  # issue register, accumulator, tail register, FIFO


@dataclass(frozen=True)
class Fold:
    pe: int
    simd: int

    def to_json(self) -> dict:
        return {"pe": self.pe, "simd": self.simd}


def cycles(mw: int, mh: int, f: Fold) -> int:
    """Issue cycles of one vector: NF x SF."""
    return (mh // f.pe) * (mw // f.simd)


def pair_ii(c_k: int, span_prev: int, nbuf: int) -> int:
    """Smallest II layer k allows: its buffer is taken ``span_prev`` cycles before it is
    full, then computed for ``c_k``; with two buffers a buffer is reused every 2 II, and the
    engine must be free again after one II."""
    if nbuf == 1:
        return c_k + span_prev
    return max(c_k, -(-(c_k + span_prev) // 2))


def schedule(shapes: list[tuple[int, int]], folds: list[Fold], nbuf: int = 1) -> tuple[int, int]:
    """(II, latency) of layers with (inputs, outputs) ``shapes`` folded by ``folds``, with
    ``nbuf`` input buffers per unit (1, or 2: double buffering)."""
    c = [cycles(mw, mh, f) for (mw, mh), f in zip(shapes, folds)]
    sf = [mw // f.simd for (mw, _), f in zip(shapes, folds)]
    nf = [mh // f.pe for (_, mh), f in zip(shapes, folds)]
    ii = c[0]
    for k in range(1, len(c)):
        ii = max(ii, pair_ii(c[k], (nf[k - 1] - 1) * sf[k - 1], nbuf))
    ii = max(ii, (nf[-1] - 1) * sf[-1] + 2, 1)
    latency = sum(ck + CYCLES_PER_LAYER for ck in c) + 1
    return ii, latency
