"""vigil-repo.yaml: round trip, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.compute import AcceptableRange, RepoConfig, RepositoryConfigError
from vigil.compute.repository import MetricEntry, Provenance


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil-repo.yaml"
    path.write_text(text)
    return path


def test_round_trip(tmp_path: Path) -> None:
    config = RepoConfig(
        name="hsc-rc2",
        instrument="HSC",
        bands=["g", "r"],
        metrics={
            "psf_size_residual_r": MetricEntry(
                name="psf_size_residual_r",
                definition="psf_size_residual_{band}",
                band="r",
                table="objects",
                selection=["r_extendedness < 0.5"],
                acceptable=AcceptableRange(-1.0, 1.0),
                rows=12,
            )
        },
        provenance=Provenance(pipeline={"name": "pipe_analysis", "version": "w.2019.10"}),
    )
    path = tmp_path / "vigil-repo.yaml"
    config.write(path)
    again = RepoConfig.load(path)
    assert again.to_dict() == config.to_dict()
    assert again.metrics["psf_size_residual_r"].acceptable == AcceptableRange(-1.0, 1.0)


def test_minimal_hand_written_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "format: 1\nmetrics:\n  star_count_i:\n  psf_size_residual_{band}:\n"
        "    acceptable: {max: 2}\nprovenance:\n  created: 2026-05-25T10:00:00\n",
    )
    config = RepoConfig.load(path)
    assert config.metrics["star_count_i"].acceptable is None
    assert config.metrics["psf_size_residual_{band}"].acceptable == AcceptableRange(None, 2.0)
    assert config.provenance.created == "2026-05-25T10:00:00"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("name: x\n", "format", "missing; write 'format: 1'"),
        ("format: 2\n", "format", "unsupported version 2"),
        ("format: 1\ncolour: red\n", "colour", "unknown field; expected one of format"),
        (
            "format: 1\nmetrics:\n  m:\n    acceptable: {min: low}\n",
            "metrics.m.acceptable.min",
            "expected a number, got text ('low')",
        ),
        (
            "format: 1\nmetrics:\n  m:\n    acceptable: {min: 3, max: 1}\n",
            "metrics.m.acceptable",
            "min (3) is above max (1)",
        ),
        ("format: 1\nmetrics:\n  m:\n    acceptable: {}\n", "metrics.m.acceptable", "give min"),
        (
            "format: 1\nmetrics:\n  m:\n    table: coadd\n",
            "metrics.m.table",
            "expected one of objects, sources, got 'coadd'",
        ),
        (
            "format: 1\nmetrics:\n  m:\n    granularity: night\n",
            "metrics.m.granularity",
            "expected one of source, patch",
        ),
        (
            "format: 1\nmetrics:\n  m:\n    aggregate: mode\n",
            "metrics.m.aggregate",
            "unknown aggregator 'mode'",
        ),
        ("format: 1\nmetrics:\n  m:\n    rows: -3\n", "metrics.m.rows", "expected a count"),
        ("format: 1\nmetrics:\n  m:\n    selection: a\n", "metrics.m.selection", "a list of text"),
        ("format: 1\nmetrics: [a, b]\n", "metrics", "expected a mapping, got a list"),
        ("format: 1\nprovenance:\n  inputs: x\n", "provenance.inputs", "a list of text"),
        ("format: 1\nprovenance:\n  user: me\n", "provenance.user", "unknown field"),
        ("format: 1\ntruth: 3\n", "truth", "a list of mappings"),
        ("", None, "is empty"),
        ("format: [1\n", None, "is not valid YAML at line"),
    ],
)
def test_errors_name_file_and_field(
    tmp_path: Path, text: str, field: str | None, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RepositoryConfigError) as caught:
        RepoConfig.load(path)
    error = caught.value
    assert error.path == str(path)
    assert error.field == field
    assert reason in error.reason
    assert str(path) in error.message
    assert error.status_code == 422
