"""Figures of batches (sweeps, sensitivity analyses, validation experiments) from their tables."""

from __future__ import annotations

import pandas as pd


def test_heatmap_draws_the_halving_contour_only_when_the_grid_crosses_it():
    import matplotlib.pyplot as plt
    from matplotlib.contour import ContourSet

    from sim.reporting.batch_plots import plot_heatmap

    rows = [{"point": 0, "label": "reference", "a.x": 0.5, "a.y": 5, "active_sellers_mean": 100.0}]
    for k, (x, y) in enumerate([(0.1, 1), (0.9, 1), (0.1, 9), (0.9, 9)], start=1):
        value = 100 - 70 * (x > 0.5) * (y > 5) - 10 * x
        rows.append(
            {"point": k, "label": f"p{k}", "a.x": x, "a.y": y, "active_sellers_mean": value}
        )
    table = pd.DataFrame(rows)
    table["active_sellers_ci_low"] = table["active_sellers_ci_high"] = table.active_sellers_mean
    ax = plot_heatmap(table)
    assert any(isinstance(c, ContourSet) for c in ax.collections)
    assert [t.get_text() for t in ax.texts].count("-79%") == 1
    plt.close(ax.figure)
    table.loc[table.point == 4, "active_sellers_mean"] = 90.0
    ax = plot_heatmap(table)
    assert not any(isinstance(c, ContourSet) for c in ax.collections)
    assert any("no swept point halves" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)
