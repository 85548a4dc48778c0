"""Bokeh figures of Vigil's data, for the dashboard and for notebooks.

Pure functions: a pandas DataFrame or arrays in, a Bokeh figure out (``show(fig)`` in
Jupyter, ``bokeh.embed.json_item(fig)`` in a page)::

    from vigil.client import Client
    from vigil import plots

    df = Client("http://localhost:8000").series("validate_drp.PA1", dataset="hsc",
                                                data_id={"band": "r"})
    show(plots.series_plot(df, x="commit", thresholds=[plots.Threshold("design", 5.0)]))
"""

from ._columns import HOVER_HINT, NO_BRANCH, SIGNIFICANT, PlotData, branch_order
from ._style import Marker, Threshold, failing_mask, merge_thresholds
from .blob import blob_arrays, blob_plot, default_axes
from .branches import branch_data, branch_figure, branch_plot
from .grid import dataid_grid, grid_axes
from .series import DENSE_POINTS, SELECT_POINT_EVENT, series_data, series_figure, series_plot

__all__ = [
    "DENSE_POINTS",
    "HOVER_HINT",
    "NO_BRANCH",
    "SELECT_POINT_EVENT",
    "SIGNIFICANT",
    "Marker",
    "PlotData",
    "Threshold",
    "blob_arrays",
    "blob_plot",
    "branch_data",
    "branch_figure",
    "branch_order",
    "branch_plot",
    "dataid_grid",
    "default_axes",
    "failing_mask",
    "grid_axes",
    "merge_thresholds",
    "series_data",
    "series_figure",
    "series_plot",
]
