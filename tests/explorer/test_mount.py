"""``/explore``: repositories under the configured roots, and nothing outside them."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.explorer.mount import (
    RepositoryNotFoundError,
    list_repositories,
    resolve_repository,
)
from vigil.server.config import Settings
from vigil.server.main import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reliability._paths import (
    ESCAPES,
    SECRET,
    RawResponse,
    assert_confined,
    plant_secret,
    raw_get,
)


def _repo(folder: Path, marker: str = "vigil-repo.yaml") -> Path:
    folder.mkdir(parents=True)
    if marker.endswith(".yaml"):
        (folder / marker).write_text("format: 1\n")
    else:
        (folder / marker).mkdir()
    return folder


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    """Two roots: ``one`` holds ``alpha`` and ``beta``, ``two`` holds ``gamma``; traps around."""
    one, two = tmp_path / "roots" / "one", tmp_path / "roots" / "two"
    _repo(one / "alpha")
    _repo(one / "beta", "objects")
    _repo(two / "gamma", "sources")
    (one / "not-a-repo").mkdir()
    outside = _repo(tmp_path / "outside")
    (outside / "secret.txt").write_bytes(SECRET)
    (one / "escape").symlink_to(outside, target_is_directory=True)
    (one / "alias").symlink_to(one / "alpha", target_is_directory=True)
    plant_secret(tmp_path / "roots", one)
    return [one, two]


@pytest.fixture
def app(roots: list[Path], tmp_path: Path) -> FastAPI:
    settings = Settings(data_dir=tmp_path / "data", explore_roots=roots)
    return create_app(settings, check_database=False)


def test_settings_read_roots_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIL_EXPLORE_ROOTS", f"{tmp_path}/a, {tmp_path}/b")
    assert Settings().explore_roots == [tmp_path / "a", tmp_path / "b"]


def test_list_finds_repositories_directly_under_the_roots(roots: list[Path]) -> None:
    names = [entry.name for entry in list_repositories(roots)]
    # No plain folder, no link leaving the root; a link to a sibling resolves to the
    # sibling's folder, whose parent is the root, so it is listed.
    assert names == ["alias", "alpha", "beta", "gamma"]


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
def test_resolve_repositories(roots: list[Path], name: str) -> None:
    found = resolve_repository(roots, name)
    assert found.name == name and found.parent in [r.resolve() for r in roots]


@pytest.mark.parametrize(
    "name",
    ["..", ".", "../outside", "escape", "not-a-repo", "missing", "/etc", "", "a/b", "alpha/.."],
)
def test_resolve_refuses_names_outside_or_absent(roots: list[Path], name: str) -> None:
    with pytest.raises(RepositoryNotFoundError) as error:
        resolve_repository(roots, name)
    assert "/explore" in error.value.message or "one folder name" in error.value.message


def test_index_lists_repositories(app: FastAPI) -> None:
    client = TestClient(app)
    page = client.get("/explore")
    assert page.status_code == 200
    for name in ("alpha", "beta", "gamma"):
        assert f"href='/explore/{name}'" in page.text
    assert "escape" not in page.text and "not-a-repo" not in page.text
    listing = client.get("/explore?format=json").json()
    assert [r["name"] for r in listing["repositories"]] == ["alias", "alpha", "beta", "gamma"]


def test_index_without_roots_says_what_to_set(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"), check_database=False)
    page = TestClient(app).get("/explore")
    assert page.status_code == 200 and "VIGIL_EXPLORE_ROOTS" in page.text


def test_unknown_repository_is_404_with_a_reason(app: FastAPI) -> None:
    client = TestClient(app)
    for name in ("missing", "escape", "not-a-repo"):
        page = client.get(f"/explore/{name}")
        assert page.status_code == 404, name
        assert "no data repository" in page.text
    body = client.get("/explore/escape?format=json").json()
    assert body["detail"]["code"] == "repository_not_found"


def _raw_get(app: FastAPI, path: str) -> RawResponse:
    """`raw_get` in its own thread: a browser test's event loop may run in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(raw_get, app, path).result()


def test_traversal_never_leaves_the_roots(app: FastAPI) -> None:
    assert_confined(lambda path: _raw_get(app, f"/explore/{path}"), ESCAPES)
    absolute = _raw_get(app, "/explore/" + os.fspath(Path("/etc")))
    assert absolute.status_code == 404
