"""Opening a Butler and naming its collections, with errors a user can act on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from vigil.lsst.errors import ButlerError

if TYPE_CHECKING:
    from lsst.daf.butler import Butler, DatasetRef

__all__ = ["import_butler", "open_butler", "query_refs", "split_collections"]

_INSTALL = "install the LSST extra: pip install 'vigil[lsst]'"


def import_butler() -> Any:
    """The ``lsst.daf.butler`` module, or a `ButlerError` saying how to install it."""
    try:
        import lsst.daf.butler as daf_butler
    except ImportError as exc:
        raise ButlerError(f"reading a Butler repository needs lsst-daf-butler: {_INSTALL}") from exc
    return daf_butler


def open_butler(repo: str | Path, *, writeable: bool = False) -> Butler:
    """The Butler of the repository at *repo* (a folder with ``butler.yaml``, or its URI).

    Raises
    ------
    ButlerError
        *repo* is not a Butler repository, or it cannot be opened.
    """
    daf_butler = import_butler()
    text = str(repo)
    if "://" not in text and not (Path(text) / "butler.yaml").is_file():
        if Path(text).is_file() and Path(text).name.endswith((".yaml", ".json")):
            pass  # a repository configuration file given directly
        else:
            raise ButlerError(
                f"{text} is not a Butler repository (no butler.yaml): give the folder made by"
                " 'butler create'"
            )
    try:
        return cast("Butler", daf_butler.Butler.from_config(text, writeable=writeable))
    except daf_butler.ButlerUserError as exc:
        raise ButlerError(f"{text}: {exc}") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ButlerError(f"{text} cannot be opened as a Butler repository: {exc}") from None


def split_collections(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: collections given repeated or comma-separated."""
    names: list[str] = []
    for value in values:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(names))


def check_collections(butler: Butler, collections: Sequence[str]) -> list[str]:
    """*collections*, each checked to exist in *butler* (runs, chains, tags, calibrations).

    A name with ``*`` or ``?`` is a pattern: the collections it matches, in the
    registry's order.

    Raises
    ------
    ButlerError
        No collection was given, or one is unknown or a pattern matches none (the error
        names it and lists some that exist).
    """
    if not collections:
        raise ButlerError("give one or more collections (--collections RUN[,RUN])")
    daf_butler = import_butler()
    found: list[str] = []
    for name in collections:
        if any(c in name for c in "*?"):
            matched = list(butler.collections.query(name))
            if not matched:
                raise ButlerError(_unknown(butler, f"no collection matches {name!r}"))
            found.extend(matched)
            continue
        try:
            butler.collections.get_info(name)
        except daf_butler.MissingCollectionError:
            raise ButlerError(
                _unknown(butler, f"the repository has no collection {name!r}")
            ) from None
        found.append(name)
    return list(dict.fromkeys(found))


def _unknown(butler: Butler, message: str) -> str:
    known = sorted(butler.collections.query("*"))
    if not known:
        return f"{message}; it has none yet"
    return f"{message}; it has {', '.join(known[:8])}" + (" ..." if len(known) > 8 else "")


def query_refs(
    butler: Butler,
    dataset_type: str,
    collections: Sequence[str],
    *,
    where: str = "",
    find_first: bool = True,
) -> list[DatasetRef]:
    """The datasets of *dataset_type* in *collections* that match *where*.

    Raises
    ------
    ButlerError
        The ``where`` expression is not valid for this dataset type.
    """
    daf_butler = import_butler()
    try:
        return list(
            butler.query_datasets(
                dataset_type,
                collections=list(collections),
                where=where,
                find_first=find_first,
                explain=False,
                limit=None,
            )
        )
    except daf_butler.ButlerUserError as exc:
        raise ButlerError(f"--where {where!r} on {dataset_type}: {exc}") from None
