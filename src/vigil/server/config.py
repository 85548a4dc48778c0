"""Configuration of the tracking server: one settings class, read from ``VIGIL_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

__all__ = ["Settings", "settings_table"]

_MIB = 1024 * 1024


class Settings(BaseSettings):
    """Settings of ``vigil serve`` and of the commands that open its database.

    Every field is read from the environment variable ``VIGIL_<FIELD>``; nothing is
    read at import time, so tests pass a `Settings` object to ``create_app``.
    """

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    data_dir: Path = Field(
        default=Path("~/.local/share/vigil"),
        description=(
            "Folder for the default SQLite database and artifact store; created on demand."
        ),
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database, e.g. ``postgresql+psycopg://user@host/vigil``."
            " Default: the SQLite file ``vigil.sqlite3`` inside ``data_dir``."
        ),
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="Password of the database user, kept out of ``database_url`` if wanted.",
    )
    database_pool_size: int = Field(
        default=5, ge=1, description="Connections kept open per server process (PostgreSQL)."
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Extra connections allowed above the pool size (PostgreSQL)."
    )
    database_pool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a free connection before failing."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description="How long an SQLite writer waits for another one to finish.",
    )
    artifact_url: str | None = Field(
        default=None,
        description=(
            "Where artifact content is stored: a folder or any fsspec URL (``s3://bucket/x``)."
            " Default: ``artifacts`` inside ``data_dir``."
        ),
    )
    public_read: bool = Field(
        default=True, description="Whether anyone may read without a token; every write needs one."
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "Public URL of the server, used in the ``url`` of API responses. Default: the"
            " URL of the incoming request."
        ),
    )
    default_branch: str = Field(
        default="main", description="Name of the main line; its artifacts are never pruned."
    )
    max_request_bytes: int = Field(
        default=256 * _MIB, gt=0, description="Largest request body accepted (HTTP 413 above)."
    )
    max_blob_bytes: int = Field(
        default=16 * _MIB, gt=0, description="Largest blob of a job, measured as serialised JSON."
    )
    max_artifact_bytes: int = Field(
        default=100 * _MIB, gt=0, description="Largest artifact file accepted."
    )
    artifact_keep_per_branch: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Keep the artifacts of only the last N jobs of each branch other than the"
            " default branch (unset: keep everything)."
        ),
    )
    page_size_max: int = Field(
        default=100_000, gt=0, description="Largest page a list endpoint returns in one response."
    )

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def effective_database_url(self) -> URL:
        """The database URL, defaulting to the SQLite file inside ``data_dir``."""
        if self.database_url:
            url = make_url(self.database_url)
        else:
            url = make_url(f"sqlite:///{self.data_dir / 'vigil.sqlite3'}")
        if self.database_password is not None:
            url = url.set(password=self.database_password.get_secret_value())
        return url

    @property
    def effective_artifact_url(self) -> str:
        """Where artifact content goes, defaulting to ``<data_dir>/artifacts``."""
        return self.artifact_url or str(self.data_dir / "artifacts")


def settings_table() -> str:
    """The Markdown table of every setting (``docs/server.md`` embeds it; a test checks)."""
    lines = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None:
            shown = "unset"
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default)
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `VIGIL_{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(lines) + "\n"
