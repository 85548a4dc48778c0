"""Fixtures of the regression tests: a worker that runs in the test, SMTP and webhooks.

The server's fixtures (``db_url``, ``settings``, ``factory``...) come from
``tests/server/conftest.py``; here the settings turn the background thread off, so that
each test runs the worker's passes itself with ``WorkerService.run_once()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.server.config import Settings
from vigil.server.domain import User
from vigil.server.factory import Factory
from vigil.server.main import create_app

from ._support import SmtpServer, WebhookReceiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A running SMTP server on a local port."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A running HTTP receiver."""
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], smtp: SmtpServer, webhook: WebhookReceiver
) -> Settings:
    """Settings with no background thread, email through the test's SMTP server, the
    test's webhook receiver allowed (a loopback address), and immediate retries."""
    return make_settings(
        webhook_allowed_hosts=[f"127.0.0.1:{webhook.port}"],
        background_worker=False,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="vigil@example.org",
        notify_authors=False,
        outbox_backoff_seconds=0.0,
        notification_timeout=5.0,
        base_url="http://vigil.example.org",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A started client of an app on those settings."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def tester(factory: Factory, token: str) -> User:
    """The user ``tester`` (who owns ``token``)."""
    return factory.create_auth_service().authenticate(token)


@pytest.fixture
def run_worker(factory: Factory) -> Callable[..., Any]:
    """Run one pass of the worker in the test."""
    return lambda: factory.create_worker_service().run_once()
