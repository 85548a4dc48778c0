"""Digest emails a person can act on: facts in text and HTML, and an inline plot.

A real SMTP server receives the digest of a real regression (a step in a series stored
through the job service and found by the worker).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import Message
from io import BytesIO
from typing import Any

from PIL import Image

from vigil.server.domain import SeriesInfo, User
from vigil.server.domain.regressions import (
    JobRef,
    Regression,
    RegressionDetail,
    RegressionFilter,
    SeriesValue,
    SubscriptionDraft,
    SuspectCommit,
)
from vigil.server.factory import Factory
from vigil.server.services._email_plot import HEIGHT, WIDTH, change_plot
from vigil.server.services.notifications import render_digest

from ._support import SmtpServer, history, ingest, text_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_AUTHOR = "<script>alert('author')</script> Chen"
HOSTILE_DATASET = "hsc<script>alert('dataset')</script>"
SPEC = {
    "name": "validate_drp.PA1.srd",
    "type": "threshold",
    "threshold": {"value": 11.0, "unit": "mmag", "operator": "<="},
    "tags": [],
}


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header, after checking its signature."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    with Image.open(BytesIO(data)) as image:
        image.load()  # decodes the whole image: a truncated or corrupt PNG fails here
        assert image.size == (width, height)
    return width, height


def _parts(mail: Message) -> dict[str, list[Message]]:
    found: dict[str, list[Message]] = {}
    for part in mail.walk():
        found.setdefault(part.get_content_type(), []).append(part)
    return found


def _decoded(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def test_the_email_of_a_real_regression_states_the_facts_and_shows_a_plot(
    factory: Factory, tester: User, smtp: SmtpServer, run_worker: Callable[[], Any]
) -> None:
    factory.create_subscription_service().create(
        tester, SubscriptionDraft(channel="email", metric_pattern="validate_drp.PA1")
    )
    jobs = history(regressed=["validate_drp.PA1"])  # 20 nights at 10 mmag, then 12
    for job in jobs:
        job["specs"] = [SPEC]
        job["meta"]["dataset"] = HOSTILE_DATASET
    jobs[20]["meta"]["git"]["author"] = HOSTILE_AUTHOR
    ids = ingest(factory, jobs)
    run_worker()
    [mail] = smtp.messages
    filters = RegressionFilter(metric="validate_drp.PA1")
    [record] = factory.create_regression_service().list_regressions(filters, limit=10).items
    assert (record.first_bad.id, record.last_good and record.last_good.id) == (ids[20], ids[19])

    # A text part first (text readers show it), then the HTML with its image beside it.
    assert mail.get_content_type() == "multipart/alternative"
    alternatives = mail.get_payload()
    assert isinstance(alternatives, list)
    messages = [p for p in alternatives if isinstance(p, Message)]
    assert len(messages) == len(alternatives)
    assert [p.get_content_type() for p in messages] == ["text/plain", "multipart/related"]
    parts = _parts(mail)
    text = text_of(mail)
    html = _decoded(parts["text/html"][0]).decode()

    assert "REGRESSION: validate_drp.PA1 on " + HOSTILE_DATASET in text
    # The effect: absolute with its unit, in % and in sigma.
    effect = re.search(
        r"effect: \+([\d.]+) mmag \(\+([\d.]+) %, \+([\d.]+) sigma\): ([\d.]+) -> ([\d.]+) mmag",
        text,
    )
    assert effect is not None, text
    size, percent, sigma, before, after = (float(x) for x in effect.groups())
    assert 1.5 < size < 2.5 and 15 < percent < 25 and 9.5 < before < 10.5 < 11.5 < after < 12.5
    assert sigma > 5, "a 20 % step on 1 % noise is many sigma"
    assert "now fails validate_drp.PA1.srd" in text
    # The dates: when the first bad job ran, and the last good one.
    assert f"first bad: job {ids[20]}, run 2026-01-21 00:00 UTC (main @ 0020c0ffee)" in text
    assert f"last good: job {ids[19]}, run 2026-01-20 00:00 UTC (main @ 0019c0ffee)" in text
    assert f"suspect commits: 0020c0ffee by {HOSTILE_AUTHOR} <chen@example.org>" in text
    assert f"http://vigil.example.org/regressions/{record.id}" in text
    assert f"http://vigil.example.org/jobs/{ids[20]}" in text
    assert f"http://vigil.example.org/compare?a={ids[19]}&b={ids[20]}" in text

    # The HTML says the same, with every user string escaped.
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;author&#x27;)&lt;/script&gt; Chen" in html
    assert "hsc&lt;script&gt;alert(&#x27;dataset&#x27;)&lt;/script&gt;" in html
    assert "validate_drp.PA1.srd" in html and "sigma" in html and "2026-01-21 00:00 UTC" in html
    assert f'href="http://vigil.example.org/compare?a={ids[19]}&amp;b={ids[20]}"' in html

    # The plot: an inline PNG whose Content-ID the HTML references.
    [image] = parts["image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert _png_size(_decoded(image)) == (WIDTH, HEIGHT)


def _detail(values: list[float | None]) -> tuple[RegressionDetail, list[SeriesValue]]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    series = [
        SeriesValue(i + 1, start + timedelta(days=i), v, "mmag") for i, v in enumerate(values)
    ]
    bad = JobRef(len(values), start + timedelta(days=len(values) - 1), "main", "beef" * 10)
    regression = Regression(
        id=7,
        series=SeriesInfo(1, "key", "validate_drp.PA1", "hsc", "HSC"),
        kind="regression",
        status="open",
        first_bad=bad,
        last_good=None,
        before=10.0,
        after=12.0,
        size=2.0,
        relative_size=0.2,
        effect_size=8.0,
        unit="mmag",
    )
    suspects = [SuspectCommit("beef" * 10, "Ada", None)]
    return RegressionDetail(regression, [bad], suspects, [], []), series


def test_a_plot_draws_nan_values_and_a_single_point_and_gives_up_on_nothing() -> None:
    nan = float("nan")
    _, values = _detail([10.0, None, nan, 10.1, 12.0, float("inf"), 12.1])
    assert _png_size(change_plot(values, 5, before=10.0, after=12.0, unit="mmag") or b"") == (
        WIDTH,
        HEIGHT,
    )
    _, one = _detail([12.0])
    assert _png_size(change_plot(one, 1, before=None, after=12.0, unit="mmag") or b"")
    _, huge = _detail([1e300, -1e300, 1e-300])
    assert _png_size(change_plot(huge, 2, before=-1e308, after=1e308) or b"")
    _, empty = _detail([None, nan])
    assert change_plot(empty, 2) is None
    assert change_plot([], 1) is None


def test_an_email_without_a_plot_says_so_and_links_only_web_urls() -> None:
    detail, _ = _detail([None])
    payload = render_digest(
        "email", None, [detail], base_url=None, event_key="e", plot=lambda d: None
    )
    assert payload["images"] == []
    assert "No plot" in payload["html"] and "cid:" not in payload["html"]
    # Without VIGIL_BASE_URL the links are paths: shown as text, not made links.
    assert "/regressions/7" in payload["text"] and "href=" not in payload["html"]
    assert "+20.0 %, +8.0 sigma" in payload["text"]
    assert "suspect commits: beefbeefbe by Ada" in payload["text"]
