"""Group commit: concurrent ingests written together, each job still all or nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from vigil.server.config import Settings
from vigil.server.exceptions import ConflictError, InvalidJobError
from vigil.server.factory import Factory, ProcessContext
from vigil.server.services._group_commit import GroupCommit, Pending
from vigil.server.services.jobs import IngestResult, QueuedJob
from vigil.server.storage import JobFilter

from .._jobs import two_metric_job


class _HeldGroupCommit(GroupCommit[QueuedJob]):
    """Holds its first write until *expected* requests wait, so that they form a batch."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.batches: list[int] = []
        self._arrived = 0
        self._lock = threading.Lock()

    def run(self, item: QueuedJob, write: Callable[[list[Pending[QueuedJob]]], None]) -> Any:
        with self._lock:
            self._arrived += 1

        def held(batch: list[Pending[QueuedJob]]) -> None:
            if not self.batches:
                deadline = time.monotonic() + 10
                while self._arrived < self.expected and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.2)  # the last ones to arrive reach the queue
            self.batches.append(len(batch))
            write(batch)

        return super().run(item, held)


@pytest.fixture
def context(settings: Settings) -> Iterator[ProcessContext]:
    process = ProcessContext.from_settings(settings)
    try:
        yield process
    finally:
        process.close()


def _ingest_all(
    context: ProcessContext, payloads: list[dict[str, Any]]
) -> list[IngestResult | BaseException]:
    def one(payload: dict[str, Any]) -> IngestResult | BaseException:
        with context.session_maker() as session:
            try:
                return Factory(context, session).create_job_service().ingest(payload, None)
            except (InvalidJobError, ConflictError) as exc:
                return exc

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(one, payloads))


def test_jobs_sent_together_are_written_together_each_alone(context: ProcessContext) -> None:
    with context.session_maker() as session:
        Factory(context, session).create_job_service().ingest(two_metric_job("first"), None)
    payloads = [
        two_metric_job("a"),
        two_metric_job("b", 2.0),
        two_metric_job("bad", unit="s"),  # demo.PA1 is in mmag: seconds do not convert
        two_metric_job("c", 3.0),
        two_metric_job("twice", 4.0),
        two_metric_job("twice", 4.0),
        two_metric_job("first", 9.0),  # stored with other content
    ]
    group = _HeldGroupCommit(len(payloads))
    context.ingest_group = group
    results = _ingest_all(context, payloads)

    assert max(group.batches) > 1  # written together, not one by one
    by_identifier: dict[str, list[IngestResult | BaseException]] = {}
    for payload, result in zip(payloads, results, strict=True):
        by_identifier.setdefault(payload["identifier"], []).append(result)
    for name in ("a", "b", "c"):
        (result,) = by_identifier[name]
        assert isinstance(result, IngestResult) and result.created
        assert result.measurement_count == 2
    (bad,) = by_identifier["bad"]
    assert isinstance(bad, InvalidJobError) and bad.field == "measurements[0].unit"
    twice = by_identifier["twice"]
    assert all(isinstance(r, IngestResult) for r in twice)
    assert sorted(r.created for r in twice if isinstance(r, IngestResult)) == [False, True]
    assert len({r.id for r in twice if isinstance(r, IngestResult)}) == 1
    (conflict,) = by_identifier["first"]
    assert isinstance(conflict, ConflictError)

    with context.session_maker() as session:
        jobs = Factory(context, session).create_job_service()
        stored = jobs.list_jobs(JobFilter(), limit=50).items
        assert sorted(j.identifier for j in stored) == ["a", "b", "c", "first", "twice"]
        assert all(j.measurement_count == 2 for j in stored)


def test_a_failed_write_fails_every_job_of_its_batch() -> None:
    group: GroupCommit[int] = GroupCommit()

    def write(batch: list[Pending[int]]) -> None:
        batch[0].succeed("done")
        raise RuntimeError("the database went away")

    assert group.run(1, write) == "done"

    def fail(batch: list[Pending[int]]) -> None:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        group.run(2, fail)
