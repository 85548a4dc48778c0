"""`vigil.client.Client` against a real server (uvicorn in a thread, SQLite)."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from bokeh.embed import json_item

from vigil import plots
from vigil.client import AuthenticationError, Client, ClientError
from vigil.client.api import SeriesForm
from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.factory import Factory
from vigil.server.main import create_app
from vigil.server.migration import upgrade
from vigil.verify import Job, Metric


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'vigil.sqlite3'}",
        "data_dir": tmp_path,
        "artifact_url": str(tmp_path / "artifacts"),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _job(night: int, value: float, branch: str, band: str = "r") -> dict[str, object]:
    job = Job(
        metrics=[Metric("demo.rms", unit="mmag")],
        meta={
            "dataset": "data_a",
            "instrument": "HSC",
            "env": {"env_name": "jenkins", "date": f"2026-01-{night + 1:02d}T02:00:00+00:00"},
            "git": {"branch": branch, "commit": f"{night:040x}"},
        },
        identifier=f"client-{branch}-{band}-{night}",
    )
    job.measure("demo.rms", value, data_id={"band": band})
    return job.to_dict()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """A migrated SQLite server with five main jobs and one branch job, served by uvicorn."""
    settings = _settings(tmp_path)
    engine = create_database_engine(settings)
    upgrade(engine)
    engine.dispose()
    with Factory.standalone(settings) as factory:
        jobs = factory.create_job_service()
        for night, value in enumerate([4.0, 4.5, float("nan"), 5.5, 6.0]):
            jobs.ingest(_job(night, value, "main"), None)
        jobs.ingest(_job(4, 7.0, "feature"), None)
        jobs.ingest(_job(0, 9.0, "main", band="i"), None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not live.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", settings
    live.should_exit = True
    thread.join(timeout=10)


def test_series_is_a_dataframe_that_plots(server: tuple[str, Settings]) -> None:
    url, _ = server
    with Client(url) as client:
        df = client.series("demo.rms", dataset="data_a", data_id={"band": "r"})
        assert list(df.columns[:9]) == [
            "job_id",
            "measurement_id",
            "time",
            "value",
            "unit",
            "branch",
            "commit_sha",
            "pull_request",
            "environment",
        ]
        assert len(df) == 6
        assert isinstance(df["time"].dtype, pd.DatetimeTZDtype) and str(df["time"].dt.tz) == "UTC"
        assert math.isnan(df["value"].iloc[2])  # NaN stays NaN, never 0
        assert list(df["branch"]) == ["main"] * 5 + ["feature"]
        assert set(df["data_id"].map(lambda d: d["band"])) == {"r"}
        main = client.series("demo.rms", data_id={"band": "r"}, branch="main")
        assert list(main["value"].dropna()) == [4.0, 4.5, 5.5, 6.0]
        both = client.series("demo.rms", data_id={"band": "r"}, exact=False)
        assert len(both) == 6
        every = client.series("demo.rms")
        assert len(every) == 7 and every["series_key"].nunique() == 2
        recent = client.series("demo.rms", data_id={"band": "r"}, since="2026-01-04T00:00:00Z")
        assert list(recent["value"]) == [5.5, 6.0, 7.0]
        empty = client.series("demo.rms", dataset="elsewhere")
        assert empty.empty and "value" in empty.columns
        fig = plots.series_plot(df, thresholds=[plots.Threshold("design", 5.0)])
        assert json_item(fig)["doc"]["roots"]


@pytest.mark.parametrize("form", ["rows", "columns"])
def test_series_is_the_same_dataframe_in_every_form(
    server: tuple[str, Settings], form: SeriesForm
) -> None:
    url, _ = server
    with Client(url) as client:
        arrow = client.series("demo.rms", form="arrow")
        other = client.series("demo.rms", form=form)
        default = client.series("demo.rms")
    assert len(arrow) == 7 and arrow["value"].isna().sum() == 1  # the NaN, kept
    pd.testing.assert_frame_equal(arrow, other)
    pd.testing.assert_frame_equal(arrow, default)
    assert str(arrow["time"].dtype) == "datetime64[ns, UTC]"
    assert str(arrow["pull_request"].dtype) == "Int64"
    assert arrow["unit"].map(type).eq(str).all()  # plain text, not categories


def test_series_without_pyarrow_reads_columns(
    server: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    with Client(url) as client:
        expected = client.series("demo.rms", form="arrow")
    import builtins

    real_import = builtins.__import__
    asked: list[str] = []

    def no_pyarrow(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with Client(url) as client:
        client._http.event_hooks["request"].append(lambda r: asked.append(str(r.url)))
        got = client.series("demo.rms")
    pd.testing.assert_frame_equal(got, expected)
    assert any("form=columns" in u for u in asked)


def test_series_follows_pages_in_every_form(tmp_path: Path, server: tuple[str, Settings]) -> None:
    url, settings = server
    small = settings.model_copy(update={"page_size_max": 2})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(small), host="127.0.0.1", port=port, log_level="warning")
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not live.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)
        with Client(url) as whole, Client(f"http://127.0.0.1:{port}") as paged:
            expected = whole.series("demo.rms", data_id={"band": "r"})
            forms: tuple[SeriesForm, ...] = ("arrow", "columns", "rows")
            for form in forms:
                got = paged.series("demo.rms", data_id={"band": "r"}, form=form)
                pd.testing.assert_frame_equal(got, expected)
    finally:
        live.should_exit = True
        thread.join(timeout=10)


def test_jobs_and_job(server: tuple[str, Settings]) -> None:
    url, _ = server
    with Client(url) as client:
        jobs = client.jobs(branch="main")
        assert isinstance(jobs, pd.DataFrame)
        assert len(jobs) == 6 and jobs["id"].is_monotonic_decreasing
        assert len(client.jobs(limit=2)) == 2
        one = client.job(int(jobs["id"].iloc[0]))
        assert one["measurements"][0]["metric"] == "demo.rms"
        with pytest.raises(ClientError, match="No job has the id 999999"):
            client.job(999999)


def test_private_server_needs_the_token(tmp_path: Path, server: tuple[str, Settings]) -> None:
    _, settings = server
    # The same database behind a server that does not allow public reading.
    private = settings.model_copy(update={"public_read": False})
    with Factory.standalone(private) as factory:
        users = factory.create_user_service()
        users.create_user("reader")
        token = users.create_token("reader").text
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(private), host="127.0.0.1", port=port, log_level="warning")
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    while not live.started:
        time.sleep(0.02)
    try:
        with pytest.raises(AuthenticationError, match="token"):
            Client(f"http://127.0.0.1:{port}").series("demo.rms")
        df = Client(f"http://127.0.0.1:{port}", token=token).series("demo.rms")
        assert len(df) == 7
    finally:
        live.should_exit = True
        thread.join(timeout=10)


def test_bad_url_and_missing_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="http"):
        Client("localhost:8000")
    import builtins

    real_import = builtins.__import__

    def no_pandas(name: str, *args: object, **kwargs: object) -> object:
        if name == "pandas":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ClientError, match="pip install pandas"):
        Client("http://127.0.0.1:9").series("demo.rms")
