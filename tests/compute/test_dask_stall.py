"""A Dask cluster that cannot go on (every worker paused, or no worker) is a
`DaskStalledError` naming the workers and what to do, never a silent hang; workers that
are merely busy finish their work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import pytest
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.compute import _dask_wait
from vigil.compute._dask_wait import completed, results
from vigil.compute.dask_cluster import DaskCluster, DaskStalledError, open_cluster
from vigil.compute.dask_engine import compute
from vigil.compute.run import compute_repository
from vigil.demo.catalog import DemoCatalog
from vigil.explorer import Repository
from vigil.explorer._rollup import rollup

distributed = pytest.importorskip("distributed")

GRACE = 1.0
"""The grace period of these tests (`STALL_GRACE` is 30 s)."""

pytestmark = [
    # Dask's own Parquet reader uses a pandas keyword that pandas 3.1 deprecates.
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index"),
    # A wait that hangs again fails here rather than at the suite's 300 s.
    pytest.mark.timeout(120),
]


def _statuses(cluster: DaskCluster) -> list[str]:
    workers = cluster.client.scheduler_info(n_workers=-1)["workers"]
    return [str(info["status"]) for info in workers.values()]


@pytest.fixture(scope="module")
def paused() -> Iterator[DaskCluster]:
    """Two real workers that Dask itself pauses: their memory limit is 1 GiB and they
    pause above 1% of it, which this process's memory always is."""
    memory = {
        "distributed.worker.memory.pause": 0.01,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.target": False,
    }
    with dask.config.set(memory):
        opened = open_cluster("local:2", processes=False, memory_limit="1GiB")
    with opened:
        deadline = time.monotonic() + 60
        while _statuses(opened) != ["paused", "paused"]:
            assert time.monotonic() < deadline, f"the workers never paused: {_statuses(opened)}"
            time.sleep(0.1)
        yield opened


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits of `vigil.compute` (which take the default grace) give up after `GRACE`."""
    monkeypatch.setattr(_dask_wait, "STALL_GRACE", GRACE)


_GATES: dict[str, tuple[threading.Event, threading.Event]] = {}
"""Events the tasks wait on, by name: the workers are threads of this process, and a
task's arguments are pickled."""


def _gate(name: str) -> tuple[threading.Event, threading.Event]:
    """The (started, released) events of *name*, opened `4 * GRACE` seconds from now:
    the task outlasts the grace several times over, only the end of the wait tells."""
    started, released = _GATES.setdefault(name, (threading.Event(), threading.Event()))
    timer = threading.Timer(4 * GRACE, released.set)
    timer.daemon = True
    timer.start()
    return started, released


def _held(name: str, value: int) -> int:
    started, released = _GATES[name]
    started.set()
    released.wait()
    return value


def test_paused_workers_are_an_error_naming_them_and_the_futures_are_cancelled(
    paused: DaskCluster,
) -> None:
    client = paused.client
    futures = [client.submit(lambda x: x + 1, i, pure=False) for i in range(3)]
    with pytest.raises(DaskStalledError) as caught:
        results(client, futures, grace=GRACE)
    error = caught.value
    assert error.code == "dask_stalled"
    assert error.status_code == 503
    message = error.message
    assert "all 2 of its workers are paused" in message
    for address in client.scheduler_info(n_workers=-1)["workers"]:
        assert f"{address}: " in message
    assert message.count(" in use of a 1.00 GiB limit, ") == 2
    assert "give each worker more memory" in message
    assert "add workers, or run without --dask" in message
    assert "\n" not in message
    assert [future.status for future in futures] == ["cancelled"] * 3


def test_a_computation_on_paused_workers_is_an_error(
    paused: DaskCluster, short_grace: None
) -> None:
    with pytest.raises(DaskStalledError, match="made no progress for [0-9]+ s: all 2"):
        compute(da.ones(100, chunks=10).sum(), paused.client)


def test_as_they_finish_on_paused_workers_is_an_error(paused: DaskCluster) -> None:
    client = paused.client
    futures = [client.submit(lambda x: x * 2, i, pure=False) for i in range(2)]
    with pytest.raises(DaskStalledError, match="paused"):
        list(completed(client, futures, grace=GRACE))
    assert all(future.cancelled() for future in futures)


def _pause(dask_worker: Any) -> None:
    from distributed.core import Status

    dask_worker.status = Status.paused


def test_the_quick_look_on_paused_workers_says_why_each_metric_is_unknown(
    demo_catalog: DemoCatalog, short_grace: None
) -> None:
    # No memory limit: no memory monitor undoes the pause.
    with (
        open_cluster("local:2", processes=False, memory_limit=0) as cluster,
        Repository(demo_catalog.root, engine="dask", dask_client=cluster) as repo,
    ):
        repo.summary()  # as the explorer reads it before its first page
        cluster.client.run(_pause)
        deadline = time.monotonic() + 60
        while _statuses(cluster) != ["paused", "paused"]:
            assert time.monotonic() < deadline, f"the workers never paused: {_statuses(cluster)}"
            time.sleep(0.1)
        table = rollup(repo, workers=2)
    assert len(table) > 0
    assert set(table["status"]) == {"unknown"}
    assert table.attrs["passing"]  # so the explorer computes it again, not keeps it
    for reason in table["reason"]:
        assert reason.startswith("cannot be computed: the Dask cluster has made no progress")
        assert "in use, no memory limit" in reason


