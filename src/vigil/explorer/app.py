"""The drill-down explorer: a Panel app over one data repository (or two, compared).

`create_explorer` returns a Panel object. Serve it (``vigil explore REPO``), mount it in
the server (``/explore``), or display it in Jupyter::

    import panel as pn
    from vigil.explorer.app import create_explorer

    pn.extension()
    create_explorer("path/to/repo")          # the last expression of a cell shows it

The app has three parts. The quick look: header figures, a banner naming unreadable
files, every metric rolled up and coloured against its acceptable range; a click on a
metric opens it, a click on its worst group drills straight to that group. The metric
view: the groups of the current level, worst first (a click drills into one: tract ->
patch -> sources, visit -> detector -> sources), a sky map of the metric per group
(tapping a group drills too), the metric against magnitude, datashaded above
`DATASHADE_ROWS` points, beside an RA/Dec map coloured by the metric, and at the finest
level the group's sources as a table (at most `SOURCE_ROWS`, flagged when truncated).
With a second repository, the comparison (per-group differences). "Open in Jupyter"
downloads a notebook that runs the same query and redraws the same plot
(`vigil.explorer.notebook`).

A selection can be given when the app is made (`create_explorer`'s *selection*: the
``metric``, ``band``, ``tract``, ``patch``, ``visit`` and ``detector`` arguments of the
app's URL), so that a link opens a metric at a dataId.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import holoviews as hv
import pandas as pd
import panel as pn
import param

from vigil.compute.errors import ComputeError
from vigil.compute.plan import WhereValue
from vigil.explorer import (
    _focal_views,
    _layout,
    _outline_views,
    _outlines,
    _rerun_views,
    _views,
)
from vigil.explorer._linked import CUT_PARAMS, cut_values, with_cuts
from vigil.explorer._panel import alert, markdown, one_redraw, plain
from vigil.explorer._rollup import (
    RangeStatus,
    drill_levels,
    group_label,
    positions,
    rank_groups,
    rollup_cached,
)
from vigil.explorer.notebook import make_notebook
from vigil.explorer.query import Repository

__all__ = [
    "ALL",
    "DATASHADE_ROWS",
    "SELECTION_KEYS",
    "SOURCE_ROWS",
    "Explorer",
    "create_explorer",
    "selection_from_args",
]

DATASHADE_ROWS = 20_000
"""Above this many points the metric view is rasterised by Datashader."""

SOURCE_ROWS = 500
"""Rows of a group's source table at most (the rest is left out, and the table says so)."""

ALL = "all"
"""The selector value meaning no filter."""

SELECTION_KEYS = ("metric", "band", "tract", "patch", "visit", "detector")
"""The URL arguments that choose the app's metric and dataId."""

