"""The regression pages: list, detail with plot, log-in and the CSRF-protected status form."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.domain import Role
from vigil.server.domain.regressions import RegressionFilter
from vigil.server.factory import Factory

from ._support import history, ingest


@pytest.fixture
def regression_id(factory: Factory, run_worker: Callable[[], Any]) -> int:
    ingest(factory, history())
    run_worker()
    page = factory.create_regression_service().list_regressions(
        RegressionFilter(kind="regression"), limit=1
    )
    return page.items[0].id


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match[1]


def _login(client: TestClient, token: str) -> None:
    page = client.get("/login?next=/regressions")
    answer = client.post(
        "/login",
        data={"token": token, "next": "/regressions", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/regressions"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_list_page_and_its_json_twin(client: TestClient, regression_id: int) -> None:
    html = client.get("/regressions", headers={"Accept": "text/html"})
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert f'href="/regressions/{regression_id}"' in html.text
    assert 'href="/regressions"' in html.text  # in the navigation bar
    twin = client.get("/regressions", params={"format": "json", "kind": "regression"}).json()
    assert [i["id"] for i in twin["items"]] == [regression_id]
    assert twin["kind"] == "regression"


def test_detail_page_has_the_plot_and_suspects(client: TestClient, regression_id: int) -> None:
    html = client.get(f"/regressions/{regression_id}").text
    assert 'data-bokeh-item="regression-plot"' in html
    assert "/static/bokeh/js/bokeh.min.js" in html
    assert "chen@example.org" in html and "pipe_tasks" in html
    assert "Log in" in html and 'data-testid="status-form"' not in html
    twin = client.get(f"/regressions/{regression_id}", params={"format": "json"}).json()
    assert twin["id"] == regression_id and twin["commits"]
    missing = client.get("/regressions/424242", headers={"Accept": "text/html"})
    assert missing.status_code == 404


def test_the_status_form_is_shown_only_to_triagers(
    client: TestClient, regression_id: int, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("uploader", roles={Role.SUBMITTER})
    _login(client, users.create_token("uploader").text)
    page = client.get(f"/regressions/{regression_id}").text
    assert "Logged in as uploader" in page
    assert 'data-testid="status-form"' not in page and "needs the triager role" in page


def test_the_status_form_needs_a_login_and_the_csrf_token(
    client: TestClient, regression_id: int, token: str, factory: Factory
) -> None:
    url = f"/regressions/{regression_id}"
    _login(client, token)
    page = client.get(url)
    assert 'data-testid="status-form"' in page.text and "Logged in as tester" in page.text
    csrf = _csrf(page.text)
    refused = client.post(url, data={"status": "false_positive"}, follow_redirects=False)
    assert refused.status_code == 403
    forged = client.post(
        url, data={"status": "false_positive", "csrf_token": "x" * 43}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert factory.create_regression_service().get(regression_id).regression.status == "open"
    done = client.post(
        url,
        data={"status": "false_positive", "note": "flaky node", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    detail = factory.create_regression_service().get(regression_id)
    assert detail.regression.status == "false_positive"
    event = detail.events[-1]
    assert (event.user_name, event.to_status, event.note) == (
        "tester",
        "false_positive",
        "flaky node",
    )


def test_a_bad_token_does_not_log_in(client: TestClient) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login", data={"token": "vgl_1_" + "x" * 40, "csrf_token": _csrf(page.text)}
    )
    assert answer.status_code == 401
    assert "The token is not valid" in answer.text
    assert "vigil_session" not in answer.headers.get("set-cookie", "")


def test_a_post_without_login_is_refused(client: TestClient, regression_id: int) -> None:
    page = client.get("/login")
    answer = client.post(
        f"/regressions/{regression_id}",
        data={"status": "fixed", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 401


def test_login_redirects_only_to_this_server(client: TestClient, token: str) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"token": token, "next": "//evil.example.org/x", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/regressions"
