"""exp and log as arithmetic (``sim.model.elementary``) against numpy's, and known answers."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.model.elementary import exp32, exp64, log32


def _vectorised(function):
    @njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(len(x)):
            out[i] = function(x[i])
        return out

    return apply


_FUNCTIONS = {0: _vectorised(exp32), 1: _vectorised(log32), 2: _vectorised(exp64)}


def _map(function_id, x):
    return _FUNCTIONS[function_id](x)


def _ulps(got, exact, dtype):
    """Error of ``got`` in units of the last place of ``exact`` rounded to ``dtype``."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_exp32_is_within_one_unit_in_the_last_place_over_its_domain():
    x = np.linspace(-87, 87, 1_000_001, dtype=np.float32)
    assert _ulps(_map(0, x), np.exp(x.astype(np.float64)), np.float32).max() < 1.0
    assert _map(0, np.float32([0.0, 1.0]))[0] == 1.0
    assert _map(0, np.float32([1.0]))[0] == np.float32(np.e)


def test_log32_is_within_one_unit_in_the_last_place_over_the_positive_floats():
    x = np.concatenate(
        [
            np.geomspace(1.2e-38, 3e38, 1_000_001).astype(np.float32),
            np.linspace(1, 2, 200_001, dtype=np.float32),  # ln(1 + y) of the decision rule
        ]
    )
    assert _ulps(_map(1, x), np.log(x.astype(np.float64)), np.float32).max() < 1.0
    assert _map(1, np.float32([1.0]))[0] == 0.0
    assert _map(1, np.float32([2.0]))[0] == np.float32(np.log(2.0))


def test_exp64_is_within_two_units_in_the_last_place_over_its_domain():
    x = np.concatenate([np.linspace(-708, 708, 1_000_001), np.linspace(-1e-3, 0, 10_001)])
    exact = np.exp(x)
    assert (np.abs(_map(2, x) - exact) / np.spacing(exact)).max() <= 2.0
    assert _map(2, np.array([0.0]))[0] == 1.0
