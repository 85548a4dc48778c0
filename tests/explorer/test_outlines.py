"""Visit and detector outlines, and the visits behind a patch, on synthetic sources."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vigil.compute import ComputeError
from vigil.explorer import Repository
from vigil.explorer._focal_plane import FRAME_COLUMNS, detector_frames
from vigil.explorer._outlines import (
    DETECTOR_COLUMNS,
    VISIT_COLUMNS,
    detector_boxes,
    detector_outlines,
    focal_frames,
    overlapping,
    patch_boxes,
    query_detector_boxes,
    query_focal_frames,
    tract_detector_outlines,
    visit_outlines,
    visits_behind,
)

Box = tuple[float, float, float, float]

# tract 1: patch 0 covers RA 10-11, patch 1 RA 11-12, both Dec 0-1; tract 2 is far away.
PATCHES: dict[tuple[int, int], Box] = {
    (1, 0): (10.0, 11.0, 0.0, 1.0),
    (1, 1): (11.0, 12.0, 0.0, 1.0),
    (2, 0): (40.0, 41.0, 5.0, 6.0),
}
# (visit, band, detector) -> its box.
DETECTORS: dict[tuple[int, str, int], Box] = {
    (100, "g", 1): (10.2, 10.8, 0.2, 0.8),  # inside patch 0
    (100, "g", 2): (11.2, 11.8, 0.2, 0.8),  # inside patch 1
    (101, "r", 5): (20.0, 21.0, 5.0, 6.0),  # overlaps no tract
    (102, "<b>i</b>", 3): (10.9, 11.1, 0.4, 0.6),  # across both patches
    (102, "<b>i</b>", 4): (40.5, 40.9, 5.5, 5.9),  # in tract 2
}


def _inside(box: Box, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """*count* points inside *box*, its two opposite corners among them."""
    ra_min, ra_max, dec_min, dec_max = box
    ra = rng.uniform(ra_min, ra_max, count)
    dec = rng.uniform(dec_min, dec_max, count)
    ra[:2], dec[:2] = (ra_min, ra_max), (dec_min, dec_max)
    return ra, dec


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository of the boxes above: objects per tract, sources per visit."""
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("outlines") / "repo"
    (root / "objects").mkdir(parents=True)
    (root / "sources").mkdir()
    for tract in sorted({t for t, _ in PATCHES}):
        parts = []
        for (t, patch), box in PATCHES.items():
            if t != tract:
                continue
            ra, dec = _inside(box, 50, rng)
            parts.append(
                pd.DataFrame({"tract": tract, "patch": patch, "coord_ra": ra, "coord_dec": dec})
            )
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "objectId", np.arange(len(frame), dtype="int64") + 1000 * tract)
        frame.to_parquet(root / "objects" / f"tract={tract}.parquet", index=False)
    for visit in sorted({v for v, _, _ in DETECTORS}):
        parts = []
        for (v, band, detector), box in DETECTORS.items():
            if v != visit:
                continue
            ra, dec = _inside(box, 40, rng)
            parts.append(
                pd.DataFrame(
                    {
                        "visit": visit,
                        "detector": detector,
                        "band": band,
                        "coord_ra": ra,
                        "coord_dec": dec,
                    }
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "sourceId", np.arange(len(frame), dtype="int64") + 1000 * visit)
        frame.to_parquet(root / "sources" / f"visit={visit}.parquet", index=False)
    return root


@pytest.fixture
def repo(root: Path) -> Iterator[Repository]:
    with Repository(root) as opened:
        yield opened


def _box(row: pd.Series) -> Box:
    return (row["ra_min"], row["ra_max"], row["dec_min"], row["dec_max"])


def test_detector_boxes_are_the_sources_min_max(repo: Repository) -> None:
    boxes = detector_boxes(repo)
    assert tuple(boxes.columns) == DETECTOR_COLUMNS
    found = {(int(r.visit), str(r.band), int(r.detector)): _box(r) for _, r in boxes.iterrows()}
    assert found.keys() == DETECTORS.keys()
    for key, box in DETECTORS.items():
        assert found[key] == pytest.approx(box)
    assert set(boxes["sources"]) == {40}


def test_patch_boxes(repo: Repository) -> None:
    boxes = patch_boxes(repo, 1)
    assert boxes["patch"].tolist() == [0, 1]
    for _, row in boxes.iterrows():
        assert _box(row) == pytest.approx(PATCHES[(1, int(row["patch"]))])
    assert patch_boxes(repo, 99).empty


def test_visit_outlines_of_a_tract(repo: Repository) -> None:
    everything = visit_outlines(repo)
    assert tuple(everything.columns) == VISIT_COLUMNS
    assert everything["visit"].tolist() == [100, 101, 102]
    tract = visit_outlines(repo, tract=1)
    assert tract["visit"].tolist() == [100, 102]
    first = tract.iloc[0]
    assert (first["band"], first["detectors"], first["sources"]) == ("g", 2, 80)
    assert _box(first) == pytest.approx((10.2, 11.8, 0.2, 0.8))
    # Visit 102: only its detector over tract 1 is counted and boxed.
    assert _box(tract.iloc[1]) == pytest.approx((10.9, 11.1, 0.4, 0.6))
    assert visit_outlines(repo, tract=2)["visit"].tolist() == [102]
    assert visit_outlines(repo, tract=1, band="g")["visit"].tolist() == [100]
    assert visit_outlines(repo, tract=99).empty


def test_detector_outlines_of_a_visit(repo: Repository) -> None:
    boxes = detector_outlines(repo, 102)
    assert boxes["detector"].tolist() == [3, 4]
    assert detector_outlines(repo, 7).empty


def test_visits_behind_a_patch(repo: Repository) -> None:
    left = visits_behind(repo, 1, 0)
    assert left["visit"].tolist() == [100, 102]
    assert left["detectors"].tolist() == [[1], [3]]
    assert left["count"].tolist() == [1, 1]
    assert left["band"].tolist() == ["g", "<b>i</b>"]
    right = visits_behind(repo, 1, 1)
    assert right["detectors"].tolist() == [[2], [3]]
    assert visits_behind(repo, 2, 0)["detectors"].tolist() == [[4]]
    assert visits_behind(repo, 1, 42).empty


def test_overlap_includes_edges() -> None:
    boxes = pd.DataFrame(
        {
            "ra_min": [0.0, 2.0, 1.0],
            "ra_max": [1.0, 3.0, 1.5],
            "dec_min": [0.0] * 3,
            "dec_max": [1.0] * 3,
        }
    )
    assert overlapping(boxes, (1.0, 2.0, 1.0, 2.0)).tolist() == [True, True, True]
    assert overlapping(boxes, (1.6, 1.9, 0.0, 1.0)).tolist() == [False, False, False]


def test_boxes_are_cached_until_a_file_changes(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(root, copy)
    with Repository(copy) as repo:
        first = detector_boxes(repo)
        pd.testing.assert_frame_equal(first, detector_boxes(repo))
    path = copy / "sources" / "visit=101.parquet"
    frame = pd.read_parquet(path)
    frame["coord_ra"] += 1.0
    frame.to_parquet(path, index=False)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with Repository(copy) as reopened:
        moved = detector_boxes(reopened)
    row = moved[moved["visit"] == 101].iloc[0]
    assert _box(row) == pytest.approx((21.0, 22.0, 5.0, 6.0))


def test_an_unreadable_query_is_a_compute_error(tmp_path: Path) -> None:
    path = tmp_path / "visit=1.parquet"
    pd.DataFrame({"visit": [1], "detector": [1], "band": ["g"]}).to_parquet(path)
    with pytest.raises(ComputeError, match="outlines"):
        query_detector_boxes([path])
    assert query_detector_boxes([]).empty


def _keys(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return [(int(r.visit), int(r.detector)) for r in frame.itertuples()]


def test_the_detectors_of_the_visits_over_a_tract(repo: Repository) -> None:
    over = tract_detector_outlines(repo, 1)
    assert tuple(over.columns) == DETECTOR_COLUMNS
    assert _keys(over) == [(100, 1), (100, 2), (102, 3)]
    assert over.attrs == {"total": 3, "truncated": False}
    assert _keys(tract_detector_outlines(repo, 2)) == [(102, 4)]
    assert len(tract_detector_outlines(repo)) == len(DETECTORS)
    assert tract_detector_outlines(repo, 99).empty
    # Cut at a limit: whole visits first, else the first visit's first detectors.
    cut = tract_detector_outlines(repo, 1, limit=2)
    assert _keys(cut) == [(100, 1), (100, 2)]
    assert cut.attrs == {"total": 3, "truncated": True}
    assert _keys(tract_detector_outlines(repo, 1, limit=1)) == [(100, 1)]


def test_focal_frames_are_those_of_all_the_sources(root: Path, tmp_path: Path) -> None:
    paths = sorted((root / "sources").glob("*.parquet"))
    sources = pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)
    with Repository(root) as repo:
        frames = focal_frames(repo)
    assert tuple(frames.columns) == FRAME_COLUMNS
    assert _keys(frames) == sorted((v, d) for v, _, d in DETECTORS)
    pd.testing.assert_frame_equal(frames, detector_frames(sources), check_dtype=False)
    # A visit in two files: boxes in the frame of the whole visit, not of each file.
    visit = pd.read_parquet(root / "sources" / "visit=102.parquet")
    halves = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    visit[visit["detector"] == 3].to_parquet(halves[0], index=False)
    visit[visit["detector"] == 4].to_parquet(halves[1], index=False)
    split = query_focal_frames(halves)
    pd.testing.assert_frame_equal(split, detector_frames(visit), check_dtype=False)
    assert query_focal_frames([]).empty
