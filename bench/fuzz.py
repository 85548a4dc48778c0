"""Fuzzing the HTTP API with schemathesis: no 5xx, every response as its schema says.

Run: .venv/bin/python bench/fuzz.py [--examples 12] [--seed 0] [--show 5] [--quick]
     [--databases sqlite,postgresql]

The schema is read live from ``/api/openapi.json`` of the application (the native API
under ``/api``, the SQuaSH surface at the root, and whatever else the application
declares), so new endpoints are fuzzed as soon as they exist. The application runs in
this process (ASGI, no network) on a fresh database (SQLite, or PostgreSQL with
``--databases``) holding the real ``verify_job.json`` and an artifact, so reads find
something. Every operation is run in schemathesis' positive mode (valid inputs) and
negative mode (inputs that break the schema), *examples* cases each, with an API token,
and every response is checked:

- ``not_a_server_error``: no 5xx (an exception inside the application counts as one);
- ``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``: the status is one
  the operation declares and the body matches the declared schema.

Printed: operations, cases run, 5xx found, other nonconformances; then the distinct
failures, each with a curl command that reproduces it. Exit status 1 if any.

``--quick`` runs 3 cases per operation and mode and leaves out the positive cases of
event streams (each stays open about 30 s): a check, under the 1,000 cases of the figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Failure", "FuzzResult", "fuzz", "prepare_app"]

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "squash"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


REVOKES_THE_CREDENTIAL = {"DELETE /api/tokens/{token_id}"}
"""Operations that, given a small id, revoke the token the fuzzer sends: the cases after
would all be 401. `tests/server/test_tokens_and_sessions.py` covers them."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One distinct problem found: where, what, and how to reproduce it."""

    operation: str
    mode: str
    status: int
    kind: str  # "5xx" or "nonconformance"
    message: str
    curl: str


@dataclass(slots=True)
class FuzzResult:
    """What a fuzz run did."""

    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    nonconformances: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], Failure] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No 5xx and no response outside its schema."""
        return not self.failures


def prepare_app(settings: Any, verify_job: Path = CONFORMANCE / "verify_job.json") -> str:
    """Migrate *settings*' database, store a real job with an artifact; return a token.

    The job (``verify_job.json``, bare NaN included) gives the reads something to find:
    job 1, its blobs, metrics, specifications, series and ``plots/residuals.png``.
    """
    import io

    from vigil.server.database import create_database_engine
    from vigil.server.factory import Factory
    from vigil.server.migration import upgrade

    engine = create_database_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    with Factory.standalone(settings) as factory:
        users = factory.create_user_service()
        from vigil.server.domain import Role

        # Every role but admin's: the writes are fuzzed, and deleting is not one of them.
        user = users.create_user("fuzzer", roles=set(Role) - {Role.ADMIN})
        token = users.create_token("fuzzer").text
        from vigil.server.dependencies import parse_json

        stored = factory.create_job_service().ingest(parse_json(verify_job.read_bytes()), user)
        factory.create_artifact_service().upload(
            stored.id, "plots/residuals.png", io.BytesIO(PNG), "image/png"
        )
    return token


def fuzz(
    app: Any,
    token: str,
    *,
    examples: int,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    open_streams: bool = True,
    only: Callable[[str], bool] | None = None,
) -> FuzzResult:
    """Run every operation of *app*'s ``/api/openapi.json`` in both generation modes.

    Parameters
    ----------
    app
        The ASGI application.
    token
        An API token, sent with every case so that writes are exercised too.
    examples
        Cases per operation and mode (Hypothesis ``max_examples``).
    seed
        Hypothesis seed: the same seed generates the same cases.
    progress
        Called with one line per operation.
    open_streams
        Also run the positive cases of event streams (``text/event-stream``), each of
        which stays open until the stream ends (about 30 s); their negative cases always
        run.
    only
        Fuzz only the operations (``GET /api/jobs``) for which this is true.
    """
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    schema, streams = _load_schema(app)
    result = FuzzResult()
    headers = {"Authorization": f"Bearer {token}"}

    def record(label: str, mode: str, status: int, kind: str, message: str, curl: str) -> None:
        first = message.strip().splitlines()[0] if message.strip() else kind
        key = (label, kind, first)
        if key not in result.failures:
            result.failures[key] = Failure(label, mode, status, kind, message, curl)

    def check(case: Any, label: str, mode: str) -> None:
        result.cases += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the application raised: a 500 for the client
            result.server_errors += 1
            record(label, mode, 500, "5xx", repr(exc), case.as_curl_command())
            return
        result.statuses[response.status_code] += 1
        if response.status_code >= 500:
            result.server_errors += 1
        try:
            case.validate_response(response, checks=checks)
        except BaseExceptionGroup as group:
            kind = "5xx" if response.status_code >= 500 else "nonconformance"
            if kind == "nonconformance":
                result.nonconformances += 1
            curl = case.as_curl_command()
            for failure in group.exceptions:
                record(label, mode, response.status_code, kind, str(failure), curl)

    for found in schema.get_all_operations():
        operation = found.ok()
        if only is not None and not only(operation.label):
            continue
        result.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = operation.label
            if not open_streams and label in streams and mode == GenerationMode.POSITIVE:
                result.skipped.append(f"{label} ({mode.value})")
                continue
            if label in REVOKES_THE_CREDENTIAL:
                result.skipped.append(f"{label} ({mode.value}): would revoke the fuzzer's token")
                continue
            run = _case_test(operation, mode, examples, check)
            seeded = _seeded(run, seed)
            began = time.perf_counter()
            try:
                seeded()
            except Unsatisfiable:
                pass  # nothing to negate (no parameters), or no valid input to generate
            except Exception as exc:  # the schema itself cannot be fuzzed
                record(label, mode.value, 0, "nonconformance", f"cannot generate: {exc!r}", "")
                result.nonconformances += 1
            if progress is not None:
                progress(f"{label:55s} {mode.value:9s} {time.perf_counter() - began:5.1f} s")
    return result


def _case_test(
    operation: Any, mode: Any, examples: int, check: Callable[[Any, str, str], None]
) -> Callable[[], None]:
    """A Hypothesis test running *check* on the cases of one operation in one mode."""
    from hypothesis import HealthCheck, Phase, given, settings

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
    def run(case: Any) -> None:
        check(case, operation.label, mode.value)

    return run


def _load_schema(app: Any) -> tuple[Any, set[str]]:
    """The application's ``/api/openapi.json``, read over ASGI, ready for schemathesis.

    Also returns the operations (``GET /path``) that answer an event stream.

    Tuples are OpenAPI 3.1 ``prefixItems``, which this schemathesis turns into an
    ``items`` array that its own validator then refuses; each becomes ``items: {anyOf:
    [...]}``, which accepts the same values in any order (a weaker check, not a false
    alarm).
    """
    import schemathesis
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        raw = client.get("/api/openapi.json").raise_for_status().json()
    schema = schemathesis.openapi.from_dict(_without_prefix_items(raw))
    schema.app = app
    schema.location = "/api/openapi.json"
    streams = {
        f"{method.upper()} {path}"
        for path, methods in raw.get("paths", {}).items()
        for method, operation in methods.items()
        if isinstance(operation, dict)
        and any(
            "text/event-stream" in (response.get("content") or {})
            for response in (operation.get("responses") or {}).values()
        )
    }
    return schema, streams


def _without_prefix_items(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_prefix_items(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _without_prefix_items(value) for key, value in node.items()}
    if "prefixItems" in copy:
        copy["items"] = {"anyOf": copy.pop("prefixItems")}
    return copy


def _seeded(test: Callable[..., None], seed: int) -> Callable[..., None]:
    from hypothesis import seed as hypothesis_seed

    return hypothesis_seed(seed)(test)


def _fuzz_on(database_url: str | None, folder: Path, args: argparse.Namespace) -> FuzzResult:
    """Fuzz an application on *database_url* (None: SQLite in *folder*); print the run."""
    from vigil.server.config import Settings
    from vigil.server.main import create_app

    options: dict[str, Any] = {"data_dir": folder}
    if database_url is not None:
        options["database_url"] = database_url
    settings = Settings(**options)
    token = prepare_app(settings)
    began = time.perf_counter()
    result = fuzz(
        create_app(settings),
        token,
        examples=args.examples,
        seed=args.seed,
        progress=None if args.quiet else print,
        open_streams=not args.quick,
    )
    seconds = time.perf_counter() - began
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(result.statuses.items()))
    print(f"\n{result.operations} operations, {result.cases} cases in {seconds:.0f} s")
    print(f"statuses: {statuses}")
    for failure in list(result.failures.values())[: args.show]:
        print(f"\n--- {failure.kind} in {failure.operation} ({failure.mode}, {failure.status})")
        print(failure.message.strip()[:1500])
        if failure.curl:
            print(f"reproduce: {failure.curl}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Fuzz the application on each database and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--examples", type=int, default=None, help="cases per operation and mode (12; 3 quick)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=10, help="failures printed in full")
    parser.add_argument("--quiet", action="store_true", help="no line per operation")
    parser.add_argument("--quick", action="store_true", help="3 cases each, no open streams")
    parser.add_argument("--databases", default="sqlite", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args(argv)
    if args.examples is None:
        args.examples = 3 if args.quick else 12

    from _reliability import fresh_postgres

    results: dict[str, FuzzResult] = {}
    for name in args.databases.split(","):
        print(f"\n== {name}")
        with tempfile.TemporaryDirectory(prefix=f"vigil-fuzz-{name}-") as tmp:
            if name == "sqlite":
                results[name] = _fuzz_on(None, Path(tmp), args)
            elif name == "postgresql":
                with fresh_postgres("vigil_fuzz") as url:
                    results[name] = _fuzz_on(url, Path(tmp), args)
            else:
                parser.error(f"unknown database {name!r}")
    print("\nFigures")
    for name, result in results.items():
        print(
            f"  {name:10s} cases run: {result.cases}, 5xx found: {result.server_errors},"
            f" responses outside their schema: {result.nonconformances},"
            f" distinct failures: {len(result.failures)}"
        )
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
