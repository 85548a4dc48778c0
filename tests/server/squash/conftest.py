"""Fixtures of the SQuaSH surface tests, on top of ``tests/server/conftest.py``.

The database-parametrised ``client``, ``factory``, ``token``, ``make_app`` fixtures come
from there, so every test here runs on SQLite and, with VIGIL_TEST_POSTGRES_URL set, on
PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.fixture
def user_token(token: str) -> tuple[str, str]:
    """``(user name, API token)``: what SQUASH_USER and SQUASH_PASSWORD hold."""
    return "tester", token


@pytest.fixture(scope="session")
def verify_job(verify_job_bytes: bytes) -> dict[str, Any]:
    """verify_job.json parsed (bare NaN tokens become float NaN)."""
    job: dict[str, Any] = json.loads(verify_job_bytes)
    return job


@pytest.fixture(scope="session")
def cfht_job(cfht_job_bytes: bytes) -> dict[str, Any]:
    """Cfht_output_r.json parsed."""
    job: dict[str, Any] = json.loads(cfht_job_bytes)
    return job
