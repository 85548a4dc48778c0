"""Configuration of the tracking server: one settings class, read from ``VIGIL_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from .domain.webhook_hosts import AllowedHost

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
    database_start_timeout: float = Field(
        default=30.0,
        ge=0,
        description=(
            "How long ``vigil serve``, ``vigil worker`` and ``vigil db upgrade`` wait at start"
            " for a database that is not reachable yet, trying again with backoff (0: once)."
        ),
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
    token_default_days: int = Field(
        default=90,
        ge=1,
        description=(
            "Lifetime of a new API token when its creator names none (``vigil token create"
            " --expires-in``)."
        ),
    )
    token_max_days: int = Field(
        default=365,
        ge=1,
        description="Longest lifetime a new API token may be given; longer requests are refused.",
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        description=(
            "Lifetime of a web log-in (``/login``); never past the expiry of the token it was"
            " opened with."
        ),
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "Public URL of the server, used in the ``url`` of API responses. Default: the"
            " URL of the incoming request."
        ),
    )
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description=(
            "Host names a request's ``Host`` header may carry (comma-separated;"
            " ``*.example.org`` for subdomains, ``*`` for any); others get HTTP 400, so that"
            " no URL in a response names a host the client made up. The host of"
            " ``base_url`` and the address a connection came in on are always trusted."
        ),
    )
    default_branch: str = Field(
        default="main", description="Name of the main line; its artifacts are never pruned."
    )
    max_request_bytes: int = Field(
        default=256 * _MIB, gt=0, description="Largest request body accepted (HTTP 413 above)."
    )
    gate_max_bytes: int = Field(
        default=2 * _MIB,
        gt=0,
        description=(
            "Largest body of ``POST /api/gate`` (``vigil check``) from a caller without a"
            " token (HTTP 413 above)."
        ),
    )
    gate_max_bytes_authenticated: int = Field(
        default=32 * _MIB,
        gt=0,
        description=(
            "Largest body of ``POST /api/gate`` from a caller with a token (HTTP 413 above)."
        ),
    )
    gate_max_series: int = Field(
        default=2_000,
        gt=0,
        description=(
            "Most measurements (series) ``POST /api/gate`` judges in one request from a caller"
            " without a token, in a job document or a stored job (HTTP 413 above)."
        ),
    )
    gate_max_series_authenticated: int = Field(
        default=20_000,
        gt=0,
        description=(
            "Most measurements (series) ``POST /api/gate`` judges in one request from a caller"
            " with a token (HTTP 413 above)."
        ),
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
    background_worker: bool = Field(
        default=True,
        description=(
            "Run the analysis queue and the notification outbox in a thread of the server"
            " process (single-process mode); turn off when ``vigil worker`` processes do it."
        ),
    )
    worker_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between two passes of a worker over the analysis queue and outbox.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server that sends notification emails (unset: no email)."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_user: str | None = Field(
        default=None, description="User name for SMTP authentication (unset: none)."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="Password for SMTP authentication."
    )
    smtp_from: str = Field(
        default="vigil@localhost", description="Sender address of notification emails."
    )
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    notification_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for an SMTP server or a webhook."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description=(
            "Let webhook and Slack subscriptions reach private, loopback and other"
            " non-public addresses (not link-local, multicast or unspecified ones: list"
            " those in ``webhook_allowed_hosts``). Off: only public addresses."
        ),
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "Non-public webhook destinations allowed anyway (comma-separated): host names"
            " (``hooks.corp.example``, ``*.corp.example``), addresses or networks"
            " (``10.1.0.0/16``, ``[fd00::/8]``), each with an optional ``:port``."
        ),
    )

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_allowed_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _check_allowed_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            AllowedHost.parse(entry)  # a ValueError names the bad entry
        return value

    outbox_max_attempts: int = Field(
        default=25,
        ge=1,
        description="Delivery attempts of a notification before it is given up (kept as failed).",
    )
    outbox_backoff_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Wait before the first retry of a notification; doubled at each attempt.",
    )
    outbox_backoff_max_seconds: float = Field(
        default=3600.0, ge=0, description="Longest wait between two delivery attempts."
    )
    requirement_tags: Annotated[list[str], NoDecode] = Field(
        default=["requirement"],
        description=(
            "Specification tags that make a metric a requirement: its regressions and"
            " failures are sent to ``stakeholders`` (comma-separated)."
        ),
    )
    stakeholders: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "Email addresses told of every regression of a requirement and of every failed"
            " main-line CI job (comma-separated)."
        ),
    )
    notify_authors: bool = Field(
        default=True,
        description="Email the authors of suspect commits (when their email is known).",
    )
    analysis_settings_file: Path | None = Field(
        default=None,
        description=(
            "A YAML file of per-metric analysis settings (alpha, minimum effect, minimum"
            " points, direction, alert), keyed by metric name patterns; read once at start"
            " (a bad file stops the server). Unset: the defaults for every metric."
        ),
    )
    gate_baseline_size: int = Field(
        default=30,
        ge=2,
        description=(
            "How many recent baseline points the gate of ``vigil check`` looks at (it"
            " compares with their latest stable stretch)."
        ),
    )

    @field_validator(
        "requirement_tags",
        "stakeholders",
        "explore_roots",
        "monitor_output_roots",
        "trusted_hosts",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    log_retention_days: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Delete aggregated log runs (and their lines) inactive for more than this many"
            " days, checked hourly by the server and by ``vigil logs prune`` (unset: keep all)."
        ),
    )
    log_search_seconds: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Time budget of one log search; a longer scan answers what it found with"
            " ``truncated: true`` and a cursor to continue."
        ),
    )
    live_history: int = Field(
        default=20_000,
        ge=100,
        description="Live events kept for streaming clients that reconnect (monitor, log tail).",
    )
    monitor_record_jobs: bool = Field(
        default=True,
        description=(
            "Also store each finished processing's QA values as a job (dataIds: unit and"
            " amplifier), so that regression detection and alerts apply to them."
        ),
    )
    monitor_silent_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Seconds without an event or heartbeat from a running pipeline's runner after"
            " which its subscribers are told, once per silence (0: never)."
        ),
    )
    monitor_output_roots: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description=(
            "Folders under which the clear action of a processing may delete its units'"
            " reduction files (comma-separated; the runners' output folders as this server"
            " sees them). Empty: a clear deletes logs only."
        ),
    )

    explore_roots: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description=(
            "Folders whose data repositories the explorer serves under ``/explore``"
            " (comma-separated); a repository is a folder directly under one of them."
        ),
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
