"""The monitor configuration (YAML): exposures, units, command, steps, QA ranges, trends.

Everything the runner needs is in one file; every malformed key is reported by its path
(``run.max_parallel: must be a whole number of at least 1``). Step lists may be written in
the file or read from DESI's ``ql_mapping_<flavor>.json`` files as they are; paths are
relative to the configuration file. See ``docs/monitor.md`` for a complete example.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import MonitorConfigError
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

PLACEHOLDERS = (
    "pipeline",
    "unit",
    "exposure",
    "night",
    "flavor",
    "program",
    "path",
    "dir",
    "output",
    "workdir",
)
"""Names usable as ``{name}`` in ``run.command``, ``run.output`` and ``run.qa_files``."""

_UNIT_RANGE = re.compile(r"^([A-Za-z_]*)(\d+)-\1?(\d+)$")


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
                        "qa": [{"key": q.key, "display_name": q.display_name} for q in s.qa],
                    }
                    for s in steps
                ]
                for flavor, steps in self.flavors.items()
            },
            "trends": [{"name": t.name, "display": t.display, "path": t.path} for t in self.trends],
            "max_parallel": self.run.max_parallel,
        }


def expand_units(value: Any, key: str = "units", source: str | None = None) -> tuple[str, ...]:
    """Unit names from a list or a text; ``b0-b9`` or ``b0-9`` expands to b0, b1, ... b9.

    Raises
    ------
    MonitorConfigError
        Not a list or text, empty, or a name twice.
    """
    if isinstance(value, str):
        items: list[Any] = value.replace(",", " ").split()
    elif isinstance(value, list):
        items = value
    else:
        raise MonitorConfigError(
            "units are a list (or a text such as 'b0-b9 r0-r9 z0-z9')", key=key, source=source
        )
    units: list[str] = []
    for item in items:
        text = str(item).strip()
        match = _UNIT_RANGE.match(text)
        if match and "-" in text:
            prefix, first, last = match.group(1), int(match.group(2)), int(match.group(3))
            if last < first:
                raise MonitorConfigError(f"the range {text!r} is empty", key=key, source=source)
            units.extend(f"{prefix}{n}" for n in range(first, last + 1))
        elif text:
            units.append(text)
    if not units:
        raise MonitorConfigError("needs at least one unit", key=key, source=source)
    seen: set[str] = set()
    for unit in units:
        if unit in seen:
            raise MonitorConfigError(f"unit {unit!r} appears twice", key=key, source=source)
        seen.add(unit)
    return tuple(units)


class _Reader:
    """Typed access to one mapping of the YAML document, naming keys in errors."""

    def __init__(self, data: Any, key: str, source: str | None, allowed: tuple[str, ...]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MonitorConfigError(
                f"must be a mapping of {', '.join(allowed)}", key=key or None, source=source
            )
        self.data = data
        self.key = key
        self.source = source
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = (
                    f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(allowed)}"
                )
                raise MonitorConfigError(
                    f"unknown key '{name}'{hint}", key=self.path(str(name)), source=source
                )

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, message: str) -> MonitorConfigError:
        return MonitorConfigError(message, key=self.path(name), source=self.source)

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(name, "must be a text")
        return str(value)

    def number(self, name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(name, "must be a number")
        if value < minimum:
            raise self.error(name, f"must be at least {minimum:g}")
        return float(value)

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(name, f"must be a whole number of at least {minimum}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)


def _check_placeholders(template: str, key: str, source: str | None) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise MonitorConfigError(
            f"bad placeholder in {template!r}: {exc}", key=key, source=source
        ) from None
    for name in names:
        if name not in PLACEHOLDERS:
            raise MonitorConfigError(
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
                key=key,
                source=source,
            )


def _resolve(base: Path, value: str) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return path if path.is_absolute() else base / path


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
            flavors[str(flavor)] = load_step_mapping(_resolve(base, mapping)).steps
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
        if ranges["warning"] is not None and ranges["normal"] is None:
            raise reader.error("normal", "is required when 'warning' is given")
        rules[str(qa_key)] = QaRule(
            key=str(qa_key),
            normal=ranges["normal"],
            warning=ranges["warning"],
            reference=reader.data.get("reference"),
        )
    return rules


def _trends(data: Any, source: str | None, base: Path) -> tuple[TrendSpec, ...]:
    if data is None:
        return ()
    if isinstance(data, str):
        return load_trend_mapping(_resolve(base, data))
    return parse_trends(data, "trends", source)


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
        trends=_trends(top.data.get("trends"), source, base),
        default_flavor=default_flavor,
        source=Path(source) if source else None,
    )


def load_config(path: str | Path) -> MonitorConfig:
    """Read a monitor configuration file.

    Raises
    ------
    MonitorConfigError
        The file cannot be read, is not YAML, or a key is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MonitorConfigError(
            f"cannot read the configuration: {exc.strerror or exc}", source=str(path)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise MonitorConfigError(f"not valid YAML{where}", source=str(path)) from None
    return parse_config(data, source=str(path), base=path.resolve().parent)
