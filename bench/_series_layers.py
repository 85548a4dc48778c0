"""Where the time of a series read goes, layer by layer, in this process.

Used by ``bench/series.py --layers`` on a database it loaded with ``--keep``: the store's
query, the service (query, unit conversion, paging), the encodings (columnar JSON, rows
JSON, Arrow IPC) and the whole request through the application (``TestClient``, no
network), each as the median wall and CPU time of this process over repeated calls. On
PostgreSQL the server's own work shows in the wall time only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _jobs import SERIES as _SERIES

__all__ = ["print_layers"]

ARROW = "application/vnd.apache.arrow.stream"
SERIES: dict[str, Any] = dict(_SERIES)
_ALL = 10**6  # more points than the bench's series has: the whole series in one page


def _timed(label: str, call: Callable[[], Any], repeats: int) -> Any:
    """Print the median wall and CPU milliseconds of *call*; return its last answer."""
    for _ in range(2):  # warm-up: statement cache, page cache
        answer = call()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(
        f"    {label:34s} wall {statistics.median(walls) * 1000:6.1f} ms,"
        f" CPU {statistics.median(cpus) * 1000:6.1f} ms"
    )
    return answer


def print_layers(database: str, database_url: str, folder: Path, repeats: int) -> None:
    """Time each layer of the read of the bench's series on *database_url*."""
    import orjson
    from fastapi.testclient import TestClient

    from vigil.server.config import Settings
    from vigil.server.factory import Factory
    from vigil.server.handlers.api._series_arrow import arrow_stream
    from vigil.server.main import create_app
    from vigil.server.services import SeriesQuery
    from vigil.server.storage.series import PointFilter, SeriesStore

    settings = Settings(database_url=database_url, data_dir=folder, background_worker=False)
    print(f"\n{database}: one read of the series, layer by layer (median of {repeats})")
    with Factory.standalone(settings) as factory:
        service = factory.create_series_service()
        series = service.resolve(
            str(SERIES["metric"]),
            dataset=str(SERIES["dataset"]),
            instrument=str(SERIES["instrument"]),
            data_id=SERIES["data_id"],
        )
        store = SeriesStore(factory.session)

        def query() -> Any:
            columns = store.point_columns(series.id, PointFilter(), _ALL)
            factory.session.rollback()
            return columns

        _timed("store: query, rows to columns", query, repeats)
        history = _timed(
            "service: + series, unit, paging",
            lambda: service.history_columns(series.series_key, SeriesQuery(), limit=_ALL),
            repeats,
        )
        columns = history.columns
        _timed("encode: columnar JSON", lambda: orjson.dumps(columns.as_dict()), repeats)
        _timed("encode: rows JSON", lambda: orjson.dumps(columns.records()), repeats)
        _timed("encode: Arrow IPC", lambda: arrow_stream(columns, {}), repeats)
        path = f"/api/series/{series.series_key}/points"
        forms: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
            "rows": ({}, {}),
            "columns": ({"form": "columns"}, {}),
            "arrow": ({}, {"Accept": ARROW}),
        }
        with TestClient(create_app(settings)) as client:
            for form, (params, headers) in forms.items():

                def request(
                    params: dict[str, Any] = params, headers: dict[str, str] = headers
                ) -> Any:
                    return client.get(
                        path, params={"limit": len(columns), **params}, headers=headers
                    )

                _timed(f"request through the app: {form}", request, repeats)
