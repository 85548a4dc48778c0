"""FITS artifacts on the compare page: values, their difference, and files that are not
a comparable pair (a note, never an error)."""

from __future__ import annotations

import base64
import gzip
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from vigil.server.factory import Factory
from vigil.server.services._compare_fits import MAX_FITS_PIXELS
from vigil.verify import Job, Metric

START = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def fits_bytes(data: NDArray[Any], unit: str | None = "nJy", *, extension: bool = False) -> bytes:
    """A FITS file holding *data* (in an image extension when asked)."""
    image = fits.ImageHDU(data) if extension else fits.PrimaryHDU(data)
    if unit is not None:
        image.header["BUNIT"] = unit
    hdus = fits.HDUList([fits.PrimaryHDU(), image] if extension else [image])
    out = io.BytesIO()
    hdus.writeto(out)
    return out.getvalue()


def table_bytes() -> bytes:
    """A FITS file with a binary table and no image."""
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=[1.0])])
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    return out.getvalue()


def two_jobs(
    factory: Factory, files_a: dict[str, bytes], files_b: dict[str, bytes]
) -> tuple[int, int]:
    ids = []
    for n, files in enumerate((files_a, files_b)):
        job = Job(
            metrics=[Metric("pkg.rms", unit="mmag")],
            meta={
                "dataset": "d",
                "env": {"env_name": "local", "date": (START + timedelta(days=n)).isoformat()},
                "git": {"branch": "main"},
            },
            identifier=f"fits-{n}",
        )
        job.measure("pkg.rms", 1.0 + n)
        job_id = factory.create_job_service().ingest(job.to_dict(), None).id
        for name, content in files.items():
            factory.create_artifact_service().upload(job_id, name, io.BytesIO(content))
        ids.append(job_id)
    return ids[0], ids[1]


