"""Golden baseline: any change in model behaviour shows up here.

If the change is intended, run ``make golden`` and commit the new file with the reason.
"""

from __future__ import annotations

import pandas as pd
from golden import GOLDEN_FILE, golden_summary


def test_baseline_summary_matches_the_golden_file():
    expected = pd.read_csv(GOLDEN_FILE)
    actual = golden_summary()
    assert list(actual.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected, check_dtype=False, rtol=1e-9, atol=0
    )
