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

import dataclasses
import io
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from _reliability import VigilServer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.server.config import Settings
from vigil.server.domain import parse_decimal
from vigil.server.domain.logs import level_number
from vigil.server.exceptions import ConflictError
from vigil.server.factory import Factory
from vigil.server.storage.jobs import JobStore

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


DIGITS = b"1" + b"0" * 4400  # more digits than Python's int() reads by default (4,300)


def raw_job(meta: bytes, data_id: bytes = b"{}") -> bytes:
    """A job written by hand (``json.dumps`` cannot write 4,301 digits): *meta* is the
    ``"meta": ...`` member, *data_id* the measurement's dataId."""
    return (
        b'{"identifier": "raw", "measurements": [{"metric": "demo.PA1", "value": 1.0,'
        b' "unit": "mmag", "data_id": ' + data_id + b"}], " + meta + b"}"
    )


@dataclass(frozen=True)
class JobCase:
    """A bad job document, posted to both ingest endpoints."""

    id: str
    content: bytes
    status: int  # on the native API; the SQuaSH surface answers 400 for 422, as SQuaSH did
    field: str  # the field the answer must name (a prefix is enough for long paths)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


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
    # A pull request number is a positive integer its column can hold: 4,301 digits made
    # Python's int() give up (a 500), and others were silently dropped or misread.
    JobCase("pull-request-4301-digits", raw_job(b'"meta": {"git": {"pull_request": ' + DIGITS
            + b"}}"), 422, "meta.git.pull_request"),
    JobCase("pull-request-4301-digits-with-nan", raw_job(b'"meta": {"git": {"pull_request": '
            + DIGITS + b'}, "x": NaN}'), 422, "meta.git.pull_request"),
    JobCase("pull-request-4301-digit-string", body(job(meta={"git": {"pull_request": "9" * 4400}})),
            422, "meta.git.pull_request"),
    JobCase("pull-request-url-4301-digits", body(job(meta={"env": {
            "env_name": "local", "pull_request": "https://github.com/o/r/pull/" + "9" * 4400}})),
            422, "meta.env.pull_request"),
    JobCase("pull-request-beyond-its-column", body(job(meta={"git": {"pull_request": 2**31}})),
            422, "meta.git.pull_request"),
    JobCase("pull-request-zero", body(job(meta={"git": {"pull_request": 0}})), 422,
            "meta.git.pull_request"),
    JobCase("pull-request-negative", body(job(meta={"git": {"pull_request": -3}})), 422,
            "meta.git.pull_request"),
    JobCase("pull-request-fraction", body(job(meta={"git": {"pull_request": 42.5}})), 422,
            "meta.git.pull_request"),
    JobCase("pull-request-number-beyond-64-bits",
            body(job(meta={"git": {"pull_request": {"number": "9" * 30}}})), 422,
            "meta.git.pull_request.number"),
    # Integers beyond 64 bits anywhere: the fast JSON parser read them as floats (1e+30).
    JobCase("integer-beyond-64-bits-in-data-id", body(job(measurements=[
            {"metric": "demo.PA1", "value": 1.0, "unit": "mmag", "data_id": {"tract": t}}
            for t in (1, 2, 3, 10**30)])), 422, "measurements[3].data_id.tract"),
    JobCase("integer-2-to-the-64-in-meta", body(job(meta={"visit": 2**64})), 422, "meta.visit"),
    JobCase("integer-below-64-bits-in-meta", body(job(meta={"visit": -(2**63) - 1})), 422,
            "meta.visit"),
    JobCase("integer-beyond-64-bits-in-notes", body(measured(notes={"n": [1, 2**70]})), 422,
            "measurements[0].notes.n[1]"),
    JobCase("integer-4301-digits-in-data-id", raw_job(b'"meta": {}', data_id=b'{"tract": '
            + DIGITS + b"}"), 422, "measurements[0].data_id.tract"),
    JobCase("integer-4301-digits-in-meta-with-nan", raw_job(b'"meta": {"visit": -' + DIGITS
            + b', "x": NaN}'), 422, "meta.visit"),
    # Measurement ids are unique within a job; a blob a measurement refers to is in the job.
    JobCase("duplicate-measurement-identifier", body(job(measurements=[
            {"metric": "demo.PA1", "identifier": "m1", "value": 1.0, "unit": "mmag"},
            {"metric": "demo.PA1", "identifier": "m2", "value": 2.0, "unit": "mmag"},
            {"metric": "demo.PA1", "identifier": "m1", "value": 3.0, "unit": "mmag"}])),
            422, "measurements[2].identifier"),
    JobCase("blob-ref-missing", body(measured(blob_refs=["b-missing"])), 422,
            "measurements[0].blob_refs[0]"),
    JobCase("blob-ref-missing-after-one-present", body(job(
            blobs=[{"identifier": "b1", "name": "b", "data": {}}],
            measurements=[{"metric": "demo.PA1", "value": 1.0, "unit": "mmag",
                           "blob_refs": ["b1", "b2"]}])), 422, "measurements[0].blob_refs[1]"),
    # A measurement's metric is named as a metric is.
    JobCase("measurement-metric-markup", body(measured(metric="x.<script>alert(1)</script>")),
            422, "measurements[0].metric"),
    JobCase("measurement-metric-without-package", body(measured(metric="PA1")), 422,
            "measurements[0].metric"),
    JobCase("measurement-metric-three-parts", body(measured(metric="demo.PA1.design")), 422,
            "measurements[0].metric"),
    JobCase("measurement-metric-space", body(measured(metric="demo.PA 1")), 422,
            "measurements[0].metric"),
    JobCase("measurement-metric-empty-part", body(measured(metric="demo..PA1")), 422,
            "measurements[0].metric"),
]  # fmt: skip


@dataclass(frozen=True)
class ArtifactCase:
    """A bad artifact upload to the stored job."""

    id: str
    names: list[str]
    status: int
    field: str
    size: int = 16
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


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
                    partial(client.post, path, content=case.content, headers=headers),
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
                    partial(
                        client.post,
                        url,
                        files=files,
                        data={"names": case.names},
                        headers=stored["headers"],
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
                case.id, partial(client.get, case.path, headers=headers), case.status, case.field
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


@pytest.mark.parametrize(
    ("text", "level"),
    [("25", 25), ("warning", 30), ("\u00b2", None), ("0", 0), ("32767", 32767),
     ("32768", None), (32768, None), (-1, None), (5, 5)],
)  # fmt: skip
def test_a_log_level_is_a_name_or_ascii_digits_from_0_to_32767(
    text: str | int, level: int | None
) -> None:
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


# A job resent under its identifier: the same content is the stored job, other content a
# conflict. The new values were dropped without a word (200 with the first job's body).


def _post_job(client: TestClient, surface: str, document: Any, headers: dict[str, str]) -> Any:
    path = "/api/jobs" if surface == "api" else "/job"
    content = document if isinstance(document, bytes) else body(document)
    return client.post(path, content=content, headers={**headers, **JSON_TYPE})


JSON_TYPE = {"Content-Type": "application/json"}
_STATUS = {"api": {"created": 201, "same": 200}, "squash": {"created": 202, "same": 202}}


@pytest.mark.parametrize("surface", ["api", "squash"])
def test_a_resent_identifier_with_other_content_is_a_409_naming_it(
    surface: str, quiet_client: TestClient, settings: Settings, stored: dict[str, Any]
) -> None:
    headers, statuses = stored["headers"], _STATUS[surface]
    first = job(identifier="ci-run-7")
    assert _post_job(quiet_client, surface, first, headers).status_code == statuses["created"]
    # The same content, keys in another order and other spacing: the stored job.
    again = json.dumps(first, sort_keys=True, indent=2).encode()
    resent = _post_job(quiet_client, surface, again, headers)
    assert resent.status_code == statuses["same"], resent.text
    if surface == "squash":
        assert resent.json()["created"] is False

    before = snapshot(settings.effective_database_url.render_as_string(hide_password=False))
    changes = {
        "value": measured(value=99.0),
        "meta": job(meta={"env": {"env_name": "local", "ci_dataset": "other_data"}}),
        "blobs": job(blobs=[{"identifier": "b1", "name": "b", "data": {}}]),
        "measurement-added": job(measurements=[*first["measurements"], {
            "metric": "demo.PA1", "identifier": "m2", "value": 1.0, "unit": "mmag"}]),
    }  # fmt: skip
    for change, document in changes.items():
        response = _post_job(quiet_client, surface, dict(document, identifier="ci-run-7"), headers)
        assert response.status_code == 409, (change, response.text)
        assert named_field(response) == "identifier", (change, response.text)
        assert "'ci-run-7'" in response.text, (change, response.text)
    after = snapshot(settings.effective_database_url.render_as_string(hide_password=False))
    assert after == before


def test_metrics_and_specifications_are_not_the_content_of_a_job(
    quiet_client: TestClient, stored: dict[str, Any]
) -> None:
    # Definitions travel with a job but are not its results: a resend whose metric
    # description was edited in between is still the stored job.
    first = job(identifier="with-definitions")
    edited = dict(first, metrics=[{"name": "demo.PA1", "unit": "mmag", "description": "New."}])
    headers = stored["headers"]
    assert _post_job(quiet_client, "api", first, headers).status_code == 201
    assert _post_job(quiet_client, "api", edited, headers).status_code == 200


def test_a_later_resend_of_the_same_results_is_a_retry(
    quiet_client: TestClient, stored: dict[str, Any]
) -> None:
    # `vigil dispatch` stamps meta.env.date with the time it sends: a CI step that runs
    # again sends the same results with a later date, and gets the stored job.
    env = {"env_name": "local", "date": "2026-12-01T10:00:00+00:00"}
    first = job(identifier="retried-step", meta={"env": env})
    later = job(
        identifier="retried-step", meta={"env": {**env, "date": "2026-12-01T10:05:00+00:00"}}
    )
    headers = stored["headers"]
    assert _post_job(quiet_client, "api", first, headers).status_code == 201
    assert _post_job(quiet_client, "api", later, headers).status_code == 200


def test_a_job_stored_before_content_hashes_is_taken_as_the_same(
    quiet_client: TestClient, settings: Settings, stored: dict[str, Any]
) -> None:
    # Jobs stored before migration 0008 have no hash: a resend of one answers 200, as
    # before, whatever it carries.
    engine = create_engine(settings.effective_database_url.render_as_string(hide_password=False))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE jobs SET content_hash = NULL"))
    finally:
        engine.dispose()
    response = _post_job(
        quiet_client, "api", measured(value=99.0) | {"identifier": "stored-job"}, stored["headers"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == stored["job_id"]


def test_two_bodies_racing_for_one_identifier_store_one_and_refuse_the_other(
    live_server: VigilServer, token: str
) -> None:
    # Pairs of different bodies under one identifier, each pair sent at the same instant
    # (half through the native API, half through the SQuaSH surface): one of each pair
    # is stored, the other gets 409, whichever checked the identifier first.
    headers = {"Authorization": f"Bearer {token}", **JSON_TYPE}
    pairs = 12
    answers: dict[tuple[int, float], httpx.Response] = {}
    barriers = [threading.Barrier(2) for _ in range(pairs)]

    def send(index: int, value: float) -> None:
        path = "/api/jobs" if index % 2 else "/job"
        document = measured(value=value) | {"identifier": f"race-{index}"}
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            barriers[index].wait()
            answers[index, value] = http.post(path, content=body(document), headers=headers)

    threads = [
        threading.Thread(target=send, args=(index, value))
        for index in range(pairs)
        for value in (1.0, 2.0)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    engine = create_engine(live_server.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT j.identifier, m.value FROM jobs j JOIN measurements m"
                    " ON m.job_id = j.id WHERE j.identifier LIKE 'race-%'"
                )
            ).all()
    finally:
        engine.dispose()
    stored_values = {identifier: value for identifier, value in rows}
    assert len(rows) == pairs and len(stored_values) == pairs
    for index in range(pairs):
        created = 201 if index % 2 else 202
        statuses = {value: answers[index, value].status_code for value in (1.0, 2.0)}
        assert sorted(statuses.values()) == sorted([created, 409]), (index, statuses)
        kept = next(value for value, status in statuses.items() if status == created)
        assert stored_values[f"race-{index}"] == kept
        loser = answers[index, 3.0 - kept]
        assert named_field(loser) == "identifier", loser.text


def test_a_race_lost_after_the_identifier_check_is_still_judged_by_content(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both requests found the identifier free and raced to insert it; the loser's insert
    # fails on the unique identifier, and only then is the stored content compared.
    service = factory.create_job_service()
    service.ingest(job(identifier="raced"), None)
    real = JobStore.content_hashes
    calls: list[list[str]] = []

    def free_the_first_time(store: JobStore, identifiers: Sequence[str]) -> dict[str, str | None]:
        calls.append(list(identifiers))
        return {} if len(calls) == 1 else real(store, identifiers)

    monkeypatch.setattr(JobStore, "content_hashes", free_the_first_time)
    with pytest.raises(ConflictError) as refused:
        service.ingest(measured(value=99.0) | {"identifier": "raced"}, None)
    assert refused.value.field == "identifier"
    calls.clear()
    again = service.ingest(job(identifier="raced"), None)
    assert again.created is False and calls == [["raced"]]


# The gate answers anyone: its body and its work are bounded (10.6 MB took 65 s of CPU).


def _gate_job(measurements: int, padding: int = 0) -> dict[str, Any]:
    return {
        "job": job(
            measurements=[
                {"metric": "demo.PA1", "value": 1.0, "unit": "mmag", "data_id": {"tract": t}}
                for t in range(measurements)
            ],
            meta={"env": {"env_name": "local", "ci_dataset": "demo_data"}, "pad": "p" * padding},
        )
    }


def test_an_anonymous_gate_body_over_the_default_limit_is_refused(
    quiet_client: TestClient, stored: dict[str, Any]
) -> None:
    content = body(_gate_job(1, padding=10_600_000))
    refused = quiet_client.post("/api/gate", content=content, headers=JSON_TYPE)
    assert refused.status_code == 413, refused.text[:300]
    assert named_field(refused) == "body"
    assert "VIGIL_GATE_MAX_BYTES" in refused.text
    # With a token the limit is larger: the same body is judged.
    judged = quiet_client.post(
        "/api/gate", content=content, headers={**JSON_TYPE, **stored["headers"]}
    )
    assert judged.status_code == 200, judged.text[:300]


def test_the_gate_bounds_its_body_and_its_work_by_caller(
    make_app: Callable[..., FastAPI], factory: Factory, stored: dict[str, Any]
) -> None:
    limits = {
        "gate_max_bytes": 20_000,
        "gate_max_bytes_authenticated": 60_000,
        "gate_max_series": 3,
        "gate_max_series_authenticated": 5,
    }
    token = stored["headers"]
    four = factory.create_job_service().ingest(_gate_job(4)["job"] | {"identifier": "four"}, None)

    def chunks(content: bytes) -> Any:  # a body without Content-Length, counted as it comes
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    with TestClient(make_app(**QUIET, **limits)) as client:
        cases = [
            # (what, body, headers, status, field, setting)
            ("anonymous-body", body(_gate_job(1, 30_000)), {}, 413, "body",
             "VIGIL_GATE_MAX_BYTES"),
            ("anonymous-body-streamed", chunks(body(_gate_job(1, 30_000))), {}, 413, "body",
             "VIGIL_GATE_MAX_BYTES"),
            ("token-body", body(_gate_job(1, 30_000)), token, 200, None, None),
            ("token-body-over", body(_gate_job(1, 70_000)), token, 413, "body",
             "VIGIL_GATE_MAX_BYTES_AUTHENTICATED"),
            ("anonymous-series", body(_gate_job(4)), {}, 413, "job.measurements",
             "VIGIL_GATE_MAX_SERIES"),
            ("anonymous-stored-series", body({"job_id": four.id}), {}, 413, "job_id",
             "VIGIL_GATE_MAX_SERIES"),
            ("token-series", body(_gate_job(4)), token, 200, None, None),
            ("token-stored-series", body({"job_id": four.id}), token, 200, None, None),
            ("token-series-over", body(_gate_job(6)), token, 413, "job.measurements",
             "VIGIL_GATE_MAX_SERIES_AUTHENTICATED"),
            ("anonymous-within", body(_gate_job(3)), {}, 200, None, None),
        ]  # fmt: skip
        failures = []
        for what, content, headers, status, field_name, setting in cases:
            response = client.post("/api/gate", content=content, headers={**JSON_TYPE, **headers})
            if response.status_code != status:
                failures.append(f"{what}: {response.status_code}, not {status}: {response.text}")
            elif field_name is not None and named_field(response) != field_name:
                failures.append(f"{what}: names {named_field(response)!r}: {response.text}")
            elif setting is not None and f"({setting})" not in response.text:
                failures.append(f"{what}: does not name {setting}: {response.text}")
    assert failures == [], "\n".join(failures)
