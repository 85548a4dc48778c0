"""The email of a digest: a plain-text part, an HTML part, and inline plots.

For each record the email states what changed on which series, the effect (absolute in
the metric's unit, relative in %, and in sigma: the change over the series' noise), the
specifications it makes fail, when the first bad and the last good job ran, the
suspect commits with their authors, the packages that changed, and links to the
regression, the first bad job and the comparison of the two jobs. The text part comes
first (what text mail readers show); the HTML part shows the same with a small plot of
the series around the change for each record, an image attached inline
(``Content-ID``) and referenced as ``cid:``.

Every string from user data (metric, dataset, branch and author names, specification
names) is HTML-escaped in the HTML part, and a link is made only of an absolute http(s)
URL (`vigil.server.urls.safe_url`); anything else is shown as text.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from ..domain.regressions import JobRef, RegressionDetail
from ..urls import safe_url

__all__ = ["PLOTTED", "email_digest", "plot_cid"]

PLOTTED = 10
"""The most records of one email that get a plot (the first ones)."""


def plot_cid(regression_id: int) -> str:
    """The ``Content-ID`` (without angle brackets) of a record's plot in an email."""
    return f"regression-{regression_id}.plot@vigil"


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "?"
    return f"{value:.4g}"


def _signed(value: float) -> str:
    return f"{value:+.4g}"


def _when(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _url(base_url: str | None, path: str) -> str:
    return (base_url or "").rstrip("/") + path


def series_label(d: RegressionDetail) -> str:
    """``metric on dataset [key=value, ...]``."""
    s = d.regression.series
    data_id = ", ".join(f"{k}={v}" for k, v in sorted(s.data_id.items()))
    return f"{s.metric_name} on {s.dataset or 'no dataset'}" + (f" [{data_id}]" if data_id else "")


def _headline(d: RegressionDetail) -> str:
    r = d.regression
    what = "FAILS " + ", ".join(r.specifications) if r.kind == "spec_failure" else r.kind.upper()
    # Flagged on its first bad run, not confirmed yet by later points.
    return f"{'SUSPECTED ' if r.suspected else ''}{what}: {series_label(d)}"


def _effect(d: RegressionDetail) -> str | None:
    """``+2.001 mmag (+20.0 %, +14.3 sigma): 10 -> 12 mmag, p = 1e-06``."""
    r = d.regression
    if r.size is None and r.before is None and r.after is None:
        return None
    unit = f" {r.unit}" if r.unit else ""
    parts = []
    if r.relative_size is not None and math.isfinite(r.relative_size):
        parts.append(f"{r.relative_size * 100:+.1f} %")
    if r.effect_size is not None and math.isfinite(r.effect_size):
        parts.append(f"{r.effect_size:+.1f} sigma")
    size = _signed(r.size) + unit if r.size is not None and math.isfinite(r.size) else "?"
    text = size + (f" ({', '.join(parts)})" if parts else "")
    text += f": {_number(r.before)} -> {_number(r.after)}{unit}"
    if r.p_value is not None:
        text += f", p = {r.p_value:.2g}"
    return text


def _job_facts(job: JobRef) -> str:
    where = job.branch or "main"
    commit = f" @ {job.commit_sha[:10]}" if job.commit_sha else ""
    return f"job {job.id}, run {_when(job.time)} ({where}{commit})"


def _author(name: str | None, email: str | None) -> str:
    if name and email:
        return f"{name} <{email}>"
    return name or email or "unknown author"


def _links(d: RegressionDetail, base_url: str | None) -> list[tuple[str, str]]:
    r = d.regression
    links = [
        ("regression", _url(base_url, f"/regressions/{r.id}")),
        ("job", _url(base_url, f"/jobs/{r.first_bad.id}")),
    ]
    if r.last_good is not None:
        links.append(("compare", _url(base_url, f"/compare?a={r.last_good.id}&b={r.first_bad.id}")))
    return links


def _rows(d: RegressionDetail) -> list[tuple[str, str]]:
    """The facts of a record as (label, text) pairs, shared by both parts."""
    r = d.regression
    rows = []
    effect = _effect(d)
    if effect is not None:
        rows.append(("effect", effect))
    if r.specifications and r.kind != "spec_failure":
        rows.append(("now fails", ", ".join(r.specifications)))
    elif r.specifications:
        rows.append(("fails", ", ".join(r.specifications)))
    rows.append(("first bad", _job_facts(r.first_bad)))
    rows.append(("last good", _job_facts(r.last_good) if r.last_good is not None else "none"))
    suspects = "; ".join(f"{c.sha[:10]} by {_author(c.author, c.author_email)}" for c in d.commits)
    rows.append(("suspect commits", suspects or "no commit recorded"))
    rows.append(("packages changed", ", ".join(p.name for p in d.packages) or "none"))
    return rows


def _text_entry(d: RegressionDetail, base_url: str | None) -> str:
    lines = [_headline(d)]
    for label, text in _rows(d):
        # "now fails X" reads as a sentence; the rest as "label: text".
        lines.append(f"  {label} {text}" if label == "now fails" else f"  {label}: {text}")
    for label, url in _links(d, base_url):
        lines.append(f"  {label + ':':<12}{url}")
    return "\n".join(lines)


def _link_html(label: str, url: str) -> str:
    safe = safe_url(url)
    if safe is None:
        return f"{escape(label)}: {escape(url)}"
    return f'<a href="{escape(safe, quote=True)}">{escape(label)}</a>'


_STYLE = (
    "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;"
    "color:#222;max-width:640px"
)


def _html_entry(
    d: RegressionDetail, base_url: str | None, image: str | None, note: str | None
) -> str:
    r = d.regression
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:12px;vertical-align:top;'
        f'font-weight:normal;color:#666">{escape(label)}</th><td>{escape(text)}</td></tr>'
        for label, text in _rows(d)
    )
    links = " · ".join(_link_html(label, url) for label, url in _links(d, base_url))
    if image is not None:
        plot = (
            f'<img src="cid:{escape(image, quote=True)}" width="480" height="200" '
            f'alt="{escape(r.series.metric_name, quote=True)} around the change">'
        )
    else:
        plot = f'<p style="color:#666">{escape(note or "")}</p>' if note else ""
    return (
        f'<h3 style="margin:24px 0 4px">{escape(_headline(d))}</h3>'
        f'<table style="border-collapse:collapse">{rows}</table>'
        f"<div>{plot}</div><p>{links}</p>"
    )


