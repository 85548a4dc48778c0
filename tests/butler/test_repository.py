"""``vigil compute --butler``: a computed repository stored in a real Gen3 Butler, read
back through the Butler and as the explorer's folder view; and what bad input gets."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vigil.compute.repository import SORTED_BY_KEY, RepoLayout
from vigil.explorer import Repository
from vigil.lsst import ButlerError, butler_view, store_repository

butler_module = pytest.importorskip("lsst.daf.butler", reason="needs vigil[lsst]")

RUN = "u/qa/vigil-1"


def _cli(*args: str) -> tuple[int, str]:
    from vigil.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_compute_writes_every_table_as_a_butler_dataset(
    catalog: Path, make_butler: Callable[[str], Path], tmp_path: Path
) -> None:
    repo = make_butler("repo")
    folder = tmp_path / "catalog"
    shutil.copytree(catalog, folder)
    code, output = _cli("compute", str(folder), "--butler", str(repo), "--run", RUN)
    assert code == 1
    assert "has no skymap hsc_rings_v1, tract 9813, tract 9814, instrument HSC" in " ".join(
        output.split()
    )
    assert "--register-dimensions" in output
    assert RUN not in set(butler_module.Butler.from_config(str(repo)).collections.query("*"))
    code, output = _cli(
        "compute", str(folder), "--butler", str(repo), "--run", RUN, "--register-dimensions"
    )
    assert code == 0, output
    assert f"written to run {RUN}" in output
    assert "added to the registry: skymap hsc_rings_v1, tract 9813" in output

    butler = butler_module.Butler.from_config(str(repo))
    layout = RepoLayout(folder)
    # Every metric file is a dataset with the dimensions of its granularity, bytes intact.
    psf = butler.find_dataset(
        "vigil_metric_psf_size_residual_i",
        {"skymap": "hsc_rings_v1", "tract": 9813},
        collections=RUN,
    )
    assert psf is not None
    assert set(psf.datasetType.dimensions.required) == {"skymap", "tract"}
    stored = Path(butler.getURI(psf).ospath)
    original = layout.metric_file("psf_size_residual_i", "objects", 9813)
    assert stored.read_bytes() == original.read_bytes()
    key = SORTED_BY_KEY.encode()
    assert pq.read_metadata(stored).metadata[key] == pq.read_metadata(original).metadata[key]
    # Users of the Butler read them as DataFrames, as any Parquet dataset.
    frame = butler.get(psf)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == pq.read_metadata(original).num_rows
    visit = butler.find_dataset(
        "vigil_metric_visit_psf_size_residual_g",
        {"instrument": "HSC", "visit": 1228},
        collections=RUN,
    )
    assert visit is not None
    assert visit.dataId["band"] == "g"  # the visit record added says its band
    sources = butler.find_dataset(
        "vigil_sources", {"instrument": "HSC", "visit": 1228}, collections=RUN
    )
    assert sources is not None
    config = butler.get("vigil_repo", collections=RUN)
    assert config["name"] == "demo-hsc"
    counted = sum(
        len(layout.metric_files(m, t))
        for m in layout.stored_metrics()
        for t in ("objects", "sources")
    )
    tables = len(layout.table_files("objects")) + len(layout.table_files("sources"))
    assert (
        len(list(butler.registry.queryDatasets("vigil_*", collections=RUN))) == counted + tables + 1
    )


def test_the_explorer_reads_the_butler_as_it_reads_the_folder(
    catalog: Path, make_butler: Callable[[str], Path]
) -> None:
    repo = make_butler("repo")
    store_repository(catalog, repo, RUN, register_dimensions=True)
    with butler_view(repo, [RUN]) as view:
        # Links to the datastore's own files, named as in any repository.
        assert _files(view) == _files(catalog)
        linked = view / "metrics" / "psf_snr_i" / "tract=9813.parquet"
        assert linked.is_symlink() and str(repo) in str(linked.resolve())
        assert Repository(view).summary() == Repository(catalog).summary()
    assert not view.exists()  # removed when the block ends


def test_first_collection_wins_and_runs_compare(
    catalog: Path, make_butler: Callable[[str], Path], tmp_path: Path
) -> None:
    repo = make_butler("repo")
    store_repository(catalog, repo, "u/qa/old", register_dimensions=True)
    changed = tmp_path / "changed"
    shutil.copytree(catalog, changed)
    # The new run lacks one metric: the chain finds it in the old run.
    shutil.rmtree(changed / "metrics" / "star_count_g")
    store_repository(changed, repo, "u/qa/new", register_dimensions=True)
    butler = butler_module.Butler.from_config(str(repo), writeable=True)
    butler.collections.register("u/qa/chain", butler_module.CollectionType.CHAINED)
    butler.collections.redefine_chain("u/qa/chain", ["u/qa/new", "u/qa/old"])
    with butler_view(repo, ["u/qa/chain"]) as view:
        target = (view / "metrics" / "psf_snr_i" / "tract=9813.parquet").resolve()
        assert "u/qa/new" in str(target)
        assert "u/qa/old" in str(
            (view / "metrics" / "star_count_g" / "tract=9813.parquet").resolve()
        )
    with butler_view(repo, ["u/qa/new"]) as view:
        assert not (view / "metrics" / "star_count_g").exists()


def test_storing_twice_in_one_run_is_refused_and_writes_nothing(
    catalog: Path, make_butler: Callable[[str], Path]
) -> None:
    repo = make_butler("repo")
    store_repository(catalog, repo, RUN, register_dimensions=True)
    butler = butler_module.Butler.from_config(str(repo))
    before = len(list(butler.registry.queryDatasets("vigil_*", collections=RUN)))
    with pytest.raises(
        ButlerError, match=r"run 'u/qa/vigil-1' already holds vigil_metric_\w+ .*new run"
    ):
        store_repository(catalog, repo, RUN, register_dimensions=True)
    butler = butler_module.Butler.from_config(str(repo))
    assert len(list(butler.registry.queryDatasets("vigil_*", collections=RUN))) == before


def test_a_dataset_type_defined_otherwise_is_named(
    catalog: Path, make_butler: Callable[[str], Path]
) -> None:
    repo = make_butler("repo")
    butler = butler_module.Butler.from_config(str(repo), writeable=True)
    butler.registry.registerDatasetType(
        butler_module.DatasetType(
            "vigil_metric_psf_snr_i",
            ("instrument",),
            "StructuredDataDict",
            universe=butler.dimensions,
        )
    )
    with pytest.raises(ButlerError, match="already defines vigil_metric_psf_snr_i with dimensions"):
        store_repository(catalog, repo, RUN, register_dimensions=True)
    butler = butler_module.Butler.from_config(str(repo))
    assert RUN not in set(butler.collections.query("*"))  # checked before anything is written


def test_existing_dimension_records_are_used_not_redefined(
    catalog: Path, make_butler: Callable[[str], Path]
) -> None:
    repo = make_butler("repo")
    butler = butler_module.Butler.from_config(str(repo), writeable=True)
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {
            "name": "HSC",
            "visit_max": 21474800,
            "detector_max": 200,
            "class_name": "lsst.obs.subaru.HyperSuprimeCam",
        },
    )
    registry.insertDimensionData(
        "physical_filter", {"instrument": "HSC", "name": "HSC-G", "band": "g"}
    )
    registry.insertDimensionData("day_obs", {"instrument": "HSC", "id": 20240102})
    registry.insertDimensionData(
        "visit",
        {
            "instrument": "HSC",
            "id": 1228,
            "name": "HSCA01228",
            "physical_filter": "HSC-G",
            "day_obs": 20240102,
        },
    )
    report = store_repository(catalog, repo, RUN, register_dimensions=True)
    assert "instrument HSC" not in report.records and "visit 1228" not in report.records
    assert "visit 1230" in report.records
    ref = butler_module.Butler.from_config(str(repo)).find_dataset(
        "vigil_sources", {"instrument": "HSC", "visit": 1228}, collections=RUN
    )
    assert ref is not None and ref.dataId["physical_filter"] == "HSC-G"


def test_bad_input_gets_a_clear_error(
    catalog: Path, make_butler: Callable[[str], Path], tmp_path: Path
) -> None:
    repo = make_butler("repo")
    code, output = _cli("compute", str(catalog), "--butler", str(tmp_path), "--run", RUN)
    assert code == 1 and "is not a Butler repository (no butler.yaml)" in output
    code, output = _cli("compute", str(catalog), "--butler", str(repo))
    assert code == 1 and "--butler and --run go together" in output
    code, output = _cli(
        "compute", str(catalog), "--butler", str(repo), "--run", RUN, "--skymap", "hsc rings"
    )
    assert code == 1 and "--skymap 'hsc rings' is not a Butler name" in output
    code, output = _cli("explore", "--butler", str(repo), "--collections", "nope", "--no-show")
    assert code == 1 and "the repository has no collection 'nope'" in output
    code, output = _cli("explore", "--butler", str(repo), "--collections", "x/*", "--no-show")
    assert code == 1 and "no collection matches 'x/*'" in output
    code, output = _cli("explore", "--butler", str(tmp_path), "--collections", RUN, "--no-show")
    assert code == 1 and "is not a Butler repository" in output
    code, output = _cli("explore", "--collections", RUN, "--no-show")
    assert code == 1 and "give --butler" in output
    code, output = _cli("explore", str(catalog), "--butler", str(repo), "--no-show")
    assert code == 1 and "not both" in output
    store_repository(catalog, repo, RUN, register_dimensions=True)
    # A run that holds the datasets already is refused before anything is computed.
    code, output = _cli("compute", str(catalog), "--butler", str(repo), "--run", RUN)
    assert code == 1 and "already holds" in output and "psf_snr_i" not in output
    butler = butler_module.Butler.from_config(str(repo), writeable=True)
    butler.registry.registerRun("u/qa/empty")
    with (
        pytest.raises(ButlerError, match="no Vigil repository in u/qa/empty"),
        butler_view(repo, ["u/qa/empty"]),
    ):
        pass
    with pytest.raises(ButlerError, match="give one or more collections"), butler_view(repo, []):
        pass
