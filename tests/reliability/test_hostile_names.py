"""Hostile names through the query engine's DuckDB SQL: refused, or quoted and harmless.

Names and values a user or a repository can choose (folder and file paths, metric names,
bands, dataId keys and values, extra columns) are fed to the quoting functions of
`vigil.compute.sql`, to the plans of `vigil.compute.plan` run by DuckDB, and to the
explorer's `Repository`. Each is refused with a `ComputeError` (or an unknown metric), or
is quoted so that DuckDB reads it as the text it is: a ``DROP TABLE`` in it drops nothing
and a glob in a path reads no other file. The source-level check that nothing else gets
into this SQL is in ``test_security.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.compute import ComputeError, UnknownMetricError, compute_repository, default_registry
from vigil.compute.engine import connect, run_aggregate, run_values
from vigil.compute.plan import AggregatePlan, ValuesPlan
from vigil.compute.sql import file_list, parquet_paths, quote_identifier, string_literal
from vigil.demo.catalog import DemoCatalog, generate_catalog
from vigil.explorer import Repository
from vigil.explorer._rollup import positions

DROP = 'x"; DROP TABLE t; --'
HOSTILE = [
    DROP,
    "x'; DROP TABLE t; --",
    "x') OR 1=1 --",
    "it's",
    'say "hi"',
    "..",
    "../objects",
    "a\\'b",
    "a\nb",
]
"""Texts that would change a query if they were pasted into it."""

NOT_COLUMNS = [*HOSTILE, "", "1abc", "a b", "a-b", "a.b", "a\x00b", "é", "a" * 256]
"""Texts that are not plain column names."""

# The demo repository lives in a folder whose name is itself hostile: quotes, a DROP and
# every glob character DuckDB would expand.
REPO_FOLDER = "x\"; DROP TABLE t; --'[ab]*?"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> DemoCatalog:
    """A small demo repository under `REPO_FOLDER`, its metrics computed, with a stored
    metric copied under a hostile name and a column with a hostile name in one file."""
    root = tmp_path_factory.mktemp("hostile") / REPO_FOLDER
    made = generate_catalog(root, tracts=1, objects_per_tract=400, visits=2, seed=3)
    compute_repository(root)
    shutil.copytree(root / "metrics" / "psf_snr_g", root / "metrics" / REPO_FOLDER)
    path = next((root / "objects").glob("*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.append_column(DROP, pa.array([1.0] * table.num_rows)), path)
    return made


@pytest.fixture(scope="module")
def repo(catalog: DemoCatalog) -> Iterator[Repository]:
    with Repository(catalog.root) as opened:
        yield opened


@pytest.fixture
def guarded() -> Iterator[duckdb.DuckDBPyConnection]:
    """A query engine connection holding a table ``t`` that no query may drop."""
    con = connect()
    con.execute("CREATE TABLE t AS SELECT 42 AS kept")
    yield con
    assert con.execute("SELECT kept FROM t").fetchall() == [(42,)]
    con.close()


# The quoting functions. -------------------------------------------------------------------


@pytest.mark.parametrize("name", NOT_COLUMNS)
def test_a_name_that_is_not_a_plain_column_name_is_refused(name: str) -> None:
    with pytest.raises(ComputeError, match="is not a column name"):
        quote_identifier(name)


@pytest.mark.parametrize("name", ["i_psfFlux", "coord_ra", "_x", "tract", "A1"])
def test_a_plain_column_name_is_quoted(name: str) -> None:
    assert quote_identifier(name) == f'"{name}"'


@pytest.mark.parametrize("text", HOSTILE)
def test_a_string_literal_is_read_back_as_the_text_it_is(
    text: str, guarded: duckdb.DuckDBPyConnection
) -> None:
    assert guarded.execute(f"SELECT {string_literal(text)}").fetchone() == (text,)


def test_a_nul_character_is_never_put_into_sql() -> None:
    with pytest.raises(ComputeError, match="NUL"):
        string_literal("a\x00b")
    with pytest.raises(ComputeError, match="NUL"):
        parquet_paths(["a\x00b.parquet"])


@pytest.mark.parametrize("folder", ["[ab]", "*", "?", DROP, "it's", REPO_FOLDER])
def test_read_parquet_reads_the_file_named_and_no_other(
    folder: str, tmp_path: Path, guarded: duckdb.DuckDBPyConnection
) -> None:
    # Without escaping, DuckDB expands [ab] to the folders a and b, and * to every folder.
    for number, name in enumerate(["a", "b", "x", folder]):
        (tmp_path / name).mkdir(exist_ok=True)
        pq.write_table(pa.table({"n": [number]}), tmp_path / name / "t.parquet")
    path = tmp_path / folder / "t.parquet"
    bound = guarded.execute("SELECT n FROM read_parquet(?)", [parquet_paths([path])])
    assert bound.fetchall() == [(3,)]
    spelled = guarded.execute(f"SELECT n FROM read_parquet({file_list([path])})")
    assert spelled.fetchall() == [(3,)]


# Plans with a hostile band. ---------------------------------------------------------------


@pytest.mark.parametrize("band", HOSTILE)
def test_a_hostile_band_is_compared_as_text_or_refused_as_a_column(
    band: str, repo: Repository, guarded: duckdb.DuckDBPyConnection
) -> None:
    tables = repo.tables()
    # A visit table has a band column: the band is compared with it, as text.
    (visit_metric,) = default_registry().expand("visit_psf_cmodel_mag_diff_{band}", [band])
    sources = tables["sources"]
    files = tuple(f.path for f in sources.files.values())
    assert run_values(guarded, ValuesPlan(visit_metric, "catalogue", files, sources.columns)).empty
    # A coadd table spells the band into its column names: not a column name, refused.
    (coadd_metric,) = default_registry().expand("psf_snr_{band}", [band])
    objects = tables["objects"]
    files = tuple(f.path for f in objects.files.values())
    plan = AggregatePlan(coadd_metric, "catalogue", files, objects.columns, ("tract",))
    with pytest.raises(ComputeError):
        run_aggregate(guarded, plan)


# The explorer's Repository. ---------------------------------------------------------------


def test_a_repository_in_a_hostile_folder_reads_all_its_files_and_only_them(
    repo: Repository, catalog: DemoCatalog
) -> None:
    summary = repo.summary()
    assert (summary.objects, summary.sources) == (catalog.objects, catalog.sources)
    assert not summary.problems
    assert repo.aggregate("psf_snr_g", [])["count"].iloc[0] > 0
    assert not repo.visits().empty and not repo.tracts().empty


def test_the_dask_engine_reads_the_files_of_a_hostile_folder_and_only_them(
    repo: Repository,
) -> None:
    with Repository(repo.path, engine="dask") as dask:
        answer = dask.aggregate("psf_snr_g", ["tract"])
    expected = repo.aggregate("psf_snr_g", ["tract"])
    pd.testing.assert_frame_equal(answer, expected, check_exact=False, rtol=1e-9)


def test_a_stored_metric_with_a_hostile_name_reads_its_own_files(repo: Repository) -> None:
    copy = repo.aggregate(REPO_FOLDER, ["tract"])
    original = repo.aggregate("psf_snr_g", ["tract"])
    assert copy[["tract", "value", "count"]].equals(original[["tract", "value", "count"]])


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_filter_values_are_bound_and_match_nothing(text: str, repo: Repository) -> None:
    assert repo.aggregate("psf_snr_g", [], where={"band": text})["count"].iloc[0] == 0
    assert repo.values("psf_snr_g", where={"band": text}, limit=5).empty
    assert repo.visits(band=text).empty
    assert positions(repo, "sources", ["visit"], where={"band": text}).empty


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_of_filters_columns_and_metrics_are_refused(
    text: str, repo: Repository
) -> None:
    with pytest.raises(ComputeError, match="cannot filter on"):
        repo.aggregate("psf_snr_g", [], where={text: 1})
    with pytest.raises(ComputeError, match="must be a whole number"):
        repo.aggregate("psf_snr_g", [], where={"tract": f"9813{text}"})
    with pytest.raises(ComputeError, match="has no column|is not a column name"):
        repo.values("psf_snr_g", columns=[text], limit=5)
    with pytest.raises(UnknownMetricError):
        repo.aggregate(text, [])
    with pytest.raises(UnknownMetricError):
        repo.values(f"psf_snr_{text}", limit=5)


def test_a_column_with_a_hostile_name_is_refused_even_when_the_file_has_it(
    repo: Repository,
) -> None:
    assert DROP in repo.tables()["objects"].columns
    with pytest.raises(ComputeError, match="is not a column name"):
        repo.values("psf_snr_g", columns=[DROP], limit=5)
