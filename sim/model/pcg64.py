"""numpy's PCG64 generator in compiled code: the same numbers, without a call per number.

The decision rule takes three uniforms per seller and week (``decisions``, ``channels``,
``exit``: ODD 7.2), the platform's binomial draws two or three per store. Drawn through
numba's interface to a numpy ``Generator``, each costs a call through a function pointer.
This is the generator's own step (O'Neill 2014; numpy's ``pcg64.h``): a 128-bit linear
congruential step, whose product is one LLVM 128-bit multiplication, and the XSL-RR output;
``random`` and ``fill`` make doubles as numpy's ``next_double`` does (``fill`` runs four
states side by side, each stepped four ahead, so the multiplications overlap). A stream is
taken from a ``Generator``'s state and given back, so that the ``Generator`` continues where
the compiled draws stopped; ``tests/model/test_pcg64.py`` checks the numbers against numpy's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341  # PCG_DEFAULT_MULTIPLIER_128
MASK64 = (1 << 64) - 1
DOUBLE_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@intrinsic
def _affine(typingctx, high, low, mul_high, mul_low, add_high, add_low):
    # (high, low) <- (high, low) * (mul_high, mul_low) + (add_high, add_low), mod 2^128: one
    # LLVM 128-bit multiplication.
    u64 = types.uint64
    arguments = (high, low, mul_high, mul_low, add_high, add_low)
    if not all(isinstance(t, types.Integer) for t in arguments):
        return None
    signature = types.UniTuple(u64, 2)(*[u64] * 6)

    def codegen(context, builder, sig, args):
        i64, i128 = ir.IntType(64), ir.IntType(128)

        def wide(h, lo):
            return builder.or_(
                builder.shl(builder.zext(h, i128), ir.Constant(i128, 64)),
                builder.zext(lo, i128),
            )

        state = builder.add(
            builder.mul(wide(args[0], args[1]), wide(args[2], args[3])),
            wide(args[4], args[5]),
        )
        new_high = builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64)
        return context.make_tuple(builder, sig.return_type, [new_high, builder.trunc(state, i64)])

    return signature, codegen


def _split(value: int) -> tuple[np.uint64, np.uint64]:
    return np.uint64(value >> 64), np.uint64(value & MASK64)


MULTIPLIER_HIGH, MULTIPLIER_LOW = _split(MULTIPLIER)
# Four steps at once: s_{k+4} = A^4 s_k + inc (1 + A + A^2 + A^3), mod 2^128.
MULTIPLIER4_HIGH, MULTIPLIER4_LOW = _split(pow(MULTIPLIER, 4, 1 << 128))
SUM4_HIGH, SUM4_LOW = _split(sum(pow(MULTIPLIER, k, 1 << 128) for k in range(4)) % (1 << 128))
ZERO = np.uint64(0)


@njit(cache=True, error_model="numpy", inline="always")
def _output(high, low):
    # XSL-RR: rotate right (high ^ low) by the state's top 6 bits.
    mixed = high ^ low
    rotation = high >> np.uint64(58)
    return (mixed >> rotation) | (mixed << ((ZERO - rotation) & np.uint64(63)))


@njit(cache=True, error_model="numpy", inline="always")
def _step(high, low, inc_high, inc_low):
    # state <- state * MULTIPLIER + inc; returns (high, low, output of the new state).
    high, low = _affine(high, low, MULTIPLIER_HIGH, MULTIPLIER_LOW, inc_high, inc_low)
    return high, low, _output(high, low)


@njit(cache=True, error_model="numpy", inline="always")
def _double(output):
    # numpy's next_double: the top 53 bits of a 64-bit output, as a double in [0, 1).
    return np.float64(output >> np.uint64(11)) * DOUBLE_UNIT


@njit(cache=True, error_model="numpy", inline="always")
def random(stream):
    """The next uniform in [0, 1) of ``stream`` (from ``take``), as ``Generator.random()``."""
    high, low, output = _step(stream[0], stream[1], stream[2], stream[3])
    stream[0] = high
    stream[1] = low
    return _double(output)


@njit(cache=True, error_model="numpy", inline="always")
def fill(stream, out, size):
    """The next ``size`` uniforms of ``stream`` into ``out[:size]``.

    The state stays in registers meanwhile: faster than numpy's own ``Generator.random``.
    Four states at a time, each stepped four ahead (``MULTIPLIER4``): four independent
    multiplications where one step waits for the last; the same numbers in the same order.
    """
    high, low, inc_high, inc_low = stream[0], stream[1], stream[2], stream[3]
    fours = size // 4
    if fours > 0:
        add_high, add_low = _affine(inc_high, inc_low, SUM4_HIGH, SUM4_LOW, ZERO, ZERO)
        h1, l1, _ = _step(high, low, inc_high, inc_low)
        h2, l2, _ = _step(h1, l1, inc_high, inc_low)
        h3, l3, _ = _step(h2, l2, inc_high, inc_low)
        h4, l4, _ = _step(h3, l3, inc_high, inc_low)
        for q in range(fours):
            out[4 * q] = _double(_output(h1, l1))
            out[4 * q + 1] = _double(_output(h2, l2))
            out[4 * q + 2] = _double(_output(h3, l3))
            out[4 * q + 3] = _double(_output(h4, l4))
            if q + 1 < fours:
                m_high, m_low = MULTIPLIER4_HIGH, MULTIPLIER4_LOW
                h1, l1 = _affine(h1, l1, m_high, m_low, add_high, add_low)
                h2, l2 = _affine(h2, l2, m_high, m_low, add_high, add_low)
                h3, l3 = _affine(h3, l3, m_high, m_low, add_high, add_low)
                h4, l4 = _affine(h4, l4, m_high, m_low, add_high, add_low)
        high, low = h4, l4
    for j in range(4 * fours, size):
        high, low, output = _step(high, low, inc_high, inc_low)
        out[j] = _double(output)
    stream[0] = high
    stream[1] = low


def take(rng: np.random.Generator) -> np.ndarray:
    """The state of a PCG64 ``Generator`` as a stream for ``fill``: 4 uint64."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise TypeError(f"a PCG64 generator is needed, not {state['bit_generator']}")
    value, inc = state["state"]["state"], state["state"]["inc"]
    return np.array([value >> 64, value & MASK64, inc >> 64, inc & MASK64], dtype=np.uint64)


