"""Roles: every write route of the application declares the role it needs, and enforces it.

The routes are read from the application itself (``app.routes``), so a new write route
without a role check fails `test_every_write_route_needs_a_role` until it gets one (or is
listed in `PUBLIC_WRITES` with the reason). For each route, a token (or, for the HTML
forms, a web session) without the role gets 403 naming the role and how to get it, and
one with the role is let through (neither 401 nor 403).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from vigil.server.domain import Role
from vigil.server.factory import Factory

from .conftest import login

PUBLIC_WRITES = {
    ("POST", "/api/gate"): "the gate's verdict on a job (vigil check); stores nothing",
    ("POST", "/auth"): "SQuaSH's log-in: exchanges a user name and an API token",
    ("POST", "/login"): "opens a session from an API token (the credential is the token)",
    ("POST", "/logout"): "ends the caller's own session",
}
"""Writes that anyone may send, with the reason."""

_READS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class WriteRoute:
    method: str
    path: str
    role: Role | None
    session: bool

    def url(self) -> str:
        # Not the id of a token the test acts with: revoking it would end the test's access.
        path = self.path.replace("{token_id}", "999999")
        return re.sub(r"\{[^}]+\}", "1", path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def write_routes(app: FastAPI) -> list[WriteRoute]:
    """Every route of *app* with a method other than GET, and the role it checks."""
    found = []
    for context in iter_route_contexts(app.routes):
        methods = set(getattr(context, "methods", None) or ()) - _READS
        dependant = getattr(context.original_route, "dependant", None)
        checks = [c for c in _calls(dependant) if hasattr(c, "required_role")] if dependant else []
        for method in sorted(methods):
            role = checks[0].required_role if checks else None
            session = bool(checks and getattr(checks[0], "uses_session", False))
            found.append(WriteRoute(method, str(context.path), role, session))
    return found


@pytest.fixture
def quiet_app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The application without its background worker."""
    return make_app(background_worker=False)


def test_every_write_route_needs_a_role(quiet_app: FastAPI) -> None:
    routes = write_routes(quiet_app)
    assert len(routes) >= 20, [str(r) for r in routes]
    unchecked = [
        str(r) for r in routes if r.role is None and (r.method, r.path) not in PUBLIC_WRITES
    ]
    assert unchecked == [], "write routes without require_role(...): " + ", ".join(unchecked)
    checked_public = [str(r) for r in routes if r.role and (r.method, r.path) in PUBLIC_WRITES]
    assert checked_public == []
    by_route = {(r.method, r.path): r.role for r in routes}
    # The assignments the documentation states (docs/server.md, "Roles").
    assert by_route["POST", "/api/jobs"] is Role.SUBMITTER
    assert by_route["POST", "/job"] is Role.SUBMITTER
    assert by_route["POST", "/api/monitor/events"] is Role.SUBMITTER
    assert by_route["PATCH", "/api/regressions/{regression_id}"] is Role.TRIAGER
    assert by_route["PUT", "/api/monitor/pipelines/{name}/state"] is Role.OPERATOR
    assert by_route["POST", "/api/monitor/exposures"] is Role.OPERATOR
    assert by_route["DELETE", "/api/jobs/{job_id}"] is Role.ADMIN
    assert by_route["DELETE", "/api/metrics/{name}"] is Role.ADMIN
    assert by_route["POST", "/api/subscriptions"] is Role.VIEWER


def _token(factory: Factory, name: str, roles: set[Role]) -> str:
    users = factory.create_user_service()
    users.create_user(name, roles=roles)
    return users.create_token(name).text


def _without(factory: Factory, role: Role) -> str:
    """A token of a user lacking *role*: every other role but admin; for viewer (which any
    role satisfies), a token whose every role its user lost since."""
    if role is Role.VIEWER:
        token = _token(factory, "stripped", {Role.SUBMITTER})
        factory.create_user_service().set_roles("stripped", roles={Role.TRIAGER})
        return token
    others: set[Role] = {r for r in Role if r not in (role, Role.ADMIN)}
    return _token(factory, f"no-{role.value}", others)


