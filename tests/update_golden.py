"""Regenerate the golden baseline (run only when a change of model behaviour is intended).

Usage: ``make golden`` (or ``python tests/update_golden.py``); then review and commit the diff
of ``tests/golden/baseline_small_summary.csv`` with a message that says why the model changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "model"))  # the golden run is defined beside its test

from golden import GOLDEN_FILE, golden_summary  # noqa: E402

if __name__ == "__main__":
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    golden_summary().to_csv(GOLDEN_FILE, index=False, float_format="%.12g")
    print(f"wrote {GOLDEN_FILE.relative_to(HERE.parent)}")
