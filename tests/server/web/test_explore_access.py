"""``/explore`` through the server's own port, with the access rule of every page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from vigil.demo.catalog import generate_catalog
from vigil.server.factory import Factory

from ..conftest import login


def _same_origin() -> dict[str, str]:
    # A new dict each time: the test client adds its handshake headers to the one given.
    return {"origin": "http://testserver"}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with one small demo repository, ``demo``."""
    root = tmp_path_factory.mktemp("explore-access")
    generate_catalog(root / "demo", tracts=1, objects_per_tract=500, visits=2, seed=3)
    return root


def _stop(app: FastAPI) -> None:
    app.state.process_context.explorer_server.stop()


@pytest.fixture
def private_app(make_app: Callable[..., FastAPI], roots: Path) -> Iterator[FastAPI]:
    app = make_app(public_read=False, explore_roots=[roots])
    yield app
    _stop(app)


@pytest.fixture
def public_app(make_app: Callable[..., FastAPI], roots: Path) -> Iterator[FastAPI]:
    app = make_app(explore_roots=[roots])
    yield app
    _stop(app)


def _session_token(page: str) -> str:
    found = re.search(r'"token":\s*"([^"]+)"', page)
    assert found, "the app page carries no Bokeh session token"
    return found.group(1)


def test_private_server_asks_for_a_login_on_every_explorer_path(
    private_app: FastAPI, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("reader")
    token = users.create_token("reader").text
    with TestClient(private_app) as anonymous:
        for path in ("/explore", "/explore/demo", "/explore/app/explorer?repo=demo"):
            answer = anonymous.get(path, headers={"accept": "text/html"})
            assert answer.status_code == 401, path
            assert "log in" in answer.text.lower()
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            anonymous.websocket_connect(
                "/explore/app/explorer/ws", subprotocols=["bokeh", "x"], headers=_same_origin()
            ),
        ):
            pass
        assert refused.value.code == 1008
        assert private_app.state.process_context.explorer_server.port is None  # never started
    with TestClient(private_app) as logged_in:
        login(logged_in, token)
        assert logged_in.get("/explore", headers={"accept": "text/html"}).status_code == 200
        assert logged_in.get("/explore/demo?format=json").json() == {"name": "demo"}
    with TestClient(private_app) as api:
        answer = api.get("/explore?format=json", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert answer.json() == {"repositories": [{"name": "demo"}]}
        wrong = api.get("/explore", headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401


def test_the_app_and_its_websocket_come_through_the_server(public_app: FastAPI) -> None:
    with TestClient(public_app) as client:
        page = client.get(
            "/explore/demo?metric=psf_size_residual&band=i&tract=9813&patch=40&bogus=1",
            headers={"accept": "text/html"},
        )
        assert page.status_code == 200
        (src,) = re.findall(r"src='([^']+)'", page.text)
        # A path of this server, not another port: a browser elsewhere can follow it.
        assert src.startswith("/explore/app/explorer?")
        assert "repo=demo" in src and "metric=psf_size_residual" in src
        assert "patch=40" in src and "bogus" not in src
        app_page = client.get(src.replace("&amp;", "&"))
        assert app_page.status_code == 200 and "text/html" in app_page.headers["content-type"]
        scripts = re.findall(r'src="(static/[^"]+)"', app_page.text)
        assert scripts
        for script in scripts[:3]:
            answer = client.get(f"/explore/app/{script}")
            assert answer.status_code == 200, script
            assert "javascript" in answer.headers["content-type"]
        token = _session_token(app_page.text)
        with client.websocket_connect(
            "/explore/app/explorer/ws", subprotocols=["bokeh", token], headers=_same_origin()
        ) as socket:
            assert socket.accepted_subprotocol == "bokeh"
            assert '"msgtype": "ACK"' in socket.receive_text()
        # A page of another site cannot open it (the browser sends its own origin).
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(
                "/explore/app/explorer/ws",
                subprotocols=["bokeh", token],
                headers={"origin": "http://elsewhere.example"},
            ),
        ):
            pass
        assert refused.value.code == 1008


def test_the_relay_does_not_pass_this_servers_credentials_on(
    public_app: FastAPI, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("reader")
    token = users.create_token("reader").text
    with TestClient(public_app) as client:
        session = login(client, token)
        page = client.get("/explore/app/explorer?repo=demo", headers={"X-Probe": "kept"})
    assert page.status_code == 200
    # Bokeh copies the request's headers and cookies into the session token of the page.
    assert token not in page.text and session not in page.text
    payload = _session_token(page.text).split(".")[0]
    import base64
    import json

    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    text = json.dumps(decoded)
    assert "vigil_session" not in text and token not in text and session not in text
