"""Webhooks cannot reach the server's own network, say nothing about it, and are signed.

Every delivery here is real: the outbox's own sender posts over HTTP to a receiver on
the loopback address, which an empty allow-list must keep from seeing anything. The
signature is checked by the receiver with the verification code of
``docs/regressions.md``, taken from the page itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from vigil.server.config import Settings
from vigil.server.domain import User
from vigil.server.domain.regressions import SubscriptionDraft
from vigil.server.factory import Factory
from vigil.server.services import webhook_targets
from vigil.server.services.webhook_targets import AllowedHost, TargetPolicy, non_public_kind

from ._support import free_port, history, ingest

DOC = Path(__file__).resolve().parents[3] / "docs" / "regressions.md"
PUBLIC = "93.184.215.14"  # an address on the internet (never connected to here)


def documented_verify() -> Callable[..., bool]:
    """The ``verify`` function of the page's "Signed webhooks" section, as written there."""
    section = DOC.read_text().split("## Signed webhooks", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)
    verify: Callable[..., bool] = scope["verify"]
    return verify


class Receiver:
    """A loopback HTTP server that records every request and, once given the webhook's
    key, answers 401 to a request the documented code does not verify."""

    def __init__(self) -> None:
        self.requests: list[tuple[Message, bytes, bool | None]] = []
        self.secret: str | None = None
        self.status = 204
        self.verify = documented_verify()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                secret = receiver.secret
                valid = None if secret is None else receiver.verify(secret, self.headers, body)
                receiver.requests.append((self.headers, body, valid))
                self.send_response(401 if valid is False else receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{free_port()}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The defaults of a server: no non-public destination allowed."""
    return make_settings(
        background_worker=False,
        notify_authors=False,
        outbox_backoff_seconds=0.0,
        notification_timeout=5.0,
        base_url="http://vigil.example.org",
    )


@pytest.fixture
def allowing(settings: Settings) -> Callable[..., Settings]:
    """The same settings with some destinations allowed."""
    return lambda *hosts: settings.model_copy(update={"webhook_allowed_hosts": list(hosts)})


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names the system resolver answers for (what an attacker's DNS server would say)."""
    names: dict[str, str] = {}
    real = webhook_targets.system_resolver

    def resolve(name: str, port: int) -> list[str]:
        return [names[name]] if name in names else real(name, port)

    monkeypatch.setattr(webhook_targets, "system_resolver", resolve)
    return names


def _admin(factory: Factory) -> dict[str, str]:
    users = factory.create_user_service()
    users.create_user("root", is_admin=True)
    return {"Authorization": f"Bearer {users.create_token('root').text}"}


def _deliver(settings: Settings, jobs: int = 0) -> Any:
    """One pass of a worker on *settings* (after storing a history with a regression)."""
    with Factory.standalone(settings) as factory:
        if jobs:
            ingest(factory, history())
        return factory.create_worker_service().run_once().delivery


# Refused at creation ----------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://localhost.:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://[::]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[::ffff:7f00:1]:{port}/hook",
    "http://[64:ff9b::7f00:1]:{port}/hook",
    "http://0x7f000001:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://0177.0.0.1:{port}/hook",
    "http://127.1:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "https://rebound.attacker.test:{port}/hook",  # resolves to 127.0.0.1 (the dns fixture)
    "http://{hostname}:{port}/hook",  # this machine's own name
    "http://does-not-resolve.invalid/hook",
]


