"""Tokens expire (a default and a maximum lifetime from the settings) and are listed and
revoked through the API; the web session is its own credential, ended by logging out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.server.domain import Role
from vigil.server.exceptions import InvalidRequestError
from vigil.server.factory import Factory

from .conftest import login


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_past_its_expiry_is_refused_with_the_date(
    client: TestClient, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("ada", roles={Role.SUBMITTER})
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    old = users.create_token("ada", "old", expires_in=timedelta(days=30), now=long_ago)
    assert old.token.expires_at == datetime(2020, 1, 31, tzinfo=UTC)
    refused = client.get("/api/me", headers=_bearer(old.text))
    assert refused.status_code == 401
    assert "expired on 2020-01-31 00:00 UTC" in refused.json()["detail"]["message"]
    fresh = users.create_token("ada", "new")
    assert client.get("/api/me", headers=_bearer(fresh.text)).status_code == 200
    # The live streams check the token before they start: a refusal, not a broken stream.
    for stream in ("/api/logs/stream?run=1", "/api/monitor/stream"):
        answer = client.get(stream, headers=_bearer(old.text))
        assert answer.status_code == 401, (stream, answer.text)
        assert "expired on 2020-01-31" in answer.json()["detail"]["message"]


def test_the_lifetime_has_a_default_and_a_maximum(make_settings: Callable[..., object]) -> None:
    settings = make_settings(token_default_days=10, token_max_days=20)
    with Factory.standalone(settings) as factory:  # type: ignore[arg-type]
        users = factory.create_user_service()
        users.create_user("ada")
        before = datetime.now(UTC)
        new = users.create_token("ada")
        assert new.token.expires_at is not None
        assert timedelta(days=10) <= new.token.expires_at - before < timedelta(days=10, hours=1)
        with pytest.raises(InvalidRequestError, match="at most 20 days"):
            users.create_token("ada", expires_in=timedelta(days=21))
        assert users.create_token("ada", expires_in=timedelta(days=20)).token.expires_at


def test_tokens_are_listed_and_revoked_through_the_api(
    client: TestClient, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("ada", roles={Role.SUBMITTER})
    users.create_user("bob", roles={Role.SUBMITTER})
    users.create_user("root", is_admin=True)
    ada = users.create_token("ada", "ci")
    spare = users.create_token("ada", "spare")
    bob = users.create_token("bob")
    root = users.create_token("root")
    listed = client.get("/api/tokens", headers=_bearer(ada.text)).json()
    assert {t["name"] for t in listed} == {"ci", "spare"}
    first = listed[0]
    assert set(first) == {
        "id", "user", "name", "roles", "created", "last_used", "expires", "revoked"
    }  # fmt: skip
    assert first["roles"] == ["submitter"] and first["expires"] and first["revoked"] is None
    assert client.get("/api/tokens?all=true", headers=_bearer(ada.text)).status_code == 403
    everyone = client.get("/api/tokens?all=true", headers=_bearer(root.text)).json()
    assert {t["user"] for t in everyone} == {"ada", "bob", "root"}
    # One's own token, yes; another user's, no (as if it did not exist); an admin, any.
    mine = client.delete(f"/api/tokens/{spare.token.id}", headers=_bearer(ada.text))
    assert mine.status_code == 200 and mine.json()["revoked"]
    theirs = client.delete(f"/api/tokens/{bob.token.id}", headers=_bearer(ada.text))
    assert theirs.status_code == 404
    assert client.get("/api/me", headers=_bearer(bob.text)).status_code == 200
    admin = client.delete(f"/api/tokens/{bob.token.id}", headers=_bearer(root.text))
    assert admin.status_code == 200
    assert client.get("/api/me", headers=_bearer(bob.text)).status_code == 401
    actions = [e.action for e in factory.create_audit_service().list(limit=50).items]
    assert actions.count("token.revoke") == 2 and "token.create" in actions


def test_the_session_cookie_is_not_the_token_and_logout_ends_it(
    make_app: Callable[..., FastAPI], factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("ada", roles={Role.TRIAGER})
    token = users.create_token("ada").text
    app = make_app(background_worker=False, session_hours=2)
    with TestClient(app) as browser:
        before = datetime.now(UTC)
        answer_cookie = login(browser, token)
        assert answer_cookie != token and token not in answer_cookie
        assert token.split("_", 2)[2] not in answer_cookie
        page = browser.get("/login", params={"format": "json"}).json()
        assert page["user"] == "ada"
        csrf = browser.cookies.get("vigil_csrf")
        out = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
    # The old cookie, replayed, is refused on the server's side: the session is over.
    with TestClient(app, cookies={"vigil_session": answer_cookie}) as replay:
        assert replay.get("/login", params={"format": "json"}).json()["user"] is None
        replay.get("/login", headers={"Accept": "text/html"})
        posted = replay.post(
            "/regressions/1",
            data={"status": "fixed", "csrf_token": replay.cookies.get("vigil_csrf")},
            follow_redirects=False,
        )
        assert posted.status_code == 401
    # The API token is not a session key, and the session lasts VIGIL_SESSION_HOURS.
    with TestClient(app, cookies={"vigil_session": token}) as forged:
        assert forged.get("/login", params={"format": "json"}).json()["user"] is None
    with Factory.standalone(app.state.process_context.settings) as fresh:
        from sqlalchemy import select

        from vigil.server.dbschema import SqlSession

        rows = fresh.session.scalars(select(SqlSession)).all()
        assert len(rows) == 1 and rows[0].revoked_at is not None
        lifetime = rows[0].expires_at - before
        assert timedelta(hours=1, minutes=59) < lifetime <= timedelta(hours=2, minutes=1)
        assert answer_cookie not in {rows[0].key_hash}


def test_a_revoked_or_expired_tokens_sessions_stop_working(
    client: TestClient, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("ada", roles={Role.TRIAGER})
    token = users.create_token("ada")
    login(client, token.text)
    assert client.get("/login", params={"format": "json"}).json()["user"] == "ada"
    users.revoke_token(token.token.id)
    assert client.get("/login", params={"format": "json"}).json()["user"] is None
    # A session never outlives its token: it ends when the token expires.
    short = users.create_token("ada", expires_in=timedelta(hours=1))
    with TestClient(client.app) as other:
        login(other, short.text)
        assert other.get("/login", params={"format": "json"}).json()["user"] == "ada"
    from sqlalchemy import select

    from vigil.server.dbschema import SqlSession

    rows = factory.session.scalars(select(SqlSession).order_by(SqlSession.id)).all()
    factory.session.rollback()
    assert short.token.expires_at is not None
    assert rows[-1].expires_at <= short.token.expires_at
