"""A night's troubles against a live server: a unit whose child holds the pipe past the
timeout, a stop while every unit is silent, a hung unit while new exposures arrive, and a
flooding unit beside a quiet one. Real subprocesses; order and completeness are asserted,
never durations (the deadlines only keep a broken runner from hanging the suite)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from vigil.monitor.config import MonitorConfig, parse_config
from vigil.monitor.reporter import EventReporter
from vigil.monitor.runner import Runner

from .conftest import ServerThread

STEPS = {"science": {"steps": [{"name": "ALL", "start": "begin", "end": "done"}]}}


def _config(
    tmp_path: Path, url: str, units: list[str], command: list[str], **run: Any
) -> MonitorConfig:
    return parse_config(
        {
            "pipeline": "night",
            "server": {"url": url},
            "exposures": {
                "watch": str(tmp_path / "raw"),
                "pattern": "*.json",
                "settle": 0,
                "existing": "process",
                "poll_interval": 0.05,
            },
            "header": {"keys": {"exposure": "EXPID", "flavor": "FLAVOR"}},
            "units": units,
            "run": {
                "command": command,
                "workdir": str(tmp_path / "work"),
                "output": "{workdir}/{exposure}/{unit}",
                "qa_files": None,
                **run,
            },
            "flavors": STEPS,
        }
    )


def _exposure(tmp_path: Path, n: int) -> None:
    (tmp_path / "raw").mkdir(exist_ok=True)
    target = tmp_path / "raw" / f"e{n}.json"
    target.with_suffix(".tmp").write_text(f'{{"EXPID": {n}, "FLAVOR": "science"}}')
    target.with_suffix(".tmp").rename(target)


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie no one reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    """Live processes of process group *pgid*."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


async def _until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def _processings(url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(
        f"{url}/api/monitor/processings", params={"order": "asc"}
    ).json()["items"]
    return items


def test_a_unit_whose_child_holds_the_pipe_is_killed_and_the_next_exposure_runs(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    # Exposure 1: the shell starts a `sleep` that inherits its output, then waits for it.
    script = tmp_path / "unit.sh"
    script.write_text(
        "echo begin\n"
        'if [ "$1" = "00000001" ]; then\n'
        '  sleep 1000 & echo $! > "$2/child.pid"; wait\n'
        "fi\n"
        "echo done\n"
    )
    config = _config(
        tmp_path, live_server.url, ["b0"], ["sh", str(script), "{exposure}", "{output}"], timeout=2
    )
    _exposure(tmp_path, 1)
    _exposure(tmp_path, 2)
    reporter = EventReporter(live_server.url, token, tmp_path / "spool").start()
    runner = Runner(config, reporter)
    groups: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(max_exposures=2))
        await _until(lambda: bool(runner._units) and runner._units[0].pid is not None, "no unit")
        groups.append(runner._units[0].pid or 0)
        await asyncio.wait_for(task, 60)

    asyncio.run(scenario())
    assert reporter.drain(20)
    reporter.close()

    first, second = runner.results
    killed = first.units["b0"]
    assert killed.status == "killed" and killed.exit_status is not None
    assert killed.exit_status < 0 and killed.message == "killed after 2 s (run.timeout)"
    assert killed.last_lines == ["begin"]
    assert second.units["b0"].status == "succeeded"
    child = int((tmp_path / "work" / "00000001" / "b0" / "child.pid").read_text())
    assert not _alive(child) and _group(groups[0]) == []
    rows = _processings(live_server.url)
    # A killed unit is a failure: its processing failed and counts it.
    assert [(r["exposure"], r["status"], r["failed_count"]) for r in rows] == [
        ("00000001", "failed", 1),
        ("00000002", "succeeded", 0),
    ]
    detail = httpx.get(f"{live_server.url}/api/monitor/processings/{rows[0]['id']}").json()
    (unit,) = detail["units"]
    assert unit["status"] == "killed" and unit["exit_status"] == killed.exit_status
    assert "run.timeout" in unit["message"]


def test_stop_reaches_units_that_print_nothing(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    script = tmp_path / "unit.sh"
    script.write_text('echo begin\nsleep 1000 & echo $! > "$1/child.pid"\nsleep 1000\n')
    units = ["b0", "r0", "z0"]
    config = _config(tmp_path, live_server.url, units, ["sh", str(script), "{output}"])
    _exposure(tmp_path, 1)
    reporter = EventReporter(live_server.url, token, tmp_path / "spool").start()
    runner = Runner(config, reporter)
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})
    pids: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(max_exposures=1))
        await _until(
            lambda: (
                len(runner._units) == 3
                and all((Path(u.output) / "child.pid").exists() for u in runner._units)
            ),
            "the units did not start",
        )
        # Every unit is silent now; nothing is emitted that could carry the state.
        assert await asyncio.to_thread(reporter.drain, 10)
        pids.extend(u.pid or 0 for u in runner._units)
        answer = await asyncio.to_thread(
            api.put, "/api/monitor/pipelines/night/state", json={"state": "stopped"}
        )
        assert answer.status_code == 200, answer.text
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert reporter.drain(10)
    reporter.close()
    (result,) = runner.results
    assert result.status == "stopped"
    assert {u.status for u in result.units.values()} == {"stopped"}
    for unit in units:
        child = int((tmp_path / "work" / "00000001" / unit / "child.pid").read_text())
        assert not _alive(child)
    assert [_group(pid) for pid in pids] == [[], [], []], pids
    (row,) = _processings(live_server.url)
    assert row["status"] == "stopped"


def test_a_hung_unit_blocks_neither_recording_nor_processing(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    # Exposure 1 hangs (no timeout); exposure 2 arrives meanwhile.
    script = tmp_path / "unit.sh"
    script.write_text('echo begin\nif [ "$1" = "00000001" ]; then exec sleep 1000; fi\necho done\n')
    config = _config(
        tmp_path, live_server.url, ["b0"], ["sh", str(script), "{exposure}"], max_parallel=2
    )
    _exposure(tmp_path, 1)
    reporter = EventReporter(live_server.url, token, tmp_path / "spool").start()
    runner = Runner(config, reporter)
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})
    order: list[str] = []

    async def scenario() -> None:
        task = asyncio.create_task(runner.run(max_exposures=2))
        await _until(lambda: bool(runner._units) and runner._units[0].pid is not None, "no unit")
        _exposure(tmp_path, 2)

        def second_done() -> bool:
            rows = api.get("/api/monitor/processings", params={"order": "asc"}).json()["items"]
            return len(rows) == 2 and rows[1]["status"] == "succeeded"

        await _until(second_done, "exposure 2 was not processed beside the hung unit")
        order.extend(r["status"] for r in _processings(live_server.url))
        await asyncio.to_thread(
            api.put, "/api/monitor/pipelines/night/state", json={"state": "stopped"}
        )
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert reporter.drain(10)
    reporter.close()
    # While exposure 1 still ran, exposure 2 was recorded and processed.
    assert order == ["running", "succeeded"]
    assert [r.exposure for r in runner.results] == ["00000001", "00000002"]
    assert [r.status for r in runner.results] == ["stopped", "succeeded"]
    exposures = api.get("/api/monitor/exposures").json()["items"]
    assert sorted(e["exposure"] for e in exposures) == ["00000001", "00000002"]


FLOOD = 40_000


def test_a_quiet_unit_is_not_behind_a_flooding_one(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    # The quiet unit writes its lines once the flooding unit wrote its last one.
    code = (
        "import os, sys, time\n"
        "unit, marker = sys.argv[1], sys.argv[2]\n"
        "print('begin', flush=True)\n"
        "if unit == 'flood':\n"
        "    out = sys.stdout\n"
        f"    for i in range({FLOOD}):\n"
        "        out.write(f'flood line {i} of a camera writing far too much\\n')\n"
        "    out.write('flood last\\n'); out.flush()\n"
        "    open(marker, 'w').close()\n"
        "else:\n"
        "    while not os.path.exists(marker):\n"
        "        time.sleep(0.005)\n"
        "    for i in range(5):\n"
        "        print(f'quiet line {i}', flush=True)\n"
        "print('done', flush=True)\n"
    )
    marker = tmp_path / "flood.written"
    script = tmp_path / "unit.py"
    script.write_text(code)
    config = _config(
        tmp_path,
        live_server.url,
        ["flood", "quiet"],
        [sys.executable, str(script), "{unit}", str(marker)],
    )
    _exposure(tmp_path, 1)
    reporter = EventReporter(live_server.url, token, tmp_path / "spool", batch_size=200).start()
    runner = Runner(config, reporter)
    asyncio.run(runner.run(max_exposures=1))
    assert reporter.drain(180)
    reporter.close()
    assert reporter.stats.rejected_batches == 0

    (row,) = _processings(live_server.url)
    assert row["status"] == "succeeded"
    api = httpx.Client(base_url=live_server.url)
    run = api.get(f"/api/logs/runs/{row['log_run_id']}").json()
    assert run["line_count"] == (FLOOD + 3) + 7
    quiet = api.get(
        "/api/logs/lines", params={"run": row["log_run_id"], "unit": "quiet", "limit": 100}
    ).json()["items"]
    messages = [line["message"] for line in sorted(quiet, key=lambda line: line["id"])]
    assert messages == ["begin"] + [f"quiet line {i}" for i in range(5)] + ["done"]
    (last,) = api.get(
        "/api/logs/lines", params={"run": row["log_run_id"], "regex": "^flood last$"}
    ).json()["items"]
    # Written after the flood's last line, the quiet lines were not queued behind it.
    first_quiet = min(line["id"] for line in quiet if line["message"] == "quiet line 0")
    assert first_quiet < last["id"]
    assert os.path.exists(marker)


def test_ctrl_c_ends_the_units_process_groups(
    live_server: ServerThread, token: str, tmp_path: Path
) -> None:
    script = tmp_path / "unit.sh"
    # $$: the shell, leader of the unit's process group.
    script.write_text(
        'echo begin\necho $$ > "$1/group.pid"\nsleep 1000 & echo $! > "$1/child.pid"\nsleep 1000\n'
    )
    document = {
        "pipeline": "night",
        "exposures": {
            "watch": str(tmp_path / "raw"),
            "pattern": "*.json",
            "settle": 0,
            "existing": "process",
            "poll_interval": 0.05,
        },
        "header": {"keys": {"exposure": "EXPID", "flavor": "FLAVOR"}},
        "units": ["b0", "r0"],
        "run": {
            "command": ["sh", str(script), "{output}"],
            "workdir": str(tmp_path / "work"),
            "output": "{workdir}/{exposure}/{unit}",
            "qa_files": None,
        },
        "flavors": STEPS,
    }
    (tmp_path / "monitor.yaml").write_text(json.dumps(document))
    _exposure(tmp_path, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    command = [
        *(sys.executable, "-m", "vigil", "monitor", "run", "--config"),
        *(str(tmp_path / "monitor.yaml"), "--server", live_server.url, "--token", token),
        *("--spool", str(tmp_path / "spool")),
    ]
    log = tmp_path / "monitor.log"
    with log.open("w") as out:
        monitor = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    children = [tmp_path / "work" / "00000001" / unit / "child.pid" for unit in ("b0", "r0")]
    try:
        deadline = time.monotonic() + 60
        while not all(path.exists() and path.read_text().strip() for path in children):
            assert monitor.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the units did not start"
            time.sleep(0.05)
        monitor.send_signal(signal.SIGINT)
        assert monitor.wait(60) == 0, log.read_text()
    finally:
        if monitor.poll() is None:
            monitor.kill()
    pids = [int(path.read_text()) for path in children]
    groups = [int(path.with_name("group.pid").read_text()) for path in children]
    assert not any(_alive(pid) for pid in pids)
    assert [_group(pgid) for pgid in groups] == [[], []]
    (row,) = _processings(live_server.url)
    assert row["status"] == "stopped"
