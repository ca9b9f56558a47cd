"""examples/quickstart.ipynb runs end to end (small budget) in a fresh kernel."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).parent.parent / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("RLKIT_QUICKSTART_STEPS", "3000")  # The kernel inherits it.
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # Raises CellExecutionError (with the cell's traceback) on any error.
    outputs = {
        index: "".join(out.get("text", "") for out in cell.get("outputs", []))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert "episodes in 3000 steps" in text and "3000 steps: greedy return" in text
    assert "[Learner]" not in text  # Every logger in the notebook is a no-op.
    assert "evaluation return" in text and "reloaded policy" in text
    assert "frames written to" in text
    assert "best policy: return" in text and "episodes: evaluation return" in text
    kinds = {
        out.get("output_type")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    }
    assert "display_data" in kinds  # The learning-curve figure.
    images = [
        out
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/gif" in out.get("data", {}) or "image/png" in out.get("data", {})
    ]
    assert len(images) >= 2  # The curve (PNG) and the GIF.
