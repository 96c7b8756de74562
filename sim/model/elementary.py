"""exp and log as plain arithmetic, so that the decision rule runs on vectors (ODD 7.1).

The loop over the pool computes the decision rule for eight sellers at once (AVX2) only if
its body calls no function: these are the Cephes library's algorithms (Moshier 1989: range
reduction by a power of two, then a polynomial), written as arithmetic numba inlines. Every
operation is an IEEE 754 single or double operation with no fused multiply-add, so a seller
gets the same bits whether computed in a vector lane (the ``vector`` engine) or alone (the
``agents`` engine) and on any x86-64 processor. ``tests/model/test_elementary.py`` holds them
to numpy's functions: within one unit in the last place for ``exp32`` and ``log32``, two for
``exp64``.

Domains: ``exp32`` for ``|x| <= 87`` (the decision rule keeps arguments within +-60),
``exp64`` for ``|x| <= 708``, ``log32`` for positive normal numbers. The power of two is built
from its bits, so no call is needed for it either.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F32 = np.float32


def _bits_as(width: int):
    # An intrinsic: the float of ``width`` bits whose IEEE 754 bits are the integer ``bits``.
    integer, floating = (
        (types.int32, types.float32) if width == 32 else (types.int64, types.float64)
    )
    llvm_float = ir.FloatType() if width == 32 else ir.DoubleType()

    def bits_as(typingctx, bits):
        if not isinstance(bits, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            value = context.cast(builder, args[0], signature.args[0], integer)
            return builder.bitcast(value, llvm_float)

        return floating(bits), codegen

    bits_as.__name__ = bits_as.__qualname__ = f"_bits_as_float{width}"
    return intrinsic(bits_as)


_bits_as_float32, _bits_as_float64 = _bits_as(32), _bits_as(64)


@intrinsic
def _float32_as_bits(typingctx, value):
    # The IEEE 754 bits of the float32 ``value``, as an int32.
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(value), codegen


ONE32, HALF32 = F32(1.0), F32(0.5)
LOG2E32 = F32(1.44269504088896341)
LN2_HIGH32 = F32(0.693359375)  # ln 2 in two parts; the high one has few bits, so z * it is exact
LN2_LOW32 = F32(-2.12194440e-4)
SQRT_HALF32 = F32(0.707106781186547524)
E0, E1, E2, E3, E4, E5 = (
    F32(v)
    for v in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)
L0, L1, L2, L3, L4, L5, L6, L7, L8 = (
    F32(v)
    for v in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    )
)


@njit(cache=True, error_model="numpy", inline="always")
def exp32(x):
    """e^x in single precision for a float32 ``|x| <= 87`` (Cephes ``expf``)."""
    z = np.floor(LOG2E32 * x + HALF32)
    n = np.int32(z)
    x = x - z * LN2_HIGH32
    x = x - z * LN2_LOW32
    p = ((((E0 * x + E1) * x + E2) * x + E3) * x + E4) * x + E5
    y = p * (x * x) + x + ONE32
    return y * _bits_as_float32((n + np.int32(127)) << np.int32(23))


@njit(cache=True, error_model="numpy", inline="always")
def log32(x):
    """The natural logarithm of a positive normal float32 ``x``, single (Cephes ``logf``)."""
    bits = _float32_as_bits(x)
    e = F32((bits >> np.int32(23)) - np.int32(126))
    m = _bits_as_float32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F000000))  # in [0.5, 1)
    if m < SQRT_HALF32:
        e = e - ONE32
        m = m + m - ONE32
    else:
        m = m - ONE32
    z = m * m
    p = (((((((L0 * m + L1) * m + L2) * m + L3) * m + L4) * m + L5) * m + L6) * m + L7) * m + L8
    y = p * m * z + e * LN2_LOW32 - HALF32 * z
    return m + y + e * LN2_HIGH32


LOG2E64 = 1.4426950408889634073599
LN2_HIGH64 = 6.93145751953125e-1
LN2_LOW64 = 1.42860682030941723212e-6
P0, P1, P2 = 1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1
Q0, Q1, Q2, Q3 = (
    3.00198505138664455042e-6,
    2.52448340349684104192e-3,
    2.27265548208155028766e-1,
    2.00000000000000000009e0,
)


@njit(cache=True, error_model="numpy", inline="always")
def exp64(x):
    """e^x in double precision for a float64 ``|x| <= 708`` (Cephes ``exp``, a Pade form)."""
    z = np.floor(LOG2E64 * x + 0.5)
    n = np.int64(np.int32(z))  # AVX2 converts doubles to 32-bit integers, not to 64-bit ones
    x = x - z * LN2_HIGH64
    x = x - z * LN2_LOW64
    xx = x * x
    p = x * ((P0 * xx + P1) * xx + P2)
    q = ((Q0 * xx + Q1) * xx + Q2) * xx + Q3
    y = 1.0 + 2.0 * (p / (q - p))
    return y * _bits_as_float64((n + np.int64(1023)) << np.int64(52))
