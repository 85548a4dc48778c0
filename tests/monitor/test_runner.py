"""The runner end to end against a live server: the simulated DESI pipeline on a few
exposures, steps from the real mapping files' markers, QA colours from the ranges, the
log search, live events, bad units, and a server restart that loses no event."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from vigil.demo import _ql_pipeline, quicklook
from vigil.monitor.config import MonitorConfig, parse_config
from vigil.monitor.mapping import load_step_mapping
from vigil.monitor.qa import Range, evaluate, worst
from vigil.monitor.reporter import EventReporter
from vigil.monitor.runner import Runner

from ._sse import EventListener
from .conftest import ServerThread

UNITS = ["b0", "r1", "z2"]
SEED = 11


def _config(
    folder: Path, url: str, *, failure_rate: float, step_seconds: float = 0.02
) -> MonitorConfig:
    document = quicklook.demo_config(
        folder,
        server_url=url,
        units=UNITS,
        step_seconds=step_seconds,
        seed=SEED,
        failure_rate=failure_rate,
        max_parallel=3,
        poll_interval=0.05,
    )
    return parse_config(document, source="demo")


def _exposures(folder: Path, count: int) -> list[Path]:
    generator = quicklook.ExposureGenerator(folder / "raw", seed=SEED)
    return [generator.write_next() for _ in range(count)]


def _run(config: MonitorConfig, reporter: EventReporter, count: int) -> Runner:
    runner = Runner(config, reporter)
    asyncio.run(runner.run(max_exposures=count))
    return runner


def test_demo_exposures_are_processed_end_to_end(
    live_server: ServerThread, token: str, tmp_path: Path, mapping_dir: Path
) -> None:
    config = _config(tmp_path, live_server.url, failure_rate=0.25)
    paths = _exposures(tmp_path, 4)
    failing = {
        (f"{n:08d}", unit)
        for n in range(1, 5)
        for unit in UNITS
        if _ql_pipeline._fails(SEED, f"{n:08d}", unit, 0.25)[0]
    }
    assert failing, "the seed should make a camera fail"
    reporter = EventReporter(config.server.url, token, tmp_path / "spool").start()
    with EventListener(f"{live_server.url}/api/monitor/stream") as listener:
        runner = _run(config, reporter, len(paths))
        assert reporter.drain(30)
        listener.wait_for(
            lambda kind, data: (
                kind == "processing"
                and data["exposure"] == "00000004"
                and data["status"] != "running"
            )
        )
    reporter.close()
    kinds = {kind for kind, _, _ in listener.events}
    assert {"hello", "pipeline", "exposure", "processing", "unit", "step", "qa"} <= kinds

    api = httpx.Client(base_url=live_server.url)
    history = api.get("/api/monitor/processings", params={"order": "asc"}).json()["items"]
    assert [p["exposure"] for p in history] == ["00000001", "00000002", "00000003", "00000004"]
    assert [r.status for r in runner.results] == [p["status"] for p in history]
    mappings = {
        f: load_step_mapping(mapping_dir / f"ql_mapping_{f}.json").steps
        for f in ("science", "arc", "flat")
    }
    for row in history:
        detail = api.get(f"/api/monitor/processings/{row['id']}").json()
        steps = mappings[row["flavor"]]
        assert [s["name"] for s in detail["steps"]] == [s.name for s in steps]
        for unit in detail["units"]:
            states = [s["status"] for s in unit["steps"]]
            if (row["exposure"], unit["name"]) in failing:
                assert unit["status"] == "failed" and unit["exit_status"] == 1
                assert "ValueError: no good fibers" in unit["message"]
                assert "failed" in states and states[-1] in ("failed", "skipped")
            else:
                assert unit["status"] == "succeeded" and states == ["succeeded"] * len(steps)
        # QA colours follow the ranges: each value's status, each step's worst.
        for qa in detail["qa"]:
            normal = Range.parse(qa["normal"]) if qa["normal"] else None
            warning = Range.parse(qa["warning"]) if qa["warning"] else None
            expected = evaluate(qa["values"], normal, warning, qa["reference"])
            assert qa["status"] == expected.status.value
        for unit in detail["units"]:
            for step in unit["steps"]:
                statuses = [
                    q["status"]
                    for q in detail["qa"]
                    if q["unit"] == unit["name"] and q["step"] == step["name"]
                ]
                assert step["qa_status"] == worst(statuses).value
        assert row["failed_count"] == sum(1 for e, _ in failing if e == row["exposure"])

    # The log search finds the planted failures, with the unit they came from.
    found = api.get(
        "/api/logs/lines", params={"regex": r"ValueError: no good fibers found on camera (\w+)"}
    ).json()
    assert sorted(
        (line["message"].split()[-1].rstrip(")"), line["unit"]) for line in found["items"]
    ) == sorted((exposure, unit) for exposure, unit in failing)
    abnormal = api.get("/api/logs/processes").json()["items"]
    assert len(abnormal) == len(failing) and all(p["exit_status"] == 1 for p in abnormal)


def test_a_unit_that_cannot_start_or_crashes_fails_alone(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    code = (
        "import sys; unit = sys.argv[1]\n"
        "print('INFO: Starting to run step Initialize', flush=True)\n"
        "if unit == 'bad':\n"
        "    print('Traceback (most recent call last):', file=sys.stderr)\n"
        "    print('RuntimeError: detector readout', file=sys.stderr); sys.exit(3)\n"
        "print('INFO: Pipeline completed')\n"
    )
    document: dict[str, Any] = {
        "pipeline": "crashy",
        "server": {"url": live_server.url},
        "exposures": {
            "watch": str(tmp_path / "raw"),
            "pattern": "*.json",
            "settle": 0,
            "existing": "process",
            "poll_interval": 0.05,
        },
        "header": {"keys": {"exposure": "EXPID", "flavor": "FLAVOR"}},
        "units": ["good", "bad"],
        "run": {
            "command": [sys.executable, "-c", code, "{unit}"],
            "workdir": str(tmp_path / "work"),
            "qa_files": None,
        },
        "flavors": {
            "science": {
                "steps": [
                    {
                        "name": "ALL",
                        "start": "Starting to run step Initialize",
                        "end": "Pipeline completed",
                    }
                ]
            }
        },
    }
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "e1.json").write_text('{"EXPID": 1, "FLAVOR": "science"}')
    config = parse_config(document)
    reporter = EventReporter(live_server.url, token, tmp_path / "spool").start()
    runner = _run(config, reporter, 1)
    missing = parse_config(
        {**document, "run": {**document["run"], "command": ["/no/such/quicklook", "{unit}"]}}
    )
    (tmp_path / "raw" / "e2.json").write_text('{"EXPID": 2, "FLAVOR": "science"}')
    runner_missing = Runner(missing, reporter)
    runner_missing._watcher._started = True
    runner_missing._watcher._seen.add(tmp_path / "raw" / "e1.json")
    asyncio.run(runner_missing.run(max_exposures=1))
    assert reporter.drain(20)
    reporter.close()

    outcome = runner.results[0].units
    assert (outcome["good"].status, outcome["good"].exit_status) == ("succeeded", 0)
    assert (outcome["bad"].status, outcome["bad"].exit_status) == ("failed", 3)
    assert outcome["bad"].message == "exit status 3: RuntimeError: detector readout"
    assert outcome["bad"].last_lines[-1] == "RuntimeError: detector readout"
    not_found = runner_missing.results[0].units
    assert {u.exit_status for u in not_found.values()} == {127}
    assert all("cannot start '/no/such/quicklook'" in (u.message or "") for u in not_found.values())

    api = httpx.Client(base_url=live_server.url)
    rows = api.get("/api/monitor/processings", params={"order": "asc"}).json()["items"]
    assert [(r["exposure"], r["status"], r["failed_count"]) for r in rows] == [
        ("00000001", "failed", 1),
        ("00000002", "failed", 2),
    ]
    units = {
        u["name"]: u for u in api.get(f"/api/monitor/processings/{rows[0]['id']}").json()["units"]
    }
    assert units["good"]["steps"][0]["status"] == "succeeded"
    assert units["bad"]["steps"][0]["status"] == "failed" and units["bad"]["exit_status"] == 3


def test_the_monitor_survives_a_server_restart_without_losing_an_event(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, live_server.url, failure_rate=0.0, step_seconds=0.15)
    paths = _exposures(tmp_path, 3)
    reporter = EventReporter(
        config.server.url, token, tmp_path / "spool", retry_interval=0.2
    ).start()
    logged: list[dict[str, Any]] = []
    emit, emit_many = reporter.emit, reporter.emit_many

    def counting(event: dict[str, Any]) -> None:
        if event["type"] == "log":
            logged.append(event)
        emit(event)

    def counting_many(events: list[dict[str, Any]]) -> None:
        logged.extend(e for e in events if e["type"] == "log")
        emit_many(events)

    reporter.emit = counting  # type: ignore[method-assign]
    reporter.emit_many = counting_many  # type: ignore[method-assign]
    thread = threading.Thread(target=_run, args=(config, reporter, len(paths)), daemon=True)
    api = httpx.Client(base_url=live_server.url)
    thread.start()
    deadline = time.monotonic() + 30
    while not api.get("/api/monitor/processings").json()["total"]:
        assert time.monotonic() < deadline, "no processing started"
        time.sleep(0.05)
    live_server.stop()
    deadline = time.monotonic() + 20
    while not reporter.stats.spooled_batches:
        assert time.monotonic() < deadline, "events should have been spooled during the outage"
        time.sleep(0.05)
    live_server.start()
    thread.join(60)
    assert not thread.is_alive()
    assert reporter.drain(30)
    reporter.close()
    assert reporter.stats.replayed_batches > 0 and reporter.stats.rejected_batches == 0

    api = httpx.Client(base_url=live_server.url)
    rows = api.get("/api/monitor/processings", params={"order": "asc"}).json()["items"]
    assert [(r["exposure"], r["status"]) for r in rows] == [
        ("00000001", "succeeded"),
        ("00000002", "succeeded"),
        ("00000003", "succeeded"),
    ]
    stored = 0
    for row in rows:
        run = api.get(f"/api/logs/runs/{row['log_run_id']}").json()
        stored += run["line_count"]
        detail = api.get(f"/api/monitor/processings/{row['id']}").json()
        assert all(u["status"] == "succeeded" for u in detail["units"])
    assert stored == len(logged)