_DATA_ID_KEYS = ("tract", "patch", "visit", "detector")


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
    came_from: Any = param.Parameter(
        default=None, doc="The metric, tract and patch a visit was opened from (`open_visit`)."
    )
    outlines: Any = param.Boolean(
        default=False, doc="Draw visit outlines (a chosen visit's detectors) on the sky map."
    )
    snr_min: Any = param.Number(None, allow_None=True, bounds=(0, None), label="S/N at least")
    mag_min: Any = param.Number(None, allow_None=True, label="Magnitude from")
    mag_max: Any = param.Number(None, allow_None=True, label="Magnitude to")
    extendedness: Any = param.Selector(default=ALL, objects=[ALL, "stars", "galaxies"])
    cut_band: Any = param.Selector(default=ALL, objects=[ALL], label="Band of the cuts")
    outline_level: Any = param.Selector(
        default="visits", objects=list(_outline_views.OUTLINE_LEVELS), doc="Coadd map outlines."
    )

    def __init__(
        self,
        repo: Repository,
        other: Repository | None = None,
        selection: Mapping[str, Any] | None = None,
    ) -> None:
        self.repo = repo
        self.other = other
        self.infos = {info.name: info for info in repo.metrics()}
        names = list(self.infos)
        # param.Parameterized.__init__(**params) is unannotated.
        cast("Callable[[], None]", super().__init__)()
        self.tabs: pn.Tabs | None = None
        # Redrawn in place by their views, so that a click leaves the page's layout be.
        self._path = _views.PathBar(self.up)
        self._groups = _views.GroupsTable(self.select_group)
        self.param.metric.objects = names
        self.param.cut_band.objects = [ALL, *repo.bands()]
        self.metric = self._default_metric(names)
        self._update_choices()
        self.opened = False
        if selection:
            self.opened = self.apply_selection(selection)

    def _default_metric(self, names: list[str]) -> str | None:
        table = rollup_cached(self.repo)
        bad = table[table["status"] == RangeStatus.BAD]["metric"].tolist()
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
            if self.tract not in self.param.tract.objects:
                self.tract = ALL
            patches: list[Any] = [ALL]
            if self.tract != ALL:
                where = {"tract": self.tract}
                patches += positions(self.repo, "objects", ["patch"], where)["patch"].tolist()
            self.param.patch.objects = patches
            if self.patch not in patches:
                self.patch = ALL
        else:
            # Only the visits of the metric's band: another band's visit has no values.
            band = self.infos[self.metric].band
            visits = self.repo.visits(band=band)["visit"].astype(int).tolist()
            self.param.visit.objects = [ALL, *visits]
            if self.visit not in self.param.visit.objects:
                self.visit = ALL
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

    def select_group(self, row: Mapping[str, Any]) -> None:
        """Drill into a group (a tapped tract/patch or visit/detector, a clicked row)."""
        keys = [k for k in _DATA_ID_KEYS if k in row and k in self.param]
        self.drill({k: int(row[k]) for k in keys})

    def drill(self, data_id: Mapping[str, int]) -> None:
        """Select *data_id*'s tract then patch (or visit then detector), coarse first."""
        order = ("tract", "patch") if self.table == "objects" else ("visit", "detector")
        # One batch: every view is redrawn once, for the final selection, and the page
        # gets every change in one message (`one_redraw`).
        with one_redraw(), param.parameterized.batch_call_watchers(self):
            for key in order:
                if key not in data_id:
                    continue
                self._update_choices()
                value = int(data_id[key])
                if value in self.param[key].objects:
                    setattr(self, key, value)
            self._update_choices()

    def open_metric(self, metric: str, data_id: Mapping[str, int] | None = None) -> None:
        """Show *metric* (at *data_id*) in the metric tab."""
        with one_redraw():
            with param.parameterized.batch_call_watchers(self):
                self.came_from = None
                self.tract = self.patch = self.visit = self.detector = ALL
                self.metric = metric
                self._update_choices()
                self.drill(data_id or {})
            if self.tabs is not None:
                self.tabs.active = 1

    def up(self) -> None:
        """Go one level up: forget the finest key chosen."""
        order = ("patch", "tract") if self.table == "objects" else ("detector", "visit")
        for key in order:
            if getattr(self, key) != ALL:
                with one_redraw():
                    setattr(self, key, ALL)
                return

    def resolve_metric(self, name: str | None, band: str | None = None) -> str | None:
        """The repository's metric for *name*: itself, its last dotted part, with *band*.

        A job's measurement ``pipe_analysis.psf_size_residual`` of band ``i`` is the
        repository's ``psf_size_residual_i``.
        """
        if not name:
            return None
        short = name.rsplit(".", 1)[-1]
        for candidate in (name, short, f"{name}_{band}", f"{short}_{band}"):
            if candidate in self.infos:
                return candidate
        return None

    def apply_selection(self, selection: Mapping[str, Any]) -> bool:
        """Open the metric and dataId of *selection* (`SELECTION_KEYS`); whether it did."""
        band = selection.get("band")
        metric = self.resolve_metric(selection.get("metric"), str(band) if band else None)
        if metric is None:
            return False
        data_id: dict[str, int] = {}
        for key in _DATA_ID_KEYS:
            value = selection.get(key)
            if value is not None and str(value).lstrip("-").isdigit():
                data_id[key] = int(value)
        self.open_metric(metric, data_id)
        return True

    def list_level(self) -> tuple[str, ...] | None:
        """The level whose groups the metric tab lists (None: a group is fully chosen)."""
        if self.metric is None:
            return None
        for level in drill_levels(self.infos[self.metric]):
            if any(getattr(self, key) == ALL for key in level):
                return level
        return None

    def groups_frame(self) -> pd.DataFrame:
        """The groups of `list_level` in the current selection, worst first."""
        level = self.list_level()
        if level is None or self.metric is None:
            return pd.DataFrame(columns=_views.GROUP_COLUMNS)
        info = self.infos[self.metric]
        where = {k: v for k, v in self.where().items() if k in level}
        frame = self.repo.aggregate(self.metric, list(level), where or None)
        levels = drill_levels(info)
        finer = None
        if level in levels and levels.index(level) + 1 < len(levels):
            finer = self.repo.aggregate(
                self.metric, list(levels[levels.index(level) + 1]), where or None
            )
        ranked = rank_groups(self.repo, info, frame, where or None, finer)
        ranked["group"] = [group_label(level, row) for _, row in ranked.iterrows()]
        ranked["status"] = [
            RangeStatus.NO_RANGE if pd.isna(ok) else (RangeStatus.OK if ok else RangeStatus.BAD)
            for ok in ranked["acceptable"]
        ]
        ranked["below"] = ranked["bad_below"]
        return ranked

    def sources_frame(self) -> pd.DataFrame:
        """The sources of the chosen group, farthest from the group's median first.

        At most `SOURCE_ROWS` rows; ``attrs["truncated"]`` says whether some were left
        out, ``attrs["total"]`` how many the group has. Empty above the finest level and
        for a fit.
        """
        empty = pd.DataFrame(columns=["coord_ra", "coord_dec", "mag", "value"])
        empty.attrs.update(truncated=False, total=0)
        if self.metric is None or self.list_level() is not None:
            return empty
        info = self.infos[self.metric]
        if info.granularity != "source":
            return empty
        frame = cut_values(self)
        total = len(frame)
        centre = frame["value"].median() if total else 0.0
        order = (frame["value"] - centre).abs().sort_values(ascending=False, kind="stable").index
        shown = frame.loc[order[:SOURCE_ROWS]].reset_index(drop=True)
        shown.attrs.update(truncated=total > SOURCE_ROWS, total=total)
        return shown

    # -- views ---------------------------------------------------------------------------

    def header(self) -> pn.pane.Markdown:
        """Tracts, visits per band, sources."""
        return _views.header_pane(self.repo.summary())

    def banner(self) -> pn.pane.Alert | None:
        """A warning naming every file that cannot be read (None when all can)."""
        # The tables' problems and those of the metric files read so far.
        return _views.problems_banner(self.repo.problems)

    def quicklook(self) -> pn.widgets.Tabulator:
        """Every metric rolled up, coloured by status against its acceptable range.

        A click on a row opens its metric; a click on its worst group drills to it.
        """
        return _views.quicklook_table(rollup_cached(self.repo), self.open_metric)

    @param.depends("metric", "tract", "patch", "visit", "detector", "came_from")
    def path_view(self) -> pn.viewable.Viewable:
        """Where the metric tab is: the metric and the groups chosen, a way up and, for a
        visit opened from a patch, a way back (one bar, redrawn in place)."""
        if self.metric is None:
            return markdown("No metric.")
        keys = ("tract", "patch") if self.table == "objects" else ("visit", "detector")
        chosen = [f"{k} {getattr(self, k)}" for k in keys if getattr(self, k) != ALL]
        back = None
        if self.came_from is not None and self.table == "sources":
            _, tract, patch = self.came_from
            back = _outline_views.back_link(f"tract {tract} / patch {patch}", self.back)
        return self._path.show(self.metric, chosen, back)

    @param.depends("metric", "tract", "patch")
    def behind_view(self) -> pn.viewable.Viewable:
        """The visits (and their detectors) behind the chosen patch; a click opens one."""
        if self.metric is None or self.table != "objects" or ALL in (self.tract, self.patch):
            return markdown("")
        try:
            frame = _outlines.visits_behind(self.repo, int(self.tract), int(self.patch))
        except ComputeError as exc:
            return markdown(f"*No visits behind the patch: {plain(exc)}*")
        visit_metrics = any(info.table == "sources" for info in self.infos.values())
        place = f"tract {self.tract}, patch {self.patch}"
        return _outline_views.behind_table(frame, place, self.open_visit if visit_metrics else None)

    def open_visit(self, row: Mapping[str, Any]) -> None:
        """Open the visit of *row* (a visit behind the chosen patch) in a visit metric,
        remembering the patch for `back`."""
        metric = _outline_views.visit_metric(self.infos, self.metric, str(row["band"]))
        if metric is None or ALL in (self.tract, self.patch):
            return
        origin = (self.metric, int(self.tract), int(self.patch))
        self.open_metric(metric, {"visit": int(row["visit"])})
        self.came_from = origin

    def back(self) -> None:
        """Return to the patch the visit view was opened from."""
        if self.came_from is not None:
            metric, tract, patch = self.came_from
            self.open_metric(metric, {"tract": tract, "patch": patch})

    @param.depends("metric", "tract", "patch", "visit", "detector")
    def groups_view(self) -> pn.viewable.Viewable:
        """The groups of the current level, worst first; a click drills into one (one
        table, redrawn in place; empty at the finest level)."""
        keys = drill_levels(self.infos[self.metric])[-1] if self.metric is not None else ()
        return self._groups.show(self.groups_frame(), self.list_level(), keys)

    @param.depends("metric", "tract", "patch", "visit", "detector", *CUT_PARAMS)
    def sources_view(self) -> pn.viewable.Viewable:
        """The sources of the chosen group (at the finest level)."""
        if self.metric is None or self.list_level() is not None:
            return markdown("")
        if self.infos[self.metric].granularity != "source":
            return markdown(f"*{self.metric} is a fit: it has no per-source values.*")
        where = self.where()
        frame = self.sources_frame()
        group = group_label(list(where), where)
        return with_cuts(self, frame, _views.sources_table(frame, group))

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

    @param.depends("metric", "tract", "visit", "outlines", "outline_level")
    def sky_map(self, live: bool = False) -> hv.Points | hv.Overlay:
        """The metric per group on the sky; tapping a group drills into it. With
        `outlines`, over the outlines of the visits (of the tract, of the metric's band),
        or of the chosen visit's detectors. *live*: the points alone listen to no tap
        (a `vigil.explorer._live.LivePlot` drawing them does)."""
        outlined = self.outlines and self.metric is not None
        tapped = None if live and not outlined else self.select_group
        points = _views.sky_points(self.group_frame(), self.level(), self.metric, tapped)
        if not outlined:
            return points
        try:
            if self.table == "objects":
                tract = None if self.tract == ALL else int(self.tract)
                frame, title = _outline_views.tract_outlines(self.repo, tract, self.outline_level)
            elif self.visit == ALL:
                band = self.infos[self.metric].band
                frame = _outlines.visit_outlines(self.repo, band=band)
                title = f"visits in {band}" if band else "every visit"
            else:
                frame = _outlines.detector_outlines(self.repo, int(self.visit))
                title = f"detectors of visit {self.visit}"
        except ComputeError:  # sources without positions: the map without outlines
            return points
        shapes = _outline_views.outline_rectangles(frame, f"{self.metric}, {title}")
        return shapes * points

    def values_frame(self) -> pd.DataFrame:
        """The per-source values of the current selection (empty for a fit).

        Always with the columns ``coord_ra``, ``coord_dec``, ``mag`` and ``value``, even
        when the selection holds no source.
        """
        fields = ["coord_ra", "coord_dec", "mag", "value"]
        if self.metric is None or self.infos[self.metric].granularity != "source":
            return pd.DataFrame({field: pd.Series(dtype="float64") for field in fields})
        frame = cut_values(self, fields)
        for field in fields:
            if field not in frame:
                frame[field] = pd.Series(dtype="float64")
        return frame

    @param.depends("metric", "tract", "patch", "visit", "detector", *CUT_PARAMS)
    def metric_view(self) -> pn.Row:
        """The metric against magnitude beside the RA/Dec map of the selection."""
        frame = self.values_frame()
        return with_cuts(self, frame, _views.metric_plots(frame, self.metric, DATASHADE_ROWS))

    @param.depends("metric", "visit")
    def focal_view(self) -> pn.viewable.Viewable:
        """A visit metric per detector on the focal plane; a tap drills to a detector."""
        visit = None if self.visit == ALL else int(self.visit)
        return _focal_views.focal_view(self.repo, self.infos.get(self.metric), visit, self.drill)

    @param.depends("tract", "visit")
    def overview(self) -> pn.viewable.Viewable:
        """Every metric of both repositories, largest change first; a click compares one."""
        return _rerun_views.overview_view(self, ALL)

    @param.depends("metric", "tract", "visit")
    def comparison(self) -> pn.viewable.Viewable:
        """Per-group differences between the two repositories."""
        if self.other is None or self.metric is None:
            return markdown("Start with `--compare REPO2` to compare two repositories.")
        level = list(self.level())
        where = {k: v for k, v in self.where().items() if k in level[:1]}
        frame = self.repo.compare(self.other, self.metric, level, where or None)
        names = (self.repo.name, self.other.name)
        if names[0] == names[1]:  # a rerun of the same repository: tell them by folder
            names = (self.repo.path.name, self.other.path.name)
        chosen = group_label(list(where), where) if where else "every group"
        return _views.comparison_view(frame, level, self.metric, chosen, names)

    def notebook_bytes(self) -> io.BytesIO:
        """The "open in Jupyter" notebook of the current selection."""
        per_source = self.metric is not None and self.infos[self.metric].granularity == "source"
        notebook = make_notebook(
            self.repo.path,
            metric=self.metric,
            where=self.where(),
            table=self.table,
            per_source=per_source,
        )
        return io.BytesIO(json.dumps(notebook, indent=1).encode())

    # -- layout --------------------------------------------------------------------------

    def panel(self) -> pn.viewable.Viewable:
        """The whole app (`vigil.explorer._layout.explorer_layout`)."""
        return _layout.explorer_layout(self)