def give_back(stream: np.ndarray, rng: np.random.Generator) -> None:
    """Set ``rng`` to where the compiled draws of ``stream`` stopped."""
    state = rng.bit_generator.state
    state["state"]["state"] = (int(stream[0]) << 64) | int(stream[1])
    rng.bit_generator.state = state


@contextmanager
def running(*generators: np.random.Generator | None) -> Iterator[list[np.ndarray]]:
    """The streams of ``generators`` for compiled draws, each given back at the end.

    A generator that is None (a mechanism that is off) gets a stream that nothing may draw
    from and that is not given back.
    """
    streams = [np.zeros(4, dtype=np.uint64) if rng is None else take(rng) for rng in generators]
    yield streams
    for stream, rng in zip(streams, generators, strict=True):
        if rng is not None:
            give_back(stream, rng)


@njit(cache=True, error_model="numpy")
def at(stream, positions):
    """The uniforms at increasing ``positions`` of ``stream``: ``random(n)[positions]``.

    Draws the numbers up to the last position (``fill``, a chunk at a time, those between
    dropped), so a mechanism that draws one number per seller of the pool (common random
    numbers, ODD 7.2) need not keep them all.
    """
    out = np.empty(len(positions))
    chunk = np.empty(1024)
    drawn = k = 0
    while k < len(positions):
        size = min(len(chunk), positions[-1] + 1 - drawn)
        fill(stream, chunk, size)
        while k < len(positions) and positions[k] < drawn + size:
            out[k] = chunk[positions[k] - drawn]
            k += 1
        drawn += size
    return out
