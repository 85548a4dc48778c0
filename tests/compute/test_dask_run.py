"""``vigil compute`` on a Dask cluster: the same metric files as a run here, and a
scheduler that does not answer is one line naming --dask."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vigil.cli import app as cli_app
from vigil.compute import compute_repository
from vigil.compute.dask_cluster import DaskConnectionError, open_cluster
from vigil.demo.catalog import DemoCatalog

pytest.importorskip("distributed")


def _tables_only(catalog: DemoCatalog, target: Path) -> Path:
    shutil.copytree(catalog.root / "objects", target / "objects")
    shutil.copytree(catalog.root / "sources", target / "sources")
    return target


def _metric_tables(root: Path) -> dict[str, object]:
    return {
        str(path.relative_to(root)): pq.read_table(path)
        for path in sorted((root / "metrics").rglob("*.parquet"))
    }


def test_compute_on_a_cluster_writes_what_duckdb_writes(
    demo_catalog: DemoCatalog, tmp_path: Path
) -> None:
    here = _tables_only(demo_catalog, tmp_path / "here")
    there = _tables_only(demo_catalog, tmp_path / "there")
    expected = compute_repository(here)
    with open_cluster("local:2", processes=False) as cluster:
        assert cluster.workers == 2
        report = compute_repository(there, dask_client=cluster.client)
    assert [(m.name, m.files, m.rows) for m in report.computed] == [
        (m.name, m.files, m.rows) for m in expected.computed
    ]
    mine, theirs = _metric_tables(here), _metric_tables(there)
    assert len(mine) >= 30
    assert mine.keys() == theirs.keys()
    for name, table in mine.items():
        other = theirs[name]
        assert isinstance(table, type(other))
        assert table.equals(other), name  # type: ignore[attr-defined]
        assert table.schema.metadata == other.schema.metadata, name  # type: ignore[attr-defined]


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize("command", ["compute", "explore"])
def test_an_unreachable_scheduler_is_one_line_naming_dask(
    demo_catalog: DemoCatalog, command: str
) -> None:
    address = f"tcp://127.0.0.1:{_refused_port()}"
    extra = ["--no-show"] if command == "explore" else []
    result = CliRunner().invoke(
        cli_app, [command, str(demo_catalog.root), "--dask", address, *extra]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: --dask: no Dask scheduler answers at " + address)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("spec", ["", "local:x", "tcp://", "scheduler", "local:0"])
def test_a_dask_value_that_names_no_cluster(spec: str) -> None:
    with pytest.raises(DaskConnectionError, match="local"):
        open_cluster(spec)


def test_an_unknown_scheduler_host_fails_at_once() -> None:
    with pytest.raises(DaskConnectionError, match=r"no\.such\.host\.invalid:8786"):
        open_cluster("no.such.host.invalid:8786", timeout=1.0)
