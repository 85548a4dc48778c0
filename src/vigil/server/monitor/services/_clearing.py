"""Which reduction folders a processing's clear may delete, and deleting them.

The runner reports each unit's output folder as it sees it. The server deletes one only
when it lies strictly under one of ``VIGIL_MONITOR_OUTPUT_ROOTS`` (symbolic links
resolved) and names the exposure in its path below that root: a folder that does not
(``{workdir}/{unit}``) may hold other exposures' files, so it is kept.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["reduction_folders", "remove_folders"]


def _root_of(folder: Path, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        if folder != root and folder.is_relative_to(root):
            return root
    return None


def reduction_folders(
    outputs: Mapping[str, str], exposure: str, roots: Sequence[Path]
) -> tuple[list[str], str | None]:
    """The folders of *outputs* (unit -> folder) that may be deleted, and why the others
    are kept (None: none is)."""
    if not outputs:
        return [], (
            "The runner did not report its units' output folders: no reduction file is deleted."
        )
    known = sorted({str(Path(folder)) for folder in outputs.values()})
    if not roots:
        return [], (
            "VIGIL_MONITOR_OUTPUT_ROOTS is not set, so the server deletes no reduction file;"
            f" the units' output folders: {', '.join(known)}."
        )
    resolved_roots = [Path(root).expanduser().resolve() for root in roots]
    chosen: list[Path] = []
    kept: list[str] = []
    for name in known:
        folder = Path(name)
        if not folder.is_absolute():
            kept.append(f"{name} (not an absolute path)")
            continue
        folder = folder.resolve()
        root = _root_of(folder, resolved_roots)
        if root is None:
            kept.append(f"{name} (not under VIGIL_MONITOR_OUTPUT_ROOTS)")
        elif exposure not in folder.relative_to(root).parts:
            kept.append(f"{name} (does not name exposure {exposure}: it may hold others)")
        elif not folder.exists():
            kept.append(f"{name} (not there)")
        else:
            chosen.append(folder)
    # A folder inside another that goes, goes with it.
    chosen.sort()
    folders = [
        str(f) for i, f in enumerate(chosen) if not any(f.is_relative_to(o) for o in chosen[:i])
    ]
    note = f"Kept: {'; '.join(kept)}." if kept else None
    return folders, note


def remove_folders(folders: Sequence[str]) -> tuple[list[str], list[str]]:
    """Delete *folders* with their content: ``(removed, errors)``."""
    removed: list[str] = []
    errors: list[str] = []
    for folder in folders:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"{folder}: {exc.strerror or exc}")
        else:
            removed.append(folder)
    return removed, errors
