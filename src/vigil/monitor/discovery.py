"""Where new exposures come from: a watched folder, or the server's queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import ExposureSource

__all__ = ["FolderWatcher"]


@dataclass(slots=True)
class FolderWatcher:
    """Finds new exposure files under a folder, each once, after it stopped changing.

    Parameters
    ----------
    source
        The folder, the glob pattern, the settle time and what to do with files already
        there at start-up.
    """

    source: ExposureSource
    _seen: set[Path] = field(default_factory=set)
    _candidates: dict[Path, tuple[int, int, float]] = field(default_factory=dict)
    _started: bool = False

    def _files(self) -> list[Path]:
        folder = self.source.watch
        if folder is None or not folder.is_dir():
            return []
        return sorted(p for p in folder.glob(self.source.pattern) if p.is_file())

    def next_look(self, poll_interval: float) -> float:
        """Seconds until the next scan: *poll_interval*, or less when a file found by the
        last scan settles sooner (so a new exposure is seen within its settle time)."""
        if not self._candidates:
            return poll_interval
        due = min(seen for *_, seen in self._candidates.values()) + self.source.settle
        return max(0.01, min(poll_interval, due - time.monotonic() + 0.01))

    def scan(self) -> list[Path]:
        """The files that appeared (and settled) since the last scan, oldest name first."""
        files = self._files()
        if not self._started:
            self._started = True
            if self.source.existing == "skip":
                self._seen.update(files)
                return []
        now = time.monotonic()
        ready: list[Path] = []
        for path in files:
            if path in self._seen:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            previous = self._candidates.get(path)
            if previous is None or previous[:2] != stamp:
                self._candidates[path] = (*stamp, now)
                if self.source.settle > 0:
                    continue
            elif now - previous[2] < self.source.settle:
                continue
            self._seen.add(path)
            self._candidates.pop(path, None)
            ready.append(path)
        return ready
