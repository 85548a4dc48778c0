"""The monitor configuration (YAML): exposures, units, command, steps, QA ranges, trends.

Everything the runner needs is in one file; every malformed key is reported by its path
(``run.max_parallel: must be a whole number of at least 1``). Step lists may be written in
the file or read from DESI's ``ql_mapping_<flavor>.json`` files as they are; paths are
relative to the configuration file. See ``docs/monitor.md`` for a complete example.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._files import read_utf8
from ._reader import PLACEHOLDERS, _check_placeholders, _Reader, _resolve, expand_units
from .errors import MonitorConfigError
from .layout import Layout, parse_layout
from .mapping import TrendSpec, load_step_mapping, load_trend_mapping, parse_step_list, parse_trends
from .qa import Range
from .steps import StepSpec

__all__ = [
    "HEADER_FIELDS",
    "PLACEHOLDERS",
    "ExposureSource",
    "HeaderSpec",
    "MonitorConfig",
    "QaRule",
    "RunSpec",
    "ServerSpec",
    "expand_units",
    "load_config",
    "parse_config",
]

HEADER_FIELDS: dict[str, str] = {
    "exposure": "EXPID",
    "night": "NIGHT",
    "flavor": "FLAVOR",
    "program": "PROGRAM",
    "airmass": "AIRMASS",
    "seeing": "SEEING",
    "sky_brightness": "SKYBRT",
    "exposure_time": "EXPTIME",
    "ra": "TELRA",
    "dec": "TELDEC",
    "time": "DATE-OBS",
}
"""The exposure values the monitor reads, and the header keyword each is read from by default."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """Where events go.

    Attributes
    ----------
    url
        Root URL of the Vigil server; None runs without a server (events are spooled).
    token
        API token; default ``$VIGIL_TOKEN``.
    spool
        Folder for events the server could not take yet.
    """

    url: str | None = None
    token: str | None = None
    spool: Path | None = None


@dataclass(frozen=True, slots=True)
class ExposureSource:
    """Where new exposures come from.

    Attributes
    ----------
    kind
        ``folder`` (watch ``watch`` for files matching ``pattern``) or ``api`` (exposures
        submitted with ``POST /api/monitor/exposures``).
    watch
        The folder watched.
    pattern
        Glob of exposure files under ``watch`` (``*/*/desi-*.fits*``).
    poll_interval
        Seconds between two looks.
    settle
        Seconds a new file must stay unchanged before it is read.
    existing
        ``skip``: files already there at start-up are not processed; ``process``: they are.
    """

    kind: str = "folder"
    watch: Path | None = None
    pattern: str = "*"
    poll_interval: float = 1.0
    settle: float = 0.5
    existing: str = "skip"


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """How to read an exposure's values from its file's header.

    Attributes
    ----------
    hdu
        The FITS HDU (index or name) holding the keywords.
    keys
        Exposure value -> header keyword (see `HEADER_FIELDS`).
    sidecar
        A JSON or YAML file beside the exposure holding the header instead
        (``{stem}.json``), or None.
    """

    hdu: int | str = 0
    keys: Mapping[str, str] = field(default_factory=lambda: dict(HEADER_FIELDS))
    sidecar: str | None = None


@dataclass(frozen=True, slots=True)
class RunSpec:
    """How to run a unit.

    Attributes
    ----------
    command
        The command and its arguments, with ``{placeholders}`` (see `PLACEHOLDERS`).
    output
        The unit's output folder (where it writes QA files).
    workdir
        The folder ``{workdir}`` stands for.
    max_parallel
        Units run at the same time, at most.
    timeout
        Seconds a unit may run before it is killed (None: no limit).
    qa_files
        Glob of QA JSON files under ``output`` read after each step.
    env
        Extra environment variables of the command.
    """

    command: tuple[str, ...]
    output: str = "{workdir}/{night}/{exposure}"
    workdir: Path = Path(".")
    max_parallel: int = 8
    timeout: float | None = None
    qa_files: str | None = "ql-*-{unit}-{exposure}.json"
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QaRule:
    """The ranges of one QA key (they override those the pipeline writes in PARAMS)."""

    key: str
    normal: Range | None = None
    warning: Range | None = None
    reference: Any = None


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """A whole monitor configuration."""

    pipeline: str
    units: tuple[str, ...]
    run: RunSpec
    flavors: Mapping[str, tuple[StepSpec, ...]]
    exposures: ExposureSource = field(default_factory=ExposureSource)
    header: HeaderSpec = field(default_factory=HeaderSpec)
    server: ServerSpec = field(default_factory=ServerSpec)
    qa: Mapping[str, QaRule] = field(default_factory=dict)
    trends: tuple[TrendSpec, ...] = ()
    default_flavor: str | None = None
    source: Path | None = None
    layout: Layout | None = None

    def flavor_key(self, flavor: str | None) -> str | None:
        """The configured flavor *flavor* runs as (else ``default_flavor``); None: not monitored."""
        if flavor is not None:
            for candidate in (flavor, flavor.lower()):
                if candidate in self.flavors:
                    return candidate
        return self.default_flavor

    def steps_for(self, flavor: str | None) -> tuple[StepSpec, ...] | None:
        """The steps of *flavor* (or of ``default_flavor``); None if it is not monitored."""
        key = self.flavor_key(flavor)
        return None if key is None else self.flavors[key]

    def describe(self) -> dict[str, Any]:
        """What the server shows about this pipeline: units, steps per flavor, trends."""
        return {
            "units": list(self.units),
            "flavors": {
                flavor: [
                    {
                        "name": s.name,
                        "display_name": s.display_name,
                        "start": s.start,
                        "end": s.end,
                        "qa": [
                            {
                                "key": q.key,
                                "display_name": q.display_name,
                                "description": q.description,
                            }
                            for q in s.qa
                        ],
                    }
                    for s in steps
                ]
                for flavor, steps in self.flavors.items()
            },
            "trends": [{"name": t.name, "display": t.display, "path": t.path} for t in self.trends],
            "max_parallel": self.run.max_parallel,
            **({"layout": self.layout.describe()} if self.layout else {}),
        }


def _server(data: Any, source: str | None, base: Path) -> ServerSpec:
    reader = _Reader(data, "server", source, ("url", "token", "spool"))
    url = reader.text("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise reader.error("url", f"must start with http:// or https://, not {url!r}")
    spool = reader.text("spool")
    return ServerSpec(
        url=url.rstrip("/") if url else None,
        token=reader.text("token"),
        spool=_resolve(base, spool) if spool else None,
    )


def _exposures(data: Any, source: str | None, base: Path) -> ExposureSource:
    reader = _Reader(
        data,
        "exposures",
        source,
        ("source", "watch", "pattern", "poll_interval", "settle", "existing"),
    )
    kind = reader.choice("source", "folder", ("folder", "api"))
    watch = reader.text("watch")
    if kind == "folder" and watch is None:
        raise reader.error("watch", "is required (the folder where new exposures appear)")
    poll = reader.number("poll_interval", 1.0, minimum=0.01)
    settle = reader.number("settle", 0.5)
    return ExposureSource(
        kind=kind,
        watch=_resolve(base, watch) if watch else None,
        pattern=reader.text("pattern", "*") or "*",
        poll_interval=poll if poll is not None else 1.0,
        settle=settle if settle is not None else 0.5,
        existing=reader.choice("existing", "skip", ("skip", "process")),
    )


def _header(data: Any, source: str | None) -> HeaderSpec:
    reader = _Reader(data, "header", source, ("hdu", "keys", "sidecar"))
    hdu = reader.data.get("hdu", 0)
    if isinstance(hdu, bool) or not isinstance(hdu, int | str):
        raise reader.error("hdu", "must be an HDU index or name")
    keys = dict(HEADER_FIELDS)
    given = reader.data.get("keys") or {}
    key_reader = _Reader(given, "header.keys", source, tuple(HEADER_FIELDS))
    for name, keyword in key_reader.data.items():
        if not isinstance(keyword, str) or not keyword:
            raise key_reader.error(name, "must be a header keyword")
        keys[name] = keyword
    return HeaderSpec(hdu=hdu, keys=keys, sidecar=reader.text("sidecar"))


def _run(data: Any, source: str | None, base: Path) -> RunSpec:
    reader = _Reader(
        data,
        "run",
        source,
        ("command", "output", "workdir", "max_parallel", "timeout", "qa_files", "env"),
    )
    command = reader.data.get("command")
    if isinstance(command, str):
        import shlex

        command = shlex.split(command)
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, str | int | float) for part in command)
    ):
        raise reader.error("command", "is required: the command of a unit, as a list or a text")
    parts = tuple(str(part) for part in command)
    for i, part in enumerate(parts):
        _check_placeholders(part, f"run.command[{i}]", source)
    output = reader.text("output", "{workdir}/{night}/{exposure}") or ""
    _check_placeholders(output, "run.output", source)
    qa_files = reader.text("qa_files", "ql-*-{unit}-{exposure}.json")
    if qa_files:
        _check_placeholders(qa_files, "run.qa_files", source)
    env = reader.data.get("env") or {}
    if not isinstance(env, dict):
        raise reader.error("env", "must be a mapping of variable names to values")
    workdir = reader.text("workdir", ".") or "."
    return RunSpec(
        command=parts,
        output=output,
        workdir=_resolve(base, workdir),
        max_parallel=reader.integer("max_parallel", 8),
        timeout=reader.number("timeout", None, minimum=0.001),
        qa_files=qa_files or None,
        env={str(k): str(v) for k, v in env.items()},
    )


def _flavors(data: Any, source: str | None, base: Path) -> dict[str, tuple[StepSpec, ...]]:
    if not isinstance(data, dict) or not data:
        raise MonitorConfigError(
            "needs at least one flavor with its steps (or a DESI mapping file)",
            key="flavors",
            source=source,
        )
    flavors: dict[str, tuple[StepSpec, ...]] = {}
    for flavor, item in data.items():
        key = f"flavors.{flavor}"
        reader = _Reader(item, key, source, ("mapping", "steps"))
        mapping = reader.text("mapping")
        if mapping is not None and "steps" in reader.data:
            raise reader.error("steps", "give either 'mapping' or 'steps', not both")
        if mapping is not None:
            flavors[str(flavor)] = load_step_mapping(_resolve(base, mapping), str(flavor)).steps
        else:
            flavors[str(flavor)] = parse_step_list(reader.data.get("steps"), f"{key}.steps", source)
    return flavors


def _qa_rules(data: Any, source: str | None) -> dict[str, QaRule]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MonitorConfigError(
            "must map QA keys to {normal, warning, reference}", key="qa", source=source
        )
    rules = {}
    for qa_key, item in data.items():
        reader = _Reader(item, f"qa.{qa_key}", source, ("normal", "warning", "reference"))
        ranges: dict[str, Range | None] = {}
        for name in ("normal", "warning"):
            value = reader.data.get(name)
            try:
                ranges[name] = None if value is None else Range.parse(value)
            except ValueError as exc:
                raise reader.error(name, str(exc)) from None
        normal, warning = ranges["normal"], ranges["warning"]
        if warning is not None and normal is None:
            raise reader.error("normal", "is required when 'warning' is given")
        if (
            normal is not None
            and warning is not None
            and not (warning.low <= normal.low and normal.high <= warning.high)
        ):
            raise reader.error(
                "warning",
                f"{warning.to_list()} must contain the normal range {normal.to_list()}"
                " (a value outside NORMAL but inside WARNING is a warning)",
            )
        rules[str(qa_key)] = QaRule(
            key=str(qa_key),
            normal=ranges["normal"],
            warning=ranges["warning"],
            reference=reader.data.get("reference"),
        )
    return rules


def _trends(
    data: Any, source: str | None, base: Path, flavors: Mapping[str, tuple[StepSpec, ...]]
) -> tuple[TrendSpec, ...]:
    if data is None:
        return ()
    if isinstance(data, str):
        path = _resolve(base, data)
        trends = load_trend_mapping(path)
        where, prefix = str(path), ""
    else:
        trends = parse_trends(data, "trends", source)
        where, prefix = source or "", "trends."
    steps = {step.name for steps in flavors.values() for step in steps}
    for trend in trends:
        if trend.step is not None and trend.step not in steps:
            raise MonitorConfigError(
                f"step {trend.step!r} is not a step of any flavor ({', '.join(sorted(steps))})",
                key=f"{prefix}{trend.name}.path",
                source=where or None,
            )
    return trends


_TOP = (
    "pipeline",
    "server",
    "exposures",
    "header",
    "units",
    "run",
    "flavors",
    "default_flavor",
    "qa",
    "trends",
    "layout",
)


def parse_config(
    data: Any, *, source: str | None = None, base: Path | None = None
) -> MonitorConfig:
    """Build a configuration from a parsed YAML document.

    Parameters
    ----------
    data
        The document.
    source
        The file name, for error messages.
    base
        The folder relative paths are resolved against (default: the current one).

    Raises
    ------
    MonitorConfigError
        A key is missing, unknown or malformed; the error names it.
    """
    base = base or Path.cwd()
    top = _Reader(data, "", source, _TOP)
    pipeline = top.text("pipeline", required=True) or ""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", pipeline):
        raise top.error("pipeline", "must be a name of letters, digits, '.', '_' or '-'")
    flavors = _flavors(top.data.get("flavors"), source, base)
    default_flavor = top.text("default_flavor")
    if default_flavor is not None and default_flavor not in flavors:
        raise top.error(
            "default_flavor", f"{default_flavor!r} is not one of the flavors ({', '.join(flavors)})"
        )
    if "units" not in top.data:
        raise top.error("units", "is required (the units run per exposure, e.g. 'b0-b9')")
    if "run" not in top.data:
        raise top.error("run", "is required (run.command: the command of a unit)")
    return MonitorConfig(
        pipeline=pipeline,
        units=expand_units(top.data.get("units"), "units", source),
        run=_run(top.data.get("run"), source, base),
        flavors=flavors,
        exposures=_exposures(top.data.get("exposures"), source, base),
        header=_header(top.data.get("header"), source),
        server=_server(top.data.get("server"), source, base),
        qa=_qa_rules(top.data.get("qa"), source),
        trends=_trends(top.data.get("trends"), source, base, flavors),
        default_flavor=default_flavor,
        source=Path(source) if source else None,
        layout=(
            parse_layout(top.data["layout"], source=source, base=base)
            if "layout" in top.data
            else None
        ),
    )


def load_config(path: str | Path) -> MonitorConfig:
    """Read a monitor configuration file.

    Raises
    ------
    MonitorConfigError
        The file cannot be read, is not YAML, or a key is malformed.
    """
    path = Path(path)
    text = read_utf8(path, "the configuration")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise MonitorConfigError(f"not valid YAML{where}", source=str(path)) from None
    return parse_config(data, source=str(path), base=path.resolve().parent)
