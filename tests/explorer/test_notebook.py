"""The "open in Jupyter" notebook runs in a real Jupyter kernel (nbclient), from a folder
other than the one it was made in, and shows what the explorer shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from vigil.compute import compute_repository
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer.app import Explorer, create_explorer

CELL_TIMEOUT = 600
"""Seconds a cell may run before nbclient gives up (a hung kernel fails, not stalls)."""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """Two tracts of 3,000 objects and six visits, metrics computed."""
    root = tmp_path_factory.mktemp("notebook") / "demo"
    made = generate_catalog(root, tracts=2, objects_per_tract=3000, visits=6, seed=5)
    compute_repository(root)
    return made


def _run(notebook: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """*notebook* executed by a Python kernel whose working folder is *folder*."""
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    executed: nbformat.NotebookNode = client.execute()
    return executed


def _printed(cell: Any) -> str:
    """The text a code cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _notebook_made_elsewhere(
    catalog: DemoCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Explorer, Path]:
    """The explorer of the repository given by a relative path, at a planted bad patch,
    and a folder away from the repository to run its notebook in."""
    monkeypatch.chdir(catalog.root.parent)
    explorer: Explorer = create_explorer(Path(catalog.root.name)).explorer  # type: ignore[attr-defined]
    assert not explorer.repo.path.is_absolute()
    problem = catalog.problem("bad_patch")
    explorer.open_metric(problem.metric, dict(problem.data_id))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return explorer, elsewhere


def test_the_notebook_runs_in_a_kernel_from_another_folder(
    catalog: DemoCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explorer, elsewhere = _notebook_made_elsewhere(catalog, tmp_path, monkeypatch)
    path = elsewhere / "vigil-explore.ipynb"
    path.write_bytes(explorer.notebook_bytes().getvalue())
    notebook = nbformat.reads(path.read_text(), as_version=4)  # type: ignore[no-untyped-call]
    # What the kernel computed, printed by one more cell (the notebook's own are kept).
    notebook.cells.append(
        new_code_cell(  # type: ignore[no-untyped-call]
            "import json, os\n"
            "print(json.dumps({'cwd': os.getcwd(), 'rows': len(values),\n"
            "    'median': float(values['value'].median()),\n"
            "    'groups': aggregates[by].astype(int).values.tolist()}))"
        )
    )
    executed = _run(notebook, elsewhere)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    answer = json.loads(_printed(executed.cells[-1]).strip().splitlines()[-1])
    assert Path(answer["cwd"]).resolve() == elsewhere.resolve()
    expected = explorer.values_frame()
    assert answer["rows"] == len(expected) > 0
    assert answer["median"] == pytest.approx(float(expected["value"].median()))
    assert answer["groups"] == [[explorer.tract, explorer.patch]]
    # The plot cell drew: its output is a HoloViews layout, not an error or nothing.
    plot = executed.cells[-2]
    assert plot.outputs and any("data" in o for o in plot.outputs)


def test_a_notebook_whose_repository_is_gone_fails_with_its_path(
    catalog: DemoCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's error names the repository path, so the user knows what moved."""
    from nbclient.exceptions import CellExecutionError

    from vigil.explorer.notebook import make_notebook

    missing = tmp_path / "moved-away"
    notebook = make_notebook(missing, metric="psf_snr_i")
    with pytest.raises(CellExecutionError, match="moved-away"):
        _run(notebook, tmp_path)
