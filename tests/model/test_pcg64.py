"""The compiled PCG64 (``sim.model.pcg64``) draws numpy's numbers and hands its state back."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from sim.model import pcg64
from sim.model.streams import Streams


@njit
def _draw(stream, count, block):
    out = np.empty(count)
    for first in range(0, count, block):
        pcg64.fill(stream, out[first:], min(block, count - first))
    return out


@pytest.mark.parametrize(
    ("seed", "block"), [(0, 512), (1, 1), (12345, 3), (2**63 - 1, 4), (5, 5), (6, 9)]
)
def test_the_compiled_stream_is_numpys_and_the_generator_continues_after_it(seed, block):
    # Blocks of every size modulo 4 (``fill`` steps four states at once, then one at a time).
    generator = np.random.default_rng(seed)
    expected = np.random.default_rng(seed).random(20_001)
    stream = pcg64.take(generator)
    np.testing.assert_array_equal(_draw(stream, 20_000, block), expected[:20_000])
    pcg64.give_back(stream, generator)
    assert generator.random() == expected[20_000]


def test_a_weeks_stream_of_the_model_is_reproduced():
    # The streams the model derives (SeedSequence with a spawn key), in blocks of any size.
    streams = Streams(2016)
    expected = streams.get("decisions", 7).random(3_000)
    np.testing.assert_array_equal(
        _draw(pcg64.take(streams.get("decisions", 7)), 3_000, 7), expected
    )


def test_only_pcg64_is_taken():
    with pytest.raises(TypeError, match="PCG64"):
        pcg64.take(np.random.Generator(np.random.Philox(1)))


@njit
def _one_at_a_time(stream, count):
    out = np.empty(count)
    for i in range(count):
        out[i] = pcg64.random(stream)
    return out


def test_one_draw_at_a_time_is_numpys_too():
    expected = np.random.default_rng(7).random(5_000)
    stream = pcg64.take(np.random.default_rng(7))
    np.testing.assert_array_equal(_one_at_a_time(stream, 5_000), expected)


def test_the_uniforms_at_positions_are_those_of_the_whole_stream():
    expected = np.random.default_rng(11).random(5_001)
    # Positions within one chunk of draws and across several (1,024 numbers each).
    positions = np.array([0, 1, 5, 6, 400, 999, 1_023, 1_024, 1_025, 2_048, 4_000, 4_999])
    generator = np.random.default_rng(11)
    stream = pcg64.take(generator)
    np.testing.assert_array_equal(pcg64.at(stream, positions), expected[positions])
    pcg64.give_back(stream, generator)
    assert generator.random() == expected[5_000]  # drawn up to the last position, no further
    assert len(pcg64.at(pcg64.take(np.random.default_rng(11)), positions[:0])) == 0


def test_running_hands_every_stream_back_and_makes_none_for_a_mechanism_that_is_off():
    expected = np.random.default_rng(3).random(11)
    generator = np.random.default_rng(3)
    with pcg64.running(generator, None) as (stream, off):
        np.testing.assert_array_equal(_draw(stream, 10, 4), expected[:10])
        assert not off.any()
    assert generator.random() == expected[10]