def email_digest(
    title: str,
    details: Sequence[RegressionDetail],
    *,
    base_url: str | None,
    plot: Callable[[RegressionDetail], bytes | None] | None = None,
) -> dict[str, Any]:
    """The outbox payload of a digest email.

    Parameters
    ----------
    title
        The digest's title (the subject without ``[Vigil]``).
    details
        The records, in the order shown.
    base_url
        The server's public address (``VIGIL_BASE_URL``) that links start with.
    plot
        Draws a record's plot: a PNG, or None when there is nothing to draw. Called for
        the first `PLOTTED` records only; without it, the email has no plots.

    Returns
    -------
    dict
        ``subject``, ``text``, ``html`` and ``images``: the inline images as
        ``{"cid": ..., "png": <base64>}``, which the outbox attaches to the HTML part.
    """
    text = [title, ""]
    html = [f'<div style="{_STYLE}"><h2 style="font-size:18px">{escape(title)}</h2>']
    images = []
    for position, d in enumerate(details):
        r = d.regression
        text += [_text_entry(d, base_url), ""]
        cid = note = None
        if plot is not None and position >= PLOTTED:
            note = f"(Plots are shown for the first {PLOTTED} records.)"
        elif plot is not None:
            png = plot(d)
            if png is None:
                note = "(No plot: the series has no value to draw around the change.)"
            else:
                cid = plot_cid(r.id)
                images.append({"cid": cid, "png": base64.b64encode(png).decode("ascii")})
        html.append(_html_entry(d, base_url, cid, note))
    triage = _url(base_url, "/regressions")
    text.append(f"Triage them at {triage}.")
    html.append(f"<p>Triage them at {_link_html('the regressions page', triage)}.</p></div>")
    return {
        "subject": f"[Vigil] {title}",
        "text": "\n".join(text),
        "html": "<!DOCTYPE html><html><body>" + "".join(html) + "</body></html>",
        "images": images,
    }
