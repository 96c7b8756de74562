"""How numbers are written for readers (the summary table, figures and the briefing)."""

from __future__ import annotations

import pytest

from sim.reporting.format import short_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (93_400.0, "93.4k"),
        (374e6, "374M"),
        (4.46e9, "4.46G"),
        (4693.0, "4,693"),
        (0.00138, "0.00138"),
    ],
)
def test_numbers_in_the_summary_table_keep_their_magnitude(value, text):
    assert short_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (-2.5e6, "-2.5M"), (9_999.0, "9,999"), (10_000.0, "10k"), (float("nan"), "n/a")],
)
def test_zero_negative_thresholds_and_missing_values(value, text):
    assert short_number(value) == text


def test_changes_are_written_as_readers_say_them():
    from sim.reporting.plots import change_tick, change_words

    assert [change_words(p) for p in (-96.3, 38.6, 150, 34300, 0.2)] == [
        "\u221296%",
        "+39%",
        "\u00d72.5",
        "\u00d7344",
        "0%",
    ]
    assert [change_tick(r) for r in (0.25, 1, 10, 1000)] == [
        "\u221275%",
        "0",
        "\u00d710",
        "\u00d71,000",
    ]
