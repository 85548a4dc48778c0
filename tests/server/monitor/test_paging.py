"""Keyset paging of the monitor's history and observing history: every sort and order,
with ties and NULLs, walked page by page and compared with the whole list (SQLite and
PostgreSQL)."""

from __future__ import annotations

import base64
import json
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from monitor._events import Runner
from vigil.server.monitor.domain import HISTORY_SORTS

# (exposure, program, airmass, seeing, ended, failed): ties in program, airmass and seeing,
# NULLs in program, airmass, seeing, night and ended_at.
_PLAN: list[tuple[str, str | None, float | None, float | None, bool, bool]] = [
    ("00000001", "dark", 1.2, None, True, False),
    ("00000002", None, None, 1.1, True, True),
    ("00000003", "dark", 1.2, 1.1, False, False),
    ("00000004", "bright", None, None, True, False),
    ("00000005", None, 1.5, 1.1, True, True),
    ("00000006", "dark", 1.2, 0.9, False, False),
    ("00000007", "bright", 1.0, None, True, False),
    ("00000008", None, None, 0.9, True, False),
]


def _post(client: TestClient, headers: dict[str, str], batch: dict[str, Any]) -> None:
    response = client.post("/api/monitor/events", json=batch, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture
def stored(client: TestClient, auth_headers: dict[str, str]) -> None:
    runner = Runner()
    for i, (exposure, program, airmass, seeing, ended, failed) in enumerate(_PLAN):
        values: dict[str, Any] = {
            "program": program,
            "airmass": airmass,
            "seeing": seeing,
            "night": "20260501" if i % 2 else None,
        }
        _, events = runner.processing(
            exposure,
            ["b0"],
            flavor="science" if i % 3 else "arc",
            fail={"b0": 1} if failed else None,
            end=ended,
            **{k: v for k, v in values.items() if v is not None},
        )
        _post(client, auth_headers, runner.batch(events))


def _get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    # httpx drops a URL's own query when given params, even empty ones.
    response = client.get(url, params=params) if params else client.get(url)
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


def _walk(client: TestClient, url: str, **params: Any) -> list[int]:
    """The ids of every page, following ``next_url``; each page's offset checked."""
    page = _get(client, url, **params)
    ids: list[int] = []
    while True:
        assert page["offset"] == len(ids)
        ids += [row["id"] for row in page["items"]]
        if page["next_url"] is None:
            assert page["next_cursor"] is None
            return ids
        assert "offset=" not in page["next_url"]
        page = _get(client, page["next_url"])


def _expected(rows: list[dict[str, Any]], sort: str, descending: bool) -> list[int]:
    """The order of the history: the sort column, NULLs last, then id, same direction."""
    present = sorted(
        (row for row in rows if row[sort] is not None),
        key=lambda row: (row[sort], row["id"]),
        reverse=descending,
    )
    absent = sorted(
        (row for row in rows if row[sort] is None), key=lambda row: row["id"], reverse=descending
    )
    return [row["id"] for row in present + absent]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_pages_with_cursors_without_losing_or_repeating_a_row(
    client: TestClient, stored: None, order: str
) -> None:
    url = "/api/monitor/processings"
    for sort in HISTORY_SORTS:
        whole = _get(client, url, sort=sort, order=order, limit=100)
        assert whole["total"] == len(_PLAN) and whole["next_url"] is None
        ids = [row["id"] for row in whole["items"]]
        assert ids == _expected(whole["items"], sort, order == "desc"), sort
        for limit in (1, 3):
            assert _walk(client, url, sort=sort, order=order, limit=limit) == ids, (sort, limit)
        # Filters carry over to the next page.
        dark = _walk(client, url, sort=sort, order=order, limit=1, program="dark")
        assert dark == [row["id"] for row in whole["items"] if row["program"] == "dark"]


def test_offset_is_still_accepted_and_a_cursor_wins_over_it(
    client: TestClient, stored: None
) -> None:
    url = "/api/monitor/processings"
    params = {"sort": "airmass", "order": "asc", "limit": 3}
    whole = [row["id"] for row in _get(client, url, sort="airmass", order="asc")["items"]]
    second = _get(client, url, **params, offset=3)
    assert [row["id"] for row in second["items"]] == whole[3:6] and second["offset"] == 3
    third = _get(client, url, **params, offset=0, cursor=second["next_cursor"])
    assert [row["id"] for row in third["items"]] == whole[6:] and third["offset"] == 6
    assert third["next_cursor"] is None and third["total"] == len(_PLAN)


def _bad_cursor(client: TestClient, url: str, cursor: str, **params: Any) -> str:
    response = client.get(url, params={**params, "cursor": cursor})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail["field"] == "cursor"
    return cast(str, detail["message"])


def _forge(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def test_a_cursor_the_server_did_not_give_or_made_for_another_sort_is_refused(
    client: TestClient, stored: None
) -> None:
    url = "/api/monitor/processings"
    cursor = _get(client, url, sort="seeing", order="asc", limit=2)["next_cursor"]
    assert "sort='seeing' order='asc'" in _bad_cursor(client, url, cursor, sort="seeing")
    assert "sort='seeing'" in _bad_cursor(client, url, cursor, sort="airmass", order="asc")
    exposures = _get(client, "/api/monitor/exposures", limit=2)["next_cursor"]
    _bad_cursor(client, url, exposures)  # made for the observing history
    _bad_cursor(client, "/api/monitor/exposures", cursor)
    nested = base64.urlsafe_b64encode(b"[" * 1400).decode()
    for text in ("abc", "%%%", "é", "W" * 5000, nested, _forge({"id": 1}), _forge([1, 2])):
        assert "not one this server gave out" in _bad_cursor(client, url, text)
    good = {"list": "processings", "sort": "started_at", "order": "desc", "id": 3}
    for value in ("yesterday", "2026-05-01T03:00:00", "0001-01-01T00:00:00+14:00", 12, True):
        _bad_cursor(client, url, _forge({**good, "value": value}), sort="started_at")
    for identifier in ("3", 2**70, None, 1.5):
        _bad_cursor(client, url, _forge({**good, "id": identifier, "value": None}))
    numeric = {"list": "processings", "sort": "airmass", "order": "asc", "id": 3}
    for value in ("1.2", 10**400):
        _bad_cursor(client, url, _forge({**numeric, "value": value}), sort="airmass", order="asc")
    text_sort = {"list": "processings", "sort": "program", "order": "desc", "id": 3}
    _bad_cursor(client, url, _forge({**text_sort, "value": "da\x00rk"}), sort="program")
    text = base64.urlsafe_b64encode(
        b'{"list":"processings","sort":"airmass","order":"asc","value":NaN,"id":3}'
    ).decode()
    _bad_cursor(client, url, text, sort="airmass", order="asc")
    # A forged but well-formed cursor is only a position: the page after it.
    forged = _forge({**numeric, "value": 1.2})
    page = _get(client, url, sort="airmass", order="asc", cursor=forged)
    assert [row["airmass"] for row in page["items"]] == [1.2, 1.5, None, None, None]


def test_the_observing_history_pages_with_cursors(
    client: TestClient, stored: None, auth_headers: dict[str, str]
) -> None:
    url = "/api/monitor/exposures"
    whole = _get(client, url, limit=100)
    ids = [row["id"] for row in whole["items"]]
    assert len(ids) == len(_PLAN) and ids == sorted(ids, reverse=True)
    assert _walk(client, url, limit=3) == ids
    assert _walk(client, url, limit=1, program="bright") == [
        row["id"] for row in whole["items"] if row["program"] == "bright"
    ]
    # Queueing an exposure seen before answers that exposure, whatever came after it.
    body = {"pipeline": "ql", "exposure": "00000001", "path": "/raw/00000001.fits"}
    answer = client.post(url, json=body, headers=auth_headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["exposure"] == "00000001" and answer.json()["processing_count"] == 1


def test_the_history_page_keeps_its_page_numbers_and_its_twin_gives_a_cursor(
    client: TestClient, stored: None
) -> None:
    twin = _get(client, "/monitor/processings", format="json", limit=3, sort="seeing")
    assert twin["next_url"] is not None and "/monitor/processings?" in twin["next_url"]
    after = _get(client, twin["next_url"])
    assert after["offset"] == 3
    query = [(k, v) for k, v in parse_qsl(urlsplit(twin["next_url"]).query) if k != "format"]
    html = client.get("/monitor/processings", params=query).text
    pager = html.split('data-testid="pager"')[1].split("</div>")[0]
    assert "4\N{EN DASH}6 of 8" in pager and "offset=6" in pager and "cursor=" not in pager
    assert _walk(client, "/monitor/exposures", format="json", limit=3) == _walk(
        client, "/api/monitor/exposures", limit=3
    )
