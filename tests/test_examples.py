"""The analyst notebook ``examples/analyst.ipynb`` runs from top to bottom (nbclient)."""

from __future__ import annotations

import pytest
from helpers import ROOT

pytestmark = pytest.mark.integration

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = ROOT / "examples" / "analyst.ipynb"


def test_the_analyst_notebook_runs_and_draws_its_figures(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the comparison and the sweep, inline
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) >= 3  # summary, comparison, sweep
