"""The drill-down explorer: a Panel app over one data repository (or two, compared).

`create_explorer` returns a Panel object. Serve it (``vigil explore REPO``), mount it in
the server (``/explore``), or display it in Jupyter::

    import panel as pn
    from vigil.explorer.app import create_explorer

    pn.extension()
    create_explorer("path/to/repo")          # the last expression of a cell shows it

The app has three parts: the quick look (header figures, every metric rolled up and
coloured against its acceptable range, a sky map of one metric per patch or detector),
the metric view (the metric against magnitude, datashaded above `DATASHADE_ROWS` points,
beside an RA/Dec map coloured by the metric; choosing a tract, patch, visit or detector,
or tapping a group on the sky map, drills down) and, with a second repository, the
comparison (per-group differences). "Open in Jupyter" downloads a notebook that runs the
same query and redraws the same plot (`vigil.explorer.notebook`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param

from vigil.compute.errors import ComputeError
from vigil.compute.plan import WhereValue
from vigil.explorer._rollup import drill_levels, positions, rollup
from vigil.explorer.notebook import make_notebook
from vigil.explorer.query import Repository

__all__ = ["ALL", "DATASHADE_ROWS", "Explorer", "create_explorer"]

DATASHADE_ROWS = 20_000
"""Above this many points the metric view is rasterised by Datashader."""

ALL = "all"
"""The selector value meaning no filter."""

_STATUS_COLOURS = {"ok": "#d4edda", "bad": "#f8d7da", "no range": "#eeeeee"}


def _status_style(row: pd.Series) -> list[str]:
    colour = _STATUS_COLOURS.get(str(row.get("status")), "#fff3cd")
    return [f"background-color: {colour}"] * len(row)


class Explorer(param.Parameterized):
    """The explorer's state and views over one repository (and an optional second).

    Parameters
    ----------
    repo
        The repository.
    other
        The repository to compare with, or None.
    """

    metric: Any = param.Selector(default=None, objects=[], doc="The metric shown.")
    tract: Any = param.Selector(default=ALL, objects=[ALL], doc="Tract filter (coadd metrics).")
    patch: Any = param.Selector(default=ALL, objects=[ALL], doc="Patch filter (coadd metrics).")
    visit: Any = param.Selector(default=ALL, objects=[ALL], doc="Visit filter (visit metrics).")
    detector: Any = param.Selector(default=ALL, objects=[ALL], doc="Detector filter.")

    def __init__(self, repo: Repository, other: Repository | None = None) -> None:
        self.repo = repo
        self.other = other
        self.infos = {info.name: info for info in repo.metrics()}
        names = list(self.infos)
        super().__init__()
        self.param.metric.objects = names
        self.metric = self._default_metric(names)
        self._update_choices()

    def _default_metric(self, names: list[str]) -> str | None:
        table = rollup_cached(self.repo)
        bad = table[table["status"] == "bad"]["metric"].tolist()
        return bad[0] if bad else (names[0] if names else None)

    # -- state ---------------------------------------------------------------------------

    @property
    def table(self) -> str:
        """The table of the current metric."""
        return self.infos[self.metric].table if self.metric else "objects"

    @param.depends("metric", "tract", "visit", watch=True)
    def _update_choices(self) -> None:
        if self.metric is None:
            return
        if self.table == "objects":
            tracts = self.repo.summary().tracts
            self.param.tract.objects = [ALL, *tracts]
            patches: list[Any] = [ALL]
            if self.tract != ALL:
                where = {"tract": self.tract}
                patches += positions(self.repo, "objects", ["patch"], where)["patch"].tolist()
            self.param.patch.objects = patches
            if self.patch not in patches:
                self.patch = ALL
        else:
            visits = self.repo.visits()["visit"].astype(int).tolist()
            self.param.visit.objects = [ALL, *visits]
            detectors: list[Any] = [ALL]
            if self.visit != ALL:
                where = {"visit": self.visit}
                found = positions(self.repo, "sources", ["detector"], where)
                detectors += found["detector"].astype(int).tolist()
            self.param.detector.objects = detectors
            if self.detector not in detectors:
                self.detector = ALL

    def where(self) -> dict[str, WhereValue]:
        """The current selection as a `Repository` filter."""
        keys = ("tract", "patch") if self.table == "objects" else ("visit", "detector")
        return {k: int(getattr(self, k)) for k in keys if getattr(self, k) != ALL}

    def level(self) -> tuple[str, ...]:
        """The grouping of the sky map: the finer level once the coarse one is chosen."""
        levels = drill_levels(self.infos[self.metric]) if self.metric else [("tract",)]
        coarse = levels[0][0]
        if getattr(self, coarse) == ALL or len(levels) == 1:
            return levels[-1] if coarse == "tract" else levels[0]
        return levels[-1]

    def select_group(self, row: pd.Series) -> None:
        """Drill into the group of a sky-map point (a tapped tract/patch or visit/detector)."""
        for key in self.level():
            if key in row and key in self.param:
                value = int(row[key])
                self._update_choices()
                setattr(self, key, value)
                self._update_choices()

    # -- views ---------------------------------------------------------------------------

    def header(self) -> pn.pane.Markdown:
        """Tracts, visits per band, sources."""
        s = self.repo.summary()
        visits = ", ".join(f"{b}: {n}" for b, n in s.visits_per_band.items()) or "none"
        lines = [
            f"## {s.name}",
            f"**{len(s.tracts)}** tracts · **{s.patches}** patches · visits per band"
            f" {visits} · **{s.objects:,}** objects · **{s.sources:,}** sources ·"
            f" **{s.metrics}** metrics",
        ]
        if s.inferred:
            lines.append("*No vigil-repo.yaml: metrics are inferred from the columns.*")
        for problem in s.problems:
            lines.append(f"**Unreadable file:** `{problem.path}` ({problem.message})")
        return pn.pane.Markdown("\n\n".join(lines), name="header")

    def quicklook(self) -> pn.pane.DataFrame:
        """Every metric rolled up, coloured by status against its acceptable range."""
        frame = rollup_cached(self.repo)
        styled = frame.style.apply(_status_style, axis=1).format(
            {"value": "{:.4g}", "worst_value": "{:.4g}"}, na_rep=""
        )
        return pn.pane.DataFrame(styled, name="quicklook", index=False, sizing_mode="stretch_width")

    def group_frame(self) -> pd.DataFrame:
        """The current metric aggregated at the sky map's level, with group positions."""
        if self.metric is None:
            return pd.DataFrame({"ra": [], "dec": [], "value": []})
        level = list(self.level())
        where = {k: v for k, v in self.where().items() if k in level[:1]}
        values = self.repo.aggregate(self.metric, level, where or None)
        places = positions(self.repo, self.table, level, where or None)
        frame = values.merge(places, on=level, how="inner")
        frame["acceptable"] = (
            frame["acceptable"].astype(object).where(frame["acceptable"].notna(), None)
        )
        return frame

    @param.depends("metric", "tract", "visit")
    def sky_map(self) -> hv.Points:
        """The metric per group on the sky; tapping a group drills into it."""
        frame = self.group_frame()
        level = list(self.level())
        points = hv.Points(frame, ["ra", "dec"], ["value", *level, "count"]).opts(
            color="value",
            cmap="RdYlBu_r",
            colorbar=True,
            size=9,
            tools=["hover", "tap"],
            invert_xaxis=True,
            width=640,
            height=340,
            title=f"{self.metric} per {' / '.join(level)}",
            xlabel="RA (deg)",
            ylabel="Dec (deg)",
        )
        tap = hv.streams.Selection1D(source=points)

        def on_tap(index: list[int]) -> None:
            if index:
                self.select_group(frame.iloc[index[0]])

        tap.add_subscriber(on_tap)
        return points

    def values_frame(self) -> pd.DataFrame:
        """The per-source values of the current selection (empty for a fit)."""
        if self.metric is None:
            return pd.DataFrame({"mag": [], "value": [], "coord_ra": [], "coord_dec": []})
        info = self.infos[self.metric]
        if info.granularity != "source":
            return pd.DataFrame({"mag": [], "value": [], "coord_ra": [], "coord_dec": []})
        return self.repo.values(
            self.metric,
            self.where() or None,
            fields=["coord_ra", "coord_dec", "mag", "value"],
            limit=None,
        )

    @param.depends("metric", "tract", "patch", "visit", "detector")
    def metric_view(self) -> pn.Row:
        """The metric against magnitude beside the RA/Dec map of the selection."""
        frame = self.values_frame()
        title = f"{self.metric} ({len(frame):,} sources)"
        scatter = hv.Points(frame, ["mag", "value"]).opts(
            width=520, height=340, title=title, xlabel="magnitude", ylabel=self.metric
        )
        sky = hv.Points(frame, ["coord_ra", "coord_dec"], ["value"]).opts(
            width=520, height=340, invert_xaxis=True, xlabel="RA", ylabel="Dec"
        )
        if len(frame) > DATASHADE_ROWS:
            import datashader as ds
            from holoviews.operation.datashader import dynspread, rasterize

            left: Any = dynspread(rasterize(scatter)).opts(cmap="Viridis", cnorm="eq_hist")
            right: Any = rasterize(sky, aggregator=ds.mean("value")).opts(
                cmap="RdYlBu_r", colorbar=True
            )
        else:
            left = scatter.opts(size=3, alpha=0.5)
            right = sky.opts(color="value", cmap="RdYlBu_r", colorbar=True, size=4)
        return pn.Row(
            pn.pane.HoloViews(left, name="scatter"),
            pn.pane.HoloViews(right, name="skymap"),
            sizing_mode="stretch_width",
        )

    @param.depends("metric", "tract", "visit")
    def comparison(self) -> pn.viewable.Viewable:
        """Per-group differences between the two repositories."""
        if self.other is None or self.metric is None:
            return pn.pane.Markdown("Start with `--compare REPO2` to compare two repositories.")
        level = list(self.level())
        frame = self.repo.compare(self.other, self.metric, level)
        bars = hv.Bars(
            frame.assign(group=frame[level].astype(str).agg(" ".join, axis=1)),
            "group",
            "delta",
        ).opts(width=900, height=280, title="other - this", xrotation=90, tools=["hover"])
        return pn.Column(
            pn.pane.HoloViews(bars),
            pn.pane.DataFrame(frame, name="comparison", index=False, sizing_mode="stretch_width"),
        )

    def notebook_bytes(self) -> io.BytesIO:
        """The "open in Jupyter" notebook of the current selection."""
        notebook = make_notebook(self.repo.path, metric=self.metric, where=self.where())
        return io.BytesIO(json.dumps(notebook, indent=1).encode())

    # -- layout --------------------------------------------------------------------------

    def panel(self) -> pn.viewable.Viewable:
        """The whole app."""
        controls = pn.Param(
            self.param,
            parameters=["metric", "tract", "patch", "visit", "detector"],
            widgets={"metric": pn.widgets.Select},
            show_name=False,
            width=260,
        )
        download = pn.widgets.FileDownload(
            callback=self.notebook_bytes,
            filename="vigil-explore.ipynb",
            label="Open in Jupyter (.ipynb)",
            width=240,
        )
        tabs = pn.Tabs(
            ("Quick look", pn.Column(self.quicklook(), sizing_mode="stretch_width")),
            ("Metric", pn.Column(self.sky_map, self.metric_view, sizing_mode="stretch_width")),
            dynamic=False,
        )
        if self.other is not None:
            tabs.append(("Compare", pn.Column(self.comparison, sizing_mode="stretch_width")))
        return pn.Column(
            self.header(),
            pn.Row(pn.Column(controls, download), tabs, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            name="vigil-explorer",
        )


_ROLLUPS: dict[tuple[str, float], pd.DataFrame] = {}


def rollup_cached(repo: Repository) -> pd.DataFrame:
    """`rollup` of *repo*, computed once per repository folder and configuration."""
    config = repo.layout.config_path
    key = (str(repo.path.resolve()), config.stat().st_mtime if config.exists() else 0.0)
    if key not in _ROLLUPS:
        _ROLLUPS[key] = rollup(repo)
    return _ROLLUPS[key].copy()


def create_explorer(
    repo_path: Path | str | Repository, compare_path: Path | str | Repository | None = None
) -> pn.viewable.Viewable:
    """The explorer app of a repository (and a second one to compare with).

    Parameters
    ----------
    repo_path
        The repository folder (or an opened `Repository`).
    compare_path
        A second repository: adds the comparison tab.

    Returns
    -------
    panel.viewable.Viewable
        A Panel object: ``.servable()`` it, ``pn.serve`` it, or show it in Jupyter.
        Its ``explorer`` attribute is the `Explorer` behind it.

    Raises
    ------
    vigil.compute.RepositoryError
        When a path is not a repository.
    """
    hv.extension("bokeh", logo=False)
    repo = repo_path if isinstance(repo_path, Repository) else Repository(repo_path)
    other = None
    if compare_path is not None:
        other = compare_path if isinstance(compare_path, Repository) else Repository(compare_path)
    try:
        explorer = Explorer(repo, other)
    except ComputeError as exc:
        return pn.pane.Alert(f"Cannot open {repo.path}: {exc}", alert_type="danger")
    view = explorer.panel()
    view.explorer = explorer  # type: ignore[attr-defined]
    return view
