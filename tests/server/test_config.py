"""Settings: one class, ``VIGIL_`` prefix, documented fields, no default secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.server.config import Settings


def test_zero_configuration_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings()
    data_dir = tmp_path / ".local" / "share" / "vigil"
    assert settings.data_dir == data_dir
    assert settings.effective_database_url.database == str(data_dir / "vigil.sqlite3")
    assert settings.effective_artifact_url == str(data_dir / "artifacts")
    assert settings.public_read is True
    assert settings.default_branch == "main"
    assert settings.artifact_keep_per_branch is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql+psycopg://vigil@db/vigil")
    monkeypatch.setenv("VIGIL_DATABASE_PASSWORD", "s3cret")
    monkeypatch.setenv("VIGIL_PUBLIC_READ", "false")
    monkeypatch.setenv("VIGIL_ARTIFACT_KEEP_PER_BRANCH", "5")
    monkeypatch.setenv("VIGIL_ARTIFACT_URL", "s3://bucket/vigil")
    settings = Settings()
    assert settings.public_read is False
    assert settings.artifact_keep_per_branch == 5
    assert settings.effective_artifact_url == "s3://bucket/vigil"
    url = settings.effective_database_url
    assert url.password == "s3cret"
    assert "s3cret" not in repr(settings)


def test_every_setting_is_described_and_no_secret_has_a_default() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        if "password" in name or "secret" in name:
            assert field.default is None, f"setting {name} has a default secret"
