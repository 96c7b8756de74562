"""One simulated week: its random streams, its tally of metrics and its publicity (ODD 3.4, 4.4)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.metrics import METRIC_NAMES
from sim.model.streams import MECHANISMS, Streams
from sim.model.week import Publicity, Week


def test_tally_adds_up_the_values_of_a_metric():
    week = Week(0, Streams(1), regions=2)
    week.tally("referrals", 2)
    week.tally("referrals", 3)
    week.tally("fines_cny", 1.5)
    assert week.tallies == {"referrals": 5, "fines_cny": 1.5}


def test_tally_refuses_a_name_that_is_not_a_metric():
    week = Week(0, Streams(1), regions=2)
    with pytest.raises(KeyError, match="referals"):
        week.tally("referals", 1)
    assert week.tallies == {}
    for metric in METRIC_NAMES:  # and accepts every metric
        week.tally(metric, 1)
    assert set(week.tallies) == set(METRIC_NAMES)


def test_rng_is_one_generator_per_mechanism_within_a_week():
    week = Week(4, Streams(1), regions=2)
    detection = week.rng("detection")
    first = detection.random(3)
    # The same generator object: later draws of the week continue the stream.
    assert week.rng("detection") is detection
    assert not np.array_equal(week.rng("detection").random(3), first)
    assert week.rng("referral") is not detection


def test_weeks_and_mechanisms_draw_from_their_own_streams():
    streams = Streams(3)
    draws = {
        (index, mechanism): Week(index, streams, regions=1).rng(mechanism).random(4).tobytes()
        for index in (0, 1, 2)
        for mechanism in MECHANISMS
    }
    assert len(set(draws.values())) == len(draws)
    # The same week of the same seed gives the same numbers, whatever else was drawn before.
    again = Week(1, Streams(3), regions=1)
    again.rng("decisions").random(1000)
    assert again.rng("detection").random(4).tobytes() == draws[(1, "detection")]


def test_week_streams_are_not_the_set_up_streams():
    # Week t draws from stream t + 1 of its mechanism: stream 0 is the set-up's (the initial
    # population and the network), so week 0 never repeats the numbers of the set-up.
    streams = Streams(5)
    for index in (0, 1, 7):
        drawn = Week(index, streams, regions=1).rng("population").random(4)
        assert np.array_equal(drawn, streams.get("population", index + 1).random(4))
    set_up = streams.get("population", 0).random(4)
    assert not np.array_equal(Week(0, streams, regions=1).rng("population").random(4), set_up)


def test_publicity_reaches_its_region_and_national_news_reaches_all():
    publicity = Publicity(regions=3)
    publicity.add(0, False, 1.0, 1.0)  # national news
    publicity.add(2, True, 4.0, 2.0)  # two tier-2 convictions in region 1
    publicity.add(2, True, 2.0, 2.0)
    publicity.add(3, False, 0.0, 1.0)
    # Convictions seen in each region: national (1) plus its own.
    np.testing.assert_array_equal(publicity.chain_increment(0.5), [0.5, 1.5, 1.0])
    weight, total = publicity.observations("sentence2", 0.5)
    np.testing.assert_array_equal(weight, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(total, [0.0, 3.0, 0.0])
    weight, total = publicity.observations("sentence1", 1.0)
    np.testing.assert_array_equal(weight, [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(total, [1.0, 1.0, 1.0])
