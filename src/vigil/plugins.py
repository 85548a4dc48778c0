"""Extensions of Vigil from other packages, through entry points.

A package extends Vigil by declaring entry points in its ``pyproject.toml``; nothing of
Vigil is edited. Three groups (docs/plugins.md):

``vigil.metrics``
    A `vigil.compute.MetricDefinition` (its compute and select actions included), a
    `vigil.compute.Aggregator` instance, or a list of them. Definitions join the registry
    that ``vigil compute`` and the explorer look metric names up in
    (`vigil.compute.default_registry`); aggregators, those listed and those the
    definitions use, join the names `vigil.compute.aggregator_from_name` knows
    (``aggregate`` in ``vigil-repo.yaml``).
``vigil.blob_renderers``
    Named by a blob name or a metric name: a `BlobRenderer`, which draws on the job page
    the blobs of that name, or the blobs that measurements of that metric refer to,
    instead of the default histogram or scatter.
``vigil.qa_plots``
    Named by a QA key: a `QaPlot`, which draws a plot of a processing's values of that
    key in the monitor's QA drill-down.

Renderers and QA plots return a Bokeh model, an HTML fragment (a string, sanitised
before it reaches a page) or None (nothing to draw). Entry points are a property of the
installed environment, like the modules they name: `load_plugins` loads them once per
process. An entry point that cannot be loaded, holds the wrong kind of object, or whose
name clashes with a built-in or with another plugin's is left out with a warning that
names its distribution (`Plugins.errors`); it never stops the server or a command.
``vigil plugins`` lists what is installed.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.compute.actions import Aggregator
    from vigil.compute.metric import MetricDefinition

__all__ = [
    "BLOB_RENDERERS",
    "GROUPS",
    "METRICS",
    "QA_PLOTS",
    "BlobRenderer",
    "PluginBlob",
    "PluginEntry",
    "PluginQaValue",
    "Plugins",
    "QaPlot",
    "clear_plugins",
    "load_plugins",
]

METRICS = "vigil.metrics"
"""The entry-point group of metric definitions and aggregators."""

BLOB_RENDERERS = "vigil.blob_renderers"
"""The entry-point group of the job page's blob renderers, named by blob or metric."""

QA_PLOTS = "vigil.qa_plots"
"""The entry-point group of the monitor's QA plots, named by QA key."""

GROUPS = (METRICS, BLOB_RENDERERS, QA_PLOTS)
"""Every entry-point group Vigil reads."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PluginBlob:
    """What a blob renderer is given: one blob of a job.

    Attributes
    ----------
    identifier
        The blob's identifier in the job.
    name
        Its name (``example.residuals``), if it has one.
    data
        Its datums by name (``{"value": [...], "unit": "mag", "label": ...}``).
    metrics
        The metrics whose measurements in the job refer to it.
    """

    identifier: str
    name: str | None
    data: Mapping[str, Any]
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PluginQaValue:
    """What a QA plot is given, for each unit and step that reported its key.

    Attributes
    ----------
    unit, step, key
        Where the value comes from and what it is.
    status
        ``normal``, ``warning``, ``alarm`` or ``missing``.
    value
        The value (of the worst element when there are several).
    values
        Every element's value (one per amplifier, fibre...).
    reference
        The reference the ranges apply to, as stored (a list of numbers, usually).
    normal, warning
        The ranges of the value minus its reference.
    """

    unit: str
    step: str
    key: str
    status: str
    value: float | None
    values: tuple[float | None, ...] = ()
    reference: Any = None
    normal: tuple[float | None, ...] | None = None
    warning: tuple[float | None, ...] | None = None


BlobRenderer = Callable[[PluginBlob], Any]
"""Draws one blob: returns a Bokeh model, an HTML fragment, or None for the default plot."""

QaPlot = Callable[[str, Sequence[PluginQaValue]], Any]
"""Draws the values of one QA key of a processing: a Bokeh model, HTML, or None."""


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One entry point of a Vigil group, and why it was left out (if it was).

    Attributes
    ----------
    group
        One of `GROUPS`.
    name
        The entry point's name.
    value
        What it names (``package.module:attribute``).
    distribution
        The installed distribution that declares it.
    error
        Why it was left out; None when it is in use.
    """

    group: str
    name: str
    value: str
    distribution: str
    error: str | None = None


@dataclass
class Plugins:
    """What the installed plugins add, and every entry point read.

    Attributes
    ----------
    metrics
        Metric definitions, in the order found.
    aggregators
        Aggregators by name.
    blob_renderers
        Blob renderers by blob or metric name.
    qa_plots
        QA plots by QA key.
    entries
        Every entry point of `GROUPS`, loaded or left out.
    """

    metrics: list[MetricDefinition] = field(default_factory=list)
    aggregators: dict[str, Aggregator] = field(default_factory=dict)
    blob_renderers: dict[str, BlobRenderer] = field(default_factory=dict)
    qa_plots: dict[str, QaPlot] = field(default_factory=dict)
    entries: list[PluginEntry] = field(default_factory=list)

    @property
    def errors(self) -> list[PluginEntry]:
        """The entry points left out, each with its reason."""
        return [entry for entry in self.entries if entry.error is not None]

    def blob_renderer(self, blob: PluginBlob) -> tuple[str, BlobRenderer] | None:
        """The renderer of *blob* and the name it is found by: the blob's name, else the
        first metric that refers to it; None when no plugin draws it."""
        for name in (blob.name, *blob.metrics):
            if name is not None and name in self.blob_renderers:
                return name, self.blob_renderers[name]
        return None


