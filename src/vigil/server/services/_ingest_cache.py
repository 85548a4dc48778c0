"""What one process already knows is in the database, so that ingest skips redundant work.

Nightly jobs carry the same metric and specification definitions and measure the same
series again and again. Checking them against the database costs a query (and JSON
decoding) per job; this cache remembers, per process, definitions stored exactly as they
are and the ids of series. Entries are added only after the transaction that wrote or
read them committed, so a rolled-back ingest never leaves an id that does not exist.

A definition changed by another process is rewritten by this one only when a job carries
a different definition again; the stored definition is always one that some job carried.
Series and definitions are removed only by deleting a job or a metric (by any process),
which writes an audit entry: each ingest first passes the newest such entry's id to
`IngestCache.sync`, which forgets everything when it changed, so no id or definition
outlives what was deleted.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import orjson

__all__ = ["IngestCache", "fingerprint"]

_MAX_ENTRIES = 200_000


def fingerprint(row: dict[str, Any]) -> bytes:
    """A digest of a definition row, ignoring ``updated_at``."""
    content = {k: v for k, v in row.items() if k != "updated_at"}
    encoded = orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).digest()


class IngestCache:
    """Series ids, metric units and definition fingerprints known to be committed."""

    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self.series_ids: dict[str, int] = {}
        self.metric_units: dict[str, str] = {}
        self.definitions: dict[tuple[str, str], bytes] = {}
        self.generation: int | None = None

    def known_definition(self, table: str, name: str, digest: bytes) -> bool:
        """True when *name* of *table* is stored with exactly this content."""
        return self.definitions.get((table, name)) == digest

    def remember(
        self,
        *,
        series_ids: dict[str, int] | None = None,
        metric_units: dict[str, str] | None = None,
        definitions: dict[tuple[str, str], bytes] | None = None,
    ) -> None:
        """Record what a committed transaction wrote or read."""
        with self._lock:
            _bounded_update(self.series_ids, series_ids, self._max)
            _bounded_update(self.metric_units, metric_units, self._max)
            _bounded_update(self.definitions, definitions, self._max)

    def sync(self, generation: int) -> None:
        """Forget everything if stored data were removed since the last call.

        *generation* is `vigil.server.storage.audit.AuditStore.data_generation`: the id
        of the newest removal, in any process.
        """
        if generation == self.generation:
            return
        with self._lock:
            if generation != self.generation:
                self.series_ids.clear()
                self.metric_units.clear()
                self.definitions.clear()
                self.generation = generation

    def clear(self) -> None:
        """Forget everything (tests that rewrite the database under a live process)."""
        with self._lock:
            self.series_ids.clear()
            self.metric_units.clear()
            self.definitions.clear()


def _bounded_update(target: dict[Any, Any], update: dict[Any, Any] | None, limit: int) -> None:
    if not update:
        return
    if len(target) + len(update) > limit:
        target.clear()  # crude but bounded: the next jobs refill it
    target.update(update)
