"""A page of a series' points as an Apache Arrow IPC stream."""

from __future__ import annotations

from typing import Any

import orjson

from ...domain import SeriesColumns

__all__ = ["ARROW_STREAM", "arrow_stream", "wants_arrow"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
"""The media type of an Arrow IPC stream."""

METADATA_KEY = b"vigil"
"""The schema metadata key holding the page's envelope (series, unit, next_cursor...)."""

# Columns that repeat a few values over thousands of points are dictionary-encoded.
_DICTIONARY = frozenset({"unit", "branch", "commit_sha", "environment"})


def wants_arrow(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for an Arrow IPC stream."""
    return accept is not None and ARROW_STREAM in accept


def arrow_stream(columns: SeriesColumns, envelope: dict[str, Any]) -> bytes:
    """One record batch of *columns* in an IPC stream, *envelope* in its schema metadata.

    ``time`` is ``timestamp[us, UTC]``; ``value`` is null where the JSON forms have
    null (NaN measurements) and a float NaN stays a NaN; the string columns that repeat
    (unit, branch, commit, environment) are dictionary-encoded.
    """
    import pyarrow as pa

    arrays = {
        "job_id": pa.array(columns.job_id, type=pa.int64()),
        "measurement_id": pa.array(columns.measurement_id, type=pa.int64()),
        "value": pa.array(columns.value, type=pa.float64()),
        "unit": pa.array(columns.unit, type=pa.string()),
        "time": pa.array(columns.time, type=pa.string()).cast(pa.timestamp("us", tz="UTC")),
        "branch": pa.array(columns.branch, type=pa.string()),
        "commit_sha": pa.array(columns.commit_sha, type=pa.string()),
        "pull_request": pa.array(columns.pull_request, type=pa.int64()),
        "environment": pa.array(columns.environment, type=pa.string()),
    }
    for name in _DICTIONARY:
        arrays[name] = arrays[name].dictionary_encode()
    batch = pa.RecordBatch.from_pydict(arrays)
    schema = batch.schema.with_metadata({METADATA_KEY: orjson.dumps(envelope)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch.replace_schema_metadata(schema.metadata))
    return bytes(sink.getvalue())
