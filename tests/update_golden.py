"""Regenerate the golden baseline (run only when a change of model behaviour is intended).

Usage: ``make golden`` (or ``python tests/update_golden.py``); then review and commit the diffs
of ``tests/golden/baseline_small_summary.csv`` and ``tests/golden/closed_model_summary.csv``
(the same run with every part of the open model off) with a message that says why the model
changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "model")]  # the golden runs are defined beside their tests

from golden import CLOSED_FILE, GOLDEN_FILE, closed_summary, golden_summary  # noqa: E402

if __name__ == "__main__":
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    for path, summary in ((GOLDEN_FILE, golden_summary), (CLOSED_FILE, closed_summary)):
        frame = summary()
        if path.exists():  # keep the columns the file has always had
            frame = frame[list(pd.read_csv(path, nrows=0).columns)]
        frame.to_csv(path, index=False, float_format="%.12g")
        print(f"wrote {path.relative_to(HERE.parent)}")