@pytest.mark.parametrize("channel", ["webhook", "slack"])
@pytest.mark.parametrize("target", REFUSED)
def test_a_subscription_to_a_non_public_address_is_refused(
    client: TestClient,
    auth_headers: dict[str, str],
    receiver: Receiver,
    dns: dict[str, str],
    target: str,
    channel: str,
) -> None:
    dns["rebound.attacker.test"] = "127.0.0.1"
    url = target.format(port=receiver.port, hostname=socket.gethostname())
    answer = client.post(
        "/api/subscriptions", json={"channel": channel, "target": url}, headers=auth_headers
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert (detail["code"], detail["field"]) == ("invalid_subscription", "target")
    assert "VIGIL_WEBHOOK_ALLOWED_HOSTS" in detail["message"]
    assert "127.0.0.1" not in detail["message"].replace(url, ""), "no resolved address told"
    assert client.get("/api/subscriptions", headers=auth_headers).json() == []
    assert receiver.requests == []


def test_public_addresses_are_accepted_and_a_webhook_gets_its_key_once(
    client: TestClient, auth_headers: dict[str, str], dns: dict[str, str]
) -> None:
    dns["hooks.example.test"] = PUBLIC
    for target in (f"https://{PUBLIC}/hook", "https://hooks.example.test/hook"):
        answer = client.post(
            "/api/subscriptions",
            json={"channel": "webhook", "target": target},
            headers=auth_headers,
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
        assert created["secret_created"] is not None
        shown = client.get(created["url"], headers=auth_headers).json()
        assert "secret" not in shown and created["secret"] not in str(shown)
    slack = client.post(
        "/api/subscriptions",
        json={"channel": "slack", "target": f"https://{PUBLIC}/s"},
        headers=auth_headers,
    ).json()
    assert slack["secret"] is None
    listed = client.get("/api/subscriptions", headers=auth_headers).json()
    assert len(listed) == 3 and all("secret" not in s for s in listed)


def test_an_allowed_destination_may_be_subscribed_to(
    make_app: Callable[..., Any], auth_headers: dict[str, str], receiver: Receiver
) -> None:
    with TestClient(make_app(webhook_allowed_hosts=[f"127.0.0.1:{receiver.port}"])) as client:
        ok = {"channel": "webhook", "target": receiver.url()}
        assert client.post("/api/subscriptions", json=ok, headers=auth_headers).status_code == 201
        other_port = {"channel": "webhook", "target": f"http://127.0.0.1:{free_port()}/"}
        refused = client.post("/api/subscriptions", json=other_port, headers=auth_headers)
        assert refused.status_code == 422


# Checked again at delivery ----------------------------------------------------------------


def test_a_name_that_now_resolves_to_loopback_is_not_posted_to(
    settings: Settings,
    factory: Factory,
    tester: User,
    client: TestClient,
    auth_headers: dict[str, str],
    receiver: Receiver,
    dns: dict[str, str],
) -> None:
    dns["hooks.rebind.test"] = PUBLIC
    created = client.post(
        "/api/subscriptions",
        json={"channel": "webhook", "target": receiver.url("hooks.rebind.test")},
        headers=auth_headers,
    )
    assert created.status_code == 201
    dns["hooks.rebind.test"] = "127.0.0.1"  # DNS rebinding: the same name, now loopback
    report = _deliver(settings, jobs=1)
    assert (report.delivered, report.retried) == (0, 1)
    assert receiver.requests == []
    owner = client.get(created.json()["url"], headers=auth_headers).json()["last_delivery"]
    assert owner["status"] == "retrying" and owner["error"] == "refused: private address"
    assert owner["error_detail"] is None
    admin = client.get(created.json()["url"], headers=_admin(factory)).json()["last_delivery"]
    assert "127.0.0.1" in admin["error_detail"] and "loopback" in admin["error_detail"]


def test_a_destination_no_longer_allowed_is_not_posted_to(
    settings: Settings,
    allowing: Callable[..., Settings],
    factory: Factory,
    tester: User,
    receiver: Receiver,
) -> None:
    allowed = allowing(f"127.0.0.1:{receiver.port}")
    with Factory.standalone(allowed) as allowed_factory:
        allowed_factory.create_subscription_service().create(
            tester, SubscriptionDraft(channel="webhook", target=receiver.url())
        )
    report = _deliver(settings, jobs=1)  # the administrator emptied the allow-list
    assert (report.delivered, report.retried) == (0, 1)
    assert receiver.requests == []
    assert _deliver(allowed).delivered == 1  # allowed again: the retry goes through
    assert len(receiver.requests) == 1


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    allowing: Callable[..., Settings], tester: User, receiver: Receiver, dns: dict[str, str]
) -> None:
    # The name exists only in the resolver the check used: the post can only have
    # reached the receiver through the address the check returned.
    dns["receiver.vigil.test"] = "127.0.0.1"
    settings = allowing(f"127.0.0.1:{receiver.port}")
    with Factory.standalone(settings) as factory:
        factory.create_subscription_service().create(
            tester, SubscriptionDraft(channel="webhook", target=receiver.url("receiver.vigil.test"))
        )
    assert _deliver(settings, jobs=1).delivered == 1
    [(headers, _, _)] = receiver.requests
    assert headers["Host"] == f"receiver.vigil.test:{receiver.port}"


# What the owner is told -------------------------------------------------------------------


def test_delivery_errors_carry_no_network_detail_for_their_owner(
    allowing: Callable[..., Settings],
    factory: Factory,
    tester: User,
    client: TestClient,
    auth_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    closed = free_port()
    silent = socket.socket()  # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings = allowing("127.0.0.1").model_copy(update={"notification_timeout": 0.5})
    targets = {
        "closed": f"http://127.0.0.1:{closed}/hook",
        "silent": f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
        "redirect": receiver.url(),
    }
    receiver.status = 302
    try:
        with Factory.standalone(settings) as allowed:
            ids = {
                name: allowed.create_subscription_service()
                .create(tester, SubscriptionDraft(channel="webhook", target=target))
                .id
                for name, target in targets.items()
            }
        assert _deliver(settings, jobs=1).retried == 3
    finally:
        silent.close()
    assert len(receiver.requests) == 1, "the redirect was not followed"
    admin = _admin(factory)
    seen = {}
    for name, subscription_id in ids.items():
        url = f"/api/subscriptions/{subscription_id}"
        owner = client.get(url, headers=auth_headers).json()["last_delivery"]
        seen[name] = owner["error"]
        assert owner["error_detail"] is None
        detail = client.get(url, headers=admin).json()["last_delivery"]["error_detail"]
        assert "127.0.0.1" in detail
    assert seen == {
        "closed": "connection failed",
        "silent": "connection failed",
        "redirect": "HTTP 302",
    }
    listed = client.get("/api/subscriptions", headers=auth_headers).json()
    told = str([s["last_delivery"] for s in listed]).lower()
    for leak in ("127.0.0.1", "refused", "errno", "timeout", "timed out", str(closed), "302:"):
        assert leak not in told


# Signed -----------------------------------------------------------------------------------


def test_a_delivery_is_signed_and_the_documented_code_verifies_it(
    make_app: Callable[..., Any],
    allowing: Callable[..., Settings],
    auth_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    settings = allowing(f"127.0.0.1:{receiver.port}")
    with TestClient(make_app(webhook_allowed_hosts=[f"127.0.0.1:{receiver.port}"])) as client:
        created = client.post(
            "/api/subscriptions",
            json={"channel": "webhook", "target": receiver.url()},
            headers=auth_headers,
        ).json()
        receiver.secret = created["secret"]
        before = time.time()
        assert _deliver(settings, jobs=1).delivered == 1
        [(headers, body, valid)] = receiver.requests
        assert valid is True, "the receiver verified the signature with the documented code"
        assert abs(int(headers["X-Vigil-Timestamp"]) - before) < 60
        assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["X-Vigil-Signature"])
        assert headers["X-Vigil-Delivery"] and headers["X-Vigil-Event"].startswith("regressions:")
        assert b'"event":"regressions"' in body

        verify = documented_verify()
        assert verify(created["secret"], headers, body)
        assert not verify(created["secret"], headers, body.replace(b"regression", b"improvement"))
        assert not verify(created["secret"], headers, body + b" ")
        assert not verify("whsec_" + "x" * 43, headers, body)
        # A replay, an hour later, of a request signed an hour ago.
        old = str(int(time.time()) - 3600)
        mac = hmac.new(created["secret"].encode(), old.encode() + b"." + body, hashlib.sha256)
        replayed = {"X-Vigil-Timestamp": old, "X-Vigil-Signature": "sha256=" + mac.hexdigest()}
        assert not verify(created["secret"], replayed, body)
        # The tampered body sent to the receiver with the genuine headers is refused.
        forged = httpx.post(
            receiver.url(),
            content=body.replace(b"regression", b"improvement"),
            headers={k: headers[k] for k in ("X-Vigil-Timestamp", "X-Vigil-Signature")},
        )
        assert forged.status_code == 401

        rotated = client.post(f"{created['url']}/secret", headers=auth_headers)
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != created["secret"]
        email = client.post("/api/subscriptions", json={"channel": "email"}, headers=auth_headers)
        refused = client.post(f"{email.json()['url']}/secret", headers=auth_headers)
        assert refused.status_code == 422 and refused.json()["detail"]["field"] == "channel"


def test_a_rotated_key_signs_the_retries_of_queued_messages(
    allowing: Callable[..., Settings],
    tester: User,
    receiver: Receiver,
) -> None:
    settings = allowing(f"127.0.0.1:{receiver.port}")
    with Factory.standalone(settings) as factory:
        service = factory.create_subscription_service()
        created = service.create(
            tester, SubscriptionDraft(channel="webhook", target=receiver.url())
        )
        assert created.secret is not None
        receiver.secret = created.secret
        receiver.status = 503
        assert _deliver(settings, jobs=1).retried == 1
        new = service.rotate_secret(tester, created.id).secret
        assert new is not None and new != created.secret
    receiver.status = 204
    assert _deliver(settings).retried == 1, "signed with the new key: the old one fails"
    receiver.secret = new
    assert _deliver(settings).delivered == 1
    assert [valid for _, _, valid in receiver.requests] == [True, False, True]
    first, _, last = (headers["X-Vigil-Delivery"] for headers, _, _ in receiver.requests)
    assert first == last, "the retries of one message carry one delivery id"


# The rules themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("127.0.0.2", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:c0a8:101::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),
    ],
)
def test_what_is_public(address: str, kind: str | None) -> None:
    import ipaddress

    assert non_public_kind(ipaddress.ip_address(address)) == kind


