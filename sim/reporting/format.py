"""How numbers are written for readers: on the command line, in figures and in the briefing."""

from __future__ import annotations


def short_number(value: float) -> str:
    """Three significant digits with a k/M/G suffix, e.g. ``7.38M``; ``n/a`` for NaN."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if magnitude >= threshold:
            return f"{value / scale:.3g}{suffix}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:,.4g}"
    return f"{value:.3g}"


def tick_label(value: float) -> str:
    """A log axis's tick for readers: ``1``, ``10``, ``1k``, ``10k``, ``1M``, ``0.01``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"