def values(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result: dict[str, Any] = response.json()
    return result


def decode(result: dict[str, Any]) -> list[NDArray[np.float32]]:
    count = result["width"] * result["height"]
    flat = np.frombuffer(base64.b64decode(result["values"]), dtype="<f4")
    assert flat.size == 3 * count
    shape = (result["height"], result["width"])
    return [flat[i * count : (i + 1) * count].reshape(shape) for i in range(3)]


def test_fits_pairs_are_compared_by_value(client: TestClient, factory: Factory) -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(100.0, 5.0, size=(40, 60))
    b = a + rng.normal(0.0, 1.0, size=a.shape)
    b[10, 20] = np.nan
    a_id, b_id = two_jobs(
        factory,
        {"calexp.fits": fits_bytes(a), "same.fits": fits_bytes(a), "residual.png.txt": b"x"},
        {"calexp.fits": fits_bytes(b, extension=True), "same.fits": fits_bytes(a)},
    )
    page = client.get(f"/compare?a={a_id}&b={b_id}&format=json").json()
    assert [f["name"] for f in page["fits"]] == ["calexp.fits"]
    assert page["identical_images"] == ["same.fits"]
    assert page["images"] == []

    result = values(client, page["fits"][0]["values_url"])
    assert result["note"] is None
    assert (result["width"], result["height"], result["unit"]) == (60, 40, "nJy")
    assert (result["hdu_a"], result["hdu_b"]) == ("PRIMARY", "1")
    got_a, got_b, got_diff = decode(result)
    np.testing.assert_array_equal(got_a, a.astype(np.float32))
    np.testing.assert_array_equal(got_b, b.astype(np.float32))
    np.testing.assert_array_equal(got_diff, (a - b).astype(np.float32))
    assert np.isnan(got_diff[10, 20])
    # One stretch for both sides; a symmetric one for the difference.
    finite = np.concatenate([a.ravel(), b[np.isfinite(b)]])
    assert result["low"] == pytest.approx(np.percentile(finite, 0.5))
    assert result["high"] == pytest.approx(np.percentile(finite, 99.5))
    assert result["limit"] == pytest.approx(np.nanpercentile(np.abs(a - b), 99.5))
    assert result["max_abs"] == pytest.approx(np.nanmax(np.abs(a - b)))
    assert result["differing"] == a.size - 1

    html = client.get(f"/compare?a={a_id}&b={b_id}", headers={"Accept": "text/html"}).text
    assert 'data-testid="fits-pair"' in html and "/static/compare_fits.js" in html


def test_units_are_converted_and_gzip_is_read(client: TestClient, factory: Factory) -> None:
    a = np.full((4, 5), 2000.0, dtype=np.float32)
    b = np.full((4, 5), 1.5, dtype=np.float32)
    a_id, b_id = two_jobs(
        factory,
        {"flux.fits.gz": gzip.compress(fits_bytes(a, "nJy"))},
        {"flux.fits.gz": gzip.compress(fits_bytes(b, "uJy"))},
    )
    result = values(client, f"/api/compare/fits?a={a_id}&b={b_id}&name=flux.fits.gz")
    assert result["note"] is None and result["unit"] == "nJy"
    assert result["notes"] == ["B converted from uJy to nJy."]
    assert decode(result)[2] == pytest.approx(np.full((4, 5), 500.0))


@pytest.mark.parametrize(
    ("content_a", "content_b", "note"),
    [
        (b"not a fits file at all", fits_bytes(np.zeros((3, 3))), "is not a FITS file"),
        (fits_bytes(np.zeros((8, 8)))[:3000], fits_bytes(np.zeros((8, 8))), "cannot be read"),
        (b"\x1f\x8bnot gzip", fits_bytes(np.zeros((3, 3))), "gzip"),
        (fits_bytes(np.zeros((2, 3, 4))), fits_bytes(np.zeros((3, 3))), "3-D image"),
        (fits_bytes(np.zeros((3, 3))), fits_bytes(np.zeros((4, 3))), "differ in size"),
        (fits_bytes(np.zeros((3, 3)), "nJy"), fits_bytes(np.zeros((3, 3)), "mag"), "units"),
        (fits_bytes(np.zeros(5)), fits_bytes(np.zeros((3, 3))), "1-D image"),
        (table_bytes(), fits_bytes(np.zeros((3, 3))), "has no 2-D image"),
    ],
    ids=["not-fits", "truncated", "bad-gzip", "cube", "sizes", "units", "1-d", "table"],
)
def test_bad_fits_gives_a_note(
    client: TestClient, factory: Factory, content_a: bytes, content_b: bytes, note: str
) -> None:
    a_id, b_id = two_jobs(factory, {"x.fits": content_a}, {"x.fits": content_b})
    result = values(client, f"/api/compare/fits?a={a_id}&b={b_id}&name=x.fits")
    assert note in result["note"]
    assert result["values"] is None


def test_huge_images_are_refused_before_reading(client: TestClient, factory: Factory) -> None:
    """A header announcing more pixels than the limit: a note, the data never read."""
    side = int(MAX_FITS_PIXELS**0.5) + 1
    header = fits.Header({"SIMPLE": True, "BITPIX": 8, "NAXIS": 2, "NAXIS1": side, "NAXIS2": side})
    huge = header.tostring().encode() + b"\0" * 2880
    a_id, b_id = two_jobs(factory, {"big.fits": huge}, {"big.fits": huge})
    result = values(client, f"/api/compare/fits?a={a_id}&b={b_id}&name=big.fits")
    assert "larger than" in result["note"]


def test_unknown_artifact_is_not_found(client: TestClient, factory: Factory) -> None:
    a_id, b_id = two_jobs(factory, {"x.fits": fits_bytes(np.zeros((2, 2)))}, {})
    response = client.get(f"/api/compare/fits?a={a_id}&b={b_id}&name=x.fits&format=json")
    assert response.status_code == 404