def test_the_allow_list_and_the_private_flag() -> None:
    import ipaddress

    def allowed(policy: TargetPolicy, name: str, address: str, port: int = 80) -> bool:
        return policy.refusal(name, ipaddress.ip_address(address), port) is None

    listed = TargetPolicy(
        allowed=tuple(
            AllowedHost.parse(e)
            for e in ("10.1.0.0/16", "127.0.0.1:9000", "[::1]:9000", "*.corp.example")
        )
    )
    assert allowed(listed, "x", "10.1.2.3") and not allowed(listed, "x", "10.2.0.1")
    assert allowed(listed, "x", "127.0.0.1", 9000) and not allowed(listed, "x", "127.0.0.1")
    assert allowed(listed, "x", "::1", 9000) and not allowed(listed, "x", "::1", 9001)
    assert allowed(listed, "hooks.corp.example", "192.168.0.9")
    assert not allowed(listed, "corp.example.evil.test", "192.168.0.9")
    flag = TargetPolicy(allow_private=True)
    assert allowed(flag, "x", "10.0.0.1") and allowed(flag, "x", "127.0.0.1")
    assert not allowed(flag, "x", "169.254.169.254") and not allowed(flag, "x", "0.0.0.0")
    with pytest.raises(ValidationError, match="not a host name"):
        Settings.model_validate({"webhook_allowed_hosts": "10.0.0.0/8, hooks corp"})
    with pytest.raises(ValidationError, match="port"):
        Settings.model_validate({"webhook_allowed_hosts": "127.0.0.1:http"})
    assert Settings.model_validate(
        {"webhook_allowed_hosts": " 10.0.0.0/8 ,[::1]:80"}
    ).webhook_allowed_hosts == [
        "10.0.0.0/8",
        "[::1]:80",
    ]


