"""VigilClient against a real HTTP receiver: answers, retries, errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from vigil.client import (
    AuthenticationError,
    Outcome,
    RejectedJobError,
    ServerUnavailableError,
    VigilClient,
    ensure_identifier,
)

from ._support import Receiver, small_job

FAST: dict[str, Any] = {"retries": 2, "backoff": 0.01, "timeout": 2.0}


def _job() -> dict[str, object]:
    job = small_job()
    ensure_identifier(job)
    return job


def test_stored_then_already_stored(receiver: Receiver) -> None:
    job = _job()
    with VigilClient(receiver.url, "t0k3n", **FAST) as client:
        first = client.send_job(job)
        second = client.send_job(job)
    assert (first.outcome, first.created, first.job_id) == (Outcome.STORED, True, 1)
    assert first.url == f"{receiver.url}/jobs/1"
    assert first.measurements == 2
    assert (second.outcome, second.job_id) == (Outcome.ALREADY_STORED, 1)


def test_request_shape(receiver: Receiver) -> None:
    job = _job()
    with VigilClient(receiver.url + "/", "t0k3n", **FAST) as client:
        client.send_job(job)
    request = receiver.requests[0]
    assert (request.method, request.path) == ("POST", "/api/jobs")
    assert request.headers["authorization"] == "Bearer t0k3n"
    assert request.headers["content-type"] == "application/json"
    assert "content-encoding" not in request.headers
    assert b"NaN" not in request.raw
    assert request.json["measurements"][1]["value"] is None


def test_gzip_only_when_asked(receiver: Receiver) -> None:
    with VigilClient(receiver.url, None, compress=True, **FAST) as client:
        client.send_job(_job())
    request = receiver.requests[0]
    assert request.headers["content-encoding"] == "gzip"
    assert request.raw[:2] == b"\x1f\x8b"
    assert request.json["meta"] == {"instrument": "HSC"}
    assert "authorization" not in request.headers


@pytest.mark.parametrize("failures", [("500",), ("close",), ("500", "close")])
def test_transient_failures_are_retried_with_the_same_identifier(
    receiver: Receiver, failures: tuple[str, ...]
) -> None:
    receiver.answer(*failures)
    job = _job()
    with VigilClient(receiver.url, **FAST) as client:
        result = client.send_job(job)
    assert result.outcome is Outcome.STORED
    assert receiver.identifiers == [job["identifier"]] * (len(failures) + 1)


def test_timeouts_are_retried(receiver: Receiver) -> None:
    receiver.answer("slow")
    with VigilClient(receiver.url, retries=1, backoff=0.01, timeout=0.1) as client:
        assert client.send_job(_job()).outcome is Outcome.STORED
    assert len(receiver.requests) == 2


def test_server_that_keeps_failing(receiver: Receiver) -> None:
    receiver.answer("500", "500", "500")
    with (
        VigilClient(receiver.url, **FAST) as client,
        pytest.raises(ServerUnavailableError, match="500 Internal Server Error after 3 attempts"),
    ):
        client.send_job(_job())


def test_total_time_budget_caps_the_retries(dead_url: str) -> None:
    with (
        VigilClient(dead_url, retries=10, backoff=0.1, total_timeout=0.5) as client,
        pytest.raises(ServerUnavailableError, match="could not be reached") as error,
    ):
        client.send_job(_job())
    # Waits of 0.1 and 0.2 fit in the budget, 0.4 more would not: three attempts at the
    # most (fewer on a slow machine), never the eleven the retries allow.
    counted = re.search(r"after (\d+) attempts?", error.value.message)
    assert counted is not None, error.value.message
    attempts = int(counted[1])
    assert 1 <= attempts <= 3


def test_rejection_names_the_field(receiver: Receiver) -> None:
    receiver.answer("422")
    with VigilClient(receiver.url, **FAST) as client, pytest.raises(RejectedJobError) as error:
        client.send_job(_job())
    assert (error.value.status, error.value.field) == (422, "measurements.3.unit")
    assert error.value.code == "invalid_unit"
    assert "measurements.3.unit" in error.value.message
    assert "furlong" in error.value.message
    assert len(receiver.requests) == 1  # a mistake is not retried


def test_fastapi_validation_list(receiver: Receiver) -> None:
    receiver.answer("422-fastapi")
    with VigilClient(receiver.url, **FAST) as client, pytest.raises(RejectedJobError) as error:
        client.send_job(_job())
    assert error.value.field == "measurements.0.metric"
    assert "Field required" in error.value.message


@pytest.mark.parametrize(
    ("status", "token", "problem"),
    [("401", None, "no token was given"), ("401", "old", "invalid or expired"),
     ("403", "weak", "not allowed")],
)  # fmt: skip
def test_authentication_says_how_to_get_a_token(
    receiver: Receiver, status: str, token: str | None, problem: str
) -> None:
    receiver.answer(status)
    with (
        VigilClient(receiver.url, token, **FAST) as client,
        pytest.raises(AuthenticationError) as error,
    ):
        client.send_job(_job())
    assert problem in error.value.message
    assert "vigil token create NAME" in error.value.message
    assert error.value.status == int(status)


def test_bad_url_is_refused_early() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        VigilClient("vigil.example.org")


def test_job_without_identifier_is_refused(receiver: Receiver) -> None:
    with VigilClient(receiver.url, **FAST) as client, pytest.raises(ValueError, match="identifier"):
        client.send_job(small_job())
    assert receiver.requests == []