def _send(client: TestClient, route: WriteRoute, headers: dict[str, str]) -> Any:
    data: dict[str, Any] = {"json": {}}
    if route.session:
        # A form with a valid CSRF token, so that only the session's role decides.
        client.get("/login", headers={"Accept": "text/html"})
        data = {"data": {"csrf_token": client.cookies.get("vigil_csrf"), "state": "running"}}
    return client.request(
        route.method, route.url(), headers={"Accept": "application/json", **headers}, **data
    )


def test_each_write_route_refuses_a_credential_without_its_role_and_takes_one_with_it(
    quiet_app: FastAPI, factory: Factory
) -> None:
    routes = [r for r in write_routes(quiet_app) if r.role is not None]
    without = {role: _without(factory, role) for role in Role}
    having = {role: _token(factory, f"only-{role.value}", {role}) for role in Role}
    problems = []
    for route in routes:
        assert route.role is not None
        for token, wanted in ((without[route.role], 403), (having[route.role], None)):
            with TestClient(quiet_app) as client:
                headers = {}
                if route.session:
                    login(client, token)
                else:
                    headers = {"Authorization": f"Bearer {token}"}
                answer = _send(client, route, headers)
            if wanted == 403:
                text = answer.text
                if answer.status_code != 403 or f"needs the {route.role.value} role" not in text:
                    problems.append(f"{route} without {route.role}: {answer.status_code} {text}")
                elif "vigil user roles" not in text:
                    problems.append(f"{route}: the 403 does not say how to get the role")
            elif answer.status_code in (401, 403):
                problems.append(f"{route} with {route.role}: {answer.status_code} {answer.text}")
    assert problems == [], "\n".join(problems)


def test_no_credential_is_401_and_admin_may_do_everything(
    quiet_app: FastAPI, factory: Factory
) -> None:
    admin = _token(factory, "root", {Role.ADMIN})
    for route in write_routes(quiet_app):
        if route.role is None:
            continue
        with TestClient(quiet_app) as client:
            anonymous = _send(client, route, {})
            assert anonymous.status_code == 401, (str(route), anonymous.text)
            headers = {}
            if route.session:
                login(client, admin)
            else:
                headers = {"Authorization": f"Bearer {admin}"}
            answer = _send(client, route, headers)
            assert answer.status_code not in (401, 403), (str(route), answer.text)


def test_a_token_scoped_to_fewer_roles_acts_with_those_only(
    client: TestClient, factory: Factory
) -> None:
    users = factory.create_user_service()
    users.create_user("ci", roles={Role.SUBMITTER, Role.TRIAGER})
    narrow = users.create_token("ci", "upload-only", roles={Role.SUBMITTER}).text
    headers = {"Authorization": f"Bearer {narrow}"}
    me = client.get("/api/me", headers=headers).json()
    assert me["roles"] == ["submitter"]
    refused = client.patch("/api/regressions/1", json={"note": "x"}, headers=headers)
    assert refused.status_code == 403
    assert "needs the triager role" in refused.json()["detail"]["message"]
    # A role taken from the user is taken from its tokens at once.
    wide = users.create_token("ci", "both").text
    users.set_roles("ci", remove={Role.TRIAGER})
    answer = client.patch(
        "/api/regressions/1", json={"note": "x"}, headers={"Authorization": f"Bearer {wide}"}
    )
    assert answer.status_code == 403
    # And no token gets a role its user lacks.
    with pytest.raises(Exception, match="has no role operator"):
        users.create_token("ci", roles={Role.OPERATOR})


def test_webhooks_need_a_triager_and_email_a_viewer(client: TestClient, factory: Factory) -> None:
    viewer = {"Authorization": f"Bearer {_token(factory, 'watcher', {Role.VIEWER})}"}
    hook = {"channel": "webhook", "target": "https://hooks.example.org/x"}
    refused = client.post("/api/subscriptions", json=hook, headers=viewer)
    assert refused.status_code == 403
    assert "needs the triager role" in refused.json()["detail"]["message"]
    mail = client.post(
        "/api/subscriptions",
        json={"channel": "email", "target": "w@example.org"},
        headers=viewer,
    )
    assert mail.status_code == 201, mail.text
