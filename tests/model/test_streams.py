"""Random number streams: one per mechanism and week, stable for a seed (ODD 7.2).

The numbers below were drawn when the streams were written down here: a change of how a stream
is derived from ``(seed, mechanism, week)`` changes every result of the model, and shows here
first (then ``make golden`` and a note on why).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.streams import MECHANISMS, Streams, replication_seeds

# The position of a mechanism in MECHANISMS is part of its seed: new mechanisms go at the end.
FIRST_MECHANISMS = (
    "population",
    "network",
    "decisions",
    "detection",
    "referral",
    "lawsuits",
    "prosecution",
    "conviction",
    "sentencing",
    "publicity",
)


def test_mechanisms_keep_their_positions():
    assert MECHANISMS[: len(FIRST_MECHANISMS)] == FIRST_MECHANISMS
    assert len(set(MECHANISMS)) == len(MECHANISMS)


@pytest.mark.parametrize(
    ("mechanism", "week", "draw", "expected"),
    [
        ("decisions", 3, "random", [0.02832258551946143, 0.7853291362530787, 0.2922564051186386]),
        ("population", 0, "integers", [907, 226, 976, 207]),
        ("publicity", 52, "random", [0.4751075501993799, 0.7253757770975514]),
    ],
)
def test_a_stream_gives_the_numbers_it_gave_when_written(mechanism, week, draw, expected):
    rng = Streams(2016).get(mechanism, week)
    drawn = rng.random(len(expected)) if draw == "random" else rng.integers(0, 1000, len(expected))
    assert drawn.tolist() == expected


def test_each_call_gives_a_fresh_generator_of_the_same_stream():
    streams = Streams(7)
    first, second = streams.get("detection", 5), streams.get("detection", 5)
    assert first is not second
    assert np.array_equal(first.random(10), second.random(10))


def test_seeds_mechanisms_and_weeks_each_give_their_own_stream():
    draws = {
        (seed, mechanism, week): Streams(seed).get(mechanism, week).random(4).tobytes()
        for seed in (1, 2)
        for mechanism in MECHANISMS
        for week in (0, 1, 2)
    }
    assert len(set(draws.values())) == len(draws)


def test_replication_seeds_are_the_children_of_the_root_seed():
    assert replication_seeds(5, 3) == replication_seeds(5, 5)[:3]
    assert len(set(replication_seeds(5, 10))) == 10


def test_replication_seeds_are_the_ones_they_were_when_written():
    assert replication_seeds(20160801, 3) == [
        4124009686435507296,
        370113972379438040,
        4299582331595555352,
    ]
    assert all(0 <= seed < 2**63 for seed in replication_seeds(1, 50))
