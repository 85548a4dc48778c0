"""Every bad input gets a 4xx that names the field, and leaves the database unchanged.

The tables below are the bad inputs the issues name: malformed JSON, NaN and infinities
where a number must be finite, wrong types, unknown fields, units that do not convert,
oversize blobs, bodies and artifacts, names with ``..``, absolute paths, control
characters, 10 MB strings, deeply nested JSON. To add one, add a row: a `JobCase` is
posted to both ``POST /api/jobs`` and SQuaSH's ``POST /job``; an `ArtifactCase` is an
upload; a `QueryCase` a read with a bad parameter.

The database holds one job and its artifact; after each request, every table (row count
and a digest of every row) and the artifact folder must be as they were. The cases of a
table run in one test (one database set-up) and every failing case is reported.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.server.config import Settings
from vigil.server.domain import parse_decimal
from vigil.server.domain.logs import level_number
from vigil.server.factory import Factory

from ._paths import raw_get
from ._support import artifact_files, named_field, snapshot

MB10 = "x" * 10_000_000


def job(**top: Any) -> dict[str, Any]:
    """A valid job (one metric in mmag, one measurement), with top-level keys replaced."""
    document: dict[str, Any] = {
        "identifier": "bad-input-job",
        "measurements": [{"metric": "demo.PA1", "identifier": "m1", "value": 12.5, "unit": "mmag"}],
        "metrics": [{"name": "demo.PA1", "unit": "mmag", "description": "Repeatability."}],
        "specs": [],
        "blobs": [],
        "meta": {"env": {"env_name": "local", "ci_dataset": "demo_data"}},
    }
    document.update(top)
    return document


def measured(**fields: Any) -> dict[str, Any]:
    """A valid job whose measurement has *fields* replaced (None removes one)."""
    measurement = {"metric": "demo.PA1", "identifier": "m1", "value": 12.5, "unit": "mmag"}
    measurement.update(fields)
    return job(measurements=[{k: v for k, v in measurement.items() if v is not None}])


def spec(threshold: dict[str, Any]) -> dict[str, Any]:
    """A valid job carrying one specification of demo.PA1 with *threshold*."""
    return job(specs=[{"name": "demo.PA1.design", "type": "threshold", "threshold": threshold}])


def nested(depth: int) -> Any:
    """An object *depth* levels deep: ``{"a": {"a": ... 1}}``."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def body(document: Any) -> bytes:
    """JSON as lsst.verify writes it (bare NaN and Infinity tokens allowed)."""
    return json.dumps(document).encode()


@dataclass(frozen=True)
class JobCase:
    """A bad job document, posted to both ingest endpoints."""

    id: str
    content: bytes
    status: int  # on the native API; the SQuaSH surface answers 400 for 422, as SQuaSH did
    field: str  # the field the answer must name (a prefix is enough for long paths)
    settings: dict[str, Any] = field(default_factory=dict)


