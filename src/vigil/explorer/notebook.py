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
    table: str | None = None,
    per_source: bool = True,
) -> nbformat.NotebookNode:
    """A notebook reproducing the explorer's view of *metric* in the selection *where*.

    The notebook names the repository by its absolute path (a relative *repo* is
    resolved against the current folder now), so that it opens from any folder.

    Parameters
    ----------
    repo
        The repository folder.
    metric
        The metric shown (None: the notebook lists the metrics only).
    where
        Equality filters on dataId columns (``{"tract": 9814, "patch": 40}``).
    table
        The metric's table: ``objects`` (grouped by tract and patch) or ``sources``
        (by visit and detector); by default guessed from the name (``visit_...``).
    per_source
        Whether *metric* has per-source values to plot (a fit has not: the notebook
        then shows its aggregates only).

    Returns
    -------
    nbformat.NotebookNode
        A version-4 notebook; ``nbformat.write(nb, path)`` saves it.
    """
    path = str(Path(repo).expanduser().resolve())
    where_literal = repr(dict(where or {}))
    cells = [
        _markdown_cell(
            f"# Vigil explorer: `{metric or 'metrics'}`\n\n"
            f"Repository `{path}`, selection `{where_literal}`."
        ),
        _code_cell(
            "import holoviews as hv\n"
            "from holoviews.operation.datashader import rasterize\n"
            "from vigil.explorer import Repository\n\n"
            'hv.extension("bokeh")\n'
            f"repo = Repository({path!r})\n"
            "repo.summary()"
        ),
    ]
    if metric is None:
        cells.append(_code_cell("[m.name for m in repo.metrics()]"))
    else:
        on_sources = table == "sources" if table else metric.startswith("visit_")
        by = ["visit", "detector"] if on_sources else ["tract", "patch"]
        cells.append(
            _code_cell(
                f"metric = {metric!r}\n"
                f"where = {where_literal}\n"
                f"by = {by!r}\n"
                "aggregates = repo.aggregate(metric, by, where or None)\n"
                "aggregates"
            )
        )
    if metric is not None and per_source:
        cells.append(
            _code_cell(
                "values = repo.values(metric, where or None, limit=None)\n"
                'scatter = hv.Points(values, ["mag", "value"])\n'
                'sky = hv.Points(values, ["coord_ra", "coord_dec"], ["value"])\n'
                "# Colours from the 1st to the 99th percentile: outliers do not stretch them.\n"
                'clim = tuple(values["value"].quantile([0.01, 0.99])) if len(values) else None\n'
                "if len(values) > 20_000:\n"
                '    scatter, sky = rasterize(scatter), rasterize(sky, aggregator="mean")\n'
                "else:\n"
                '    sky = sky.opts(color="value")\n'
                "size = dict(width=500, height=350)\n"
                'scatter = scatter.opts(title=metric, xlabel="magnitude", ylabel=metric, **size)\n'
                "sky = sky.opts(\n"
                '    title=f"{metric} on the sky", xlabel="RA (deg)", ylabel="Dec (deg)",\n'
                '    invert_xaxis=True, cmap="RdYlBu_r", colorbar=True, clim=clim, **size)\n'
                "(scatter + sky).cols(2)"
            )
        )
    notebook = _notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook
