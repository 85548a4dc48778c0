"""Security: who may write, how tokens are kept, what is served how, and the limits.

- writes without a valid token are refused (every write operation the application has);
- tokens are stored hashed and can be revoked; there are no default accounts or secrets;
- an uploaded SVG or HTML artifact is never served inline (no stored XSS);
- artifact paths cannot leave the artifact store (`tests.reliability._paths`);
- every HTML form posting to the server checks a CSRF token;
- the server's SQL is built with bound parameters only; the query engine's DuckDB SQL
  (`vigil.compute`, `vigil.explorer`) interpolates only what `vigil.compute.sql` checked
  or quoted (`tests.reliability._sql_source`), and hostile names are refused or quoted
  (``test_hostile_names.py``);
- request size limits are set and enforced;
- every HTML page is sent with a strict Content-Security-Policy (no inline script; eval
  only on pages that embed Bokeh), ``X-Frame-Options: DENY`` and ``nosniff``, and has no
  inline script for that policy to break; every other response with ``nosniff``;
- a ``Host`` header the server does not trust is refused, so no URL in a response
  names a host the client made up.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from server.conftest import login
from vigil.cli import app as cli_app
from vigil.server.config import Settings
from vigil.server.domain import TokenKey
from vigil.server.factory import Factory
from vigil.server.main import create_app

from ._paths import SECRET, assert_confined, plant_secret, raw_get
from ._sql_source import unchecked_interpolations
from ._support import artifact_files, snapshot

SRC = Path(__file__).resolve().parents[2] / "src" / "vigil"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
JOB = {
    "identifier": "security-job",
    "measurements": [{"metric": "demo.PA1", "value": 12.5, "unit": "mmag"}],
    "meta": {"env": {"env_name": "local"}},
}


def _url(settings: Settings) -> str:
    return settings.effective_database_url.render_as_string(hide_password=False)


@pytest.fixture
def job_id(factory: Factory, token: str) -> int:
    """A stored job of the user ``tester``."""
    user = factory.create_auth_service().authenticate(token)
    return factory.create_job_service().ingest(dict(JOB, identifier="stored"), user).id


# Writes need a valid token. ---------------------------------------------------------------


def _write_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) of the application's OpenAPI that is not a read.

    HTML forms are outside the OpenAPI: the CSRF test below finds them by crawling and
    checks that their posts are refused without a session.
    """
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
                yield method.upper(), path


def _request(method: str, path: str, job_id: int) -> dict[str, Any]:
    """A request that would be accepted with a token: a real job, a real file."""
    filled = re.sub(r"\{job_id\}", str(job_id), path)
    filled = re.sub(r"\{[^}]+\}", "1", filled)
    if path.endswith("/artifacts"):
        return {"method": method, "url": filled, "files": {"files": ("a.png", PNG, "image/png")}}
    if path in ("/api/jobs", "/job"):
        return {"method": method, "url": filled, "json": dict(JOB, identifier=f"new{path}")}
    return {"method": method, "url": filled, "json": {}, "data": None}


# Posts that anyone may send, with the reason: they store nothing.
PUBLIC_POSTS = {
    "/auth": "SQuaSH's log-in: exchanges a user name and an API token for an access token",
    "/api/gate": "the gate's verdict on a job (vigil check); stores nothing",
}

CREDENTIALS = {
    "none": None,
    "not-a-vigil-token": "Bearer nonsense",
    "unknown-token": "Bearer vgl_999999_" + "A" * 43,
    "wrong-secret": None,  # the user's token id with another secret (filled in below)
    "revoked": None,  # a token of the user, revoked (filled in below)
    "expired": None,  # a token of the user past its expiry (filled in below)
    "basic-scheme": "Basic dGVzdGVyOnRlc3Rlcg==",
}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_writes_without_a_valid_token_are_refused(
    credential: str,
    quiet_app: FastAPI,
    quiet_client: TestClient,
    factory: Factory,
    settings: Settings,
    token: str,
    job_id: int,
) -> None:
    header = CREDENTIALS[credential]
    if credential == "wrong-secret":
        key = TokenKey.parse(token)
        assert key is not None
        header = f"Bearer vgl_{key.id}_{'B' * 43}"
    elif credential == "revoked":
        revoked = factory.create_user_service().create_token("tester", "old").text
        factory.create_user_service().revoke_token(revoked)
        header = f"Bearer {revoked}"
    elif credential == "expired":
        long_ago = datetime.now(UTC) - timedelta(days=40)
        expired = factory.create_user_service().create_token(
            "tester", "old", expires_in=timedelta(days=30), now=long_ago
        )
        header = f"Bearer {expired.text}"
    headers = {"Authorization": header} if header else {}
    routes = list(_write_routes(quiet_app))
    assert ("POST", "/api/jobs") in routes and ("POST", "/job") in routes
    before, files = snapshot(_url(settings)), artifact_files(Path(settings.effective_artifact_url))
    for method, path in routes:
        response = quiet_client.request(**_request(method, path, job_id), headers=headers)
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        if (path.startswith("/api/") or path == "/job") and path not in PUBLIC_POSTS:
            assert response.status_code == 401, (method, path, response.text[:300])
    assert snapshot(_url(settings)) == before
    assert artifact_files(Path(settings.effective_artifact_url)) == files


def test_the_same_writes_succeed_with_the_token(
    client: TestClient, auth_headers: dict[str, str], job_id: int
) -> None:
    # The refusals above are about the token, not about the requests.
    writes = [("POST", "/api/jobs"), ("POST", "/job"), ("POST", "/api/jobs/{job_id}/artifacts")]
    for method, path in writes:
        response = client.request(**_request(method, path, job_id), headers=auth_headers)
        assert response.status_code in (201, 202), (path, response.text[:300])


# Tokens: hashed, revocable; no default accounts or secrets. -------------------------------


def _all_stored_text(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            return "\n".join(
                repr(connection.execute(text(f'SELECT * FROM "{t}"')).all()) for t in tables
            )
    finally:
        engine.dispose()


def test_tokens_are_stored_as_hashes_only(factory: Factory, settings: Settings) -> None:
    users = factory.create_user_service()
    users.create_user("ada")
    new = users.create_token("ada", "ci")
    key = TokenKey.parse(new.text)
    assert key is not None
    stored = _all_stored_text(_url(settings))
    assert key.secret not in stored and new.text not in stored
    assert hashlib.sha256(key.secret.encode()).hexdigest() in stored
    database = settings.effective_database_url.database or ""
    if settings.effective_database_url.get_backend_name() == "sqlite":
        for path in Path(database).parent.glob(Path(database).name + "*"):  # and -wal, -shm
            assert key.secret.encode() not in path.read_bytes()
    assert all(key.secret not in t.name for t in users.list_tokens("ada"))


def test_a_revoked_token_is_refused_at_once(client: TestClient, db_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    runner = CliRunner()
    revoked = runner.invoke(cli_app, ["token", "revoke", token, "--database-url", db_url])
    assert revoked.exit_code == 0, revoked.output
    refused = client.get("/api/me", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]["message"]
    job = client.post("/api/jobs", json=JOB, headers=headers)
    assert job.status_code == 401


def test_a_new_server_has_no_account_and_no_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    upgraded = CliRunner().invoke(cli_app, ["db", "upgrade", "--database-url", url])
    assert upgraded.exit_code == 0, upgraded.output
    settings = Settings(data_dir=tmp_path, database_url=url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/").status_code == 200
        assert client.post("/api/jobs", json=JOB).status_code == 401
    with Factory.standalone(settings) as factory:
        assert factory.create_user_service().list_users() == []
        assert factory.create_user_service().list_tokens(include_revoked=True) == []


# Literals that look like credentials, and where they may appear with a reason.
_SECRET_NAME = re.compile(
    r"""(?ix)\b(?P<name>[\w.]*(password|passwd|secret|api_?key|token|private_?key|credential)\w*)
        \s*(?::\s*[\w\[\]| .]+)?\s*=\s*(?P<q>["'])(?P<value>[^"'\n]{3,})(?P=q)"""
)
# Names that hold a label, a place or a kind, never the secret itself.
_NOT_A_SECRET = re.compile(r"(?i)_(name|names|file|path|url|id|type|label|prefix|header|cookie)$")
_KNOWN_BAD = re.compile(
    r"changeme|change_me|letmein|hunter2|admin:admin|password123|s3cr3t|supersecret"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|vgl_\d+_[A-Za-z0-9_-]{20,}",
    re.IGNORECASE,
)
# A literal may stay when its line silences ruff's S105-S107 and gives the reason in brackets.
_JUSTIFIED = re.compile(r"#\s*noqa:\s*S10[5-7]\b.*\(\s*\S+")


def _credential_literal(line: str) -> bool:
    found = _SECRET_NAME.search(line)
    if found is None or _JUSTIFIED.search(line) or _NOT_A_SECRET.search(found["name"]):
        return False
    return any(ch.isalnum() for ch in found["value"])  # not a placeholder such as "..."


def test_no_default_secret_or_account_in_the_package() -> None:
    problems = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in {".py", ".html", ".js", ".json", ".yaml", ".yml", ".ini", ".toml"}:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            where = f"{path.relative_to(SRC)}:{number}: {line.strip()[:120]}"
            if _KNOWN_BAD.search(line):
                problems.append(where)
            if path.suffix == ".py" and _credential_literal(line):
                problems.append(where)
    assert problems == [], "credential-like literals:\n" + "\n".join(problems)
    # Settings: every secret is a SecretStr without a default.
    from pydantic import SecretStr

    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation) or field.annotation is SecretStr:
            assert field.default is None, f"VIGIL_{name.upper()} has a default"
        if re.search(r"password|secret|token|key", name) and isinstance(field.default, str):
            pytest.fail(f"VIGIL_{name.upper()} has a default value: {field.default!r}")


# Artifacts: never served inline unless a raster image; never outside the store. -----------


@pytest.mark.parametrize(
    ("name", "content", "declared"),
    [
        ("plot.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
         "image/svg+xml"),
        ("report.html", b"<html><script>alert(document.cookie)</script></html>", "text/html"),
        ("report.htm", b"<script>alert(1)</script>", "text/html"),
        ("page.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>x</script></html>',
         "application/xhtml+xml"),
        ("data.xml", b"<?xml version='1.0'?><x:script xmlns:x='http://www.w3.org/1999/xhtml'/>",
         "text/xml"),
        ("code.js", b"alert(1)", "text/javascript"),
        ("fake.png", b"<html><script>alert(1)</script></html>", "image/png"),
        ("svg-as.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/png"),
        ("notes.txt", b"<script>alert(1)</script>", "text/html"),
        ("no-extension", b"<html><script>alert(1)</script></html>", "text/html"),
    ],
)  # fmt: skip
def test_an_uploaded_svg_or_html_artifact_is_never_served_inline(
    name: str,
    content: bytes,
    declared: str,
    client: TestClient,
    auth_headers: dict[str, str],
    job_id: int,
) -> None:
    uploaded = client.post(
        f"/api/jobs/{job_id}/artifacts",
        files={"files": (name, content, declared)},
        headers=auth_headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()[0]["inline"] is False
    served = client.get(f"/api/jobs/{job_id}/artifacts/{name}")
    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]


def test_a_real_image_is_inline_and_still_sandboxed(
    client: TestClient, auth_headers: dict[str, str], job_id: int
) -> None:
    files = {"files": ("residuals.png", PNG, "application/octet-stream")}
    client.post(f"/api/jobs/{job_id}/artifacts", files=files, headers=auth_headers)
    served = client.get(f"/api/jobs/{job_id}/artifacts/residuals.png")
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"].startswith("inline")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]


def test_artifact_paths_cannot_escape_the_artifact_store(
    app: FastAPI,
    client: TestClient,
    auth_headers: dict[str, str],
    settings: Settings,
    job_id: int,
    tmp_path: Path,
) -> None:
    store = Path(settings.effective_artifact_url)
    files = {"files": ("a.txt", b"inside", "text/plain")}
    first = client.post(f"/api/jobs/{job_id}/artifacts", files=files, headers=auth_headers)
    assert first.status_code == 201
    plant_secret(store, store.parent, tmp_path, *store.glob("*"))
    outside = {p for p in tmp_path.rglob("*") if p.is_file() and store not in p.parents}
    assert_confined(lambda path: raw_get(app, f"/api/jobs/{job_id}/artifacts/{path}"))
    # Whatever the name, content goes under the store, by hash.
    for name in ("x/y/z.txt", "..data", "a..b.txt"):
        upload = {"files": (name, SECRET + name.encode(), "text/plain")}
        response = client.post(f"/api/jobs/{job_id}/artifacts", files=upload, headers=auth_headers)
        assert response.status_code == 201, response.text
    now = {p for p in tmp_path.rglob("*") if p.is_file() and store not in p.parents}
    assert {p for p in now - outside if not p.name.startswith("vigil.sqlite3")} == set()


# CSRF: every HTML form that posts carries a token the server checks. ----------------------


class _Forms(HTMLParser):
    """Links and ``<form method="post">`` elements (with their fields) of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", "")}
            self._form["fields"] = {}
            if self._form["method"] == "post":
                self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and self._form is not None:
            if a.get("name"):
                self._form["fields"].setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _shape(path: str) -> str:
    """What pages of one kind share: ``/jobs/12`` and ``/jobs/13`` are both ``/jobs/*``."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    return "/" + "/".join(parts[:1] + ["*"] * len(parts[1:]))


def _crawl(
    client: TestClient,
    start: str = "/",
    per_shape: int = 2,
    visited: list[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Pages reachable from *start*, a few of each kind; the post forms found, by action.

    The paths of the HTML pages crawled are appended to *visited*.
    """
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    forms: dict[str, Any] = {}
    queue, pages = [start], 0
    while queue and pages < 200:
        url = queue.pop(0)
        if url in seen or shapes.get(_shape(url), 0) >= per_shape:
            continue
        seen.add(url)
        shapes[_shape(url)] = shapes.get(_shape(url), 0) + 1
        response = client.get(url, headers={"Accept": "text/html"})
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        pages += 1
        if visited is not None:
            visited.append(url)
        parser = _Forms()
        parser.feed(response.text)
        for form in parser.forms:
            action = urlsplit(urljoin(url, form["action"] or url)).path
            forms.setdefault(_shape(action), {**form, "page": url, "action": action})
        for link in parser.links:
            parts = urlsplit(urljoin(url, link))
            if parts.netloc in ("", "testserver") and parts.path.startswith("/"):
                if not parts.path.startswith(("/api/", "/static/")):
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return pages, forms


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    """A demo database: a short seeded CI history, its regressions detected."""
    from vigil.demo.history import DemoHistory
    from vigil.demo.loader import demo_settings as make
    from vigil.demo.loader import load_history, prepare_database

    settings = make(tmp_path / "demo")
    prepare_database(settings)
    load_history(settings, DemoHistory(days=30))
    with Factory.standalone(settings) as factory:
        worker = getattr(factory, "create_worker_service", None)
        for _ in range(20):
            if worker is None or worker().run_once().idle:
                break
    return settings


def test_every_html_form_is_protected_against_cross_site_request_forgery(
    demo_settings: Settings,
) -> None:
    app = create_app(demo_settings.model_copy(update={"background_worker": False}))
    with Factory.standalone(demo_settings) as factory:
        users = factory.create_user_service()
        users.create_user("reviewer", is_admin=True)
        token = users.create_token("reviewer").text
    found: dict[str, Any] = {}
    with TestClient(app) as anonymous:
        pages, forms = _crawl(anonymous)
        found.update(forms)
    with TestClient(app) as logged_in:
        login(logged_in, token)
        more_pages, forms = _crawl(logged_in)
        found.update(forms)
    assert pages >= 1 and more_pages >= 1, "the crawl found no HTML page"
    print(f"{pages + more_pages} pages, forms posting to: {sorted(found)}")
    url = _url(demo_settings)
    for form in found.values():
        action = form["action"]
        token_fields = [name for name in form["fields"] if "csrf" in name.lower()]
        assert token_fields, f"the form of {form['page']} posting to {action} has no CSRF token"
        with TestClient(app) as browser:
            login(browser, token)
            browser.get(form["page"], headers={"Accept": "text/html"})  # sets the CSRF cookie
            cookie_token = next(
                (v for k, v in browser.cookies.items() if "csrf" in k.lower()), None
            )
            fields = {**form["fields"], "token": token}
            if cookie_token:
                fields[token_fields[0]] = cookie_token
            for forged in ({k: v for k, v in fields.items() if k not in token_fields},
                           {**fields, token_fields[0]: "forged-" + "x" * 40}):  # fmt: skip
                before = snapshot(url)
                refused = browser.post(action, data=forged, follow_redirects=False)
                assert refused.status_code == 403, (action, refused.status_code)
                assert snapshot(url) == before, f"a forged post to {action} changed the database"
            accepted = browser.post(action, data=fields, follow_redirects=False)
            assert accepted.status_code != 403, (action, accepted.text[:300])
        if action != "/login":  # the log-in form carries its credential, the token
            with TestClient(app) as stranger:
                stranger.get(form["page"], headers={"Accept": "text/html"})
                cookie_token = next(
                    (v for k, v in stranger.cookies.items() if "csrf" in k.lower()), ""
                )
                fields = {**form["fields"], token_fields[0]: cookie_token}
                before = snapshot(url)
                anonymous = stranger.post(action, data=fields, follow_redirects=False)
                assert anonymous.status_code < 500, (action, anonymous.status_code)
                assert snapshot(url) == before, f"an anonymous post to {action} changed data"


# SQL: bound parameters only. --------------------------------------------------------------

_SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|WHERE|PRAGMA|CREATE|DROP|ALTER|TRUNCATE)\b"
)
# Formatted SQL that binds nothing from a request, with the reason.
_FORMATTED_SQL_ALLOWED = {
    ("server/database.py", "PRAGMA busy_timeout="): "an int of the settings, at connect",
}


def _formatted_literal(node: ast.AST) -> object:
    """The constant text that ``+``, ``%`` or ``.format`` fills in, or None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return node.left.value if isinstance(node.left, ast.Constant) else ""
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "format":
        value = getattr(node.func, "value", None)
        return value.value if isinstance(value, ast.Constant) else ""
    return None


def test_the_server_builds_sql_with_bound_parameters_only() -> None:
    problems = []
    for path in sorted((SRC / "server").rglob("*.py")):
        relative = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                literal: object = "".join(
                    str(v.value) for v in node.values if isinstance(v, ast.Constant)
                )  # fmt: skip
            else:
                literal = _formatted_literal(node)
            if not isinstance(literal, str) or not _SQL_WORDS.search(literal):
                continue
            source = ast.unparse(node)
            if any(f == relative and s in source for f, s in _FORMATTED_SQL_ALLOWED):
                continue
            problems.append(f"{relative}:{getattr(node, 'lineno', 0)}: {source[:120]}")
    assert problems == [], "SQL built by formatting:\n" + "\n".join(problems)


# Interpolations into DuckDB SQL that are safe for a reason the source cannot show.
_DUCKDB_ALLOWED = {
    ("compute/aggregators.py", "self.q / 100.0"): "a percentile read as digits from its name",
    ("compute/quantities.py", "self._scale"): "a float constant of the class",
    ("compute/selectors.py", "self._operator"): "'>=' or '<', chosen by a class flag",
    ("compute/engine.py", "query"): "write_query's SQL: a plan's, rendered by checked code",
}


def test_the_query_engine_puts_only_checked_text_into_duckdb_sql() -> None:
    problems = []
    paths = sorted([*(SRC / "compute").rglob("*.py"), *(SRC / "explorer").rglob("*.py")])
    for path in paths:
        relative = str(path.relative_to(SRC))
        source = path.read_text()
        for line, expression in unchecked_interpolations(source):
            if (relative, expression) not in _DUCKDB_ALLOWED:
                problems.append(f"{relative}:{line}: {expression}")
        for node in ast.walk(ast.parse(source)):
            # SQL is composed with f-strings and the quoting functions, never + % format.
            literal = _formatted_literal(node)
            if isinstance(literal, str) and _SQL_WORDS.search(literal):
                line = getattr(node, "lineno", 0)
                problems.append(f"{relative}:{line}: {ast.unparse(node)[:120]}")
    assert problems == [], (
        "Text put into DuckDB SQL without vigil.compute.sql (quote_identifier,"
        " string_literal, file_list) or a ? parameter:\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        (  # how the explorer's positions query once quoted its keys by hand
            "def positions(by, where):\n"
            "    keys = [k for k in by if k in KNOWN]\n"
            "    conditions = ['TRUE']\n"
            "    for key, value in where.items():\n"
            "        conditions.append(f'\"{key}\" = ?')\n"
            "    columns = ', '.join(f'\"{k}\"' for k in keys)\n"
            "    return f\"SELECT {columns} FROM t WHERE {' AND '.join(conditions)}\"\n",
            ["k", "key"],
        ),
        (
            "def visits(con, band):\n"
            "    return con.execute(f\"SELECT * FROM t WHERE band = '{band}'\")\n",
            ["band"],
        ),
        (
            "class Plan:\n"
            "    def sql(self):\n"
            '        return f"SELECT * FROM read_parquet({self.files!r})"\n',
            ["self.files"],
        ),
        (
            "def sql(self, col):\n"
            "    name = col(self.column)\n"
            '    return f"SELECT {name} FROM t WHERE band = {sql_string(self.band)}"\n',
            [],
        ),
    ],
    ids=["hand-quoted-names", "parameter-in-a-literal", "repr-of-paths", "checked"],
)
def test_the_duckdb_sql_check_catches_unchecked_text(source: str, caught: list[str]) -> None:
    assert sorted(expression for _, expression in unchecked_interpolations(source)) == caught


@pytest.mark.parametrize(
    "path",
    [
        "/api/metrics/x'%20OR%20'1'='1",
        "/api/jobs?branch=main'%20OR%201=1%20--",
        "/api/jobs?dataset=%22;%20DROP%20TABLE%20jobs;%20--",
        "/api/series?metric=x'%20UNION%20SELECT%20key_hash%20FROM%20tokens%20--",
        "/api/series?data_id=%7B%22band'%20OR%201=1%20--%22:%20%22i%22%7D",
        "/metric/x'%20OR%20'1'='1",
        "/specs?metric=x'%20OR%201=1%20--",
        "/jenkins/1'%20OR%20'1'='1",
    ],
)
def test_injection_attempts_find_nothing_and_change_nothing(
    path: str, quiet_client: TestClient, settings: Settings, job_id: int
) -> None:
    before = snapshot(_url(settings))
    response = quiet_client.get(path, headers={"Accept": "application/json"})
    assert response.status_code in (200, 404), response.text[:300]
    if response.status_code == 200:
        body = response.json()
        items = body.get("items", body.get("specs", []))
        assert items == [], body
    assert "key_hash" not in response.text
    assert snapshot(_url(settings)) == before


# Size limits. ------------------------------------------------------------------------------


def test_request_size_limits_are_set_by_default() -> None:
    defaults = Settings()
    for name in ("max_request_bytes", "max_blob_bytes", "max_artifact_bytes", "page_size_max"):
        value = getattr(defaults, name)
        assert isinstance(value, int) and 0 < value <= 1024**3, name
    assert defaults.max_blob_bytes < defaults.max_request_bytes


def test_a_body_over_the_limit_is_refused_declared_or_streamed(
    make_app: Callable[..., FastAPI], settings: Settings, auth_headers: dict[str, str]
) -> None:
    big = json.dumps(dict(JOB, meta={"notes": "n" * 50_000})).encode()
    headers = {**auth_headers, "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    before = snapshot(_url(settings))
    with TestClient(make_app(max_request_bytes=20_000, background_worker=False)) as client:
        declared = client.post("/api/jobs", content=big, headers=headers)
        streamed = client.post("/api/jobs", content=chunks(), headers=headers)
        artifact = client.post(
            "/api/jobs/1/artifacts",
            files={"files": ("big.bin", io.BytesIO(b"z" * 40_000), "application/octet-stream")},
            headers=auth_headers,
        )
    for response in (declared, streamed, artifact):
        assert response.status_code == 413, response.text[:200]
        assert response.json()["detail"]["code"] == "payload_too_large"
    assert snapshot(_url(settings)) == before


# Headers: a strict Content-Security-Policy on every page, nosniff on everything. ----------

# Pages the crawl from "/" may not reach (forms, the monitor, errors, the API's docs).
_PAGES = [
    "/",
    "/metrics",
    "/jobs",
    "/compare",
    "/regressions",
    "/login",
    "/monitor",
    "/monitor/processings",
    "/monitor/exposures",
    "/monitor/trends",
    "/monitor/logs",
    "/explore",
    "/jobs/999999",
    "/metrics/no.such.metric",
    "/api/docs",
]


def _policy(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0].lower(): d[1:] for d in directives}


class _Scripts(HTMLParser):
    """The script elements and the event-handler attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str]] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts.append(a)
        self.handlers += [f"<{tag} {k}>" for k in a if k.startswith("on")]


def test_every_html_page_sends_a_strict_content_security_policy(
    demo_settings: Settings,
) -> None:
    app = create_app(demo_settings.model_copy(update={"background_worker": False}))
    visited: list[str] = []
    with TestClient(app) as client:
        _crawl(client, visited=visited)
        job = client.get("/jobs?format=json").json()["jobs"][0]["id"]
        extra = [f"/jobs/{job}", f"/compare?a={job}&b={job}"]
        checked = 0
        for path in dict.fromkeys([*_PAGES, *extra, *visited]):
            response = client.get(path, headers={"Accept": "text/html"})
            assert response.headers["content-type"].startswith("text/html"), path
            checked += 1
            policy = _policy(response.headers["content-security-policy"])
            assert policy["default-src"] == ["'none'"], path
            assert policy["object-src"] == ["'none'"], path
            assert policy["base-uri"] == ["'none'"], path
            assert policy["frame-ancestors"] == ["'none'"], path
            assert policy["form-action"] == ["'self'"], path
            script_src = policy["script-src"]
            assert "'unsafe-inline'" not in script_src and "*" not in script_src, path
            assert all(s in ("'self'", "'unsafe-eval'") or s.startswith("'sha256-")
                       for s in script_src), (path, script_src)  # fmt: skip
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] in ("same-origin", "no-referrer"), path
            parser = _Scripts()
            parser.feed(response.text)
            assert parser.handlers == [], (path, parser.handlers)
            bokeh = False
            for script in parser.scripts:
                src = script.get("src", "")
                if src:
                    assert src.startswith("/") and not src.startswith("//"), (path, src)
                    bokeh = bokeh or src.startswith("/static/bokeh/")
                else:
                    # Data for scripts only; the one inline script of /api/docs is
                    # allowed by its hash.
                    assert script.get("type") == "application/json" or path == "/api/docs", (
                        path,
                        script,
                    )
            # eval only where BokehJS needs it for its callbacks.
            assert ("'unsafe-eval'" in script_src) == bokeh, (path, script_src)
    assert checked >= 25 and any("/metrics/" in p for p in visited)


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/jobs",
        "/api/openapi.json",
        "/api/jobs/999999",
        "/metrics?format=json",
        "/static/vigil.js",
        "/static/vigil.css",
        "/no/such/page",
    ],
)
def test_every_other_response_is_sent_with_nosniff(path: str, client: TestClient) -> None:
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff", path
    assert response.headers["referrer-policy"] == "same-origin", path


def test_refusals_by_the_middleware_are_sent_with_nosniff(
    make_app: Callable[..., FastAPI], auth_headers: dict[str, str]
) -> None:
    with TestClient(make_app(max_request_bytes=100, background_worker=False)) as client:
        too_big = client.post("/api/jobs", content=b"x" * 200, headers=auth_headers)
        bad_host = client.get("/api/jobs", headers={"Host": "evil.example.org"})
    assert too_big.status_code == 413 and bad_host.status_code == 400
    for response in (too_big, bad_host):
        assert response.headers["x-content-type-options"] == "nosniff"


# The Host header: trusted names only, so that URLs in responses are this server's. ---------

_URL_PATHS = ["/api/", "/api/jobs", "/api/jobs/{job_id}", "/api/series", "/jobs/{job_id}"]


def _urls(body: Any) -> list[str]:
    """Every string of a JSON body that is an absolute URL."""
    if isinstance(body, dict):
        return [u for v in body.values() for u in _urls(v)]
    if isinstance(body, list):
        return [u for v in body for u in _urls(v)]
    return [body] if isinstance(body, str) and "://" in body else []


@pytest.mark.parametrize(
    "host", ["evil.example.org", "evil.example.org:80", "localhost.evil.example.org", "a/b", ""]
)
def test_an_untrusted_host_header_is_refused_and_never_echoed(
    host: str, quiet_client: TestClient, job_id: int
) -> None:
    for path in _URL_PATHS:
        url = path.format(job_id=job_id)
        response = quiet_client.get(url, headers={"Host": host, "Accept": "application/json"})
        assert response.status_code == 400, (url, response.status_code)
        assert response.json()["detail"]["field"] == "Host"
        assert "evil" not in response.text
        assert "VIGIL_TRUSTED_HOSTS" in response.json()["detail"]["message"]


def test_urls_name_a_trusted_host_or_the_base_url(
    make_app: Callable[..., FastAPI], job_id: int
) -> None:
    with TestClient(make_app(background_worker=False)) as client:
        # The address the connection came in on (the test client's), and trusted names.
        for host, base in [
            (None, "http://testserver/"),
            ("localhost:8000", "http://localhost:8000/"),
            ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
            ("[::1]:8000", "http://[::1]:8000/"),
        ]:
            headers = {"Host": host} if host else {}
            urls = _urls(client.get(f"/api/jobs/{job_id}", headers=headers).json())
            assert urls and all(u.startswith(base) for u in urls), (host, urls)
    base_url = "https://vigil.example.org/prefix"
    with TestClient(make_app(background_worker=False, base_url=base_url)) as client:
        assert client.get("/api/jobs", headers={"Host": "evil.example.org"}).status_code == 400
        for host in ("vigil.example.org", "localhost", None):
            headers = {"Host": host} if host else {}
            urls = _urls(client.get(f"/api/jobs/{job_id}", headers=headers).json())
            assert urls and all(u.startswith(base_url + "/") for u in urls), (host, urls)
    hosts = ["vigil.example.org", "*.example.net"]
    with TestClient(make_app(background_worker=False, trusted_hosts=hosts)) as client:
        for host, status in [
            ("vigil.example.org", 200),
            ("a.example.net:8080", 200),
            ("example.net", 400),
            ("localhost", 400),
        ]:
            assert client.get("/api/jobs", headers={"Host": host}).status_code == status, host


def test_a_real_server_refuses_an_untrusted_host(live_server: Any) -> None:
    import httpx

    url = f"{live_server.url}/api/"
    trusted = httpx.get(url)
    assert trusted.status_code == 200
    assert all(u.startswith(live_server.url) for u in _urls(trusted.json()))
    refused = httpx.get(url, headers={"Host": "evil.example.org"})
    assert refused.status_code == 400
    assert "evil" not in refused.text
    assert httpx.get(url, headers={"Host": f"localhost:{live_server.port}"}).status_code == 200