JOB_CASES = [
    # Malformed JSON and bodies that are not a job.
    JobCase("malformed-json", b'{"measurements": [', 400, "body"),
    JobCase("not-utf8", b'\xff\xfe{"a": 1}', 400, "body"),
    JobCase("empty-body", b"", 400, "body"),
    JobCase("not-an-object", b"[1, 2, 3]", 422, "body"),
    JobCase("no-measurements", body(job(measurements=[])), 422, "measurements"),
    # NaN and infinities where a number must be finite (NaN values are fine: see below).
    JobCase("nan-threshold", body(spec({"value": math.nan, "unit": "mmag", "operator": "<="})),
            422, "specs[0].threshold.value"),
    JobCase("infinite-threshold", body(spec({"value": math.inf, "unit": "mmag", "operator": "<="})),
            422, "specs[0].threshold.value"),
    JobCase("nan-data-id", body(measured(data_id={"visit": math.nan})), 422,
            "measurements[0].data_id.visit"),
    JobCase("infinite-data-id", body(measured(data_id={"visit": -math.inf})), 422,
            "measurements[0].data_id.visit"),
    JobCase("nan-identifier", body(job(identifier=math.nan)), 422, "identifier"),
    # Wrong types.
    JobCase("value-string", body(measured(value="twelve")), 422, "measurements[0].value"),
    JobCase("value-boolean", body(measured(value=True)), 422, "measurements[0].value"),
    JobCase("value-object", body(measured(value={"v": 1})), 422, "measurements[0].value"),
    JobCase("value-missing", body(measured(value=None)), 422, "measurements[0].value"),
    JobCase("metric-number", body(measured(metric=5)), 422, "measurements[0].metric"),
    JobCase("unit-number", body(measured(unit=5)), 422, "measurements[0].unit"),
    JobCase("data-id-list", body(measured(data_id=[1, 2])), 422, "measurements[0].data_id"),
    JobCase("data-id-nested", body(measured(data_id={"a": {"b": 1}})), 422,
            "measurements[0].data_id.a"),
    JobCase("blob-refs-string", body(measured(blob_refs="b1")), 422, "measurements[0].blob_refs"),
    JobCase("measurements-string", body(job(measurements="all")), 422, "measurements"),
    JobCase("meta-list", body(job(meta=[1])), 422, "meta"),
    JobCase("metrics-object", body(job(metrics={"demo.PA1": {}})), 422, "metrics"),
    JobCase("identifier-number", body(job(identifier=5)), 422, "identifier"),
    JobCase("identifier-too-long", body(job(identifier="i" * 129)), 422, "identifier"),
    JobCase("integer-beyond-64-bits", b'{"identifier": "big", "measurements": [{"metric":'
            b' "demo.PA1", "value": 1' + b"0" * 40 + b', "unit": "mmag"}, {"metric": "demo.PA1",'
            b' "value": NaN, "unit": "mmag"}], "meta": {"env": {"env_name": "local"}}}', 422,
            "measurements[0].value"),
    # Unknown fields (a typo must not silently drop data).
    JobCase("unknown-top-level", body(job(measurement=[])), 422, "measurement"),
    JobCase("unknown-measurement-field", body(measured(data_Id={"band": "i"})), 422,
            "measurements[0].data_Id"),
    JobCase("unknown-blob-field", body(job(blobs=[{"identifier": "b1", "data": {}, "colour": 1}])),
            422, "blobs[0].colour"),
    # Units that do not convert.
    JobCase("unit-not-convertible", body(measured(unit="s")), 422, "measurements[0].unit"),
    JobCase("unit-unknown", body(measured(unit="furlongs_per_fortnight")), 422,
            "measurements[0].unit"),
    JobCase("threshold-unit-not-convertible",
            body(spec({"value": 5, "unit": "deg", "operator": "<="})), 422,
            "specs[0].threshold.unit"),
    # Oversize blobs and bodies (small limits, so the test stays fast).
    JobCase("oversize-blob",
            body(job(blobs=[{"identifier": "b1", "name": "b",
                             "data": {"x": {"value": list(range(5000))}}}])),
            413, "blobs[0]", {"max_blob_bytes": 10_000}),
    JobCase("oversize-body", body(measured(notes={"log": "y" * 60_000})), 413, "body",
            {"max_request_bytes": 50_000}),
    # Names: traversal, control characters, lengths the database columns cannot hold.
    JobCase("metric-control-character", body(measured(metric="demo.PA\x01")), 422,
            "measurements[0].metric"),
    JobCase("metric-nul", body(measured(metric="demo.PA1\x00")), 422, "measurements[0].metric"),
    JobCase("meta-nul", body(job(meta={"env": {"env_name": "local", "ci_dataset": "hsc\x00"}})),
            422, "meta.env.ci_dataset"),
    JobCase("meta-lone-surrogate", b'{"measurements": [{"metric": "demo.PA1", "value": 1,'
            b' "unit": "mmag"}], "meta": {"env": {"env_name": "local"}, "branch": "\\ud800"}}',
            422, "meta.branch"),
    JobCase("blob-identifier-too-long", body(job(blobs=[{"identifier": "b" * 65, "data": {}}])),
            422, "blobs[0].identifier"),
    JobCase("metric-name-too-long", body(measured(metric="demo." + "m" * 1100)), 422,
            "measurements[0].metric"),
    JobCase("package-name-too-long", body(measured(metric="p" * 300 + ".m")), 422,
            "measurements[0].metric"),
    # 10 MB strings.
    JobCase("10mb-metric-name", body(measured(metric="demo." + MB10)), 422,
            "measurements[0].metric"),
    JobCase("10mb-meta-string", body(job(meta={"note": MB10})), 422, "meta.note"),
    JobCase("10mb-data-id", body(measured(data_id={"band": MB10})), 422,
            "measurements[0].data_id.band"),
    JobCase("10mb-key", body(measured(notes={MB10: 1})), 422, "measurements[0].notes."),
    # Deeply nested JSON.
    JobCase("nested-100000", b'{"meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "body"),
    JobCase("nested-100000-with-nan", b'{"x": NaN, "meta": ' + b"[" * 100_000 + b"]" * 100_000
            + b"}", 400, "body"),
    JobCase("nested-300-in-meta", body(job(meta=nested(300))), 422, "meta.a.a.a"),
    JobCase("nested-40-in-notes", body(measured(notes=nested(40))), 422,
            "measurements[0].notes.a"),
]  # fmt: skip


@dataclass(frozen=True)
class ArtifactCase:
    """A bad artifact upload to the stored job."""

    id: str
    names: list[str]
    status: int
    field: str
    size: int = 16
    settings: dict[str, Any] = field(default_factory=dict)


ARTIFACT_CASES = [
    ArtifactCase("dot-dot", ["../escape.txt"], 422, "name"),
    ArtifactCase("dot-dot-inside", ["plots/../../escape.txt"], 422, "name"),
    ArtifactCase("dot-segment", ["plots/./x.txt"], 422, "name"),
    ArtifactCase("absolute", ["/etc/passwd"], 422, "name"),
    ArtifactCase("drive-letter", ["C:/Windows/win.ini"], 422, "name"),
    ArtifactCase("backslash", ["..\\..\\escape.txt"], 422, "name"),
    ArtifactCase("unc-path", ["\\\\server\\share\\x"], 422, "name"),
    ArtifactCase("nul", ["a\x00b.txt"], 422, "name"),
    ArtifactCase("newline", ["a\nb.txt"], 422, "name"),
    ArtifactCase("bidi-override", ["report\u202egnp.html"], 422, "name"),
    ArtifactCase("empty-part", ["plots//x.txt"], 422, "name"),
    ArtifactCase("too-long", ["n" * 1025], 422, "name"),
    ArtifactCase("names-count", ["a.txt", "b.txt"], 422, "names"),
    ArtifactCase("oversize", ["big.bin"], 413, "file", 20_000, {"max_artifact_bytes": 10_000}),
]


@dataclass(frozen=True)
class QueryCase:
    """A read with a bad parameter."""

    id: str
    path: str
    status: int
    field: str


QUERY_CASES = [
    QueryCase("limit-nan", "/api/jobs?limit=NaN", 422, "limit"),
    QueryCase("limit-infinity", "/api/jobs?limit=Infinity", 422, "limit"),
    QueryCase("limit-zero", "/api/jobs?limit=0", 422, "limit"),
    QueryCase("limit-word", "/api/measurements?limit=ten", 422, "limit"),
    QueryCase("pull-request-float", "/api/jobs?pull_request=1.5", 422, "pull_request"),
    QueryCase("since-not-a-date", "/api/jobs?since=yesterday", 422, "since"),
    QueryCase("cursor-word", "/api/jobs?cursor=abc", 400, "cursor"),
    QueryCase("cursor-beyond-64-bits", "/api/jobs?cursor=" + "9" * 30, 400, "cursor"),
    QueryCase("data-id-not-json", "/api/series?data_id=%7Bband", 400, "data_id"),
    QueryCase("data-id-not-object", "/api/series?data_id=%5B1%5D", 400, "data_id"),
    QueryCase("data-id-nested", "/api/series?data_id=" + "%5B" * 5000 + "%5D" * 5000, 400,
              "data_id"),
    QueryCase("changes-base-word", "/api/jobs/1/changes?base=first", 422, "base"),
    QueryCase("squash-limit-nan", "/jobs?limit=NaN", 400, "limit"),
    QueryCase("squash-cursor-superscript", "/jobs?cursor=%C2%B2", 400, "cursor"),
    QueryCase("squash-cursor-beyond-64-bits", "/jobs?cursor=" + "9" * 30, 400, "cursor"),
    # Digits that are not ASCII: '²'.isdigit() is true, int('²') fails, int('٣') is 3.
    QueryCase("page-job-id-superscript", "/jobs/%C2%B2", 400, "job_id"),
    QueryCase("page-regression-id-superscript", "/regressions/%C2%B2", 400, "regression_id"),
    QueryCase("page-log-level-superscript", "/monitor/logs?level=%C2%B2", 400, "level"),
    QueryCase("api-job-id-superscript", "/api/jobs/%C2%B2", 422, "job_id"),
    QueryCase("api-cursor-superscript", "/api/jobs?cursor=%C2%B2", 400, "cursor"),
    QueryCase("api-cursor-arabic-indic", "/api/jobs?cursor=%D9%A3", 400, "cursor"),
    QueryCase("api-series-cursor-superscript",
              "/api/series/points?metric=demo.PA1&dataset=demo_data&cursor=%C2%B2", 400, "cursor"),
    QueryCase("api-log-runs-cursor-superscript", "/api/logs/runs?cursor=%C2%B2", 400, "cursor"),
]  # fmt: skip


# The state every case starts from: one stored job with one artifact.


@pytest.fixture
def stored(factory: Factory, settings: Settings) -> dict[str, Any]:
    """Store a job and an artifact; return what the cases need."""
    users = factory.create_user_service()
    user = users.create_user("tester", "tester@example.org")
    token = users.create_token("tester").text
    result = factory.create_job_service().ingest(job(identifier="stored-job"), user)
    factory.create_artifact_service().upload(result.id, "plots/a.txt", io.BytesIO(b"kept"))
    return {"job_id": result.id, "headers": {"Authorization": f"Bearer {token}"}}


class _Checker:
    """Runs cases one after the other and collects every failure, with its case."""

    def __init__(self, settings: Settings) -> None:
        url = settings.effective_database_url.render_as_string(hide_password=False)
        self.engine = create_engine(url)
        self.artifacts = Path(settings.effective_artifact_url)
        self.failures: list[str] = []

    def check(self, case_id: str, send: Callable[[], Any], status: int, field: str) -> None:
        before, files = snapshot(self.engine), artifact_files(self.artifacts)
        response = send()
        named = named_field(response)
        if response.status_code != status:
            self.failures.append(f"{case_id}: {response.status_code}, not {status}: "
                                 f"{response.text[:300]}")  # fmt: skip
        elif named is None or not named.startswith(field):
            self.failures.append(f"{case_id}: names {named!r}, not {field!r}: "
                                 f"{response.text[:300]}")  # fmt: skip
        if snapshot(self.engine) != before:
            self.failures.append(f"{case_id}: the database changed")
        if artifact_files(self.artifacts) != files:
            self.failures.append(f"{case_id}: the artifact folder changed")

    def done(self) -> None:
        self.engine.dispose()
        assert self.failures == [], "\n".join(self.failures)


# No background analysis during the cases: it writes on its own schedule.
QUIET = {"background_worker": False}


def _by_settings(cases: list[Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for case in cases:
        groups.setdefault(json.dumps(case.settings, sort_keys=True), []).append(case)
    return groups


@pytest.mark.parametrize("surface", ["api", "squash"])
def test_every_bad_job_is_refused_naming_the_field(
    surface: str,
    make_app: Callable[..., FastAPI],
    settings: Settings,
    stored: dict[str, Any],
) -> None:
    path = "/api/jobs" if surface == "api" else "/job"
    headers = {**stored["headers"], "Content-Type": "application/json"}
    checker = _Checker(settings)
    for overrides, cases in _by_settings(JOB_CASES).items():
        with TestClient(make_app(**QUIET, **json.loads(overrides))) as client:
            for case in cases:
                status = 400 if surface == "squash" and case.status == 422 else case.status
                checker.check(
                    case.id,
                    lambda c=case: client.post(path, content=c.content, headers=headers),
                    status,
                    case.field,
                )
    checker.done()


def test_every_bad_artifact_is_refused_naming_the_field(
    make_app: Callable[..., FastAPI], settings: Settings, stored: dict[str, Any]
) -> None:
    url = f"/api/jobs/{stored['job_id']}/artifacts"
    checker = _Checker(settings)
    for overrides, cases in _by_settings(ARTIFACT_CASES).items():
        with TestClient(make_app(**QUIET, **json.loads(overrides))) as client:
            for case in cases:
                files = [("files", ("upload.bin", b"z" * case.size, "application/octet-stream"))]
                checker.check(
                    case.id,
                    lambda c=case, f=files: client.post(
                        url, files=f, data={"names": c.names}, headers=stored["headers"]
                    ),
                    case.status,
                    case.field,
                )
    checker.done()


def test_every_bad_query_parameter_is_refused_naming_it(
    make_app: Callable[..., FastAPI], settings: Settings, stored: dict[str, Any]
) -> None:
    checker = _Checker(settings)
    headers = {"Accept": "application/json"}
    with TestClient(make_app(**QUIET)) as client:
        for case in QUERY_CASES:
            checker.check(
                case.id, lambda c=case: client.get(c.path, headers=headers), case.status, case.field
            )
    checker.done()


def test_not_a_number_is_stored_as_null_never_zero(
    client: TestClient, stored: dict[str, Any]
) -> None:
    # Bare NaN and infinities in a measured value are valid lsst.verify: "no value".
    content = (
        b'{"identifier": "non-finite", "measurements": ['
        b'{"metric": "demo.PA1", "value": NaN, "unit": "mmag"},'
        b'{"metric": "demo.PA1", "value": Infinity, "unit": "mmag", "data_id": {"band": "r"}},'
        b'{"metric": "demo.PA1", "value": null, "unit": "mmag", "data_id": {"band": "g"}}]}'
    )
    headers = {**stored["headers"], "Content-Type": "application/json"}
    created = client.post("/api/jobs", content=content, headers=headers)
    assert created.status_code == 201, created.text
    values = [m["value"] for m in client.get(created.json()["url"]).json()["measurements"]]
    assert values == [None, None, None]


@pytest.mark.parametrize(
    "path",
    ["/jobs?pull_request=%C2%B2", "/jobs?pull_request=%23%C2%B2", "/monitor/trends?element=%C2%B2"],
)
def test_a_unicode_digit_in_an_optional_filter_is_no_number_not_a_crash(
    path: str, quiet_app: FastAPI, settings: Settings, stored: dict[str, Any]
) -> None:
    # These pages took any text whose isdigit() was true for a number: a 500. A filter
    # that is not a number is ignored, as a word is.
    before = snapshot(settings.effective_database_url.render_as_string(hide_password=False))
    response = raw_get(quiet_app, path, [("accept", "text/html")])
    assert response.status_code == 200, response.content[:300]
    assert b"<html" in response.content
    after = snapshot(settings.effective_database_url.render_as_string(hide_password=False))
    assert after == before


@pytest.mark.parametrize(
    ("text", "number"),
    [("42", 42), (" 7 ", 7), ("0", 0), ("\u00b2", None), ("\u0663", None), ("\uff11", None),
     ("-1", None), ("+1", None), ("1.0", None), ("", None), (None, None), ("9" * 19, None)],
)  # fmt: skip
def test_only_ascii_digits_are_read_as_an_id(text: str | None, number: int | None) -> None:
    assert parse_decimal(text) == number


@pytest.mark.parametrize(("text", "level"), [("25", 25), ("warning", 30), ("\u00b2", None)])
def test_a_log_level_is_a_name_or_ascii_digits(text: str, level: int | None) -> None:
    assert level_number(text) == level


@pytest.mark.parametrize("token", ["\u00b2", "\u0663", "9" * 30, "1.5", 'x"; --'])
def test_revoking_a_token_by_a_bad_id_is_a_one_line_error(
    token: str, db_url: str, stored: dict[str, Any]
) -> None:
    result = CliRunner().invoke(cli_app, ["token", "revoke", token, "--database-url", db_url])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line] == [
        f"error: {token!r} is neither a token id nor a Vigil token."
    ]