def selection_from_args(args: Mapping[str, Any]) -> dict[str, str]:
    """The `SELECTION_KEYS` of a Bokeh session's URL arguments (lists of bytes)."""
    out: dict[str, str] = {}
    for key in SELECTION_KEYS:
        values = args.get(key)
        if not values:
            continue
        raw = values[0] if isinstance(values, list | tuple) else values
        out[key] = raw.decode() if isinstance(raw, bytes) else str(raw)
    return out


def create_explorer(
    repo_path: Path | str | Repository,
    compare_path: Path | str | Repository | None = None,
    selection: Mapping[str, Any] | None = None,
) -> pn.viewable.Viewable:
    """The explorer app of a repository (and a second one to compare with).

    Parameters
    ----------
    repo_path
        The repository folder (or an opened `Repository`).
    compare_path
        A second repository: adds the comparison tab.
    selection
        A metric and dataId to open (`SELECTION_KEYS`: ``{"metric":
        "psf_size_residual", "band": "i", "tract": "9814", "patch": "40"}``); an
        unknown metric is ignored.

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
        explorer = Explorer(repo, other, selection)
    except ComputeError as exc:
        return alert(f"Cannot open {repo.path}: {exc}", alert_type="danger")
    view = explorer.panel()
    view.explorer = explorer  # type: ignore[attr-defined]
    return view
