"""“Open in Jupyter”: a notebook that loads the explorer's current selection and redraws it.

`make_notebook` writes cells that open the repository with
`vigil.explorer.query.Repository`, run the same ``values`` and ``aggregate`` queries as
the app, and draw the same plots with HoloViews (datashaded when large).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vigil.compute.plan import WhereValue

__all__ = ["make_notebook"]

# nbformat's constructors are unannotated; each returns a NotebookNode.
_Node = Callable[..., nbformat.NotebookNode]
_code_cell = cast(_Node, new_code_cell)
_markdown_cell = cast(_Node, new_markdown_cell)
_notebook = cast(_Node, new_notebook)


def make_notebook(
    repo: Path | str,
    metric: str | None = None,
    where: Mapping[str, WhereValue] | None = None,
) -> nbformat.NotebookNode:
    """A notebook reproducing the explorer's view of *metric* in the selection *where*.

    Parameters
    ----------
    repo
        The repository folder.
    metric
        The metric shown (None: the notebook lists the metrics only).
    where
        Equality filters on dataId columns (``{"tract": 9814, "patch": 40}``).

    Returns
    -------
    nbformat.NotebookNode
        A version-4 notebook; ``nbformat.write(nb, path)`` saves it.
    """
    where_literal = repr(dict(where or {}))
    cells = [
        _markdown_cell(
            f"# Vigil explorer: `{metric or 'metrics'}`\n\n"
            f"Repository `{repo}`, selection `{where_literal}`."
        ),
        _code_cell(
            "import holoviews as hv\n"
            "from holoviews.operation.datashader import rasterize\n"
            "from vigil.explorer import Repository\n\n"
            'hv.extension("bokeh")\n'
            f"repo = Repository({str(repo)!r})\n"
            "repo.summary()"
        ),
    ]
    if metric is None:
        cells.append(_code_cell("[m.name for m in repo.metrics()]"))
    else:
        by = ["tract", "patch"] if not metric.startswith("visit_") else ["visit", "detector"]
        cells += [
            _code_cell(
                f"metric = {metric!r}\n"
                f"where = {where_literal}\n"
                f"by = {by!r}\n"
                "aggregates = repo.aggregate(metric, by, where or None)\n"
                "aggregates"
            ),
            _code_cell(
                "values = repo.values(metric, where or None, limit=None)\n"
                'scatter = hv.Points(values, ["mag", "value"]).opts(\n'
                '    width=500, height=350, xlabel="magnitude", ylabel=metric)\n'
                'sky = hv.Points(values, ["coord_ra", "coord_dec"], ["value"])\n'
                "if len(values) > 20_000:\n"
                "    scatter, sky = rasterize(scatter), rasterize(sky)\n"
                "else:\n"
                '    sky = sky.opts(color="value", cmap="RdYlBu_r", colorbar=True)\n'
                "(scatter + sky.opts(width=500, height=350, invert_xaxis=True)).cols(2)"
            ),
        ]
    notebook = _notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook
