"""Log aggregation: any run's records stored once, found by level, unit, words and regular
expressions (SQLite and PostgreSQL), abnormal endings listed, retention applied."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from vigil.server.config import Settings
from vigil.server.dbschema import SqlLogBlock, SqlLogRun
from vigil.server.domain.logs import LogQuery
from vigil.server.factory import Factory

BASE = datetime(2026, 5, 2, 22, 0, tzinfo=UTC)


def _records(n: int, *, unit: str = "w1", planted: int | None = None) -> list[dict[str, Any]]:
    records = []
    for i in range(n):
        message = f"processing visit {i} ccd {i % 104}: psf fwhm={1 + (i % 7) / 10:.1f}"
        level = "INFO" if i % 10 else "DEBUG"
        if i == planted:
            message = "Traceback (most recent call last):\nValueError: planted failure on ccd 42"
            level = "ERROR"
        records.append(
            {
                "time": (BASE + timedelta(seconds=i)).isoformat(),
                "level": level,
                "message": message,
                "unit": unit,
                "process": f"pid-{1000 + i % 3}",
                "thread": "MainThread",
                "logger": "lsst.pipe.tasks",
            }
        )
    return records


def _send(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"source": uuid.uuid4().hex, "sequence": 1, "run": "ci/42", "kind": "ci", **fields}
    response = client.post("/api/logs", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


def test_a_planted_failure_is_found_by_regular_expression(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    stored = _send(client, auth_headers, records=_records(3000, planted=2345), title="nightly CI")
    assert stored["stored"] == 3000 and stored["url"].endswith(f"/api/logs/runs/{stored['run_id']}")
    found = client.get(
        "/api/logs/lines", params={"regex": r"ValueError: \w+ failure on ccd (\d+)"}
    ).json()
    assert [line["level_name"] for line in found["items"]] == ["ERROR"]
    assert "planted failure on ccd 42" in found["items"][0]["message"]
    assert found["items"][0]["run_key"] == "ci/42"
    # Case-insensitive words, an anchored expression, Python-only syntax, a literal-free one.
    assert len(client.get("/api/logs/lines", params={"q": "PLANTED ccd"}).json()["items"]) == 1
    assert (
        len(client.get("/api/logs/lines", params={"regex": r"(?i)^traceback"}).json()["items"]) == 1
    )
    named = client.get("/api/logs/lines", params={"regex": r"(?P<what>planted) failure"}).json()
    assert len(named["items"]) == 1
    digits = client.get("/api/logs/lines", params={"regex": r"ccd 10[0-3]:", "limit": 1000}).json()
    assert len(digits["items"]) == sum(1 for i in range(3000) if i % 104 >= 100)


def test_a_regular_expression_that_does_not_compile_is_a_clear_400(client: TestClient) -> None:
    response = client.get("/api/logs/lines", params={"regex": "ValueError: (unclosed"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["field"] == "regex"
    assert (
        "does not compile: missing ), unterminated subpattern at position 12" in detail["message"]
    )


def test_filters_and_pages(client: TestClient, auth_headers: dict[str, str]) -> None:
    run = _send(client, auth_headers, records=_records(250, unit="w1", planted=100))["run_id"]
    _send(client, auth_headers, run="ci/43", records=_records(50, unit="w2"))

    def search(**params: Any) -> dict[str, Any]:
        response = client.get("/api/logs/lines", params=params)
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())

    assert len(search(run=run, limit=1000)["items"]) == 250
    assert len(search(unit="w2", limit=1000)["items"]) == 50
    assert len(search(run=run, level="ERROR")["items"]) == 1
    assert len(search(run=run, level="info", limit=1000)["items"]) == 225 + 1
    assert len(search(process="pid-1000", run=run, limit=1000)["items"]) == 84
    since = (BASE + timedelta(seconds=10)).isoformat()
    until = (BASE + timedelta(seconds=20)).isoformat()
    assert len(search(run=run, since=since, until=until)["items"]) == 10
    loud = client.get("/api/logs/lines", params={"level": "LOUD", "run": run})
    assert loud.status_code == 400 and loud.json()["detail"]["field"] == "level"
    # Pages follow each other without overlap, oldest first or newest first.
    seen: list[int] = []
    page = search(run=run, limit=100)
    while True:
        seen.extend(line["id"] for line in page["items"])
        if page["next_cursor"] is None:
            break
        page = search(run=run, limit=100, cursor=page["next_cursor"])
    assert len(seen) == 250 and seen == sorted(seen)
    newest = search(run=run, limit=5, order="desc")
    assert [line["id"] for line in newest["items"]] == sorted(seen)[-5:][::-1]
    regex_pages = search(run=run, regex=r"visit \d+5 ", limit=10)
    assert len(regex_pages["items"]) == 10 and regex_pages["next_cursor"]
    rest = search(run=run, regex=r"visit \d+5 ", limit=100, cursor=regex_pages["next_cursor"])
    assert len(regex_pages["items"]) + len(rest["items"]) == 24  # 15, 25, ..., 245 (not 5)
    assert (
        client.get("/api/logs/lines", params={"cursor": "abc"}).json()["detail"]["field"]
        == "cursor"
    )


def test_runs_processes_and_a_batch_sent_twice(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    body = {
        "source": "handler-1",
        "sequence": 1,
        "run": "script/reduce",
        "kind": "python",
        "records": _records(3),
        "processes": [
            {
                "name": "worker-2",
                "status": "failed",
                "exit_status": -9,
                "exception": "MemoryError",
                "last_lines": ["allocating 64 GB"],
            },
            {"name": "worker-1", "status": "succeeded", "exit_status": 0},
        ],
        "status": "failed",
    }
    first = client.post("/api/logs", json=body, headers=auth_headers).json()
    second = client.post("/api/logs", json=body, headers=auth_headers).json()
    assert (first["stored"], second["stored"], second["duplicate"]) == (3, 0, True)
    runs = client.get("/api/logs/runs", params={"kind": "python"}).json()["items"]
    assert [(r["key"], r["status"], r["line_count"], r["failed_processes"]) for r in runs] == [
        ("script/reduce", "failed", 3, 1)
    ]
    run = client.get(f"/api/logs/runs/{runs[0]['id']}").json()
    assert run["units"] == ["w1"]
    failed = client.get("/api/logs/processes").json()["items"]
    assert [(p["name"], p["exit_status"], p["exception"]) for p in failed] == [
        ("worker-2", -9, "MemoryError")
    ]
    everyone = client.get("/api/logs/processes", params={"status": ""}).json()["items"]
    assert {p["name"] for p in everyone} == {"worker-1", "worker-2"}
    assert client.get("/api/logs/runs/999").status_code == 404
    unauthenticated = client.post("/api/logs", json={**body, "sequence": 2})
    assert unauthenticated.status_code == 401
    bad_level = client.post(
        "/api/logs",
        json={**body, "sequence": 3, "records": [{**_records(1)[0], "level": "LOUD"}]},
        headers=auth_headers,
    )
    assert (
        bad_level.status_code == 400 and bad_level.json()["detail"]["field"] == "records[0].level"
    )


def test_old_runs_are_pruned_by_retention(
    make_settings: Callable[..., Settings], client: TestClient, auth_headers: dict[str, str]
) -> None:
    _send(client, auth_headers, run="old", records=_records(5))
    _send(client, auth_headers, run="new", records=_records(5))
    settings = make_settings(log_retention_days=30)
    with Factory.standalone(settings) as factory:
        service = factory.create_log_service()
        assert service.prune(datetime.now(UTC) + timedelta(days=10)) == 0
        assert service.prune(datetime.now(UTC) + timedelta(days=31)) == 2
    assert client.get("/api/logs/runs").json()["items"] == []
    assert client.get("/api/logs/lines").json()["items"] == []
    assert client.get("/api/logs/lines", params={"q": "psf"}).json()["items"] == []
    with Factory.standalone(settings) as factory:
        assert factory.session.scalar(select(func.count()).select_from(SqlLogBlock)) == 0


def test_the_server_applies_the_retention_it_is_given(
    make_app: Callable[..., Any],
    auth_headers: dict[str, str],
    settings: Settings,
) -> None:
    # The server prunes by itself, at most hourly, when lines arrive.
    app = make_app(log_retention_days=30)
    with TestClient(app) as client:
        old = _send(client, auth_headers, run="old", records=_records(5))["run_id"]
        with Factory.standalone(settings) as factory:
            factory.session.execute(
                update(SqlLogRun)
                .where(SqlLogRun.id == old)
                .values(updated_at=datetime.now(UTC) - timedelta(days=40))
            )
            factory.session.commit()
        app.state.process_context.log_pruning.reset()
        _send(client, auth_headers, run="new", records=_records(5))
        runs = client.get("/api/logs/runs").json()["items"]
        assert [run["key"] for run in runs] == ["new"]


_WORDS = ["flat", "bias", "dark", "arc", "science", "twilight"]


def _varied(n: int, offset: int, unit: str) -> list[dict[str, Any]]:
    records = []
    for i in range(offset, offset + n):
        message = (
            f"{_WORDS[i % 6]} exposure {i:06d} ccd {i % 104}: zero point {27 + (i % 13) / 100:.2f}"
        )
        if i % 997 == 0:
            message = f"Traceback (most recent call last):\nValueError: rare failure {i}"
        elif i % 1499 == 0:
            message = f"VALUEERROR shouted at visit {i}"
        records.append(
            {
                "time": (BASE + timedelta(seconds=i)).isoformat(),
                "level": "ERROR" if i % 997 == 0 else "INFO",
                "message": message,
                "unit": unit,
            }
        )
    return records


def test_a_search_finds_exactly_what_reading_every_line_finds(
    make_app: Callable[..., Any], auth_headers: dict[str, str]
) -> None:
    # Several runs written in turns of 1,100 lines: blocks of 1,024 and 76 lines each,
    # rare lines in some of them only. Every search, paged in either order, must match a
    # plain reading of every line filtered in Python.
    with TestClient(make_app(log_search_seconds=30.0)) as client:
        for turn in range(6):
            _send(
                client,
                auth_headers,
                run=f"ci/{turn % 3}",
                records=_varied(1100, turn * 1100, f"w{turn % 2}"),
            )
        everything: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 5000, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/logs/lines", params=params).json()
            everything.extend(page["items"])
            if not (cursor := page["next_cursor"]):
                break
        assert len(everything) == 6600
        run_ids = {line["run_key"]: line["run_id"] for line in everything}

        def expected(params: dict[str, Any]) -> list[int]:
            pattern = re.compile(params.get("regex", ""))
            words = params.get("q", "").lower().split()
            return [
                line["id"]
                for line in everything
                if pattern.search(line["message"])
                and all(word in line["message"].lower() for word in words)
                and line["run_id"] == params.get("run", line["run_id"])
                and line["unit"] == params.get("unit", line["unit"])
            ]

        def found(params: dict[str, Any], order: str) -> list[int]:
            ids: list[int] = []
            cursor = None
            while True:
                query = {**params, "limit": 7, "order": order}
                page = client.get("/api/logs/lines", params={**query, "cursor": cursor or ""})
                assert page.status_code == 200, page.text
                ids.extend(line["id"] for line in page.json()["items"])
                if not (cursor := page.json()["next_cursor"]):
                    return ids

        searches: list[dict[str, Any]] = [
            {"regex": r"ValueError: rare failure \d+"},
            {"regex": r"(?i)valueerror"},
            {"regex": r"rare failure|shouted at"},
            {"regex": r"(arc|dark) exposure 0012\d\d"},
            {"q": "SHOUTED visit"},
            {"q": "twilight", "regex": r"ccd 10[0-3]:", "run": run_ids["ci/1"]},
            {"regex": r"exposure 0049\d\d ccd", "unit": "w0"},
            {"regex": r"no such text anywhere"},
        ]
        for params in searches:
            wanted = expected(params)
            assert found(params, "asc") == wanted, params
            assert found(params, "desc") == wanted[::-1], params


def test_a_search_cut_by_its_time_limit_continues_where_it_stopped(
    make_app: Callable[..., Any], auth_headers: dict[str, str]
) -> None:
    with TestClient(make_app(log_search_seconds=1e-9)) as client:
        for turn in range(3):
            _send(client, auth_headers, run="ci/1", records=_varied(1100, turn * 1100, "w0"))
        ids: list[int] = []
        truncated = 0
        cursor = ""
        while True:
            params = {"regex": r"rare failure", "limit": 100, "cursor": cursor}
            page = client.get("/api/logs/lines", params=params).json()
            ids.extend(line["id"] for line in page["items"])
            truncated += page["truncated"]
            if not (cursor := page["next_cursor"]):
                break
        assert len(ids) == len([i for i in range(3300) if i % 997 == 0]) and truncated > 0
        assert ids == sorted(ids)


def test_lines_stored_before_the_search_index_are_found(db_url: str, tmp_path: Path) -> None:
    # Migration 0005 indexes the lines already there, in blocks that may mix runs.
    from alembic import command
    from sqlalchemy import make_url, text

    from vigil.server.database import create_database_engine
    from vigil.server.migration import alembic_config, upgrade

    engine = create_database_engine(Settings(), make_url(db_url))
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        with engine.begin() as connection:
            for key in ("old/1", "old/2"):
                connection.execute(
                    text(
                        "INSERT INTO log_runs (key, kind, status, started_at, updated_at,"
                        " line_count, error_count, meta) VALUES (:key, 'ci', 'running', :now,"
                        " :now, 1500, 0, '{}')"
                    ),
                    {"key": key, "now": BASE},
                )
            runs: dict[str, int] = dict(
                connection.execute(text("SELECT key, id FROM log_runs")).all()
            )
            connection.execute(
                text(
                    "INSERT INTO log_lines (run_id, time, level, message) VALUES"
                    " (:run, :time, 20, :message)"
                ),
                [
                    {
                        "run": runs["old/1"] if i % 2 else runs["old/2"],
                        "time": BASE,
                        "message": "planted failure" if i in (7, 2800) else f"line {i}",
                    }
                    for i in range(3000)
                ],
            )
        upgrade(engine)
    finally:
        engine.dispose()
    settings = Settings(database_url=db_url, data_dir=tmp_path)
    with Factory.standalone(settings) as factory:
        service = factory.create_log_service()
        found = service.search(LogQuery(regex="planted failure"), limit=10)
        assert [line.run_key for line in found.items] == ["old/1", "old/2"]
        only = service.search(LogQuery(regex="planted failure", run_id=runs["old/2"]), limit=10)
        assert [line.run_key for line in only.items] == ["old/2"]


def test_a_time_window_selects_lines_and_bad_times_are_named(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    run = _send(client, auth_headers, records=_records(120, planted=70), title="nightly CI")[
        "run_id"
    ]

    def search(**params: Any) -> Any:
        return client.get("/api/logs/lines", params={"limit": 1000, **params})

    # Times with a zone, without one (UTC), and a day alone (its midnight, UTC).
    window = search(since="2026-05-02T22:00:30+00:00", until="2026-05-02T22:01:00Z").json()
    assert [line["time"] for line in window["items"]][:1] == ["2026-05-02T22:00:30Z"]
    assert len(window["items"]) == 30
    assert (
        len(search(since="2026-05-02T23:00:30+01:00", until="2026-05-02T22:01:00").json()["items"])
        == 30
    )
    assert len(search(since="2026-05-02").json()["items"]) == 120
    assert search(until="2026-05-02").json()["items"] == []
    # With words, a regular expression and a level, the window still applies.
    assert len(search(since="2026-05-02T22:01:10Z", regex=r"ccd \d+").json()["items"]) == 50
    assert search(until="2026-05-02T22:01:11Z", level="ERROR").json()["items"][0]["run_id"] == run
    assert search(since="2026-05-02T22:01:11Z", level="ERROR").json()["items"] == []
    for params, field, message in [
        ({"since": "yesterday"}, "since", "'yesterday' is not an ISO 8601 time"),
        ({"until": "2026-13-01"}, "until", "'2026-13-01' is not an ISO 8601 time"),
        (
            {"since": "0001-01-01T00:00:00+14:00"},
            "since",
            "'0001-01-01T00:00:00+14:00' falls outside the years 1 to 9999 in UTC",
        ),
        (
            {"since": "2026-05-02T23:00:00Z", "until": "2026-05-02T22:00:00Z"},
            "until",
            "must be after since",
        ),
    ]:
        response = search(**params)
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        assert detail["field"] == field and message in detail["message"], detail


def test_lines_are_labelled_by_their_run_title(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    _send(
        client, auth_headers, run="monitor/ql/5f2c9e", title="ql exposure 1234", records=_records(3)
    )
    _send(client, auth_headers, run="ci/43", records=_records(2))
    lines = client.get("/api/logs/lines", params={"order": "desc"}).json()["items"]
    assert [(line["run_key"], line["run_title"], line["unit"]) for line in lines] == [
        ("ci/43", None, "w1"),
        ("ci/43", None, "w1"),
        ("monitor/ql/5f2c9e", "ql exposure 1234", "w1"),
        ("monitor/ql/5f2c9e", "ql exposure 1234", "w1"),
        ("monitor/ql/5f2c9e", "ql exposure 1234", "w1"),
    ]
