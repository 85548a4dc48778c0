"""The monitor's API: events applied once and in order, processings, history, trends,
comments, control and the exposure queue (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any, cast

from fastapi.testclient import TestClient

from monitor._events import Runner


def _post(client: TestClient, headers: dict[str, str], batch: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/monitor/events", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


def test_a_processing_is_stored_with_units_steps_and_qa(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    _, events = runner.processing(
        "00000007",
        ["b0", "r0", "z0"],
        qa={("r0", "NOISE_AMP"): ("warning", 4.2), ("z0", "NGOODFIB"): ("alarm", 470.0)},
        airmass=1.3,
        seeing=1.1,
        program="dark",
    )
    answer = _post(client, auth_headers, runner.batch(events))
    assert answer == {"applied": len(events), "duplicate": False, "control": {"ql": "running"}}

    history = client.get("/api/monitor/processings").json()
    assert history["total"] == 1
    row = history["items"][0]
    assert (row["exposure"], row["status"], row["qa_status"], row["qa_ok"]) == (
        "00000007",
        "succeeded",
        "alarm",
        False,
    )
    assert (row["program"], row["airmass"], row["unit_count"], row["failed_count"]) == (
        "dark",
        1.3,
        3,
        0,
    )

    detail = client.get(f"/api/monitor/processings/{row['id']}").json()
    units = {u["name"]: u for u in detail["units"]}
    assert [u["name"] for u in detail["units"]] == ["b0", "r0", "z0"]
    assert units["b0"]["qa_status"] == "normal"
    assert units["r0"]["qa_status"] == "warning"
    assert units["z0"]["qa_status"] == "alarm"
    steps = {s["name"]: s for s in units["r0"]["steps"]}
    assert (
        steps["CHECK_CCDs"]["status"] == "succeeded"
        and steps["CHECK_CCDs"]["qa_colour"] == "yellow"
    )
    assert steps["CHECK_FIBERS"]["qa_colour"] == "green"
    assert {s["name"]: s["qa_colour"] for s in units["z0"]["steps"]} == {
        "CHECK_CCDs": "green",
        "CHECK_FIBERS": "red",
    }
    noise = next(q for q in detail["qa"] if q["unit"] == "r0" and q["key"] == "NOISE_AMP")
    assert (
        noise["normal"] == [-0.5, 0.5]
        and noise["warning"] == [-1, 1]
        and noise["reference"] == [3.5]
    )
    assert noise["colour"] == "yellow"
    assert detail["steps"][0]["name"] == "CHECK_CCDs"
    # The QA values are also a job, one series per unit and amplifier.
    assert row["job_id"] is not None
    job = client.get(f"/api/jobs/{row['job_id']}").json()
    data_ids = {(m["metric"], tuple(sorted(m["data_id"].items()))) for m in job["measurements"]}
    assert ("ql.NOISE_AMP", (("amplifier", "C"), ("unit", "r0"))) in data_ids
    assert ("ql.NGOODFIB", (("unit", "z0"),)) in data_ids
    assert len(job["measurements"]) == 3 * 4 + 3
    series = client.get(
        "/api/series", params={"metric": "ql.NOISE_AMP", "data_id": '{"unit": "b0"}'}
    ).json()
    assert len(series["items"]) == 4
    # The log lines went to the processing's log run, step markers flagged.
    lines = client.get(
        "/api/logs/lines", params={"run": row["log_run_id"], "checkpoints": True}
    ).json()
    assert len(lines["items"]) == 6 and {line["checkpoint"] for line in lines["items"]} == {
        "CHECK_CCDs",
        "CHECK_FIBERS",
    }


def test_a_batch_is_applied_once_and_a_bad_one_not_at_all(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    _, events = runner.processing("00000001", ["b0"])
    batch = runner.batch(events)
    _post(client, auth_headers, batch)
    again = _post(client, auth_headers, batch)
    assert again["duplicate"] is True and again["applied"] == 0
    assert client.get("/api/monitor/processings").json()["total"] == 1
    lines = client.get("/api/logs/lines").json()["items"]
    assert len(lines) == 2

    bad = runner.batch(
        [
            runner.exposure("00000002"),
            {
                "type": "step",
                "time": "2026-05-01T00:00:00Z",
                "processing": "nope",
                "unit": "b0",
                "step": "CHECK_CCDs",
                "state": "running",
            },
        ]
    )
    response = client.post("/api/monitor/events", json=bad, headers=auth_headers)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["field"] == "events[1]" and "processing_started" in detail["message"]
    assert client.get("/api/monitor/exposures").json()["total"] == 1  # nothing of it stored

    processing = client.get("/api/monitor/processings").json()["items"][0]
    wrong_step = runner.batch(
        [
            {
                "type": "step",
                "time": "2026-05-01T00:00:00Z",
                "processing": processing["key"],
                "unit": "b0",
                "step": "CHECK_TEA",
                "state": "running",
            }
        ]
    )
    response = client.post("/api/monitor/events", json=wrong_step, headers=auth_headers)
    assert (
        response.status_code == 400
        and "no step 'CHECK_TEA'" in response.json()["detail"]["message"]
    )

    unknown = runner.batch([{"type": "teleport", "time": "2026-05-01T00:00:00Z"}])
    assert client.post("/api/monitor/events", json=unknown, headers=auth_headers).status_code == 422


def test_writing_needs_a_token(client: TestClient) -> None:
    runner = Runner()
    response = client.post("/api/monitor/events", json=runner.batch([runner.exposure("1")]))
    assert response.status_code == 401
    assert (
        client.put("/api/monitor/pipelines/ql/state", json={"state": "stopped"}).status_code == 401
    )
    assert client.post("/api/monitor/processings/1/comments", json={"text": "x"}).status_code == 401


def test_a_failed_unit_is_recorded_and_listed_as_an_abnormal_end(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    _, events = runner.processing("00000009", ["b0", "b1"], fail={"b1": 3})
    _post(client, auth_headers, runner.batch(events))
    row = client.get("/api/monitor/processings").json()["items"][0]
    assert (row["status"], row["failed_count"]) == ("failed", 1)
    units = {
        u["name"]: u for u in client.get(f"/api/monitor/processings/{row['id']}").json()["units"]
    }
    assert units["b1"]["status"] == "failed" and units["b1"]["exit_status"] == 3
    assert units["b1"]["last_lines"][-1] == "ValueError: boom"
    assert {s["name"]: s["status"] for s in units["b1"]["steps"]} == {
        "CHECK_CCDs": "succeeded",
        "CHECK_FIBERS": "failed",
    }
    assert units["b0"]["status"] == "succeeded"
    failed = client.get("/api/logs/processes").json()["items"]
    assert [(p["name"], p["exit_status"]) for p in failed] == [("b1", 3)]
    assert "ValueError: boom" in failed[0]["exception"]
    live = client.get("/api/monitor/live").json()
    assert live["pipeline"] == "ql" and live["current"]["processing"]["id"] == row["id"]
    assert any(a["kind"] == "failed" and a["unit"] == "b1" for a in live["alerts"])


def _history(client: TestClient, auth_headers: dict[str, str]) -> None:
    runner = Runner()
    plan = [
        ("00000001", "arc", "calib", {}, None),
        ("00000002", "flat", "calib", {}, None),
        ("00000003", "science", "dark", {("b0", "NOISE_AMP"): ("alarm", 9.0)}, None),
        ("00000004", "science", "bright", {}, {"b0": 1}),
        ("00000005", "science", "dark", {("b0", "NOISE_AMP"): ("warning", 4.1)}, None),
    ]
    for i, (exposure, flavor, program, qa, fail) in enumerate(plan):
        _, events = runner.processing(
            exposure,
            ["b0"],
            flavor=flavor,
            program=program,
            qa=qa,
            fail=fail,
            airmass=1.0 + i / 10,
            seeing=2.0 - i / 10,
            observed_at=f"2026-05-0{i + 1}T03:00:00Z",
        )
        _post(client, auth_headers, runner.batch(events))


def test_history_filters_sorts_and_pages(client: TestClient, auth_headers: dict[str, str]) -> None:
    _history(client, auth_headers)

    def exposures(**params: Any) -> list[str]:
        page = client.get("/api/monitor/processings", params=params).json()
        return [row["exposure"] for row in page["items"]]

    assert exposures() == ["00000005", "00000004", "00000003", "00000002", "00000001"]
    assert exposures(flavor="science") == ["00000005", "00000004", "00000003"]
    assert exposures(program="dark") == ["00000005", "00000003"]
    assert exposures(status="failed") == ["00000004"]
    assert exposures(qa_status="alarm") == ["00000003"]
    assert exposures(sort="airmass", order="asc") == [
        "00000001",
        "00000002",
        "00000003",
        "00000004",
        "00000005",
    ]
    assert exposures(sort="seeing", order="asc")[0] == "00000005"
    assert exposures(sort="exposure", order="asc", limit=2, offset=2) == ["00000003", "00000004"]
    page = client.get("/api/monitor/processings", params={"limit": 2, "offset": 4}).json()
    assert page["total"] == 5 and len(page["items"]) == 1
    assert exposures(exposure="0004") == ["00000004"]
    bad = client.get("/api/monitor/processings", params={"sort": "colour"})
    assert bad.status_code == 400 and "Cannot sort by 'colour'" in bad.json()["detail"]["message"]
    assert client.get("/api/monitor/processings", params={"preset": "fortnight"}).status_code == 400

    observed = client.get("/api/monitor/exposures", params={"flavor": "science"}).json()
    assert observed["total"] == 3 and observed["items"][0]["processing_count"] == 1


def test_trends_and_conditions(client: TestClient, auth_headers: dict[str, str]) -> None:
    _history(client, auth_headers)
    trend = client.get("/api/monitor/trends", params={"key": "NOISE_AMP", "preset": "all"}).json()
    (series,) = trend["series"]
    assert series["unit"] == "b0"
    assert [p["value"] for p in series["points"]] == [3.5, 3.5, 9.0, 3.5, 4.1]
    assert [p["status"] for p in series["points"]][2] == "alarm"
    amp = client.get(
        "/api/monitor/trends", params={"key": "NOISE_AMP", "preset": "all", "element": 2}
    ).json()
    assert [p["value"] for p in amp["series"][0]["points"]] == [3.5, 3.5, 9.0, 3.5, 4.1]
    none = client.get(
        "/api/monitor/trends", params={"key": "NOISE_AMP", "unit": "z9", "preset": "all"}
    ).json()
    assert none["series"] == []

    conditions = client.get(
        "/api/monitor/conditions", params={"x": "airmass", "y": "seeing", "preset": "all"}
    ).json()
    assert len(conditions["points"]) == 5
    assert conditions["fit"]["slope"] == pytest_approx(-1.0) and conditions["fit"][
        "r"
    ] == pytest_approx(-1.0)
    assert client.get("/api/monitor/conditions", params={"x": "moon"}).status_code == 400


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, abs=1e-9)


def test_comments(client: TestClient, auth_headers: dict[str, str]) -> None:
    runner = Runner()
    _, events = runner.processing("00000001", ["b0"])
    _post(client, auth_headers, runner.batch(events))
    processing = client.get("/api/monitor/processings").json()["items"][0]["id"]
    response = client.post(
        f"/api/monitor/processings/{processing}/comments",
        json={"text": "Dome light left on."},
        headers=auth_headers,
    )
    assert response.status_code == 201 and response.json()["author"] == "tester"
    assert (
        client.post(
            f"/api/monitor/processings/{processing}/comments",
            json={"text": "   "},
            headers=auth_headers,
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/api/monitor/processings/999/comments", json={"text": "x"}, headers=auth_headers
        ).status_code
        == 404
    )
    detail = client.get(f"/api/monitor/processings/{processing}").json()
    assert [c["text"] for c in detail["comments"]] == ["Dome light left on."]
    assert client.get("/api/monitor/processings").json()["items"][0]["comment_count"] == 1


def test_stop_and_start_reach_the_runner_through_its_answers(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    runner = Runner()
    beat = {"type": "heartbeat", "time": "2026-05-01T00:00:00Z", "pipeline": "ql"}
    assert _post(client, auth_headers, runner.batch([beat]))["control"] == {"ql": "running"}
    stopped = client.put(
        "/api/monitor/pipelines/ql/state", json={"state": "stopped"}, headers=auth_headers
    )
    assert stopped.status_code == 200 and stopped.json()["state_changed_by"] == "tester"
    assert _post(client, auth_headers, runner.batch([beat]))["control"] == {"ql": "stopped"}
    client.put("/api/monitor/pipelines/ql/state", json={"state": "running"}, headers=auth_headers)
    assert _post(client, auth_headers, runner.batch([beat]))["control"] == {"ql": "running"}
    bad = client.put(
        "/api/monitor/pipelines/ql/state", json={"state": "paused"}, headers=auth_headers
    )
    assert bad.status_code == 422


def test_exposures_queued_through_the_api_are_claimed_once(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    for exposure in ("00000010", "00000011"):
        response = client.post(
            "/api/monitor/exposures",
            json={
                "pipeline": "ql",
                "exposure": exposure,
                "flavor": "science",
                "path": f"/raw/{exposure}.fits",
            },
            headers=auth_headers,
        )
        assert response.status_code == 201 and response.json()["state"] == "queued"
    first = client.post("/api/monitor/pipelines/ql/claim", json={"limit": 1}, headers=auth_headers)
    assert [e["exposure"] for e in first.json()["items"]] == ["00000010"]
    second = client.post("/api/monitor/pipelines/ql/claim", json={"limit": 5}, headers=auth_headers)
    assert [e["exposure"] for e in second.json()["items"]] == ["00000011"]
    empty = client.post("/api/monitor/pipelines/ql/claim", json={}, headers=auth_headers)
    assert empty.status_code == 204
