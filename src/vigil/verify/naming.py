"""Names of packages, metrics and specifications, as lsst.verify writes them.

A metric is ``package.metric`` (``validate_drp.PA1``); a specification is
``package.metric.spec`` (``validate_drp.PA1.design_gri``). Partial names may omit the
leading components, which the context (the file's package, the document's metric) fills.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vigil.verify.errors import InvalidNameError

__all__ = ["Name", "check_metric_name"]

_COMPONENT = re.compile(r"^[A-Za-z0-9_\-+]+$")


@dataclass(frozen=True, slots=True)
class Name:
    """A package, metric or specification name, possibly partial.

    Use `Name.parse` for a dotted string whose kind is known from context, or the
    constructor's keywords for components that may themselves be dotted::

        Name.parse("validate_drp.PA1")                    # metric
        Name(package="validate_drp", spec="PA1.design")   # specification
    """

    package: str | None = None
    metric: str | None = None
    spec: str | None = None

    def __init__(
        self, package: str | None = None, metric: str | None = None, spec: str | None = None
    ) -> None:
        pkg, met, spc = package, metric, spec
        if spc is not None:
            parts = _split(spc)
            if len(parts) == 3:
                pkg, met, spc = (
                    _agree("package", pkg, parts[0]),
                    _agree("metric", met, parts[1]),
                    parts[2],
                )
            elif len(parts) == 2:
                met, spc = _agree("metric", met, parts[0]), parts[1]
            elif len(parts) == 1:
                spc = parts[0]
            else:
                raise InvalidNameError(f"'{spec}' has too many parts for a specification name")
        if met is not None:
            parts = _split(met)
            if len(parts) == 2:
                pkg, met = _agree("package", pkg, parts[0]), parts[1]
            elif len(parts) != 1:
                raise InvalidNameError(f"'{metric}' has too many parts for a metric name")
        if pkg is not None and len(_split(pkg)) != 1:
            raise InvalidNameError(f"'{package}' is not a package name (no dots allowed)")
        if spc is not None and met is None and pkg is not None:
            raise InvalidNameError(f"specification '{spc}' of package '{pkg}' needs a metric name")
        object.__setattr__(self, "package", pkg)
        object.__setattr__(self, "metric", met)
        object.__setattr__(self, "spec", spc)

    @classmethod
    def parse(cls, text: str, kind: str = "metric") -> Name:
        """Parse a dotted *text* as a name of the given *kind* (``metric`` or ``spec``).

        ``"a.b"`` is ``package.metric`` for ``kind="metric"`` and ``metric.spec`` for
        ``kind="spec"``; ``"a.b.c"`` is always a fully-qualified specification.
        """
        if not isinstance(text, str):
            raise InvalidNameError(f"a name must be a string, not {type(text).__name__}")
        if kind == "spec":
            return cls(spec=text)
        if kind != "metric":
            raise ValueError(f"unknown name kind {kind!r}")
        if len(_split(text)) == 3:
            return cls(spec=text)
        return cls(metric=text)

    @property
    def is_fq(self) -> bool:
        """True when no component is missing (``package.metric`` or ``package.metric.spec``)."""
        if self.spec is not None:
            return self.package is not None and self.metric is not None
        if self.metric is not None:
            return self.package is not None
        return self.package is not None

    @property
    def is_spec(self) -> bool:
        """True for a specification name."""
        return self.spec is not None

    @property
    def is_metric(self) -> bool:
        """True for a metric name (no specification component)."""
        return self.metric is not None and self.spec is None

    @property
    def metric_name(self) -> Name:
        """The name of the metric this name belongs to."""
        return Name(package=self.package, metric=self.metric)

    @property
    def fqn(self) -> str:
        """The dotted name with every known component."""
        return ".".join(p for p in (self.package, self.metric, self.spec) if p is not None)

    def __contains__(self, other: object) -> bool:
        """True when *other* is this name or lies below it (a spec of this metric)."""
        if not isinstance(other, Name):
            return False
        mine = (self.package, self.metric, self.spec)
        theirs = (other.package, other.metric, other.spec)
        return all(m is None or m == t for m, t in zip(mine, theirs, strict=True))

    def __str__(self) -> str:
        return self.fqn


@lru_cache(maxsize=4096)
def check_metric_name(text: str, *, partial: bool = False) -> str:
    """Return *text* if it is a metric name ``package.metric``.

    The one rule for a metric's name, wherever it is written: a metric definition, a
    measurement of a job sent to the server. Each part is letters, digits, ``_``, ``-``
    or ``+``. With *partial*, the package may be left out (``PA1``), as lsst.verify's
    measurement files do: their package comes from context.

    Raises
    ------
    InvalidNameError
        It is not; the message says why.
    """
    parsed = Name.parse(text)
    if not parsed.is_metric or not (parsed.is_fq or partial):
        raise InvalidNameError(f"'{text}' is not a metric name 'package.metric'")
    return text


def _split(text: str) -> list[str]:
    parts = text.split(".")
    for part in parts:
        if not part or not _COMPONENT.match(part):
            raise InvalidNameError(
                f"'{text}' is not a valid name: components are letters, digits, '_', '-', '+' "
                "separated by dots"
            )
    return parts


def _agree(component: str, given: str | None, parsed: str) -> str:
    if given is not None and given != parsed:
        raise InvalidNameError(f"{component} '{parsed}' in the name disagrees with '{given}'")
    return parsed
