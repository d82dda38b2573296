"""notebooks/caldp_interactive.ipynb runs headless (nbclient) on small simulated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "caldp_interactive.ipynb"


def test_notebook_executes(tmp_path, monkeypatch):
    pytest.importorskip("caldp.sim", reason="the simulator caldp.sim is not available")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("pandas")
    monkeypatch.setenv("CALDP_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("CALDP_NOTEBOOK_THREADS", "1")  # worker processes are tested in test_batch_local/tcp
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    assert "Dashboard: http://" in text
    assert "2 datasets-processed" in text
    assert any("text/html" in o.get("data", {}) and "exit_code" in o["data"]["text/html"] for o in outputs)
    processed = tmp_path / "output" / "messages" / "datasets-processed"
    assert len(list(processed.iterdir())) == 2
    if not any("image/jpeg" in o.get("data", {}) for o in outputs):
        warnings = [w for p in processed.iterdir() for w in json.loads(p.read_text()).get("warnings", [])]
        if any(w.startswith("CREATE_PREVIEWS_ERROR") for w in warnings):
            pytest.xfail(f"the preview task failed, so there is no preview to show: {warnings[0]}")
        raise AssertionError("no preview shown inline")