def test_the_documented_snippet_is_what_the_server_signs() -> None:
    from vigil.server.services.outbox import signature

    stamp, body = str(int(time.time())), b'{"event":"regressions"}'
    headers = {"X-Vigil-Timestamp": stamp, "X-Vigil-Signature": signature("k", stamp, body)}
    assert documented_verify()("k", headers, body)


def test_the_upgrade_gives_existing_webhooks_a_key(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, text

    from vigil.server.migration import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        upgrade(engine, "0005")
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, name, is_admin, created_at)"
                    " VALUES (1, 'old', false, :now)"
                ),
                {"now": now},
            )
            for sid, channel, target in [
                (1, "webhook", "https://hooks.example.org/a"),
                (2, "webhook", "https://hooks.example.org/a"),
                (3, "email", "old@example.org"),
            ]:
                connection.execute(
                    text(
                        "INSERT INTO subscriptions (id, user_id, channel, target, created_at)"
                        " VALUES (:sid, 1, :channel, :target, :now)"
                    ),
                    {"sid": sid, "channel": channel, "target": target, "now": now},
                )
            connection.execute(
                text(
                    "INSERT INTO outbox (dedupe_key, event_key, channel, target, payload,"
                    " created_at, attempts) VALUES ('k', 'e', 'webhook',"
                    " 'https://hooks.example.org/a', '{}', :now, 2)"
                ),
                {"now": now},
            )
        upgrade(engine, "0006")
        with engine.connect() as connection:
            keys = connection.execute(
                text("SELECT channel, secret FROM subscriptions ORDER BY id")
            ).all()
            linked = connection.execute(text("SELECT subscription_id FROM outbox")).scalar()
    finally:
        engine.dispose()
    [(_, first), (_, second), (_, email)] = keys
    assert first.startswith("whsec_") and second.startswith("whsec_") and first != second
    assert email is None
    assert linked == 1, "a queued webhook message is signed with the oldest subscription's key"