def test_explore_on_paused_workers_is_one_line_and_exit_1(
    demo_catalog: DemoCatalog, short_grace: None
) -> None:
    # Worker processes take the configuration of the process that starts them.
    memory = {
        "distributed.worker.memory.pause": 1e-6,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.terminate": False,
    }
    with dask.config.set(memory):
        result = CliRunner().invoke(
            cli_app, ["explore", str(demo_catalog.root), "--dask", "local:1", "--no-show"]
        )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: the Dask cluster has made no progress for ")
    assert "its only worker is paused" in last
    assert last.endswith("add workers, or run without --dask")


@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_a_cluster_without_workers_is_an_error() -> None:
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty,
        distributed.Client(empty, set_as_default=False) as client,
    ):
        future = client.submit(lambda: 1)
        with pytest.raises(DaskStalledError, match="has had no workers for [0-9]+ s") as caught:
            results(client, [future], grace=GRACE)
        assert "start workers" in caught.value.message
        assert future.cancelled()


@pytest.fixture(scope="module")
def running() -> Iterator[DaskCluster]:
    with open_cluster("local:1", processes=False) as opened:
        yield opened


def test_a_busy_worker_is_waited_for(running: DaskCluster) -> None:
    client = running.client
    _gate("busy")
    future = client.submit(_held, "busy", 7, pure=False)
    assert results(client, [future], grace=GRACE) == [7]


def test_a_busy_worker_is_waited_for_as_tasks_finish(running: DaskCluster) -> None:
    client = running.client
    _gate("busy, as they finish")
    futures = [client.submit(_held, "busy, as they finish", i, pure=False) for i in range(2)]
    assert sorted(f.result() for f in completed(client, futures, grace=GRACE)) == [0, 1]


def test_a_worker_paused_while_its_task_runs_finishes_it() -> None:
    """Paused after it began a task, a worker still finishes it: that is progress."""
    # No memory limit: no memory monitor undoes the pause.
    with open_cluster("local:1", processes=False, memory_limit=0) as cluster:
        client = cluster.client
        started, _ = _gate("paused while running")
        future = client.submit(_held, "paused while running", 5, pure=False)
        assert started.wait(30)
        client.run(_pause)
        # The scheduler learns of a running task at the worker's next heartbeat (0.5 s):
        # twice the grace leaves room for a late one and still ends before the task.
        assert results(client, [future], grace=2 * GRACE) == [5]
        assert _statuses(cluster) == ["paused"]


def test_compute_on_paused_workers_is_an_error_and_writes_nothing(
    demo_catalog: DemoCatalog, tmp_path: Path, short_grace: None
) -> None:
    target = tmp_path / "repo"
    shutil.copytree(demo_catalog.root, target)
    shutil.rmtree(target / "metrics", ignore_errors=True)
    with open_cluster("local:1", processes=False, memory_limit=0) as cluster:
        cluster.client.run(_pause)
        deadline = time.monotonic() + 60
        while _statuses(cluster) != ["paused"]:
            assert time.monotonic() < deadline, f"the worker never paused: {_statuses(cluster)}"
            time.sleep(0.1)
        with pytest.raises(DaskStalledError, match="its only worker is paused"):
            compute_repository(target, dask_client=cluster.client)
    assert not list((target / "metrics").rglob("*.parquet"))


_DYING = """
import dask
from vigil.compute._dask_wait import DaskWorkerLostError, completed, results
from vigil.compute.dask_cluster import open_cluster

with (
    dask.config.set({"distributed.scheduler.allowed-failures": 0}),
    open_cluster("local:1", memory_limit=0) as cluster,
):
    client = cluster.client
    for wait in (results, lambda c, f: list(completed(c, f))):
        dying = client.submit(lambda x: __import__("os")._exit(1), 1, pure=False)
        waiting = client.submit(lambda x: x, 2, pure=False)
        try:
            wait(client, [dying, waiting])
        except DaskWorkerLostError as exc:
            print(exc.code, exc.message, sep="\t")
"""
"""Workers that die running a task, in a process of its own: a worker's death leaves
Dask's worker start-up changed for the rest of the process (the hash seed test fails)."""


def test_workers_that_die_running_a_task_are_an_error_saying_so() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _DYING], capture_output=True, text=True, timeout=180, check=True
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    for line in lines:
        code, message = line.split("\t")
        assert code == "dask_workers_lost"
        assert "died, one after another" in message
        assert "give each worker more memory" in message
