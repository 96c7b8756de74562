"""What every figure shares: axes, labels, styles that survive greyscale, and saving.

Plot functions draw on the ``Axes`` they are given (or a new one), so they work in notebooks
as well as from the command line. ``save_figure`` adds the provenance footer and writes the
same text into the file's metadata; the format follows the file suffix (PNG, SVG or PDF).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.experiments.store import atomic_write
from sim.model.metrics import METRICS
from sim.scenario import SECTIONS

FORMATS = (".png", ".svg", ".pdf")
UNITS = {m.name: m.unit + (" per year" if m.kind == "flow" else "") for m in METRICS}


def new_axes(ax: Axes | None, size: tuple[float, float] = (8, 5.5)) -> Axes:
    """``ax``, or the axes of a new figure of ``size`` inches."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def short_name(name: str) -> str:
    """A dotted field's last part in words: ``max sentence years``."""
    return name.rsplit(".", 1)[-1].replace("_", " ")


def param_label(name: str) -> str:
    """Axis label of a parameter: short name and unit, e.g. ``max sentence years (years)``."""
    section, _, field = name.rpartition(".")
    info = SECTIONS[section].model_fields.get(field) if section in SECTIONS else None
    extra = (info.json_schema_extra or {}) if info is not None else {}
    unit = extra.get("unit", "") if isinstance(extra, dict) else ""
    return f"{short_name(name)} ({unit})" if unit else short_name(name)


def save_figure(figure: Figure, path: Path, footer: str) -> Path:
    """Add the provenance footer and write the figure; the format follows the suffix.

    Args:
        figure: The figure.
        path: ``.png``, ``.svg`` or ``.pdf``.
        footer: Provenance: scenarios, replications, seed, version.

    Returns:
        The path written.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unsupported figure format '{suffix}'; use {', '.join(FORMATS)}")
    engine = figure.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0.04, 1, 0.96))
    figure.text(0.01, 0.008, footer, fontsize=7, color="0.35", ha="left", va="bottom")
    key = {".png": "Description", ".svg": "Description", ".pdf": "Subject"}[suffix]
    metadata = {key: footer, "Title": figure.axes[0].get_title().replace("\n", " ")}

    def write(tmp: Path) -> None:
        figure.savefig(tmp, format=suffix[1:], dpi=150, metadata=metadata)

    atomic_write(path, write)
    plt.close(figure)
    return path


# Scenarios are told apart by colour (Okabe-Ito, colour-blind safe), line style and hatch, so
# that they stay distinct when printed in greyscale.
COLOURS = ("#000000", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--")
FUNNEL = ("listings_removed", "stores_closed", "referrals", "cases_pursued", "convictions")


def style(k: int) -> dict:
    """Colour, line style and hatch of the ``k``-th scenario."""
    return {
        "color": COLOURS[k % len(COLOURS)],
        "linestyle": LINESTYLES[k % len(LINESTYLES)],
        "hatch": HATCHES[k % len(HATCHES)],
    }


def subplots(rows: int, params: int) -> tuple[Figure, np.ndarray]:
    """A figure with ``rows`` stacked axes sized for slides (taller for many parameters)."""
    height = 5.5 if params <= 2 else 1.5 + 0.6 * params
    figure, axes = plt.subplots(rows, 1, figsize=(8, height * rows), layout="constrained")
    return figure, np.atleast_1d(axes)
