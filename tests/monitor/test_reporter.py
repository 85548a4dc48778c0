"""The runner's reporter: events spooled while the server is away and replayed in order,
refused batches set aside with the reason, and the pipeline's wanted state obeyed."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from vigil.monitor.config import parse_config
from vigil.monitor.reporter import EventReporter
from vigil.monitor.runner import Runner

from .conftest import ServerThread


def _dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _exposure(n: int) -> dict[str, Any]:
    return {"type": "exposure", "pipeline": "ql", "exposure": f"{n:08d}", "flavor": "science"}


def test_events_wait_in_the_spool_then_go_in_order(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    away = EventReporter(_dead_url(), token, spool, batch_size=3, linger=0, timeout=0.5).start()
    for n in range(1, 11):
        away.emit(_exposure(n))
    assert away.flush(20)
    away.close(timeout=5)
    assert away.stats.sent_batches == 0 and len(away.spool.pending()) >= 4

    back = EventReporter(live_server.url, token, spool).start()
    back.emit(_exposure(11))
    assert back.drain(20)
    back.close()
    assert back.stats.replayed_batches >= 4 and not list(spool.glob("*.json"))
    observed = httpx.get(f"{live_server.url}/api/monitor/exposures", params={"limit": 100}).json()
    # Newest first: the spooled exposures arrived before the new one, in their order.
    assert [e["exposure"] for e in observed["items"]][::-1] == [f"{n:08d}" for n in range(1, 12)]


def test_a_refused_batch_is_set_aside_with_its_reason(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    reporter = EventReporter(live_server.url, token, tmp_path / "spool", linger=0).start()
    reporter.emit(
        {"type": "step", "processing": "unknown", "unit": "b0", "step": "A", "state": "running"}
    )
    assert reporter.flush(10)
    reporter.emit(_exposure(1))
    assert reporter.drain(10)
    reporter.close()
    assert reporter.stats.rejected_batches == 1
    (reason,) = (tmp_path / "spool" / "rejected").glob("*.reason.txt")
    assert "No processing has the key 'unknown'" in reason.read_text()
    assert httpx.get(f"{live_server.url}/api/monitor/exposures").json()["total"] == 1


def test_stopping_the_pipeline_terminates_its_units(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    code = "import time; print('INFO: Starting to run step Initialize', flush=True); time.sleep(60)"
    config = parse_config(
        {
            "pipeline": "slow",
            "exposures": {"source": "api", "poll_interval": 0.1},
            "units": ["u1", "u2"],
            "run": {
                "command": [sys.executable, "-c", code],
                "workdir": str(tmp_path),
                "qa_files": None,
            },
            "flavors": {
                "science": {"steps": [{"name": "ALL", "start": "Initialize", "end": "done"}]}
            },
            "default_flavor": "science",
        }
    )
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})
    queued = api.post("/api/monitor/exposures", json={"pipeline": "slow", "exposure": "00000001"})
    assert queued.status_code == 201
    reporter = EventReporter(live_server.url, token, tmp_path / "spool").start()
    runner = Runner(config, reporter)

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(max_exposures=1))
        deadline = time.monotonic() + 20
        while not any(u.pid for u in runner._units) or len(runner._units) < 2:
            assert time.monotonic() < deadline, "the units did not start"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(
            api.put, "/api/monitor/pipelines/slow/state", json={"state": "stopped"}
        )
        reporter.emit({"type": "heartbeat", "pipeline": "slow"})  # its answer carries the state
        await asyncio.wait_for(task, 20)

    asyncio.run(scenario())
    assert reporter.drain(10)
    reporter.close()
    assert runner.state == "stopped"
    (result,) = runner.results
    assert result.status == "stopped"
    assert {u.status for u in result.units.values()} == {"stopped"}
    row = api.get("/api/monitor/processings").json()["items"][0]
    assert row["status"] == "stopped"
    assert api.get("/api/monitor/exposures").json()["items"][0]["state"] == "processed"


def test_each_unit_keeps_its_order_and_a_quiet_unit_is_not_behind_a_flood(
    tmp_path: Path,
) -> None:
    # No server: every batch goes to the spool, in the order it was built.
    reporter = EventReporter(None, None, tmp_path / "spool", batch_size=100, high_water=50)
    emitted: list[dict[str, Any]] = [
        {"type": "pipeline", "pipeline": "ql"},
        _exposure(1),
        {"type": "processing_started", "processing": "p1", "exposure": "00000001"},
    ]
    emitted += [{"type": "log", "processing": "p1", "unit": "flood", "n": n} for n in range(3000)]
    emitted += [{"type": "log", "processing": "p1", "unit": "quiet", "n": n} for n in range(3)]
    emitted += [
        {"type": "unit_ended", "processing": "p1", "unit": unit} for unit in ("quiet", "flood")
    ]
    emitted.append({"type": "processing_ended", "processing": "p1", "status": "succeeded"})
    for event in emitted:
        reporter.emit(event)
    reporter.start()
    assert reporter.flush(30)
    reporter.close()

    sent = [e for path in reporter.spool.pending() for e in reporter.spool.load(path)["events"]]
    assert sorted(map(str, sent)) == sorted(map(str, emitted))  # every event, once
    assert reporter.stats.backlogged > 0  # the flood waited on disk, and came back
    for unit in ("flood", "quiet"):
        own = [e for e in emitted if e.get("unit") == unit]
        assert [e for e in sent if e.get("unit") == unit] == own
    position = {id(e): i for i, e in enumerate(sent)}
    kinds = [e["type"] for e in sent]
    started, ended = kinds.index("processing_started"), kinds.index("processing_ended")
    assert kinds.index("exposure") < started
    assert all(started < position[id(e)] < ended for e in sent if "unit" in e)
    assert ended == len(sent) - 1
    # The quiet unit's lines went in the first batch, not after 3,000 lines of the flood.
    quiet = [i for i, e in enumerate(sent) if e.get("unit") == "quiet" and e["type"] == "log"]
    assert max(quiet) < reporter.batch_size