class _RejectedError(Exception):
    """An entry point's object cannot be used; the message says why."""


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return str(dist.name) if dist is not None else "an unknown distribution"


def _metric_items(obj: Any) -> list[Any]:
    from vigil.compute.actions import Aggregator
    from vigil.compute.metric import MetricDefinition

    items = list(obj) if isinstance(obj, list | tuple) else [obj]
    for item in items:
        if not isinstance(item, MetricDefinition | Aggregator):
            kind = f"class {item.__name__}" if isinstance(item, type) else type(item).__name__
            raise _RejectedError(
                f"expected a MetricDefinition, an Aggregator instance or a list of them, got {kind}"
            )
    return items


def _clash(plugins: Plugins, item: Any) -> str | None:
    """Why *item* (a definition or an aggregator) clashes with what exists, or None."""
    from vigil.compute.actions import Aggregator
    from vigil.compute.registry import STANDARD_METRICS

    if isinstance(item, Aggregator):
        if not item.name:
            return "an aggregator needs a name"
        if _builtin_aggregator(item.name):
            return f"aggregator {item.name!r} is a built-in"
        if item.name in plugins.aggregators:
            return f"aggregator {item.name!r} is already added by a plugin"
        return None
    for builtin in STANDARD_METRICS:
        if _overlap(builtin, item):
            return f"metric {item.name!r} clashes with the built-in {builtin.name!r}"
    for other in plugins.metrics:
        if _overlap(other, item):
            return f"metric {item.name!r} clashes with {other.name!r} of a plugin"
    return None


def _builtin_aggregator(name: str) -> bool:
    from vigil.compute.aggregators import builtin_aggregator

    return name == "outlier_fraction" or builtin_aggregator(name) is not None


def _overlap(a: MetricDefinition, b: MetricDefinition) -> bool:
    """Whether a metric name could be an instance of both *a* and *b*."""
    if a.name == b.name:
        return True
    return (not b.templated and a.match(b.name) is not False) or (
        not a.templated and b.match(a.name) is not False
    )


def _add(plugins: Plugins, group: str, name: str, obj: Any) -> None:
    """Add *obj*, the object of entry point *name* of *group*, or raise `_RejectedError`."""
    if group == METRICS:
        from vigil.compute.actions import Aggregator

        # All of the entry point's items, or none: each checked against those before it.
        staged = Plugins(metrics=list(plugins.metrics), aggregators=dict(plugins.aggregators))
        for item in _metric_items(obj):
            reason = _clash(staged, item)
            if reason is not None:
                raise _RejectedError(reason)
            if isinstance(item, Aggregator):
                staged.aggregators[item.name] = item
                continue
            staged.metrics.append(item)
            # vigil-repo.yaml records a metric's aggregate by name: make the name known.
            aggregator = item.aggregator
            if not _builtin_aggregator(aggregator.name):
                if not aggregator.name:
                    raise _RejectedError(f"metric {item.name!r}: its aggregator needs a name")
                staged.aggregators.setdefault(aggregator.name, aggregator)
        plugins.metrics, plugins.aggregators = staged.metrics, staged.aggregators
        return
    if not callable(obj) or isinstance(obj, type):
        raise _RejectedError(f"expected a function, got {type(obj).__name__}")
    table = plugins.blob_renderers if group == BLOB_RENDERERS else plugins.qa_plots
    if name in table:
        raise _RejectedError(f"{name!r} already has a {group} entry point of another plugin")
    table[name] = obj


def _load() -> Plugins:
    plugins = Plugins()
    seen: set[tuple[str, str, str, str]] = set()
    for group in GROUPS:
        for entry_point in importlib.metadata.entry_points(group=group):
            distribution = _distribution(entry_point)
            key = (group, entry_point.name, entry_point.value, distribution)
            if key in seen:  # one distribution found twice on the path
                continue
            seen.add(key)
            error = None
            try:
                obj = entry_point.load()
            except Exception as exc:
                error = f"cannot be loaded: {type(exc).__name__}: {exc}"
            else:
                try:
                    _add(plugins, group, entry_point.name, obj)
                except _RejectedError as exc:
                    error = str(exc)
            if error is not None:
                _log.warning(
                    "plugin %r (%s) of %s left out: %s",
                    entry_point.name,
                    group,
                    distribution,
                    error,
                )
            plugins.entries.append(
                PluginEntry(group, entry_point.name, entry_point.value, distribution, error)
            )
    return plugins


_lock = threading.RLock()
_loaded: Plugins | None = None
_loading = False


def load_plugins() -> Plugins:
    """The installed plugins, loaded on the first call of the process."""
    global _loaded, _loading
    with _lock:
        if _loaded is None:
            if _loading:
                # A plugin's own import asked: it sees no plugins rather than a half list.
                return Plugins()
            _loading = True
            try:
                _loaded = _load()
            finally:
                _loading = False
        return _loaded


def clear_plugins() -> None:
    """Forget the loaded plugins: the next `load_plugins` reads the entry points again
    (after a package was installed into the running process's path)."""
    global _loaded
    with _lock:
        _loaded = None
