"""``vigil`` commands of the analysis area: check (the CI gate), analyse, worker.

``vigil check`` talks to a server over HTTP (``POST /api/gate``); ``vigil analyse`` and
``vigil worker`` open the server's database like the other server commands.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from vigil.commands._database import DATABASE_URL, fail, server_factory

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_NOT_JUDGED",
    "EXIT_NO_REGRESSION",
    "EXIT_REGRESSION",
    "markdown_summary",
    "register",
]

EXIT_NO_REGRESSION = 0
"""``vigil check``: every series judged shows no regression (or only not judged, allowed)."""
EXIT_REGRESSION = 1
"""``vigil check``: a series regressed (or changed, with no direction known)."""
EXIT_NOT_JUDGED = 2
"""``vigil check``: nothing was judged, or the baseline is missing."""
EXIT_CANNOT_RUN = 3
"""``vigil check``: it could not run (server unreachable, bad input, an HTTP error)."""

_MARKS = {
    "regression": "❌",
    "improvement": "🟢",
    "change": "⚠️",
    "no change": "·",
    "not judged": "❔",
}
_HEADS = {
    "regression": "❌ Vigil",
    "no regression": "✅ Vigil: no regression",
    "not judged": "❔ Vigil: not judged",
}


# check --------------------------------------------------------------------------------


def _cannot_run(message: str) -> typer.Exit:
    """Print ``error: <message>`` on stderr; return the exit (status 3) to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(EXIT_CANNOT_RUN)


class _CheckCommand(TyperCommand):
    """``vigil check``'s command: a command line it cannot parse exits 3 (could not run),
    not 2 (click's usage error), which means "not judged" here."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            # Typer's (vendored) click raises usage errors with exit code 2.
            if getattr(exc, "exit_code", None) == 2:
                setattr(exc, "exit_code", EXIT_CANNOT_RUN)  # noqa: B010
            raise


def _read_job(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _cannot_run(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _cannot_run(f"{path} is not a text file (not UTF-8)") from None
    try:
        document = json.loads(text)  # bare NaN, as lsst.verify writes them
    except json.JSONDecodeError as exc:
        raise _cannot_run(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict):
        raise _cannot_run(f"{path} is not a job document (a JSON object)")
    return document


def _clean(value: Any) -> Any:
    """*value* with NaN and infinities as None, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _number(value: float | None, digits: str = ".4g") -> str:
    return "-" if value is None else format(value, digits)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f} %"


def _effect(v: dict[str, Any]) -> str:
    """The change in noise sigmas, or ``exact`` against a constant baseline."""
    if v.get("kind") == "exact" and v.get("difference"):
        return "exact"
    effect = v.get("effect_size")
    return "" if effect is None else f"{effect:+.1f} sigma"


def _cell(text: Any) -> str:
    """*text* for a Markdown table cell: a ``|`` or a line break would end the cell."""
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _data_id(data_id: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(data_id.items()))


def _value(v: dict[str, Any]) -> str:
    text = f"{_number(v['value'])} {v['unit']}".strip()
    runs = len(v.get("values") or ())
    return f"{text} (median of {runs})" if runs > 1 else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _spec_lines(v: dict[str, Any], status: str) -> list[dict[str, Any]]:
    return [s for s in v.get("specifications", ()) if s["status"] == status]


def _note(v: dict[str, Any]) -> str:
    """What the terminal table says beside a verdict: why not judged, specifications."""
    notes = []
    if v["verdict"] == "not judged":
        notes.append(v.get("reason") or "")
    elif v.get("kind") in ("exact", "specification"):
        notes.append(v["kind"])
    for status, text in (
        ("newly failing", "newly fails"),
        ("still failing", "already failing on the baseline, not blocking:"),
        ("failing", "fails (no baseline):"),
        ("fixed", "now passes"),
    ):
        names = [s["name"] for s in _spec_lines(v, status)]
        if names:
            notes.append(f"{text} {', '.join(names)}")
    return "; ".join(n for n in notes if n)


def markdown_summary(report: dict[str, Any]) -> str:
    """A pull-request comment of a gate report (the JSON of ``POST /api/gate``)."""
    verdicts = report["verdicts"]
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    overall = report.get("verdict", "no regression")
    if overall == "regression":
        blocking = report.get("blocking_count", report["regression_count"])
        head = f"{_HEADS['regression']}: {_plural(blocking, 'regression')}"
    else:
        head = _HEADS.get(overall, overall)
    where = report.get("branch") or "this job"
    commit = f" at `{report['commit_sha'][:10]}`" if report.get("commit_sha") else ""
    runs = len(report.get("job_ids") or ())
    together = f" ({runs} re-runs judged together)" if runs > 1 else ""
    lines = [
        f"## {head}",
        "",
        f"{where}{commit}{together} against {report['baseline_description']}: "
        + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no series"),
        "",
    ]
    links = [f"[job {u.rsplit('/', 1)[-1]}]({u})" for u in report.get("job_urls") or ()]
    if report.get("baseline_job_url"):
        links.append(f"[baseline job {report['baseline_job']['id']}]({report['baseline_job_url']})")
    if report.get("compare_url"):
        links.append(f"[compare]({report['compare_url']})")
    if links:
        lines += [" · ".join(links), ""]
    if report.get("reason"):
        lines += [f"> **Not judged:** {report['reason']}.", ""]
    shown = [v for v in verdicts if v["verdict"] not in ("no change", "not judged")]
    if shown:
        lines += [
            "| | Metric | Dataset | dataId | Value | Baseline | Change | Effect | p |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for v in shown:
            kind = f" ({v['kind']})" if v.get("kind") in ("exact", "specification") else ""
            lines.append(
                f"| {_MARKS.get(v['verdict'], '')} {v['verdict']}{kind} | `{v['metric']}` |"
                f" {_cell(v['dataset'])} | {_cell(_data_id(v['data_id']))} | {_value(v)} |"
                f" {_number(v['baseline_median'])} | {_percent(v['relative_difference'])} |"
                f" {_effect(v)} | {_number(v['p_value'], '.2g')} |"
            )
        lines.append("")
    newly = [(v, s) for v in verdicts for s in _spec_lines(v, "newly failing")]
    if newly:
        lines += [
            "### Newly failing specifications",
            "",
            "| Specification | dataId | Value | Threshold | Baseline | Change | Effect |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for v, s in newly:
            lines.append(
                f"| `{s['name']}` | {_cell(_data_id(v['data_id']))} | {_value(v)} |"
                f" {s['operator']} {_number(s['threshold'])} {s['threshold_unit']} |"
                f" {_number(v['baseline_median'])} | {_percent(v['relative_difference'])} |"
                f" {_effect(v)} |"
            )
        lines.append("")
    failing = [
        (v, s) for v in verdicts for st in ("still failing", "failing") for s in _spec_lines(v, st)
    ]
    if failing:
        lines += ["### Specifications failing already (not blocking)", ""]
        for v, s in failing:
            where_id = f" ({_data_id(v['data_id'])})" if v["data_id"] else ""
            why = "fails on the baseline too" if s["status"] == "still failing" else "no baseline"
            lines.append(
                f"- `{s['name']}`{where_id}: {_value(v)} against {s['operator']}"
                f" {_number(s['threshold'])} {s['threshold_unit']}; {why}"
            )
        lines.append("")
    not_judged = [v for v in verdicts if v["verdict"] == "not judged"]
    if not_judged:
        lines += [
            "### Not judged",
            "",
            "| | Metric | Dataset | dataId | Reason |",
            "| --- | --- | --- | --- | --- |",
        ]
        for v in not_judged:
            lines.append(
                f"| {_MARKS['not judged']} | `{v['metric']}` | {_cell(v['dataset'])} |"
                f" {_cell(_data_id(v['data_id']))} | {_cell(v.get('reason'))} |"
            )
        lines.append("")
    unchanged = counts.get("no change", 0)
    if unchanged:
        lines.append(f"{unchanged} series show no change.")
    return "\n".join(lines).rstrip("\n") + "\n"


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Gate against {report['baseline_description']}")
    columns = ("Verdict", "Metric", "Dataset", "dataId", "Value", "Baseline", "Change")
    for column in (*columns, "Effect", "p", "Note"):
        table.add_column(
            column, justify="right" if column in ("Value", "Baseline", "p") else "left"
        )
    styles = {
        "regression": "bold red",
        "change": "yellow",
        "improvement": "green",
        "not judged": "magenta",
    }
    for v in report["verdicts"]:
        table.add_row(
            f"{_MARKS.get(v['verdict'], '')} {v['verdict']}",
            v["metric"],
            v["dataset"] or "",
            _data_id(v["data_id"]),
            _value(v),
            _number(v["baseline_median"]),
            _percent(v["relative_difference"]),
            _effect(v),
            _number(v["p_value"], ".2g"),
            _note(v),
            style=styles.get(v["verdict"]),
        )
    console = Console()
    if not console.is_terminal:
        # CI logs: no terminal width to fit, so do not wrap metric names.
        console = Console(width=220)
    console.print(table)


def _post(url: str, body: dict[str, Any], token: str | None, timeout: float) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(
            url.rstrip("/") + "/api/gate", json=body, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise _cannot_run(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        try:
            message = response.json()["detail"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise _cannot_run(f"the server answered {response.status_code}: {message}")
    try:
        report = response.json()
    except ValueError:
        raise _cannot_run(f"the server's answer is not JSON: {response.text[:200]!r}") from None
    if not isinstance(report, dict) or "verdicts" not in report:
        raise _cannot_run(f"{url} did not answer with a gate report; is it a Vigil server?")
    return report


def check(
    job_files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Job files (lsst.verify Job JSON), not yet stored; several are re-runs of"
            " one commit, judged together.",
            show_default=False,
        ),
    ] = None,
    job_id: Annotated[
        list[int] | None,
        typer.Option(
            "--job-id",
            help="A job stored on the server instead; repeat for re-runs of one commit.",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(help="main (the default branch), fork-point, or a branch name."),
    ] = "main",
    fork_commit: Annotated[
        str | None,
        typer.Option(help="With --baseline fork-point: the commit the branch left main at."),
    ] = None,
    allow_not_judged: Annotated[
        bool,
        typer.Option(
            "--allow-not-judged",
            help="Exit 0 instead of 2 when nothing could be judged or the baseline is missing.",
        ),
    ] = False,
    url: Annotated[
        str | None, typer.Option(envvar="VIGIL_URL", help="Root URL of the Vigil server.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="VIGIL_TOKEN", help="API token, if the server needs one to read."),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write a Markdown summary (a pull-request comment) here.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds allowed to the request.")
    ] = 60.0,
) -> None:
    """Gate a job, or re-runs of one commit judged together, against their baseline.

    Exit codes: 0 no regression; 1 a regression (or a change of a metric without a
    direction, or a newly failing specification); 2 nothing judged or the baseline
    missing (0 with --allow-not-judged); 3 could not run (server unreachable, bad input,
    an HTTP error). Appends the Markdown summary to $GITHUB_STEP_SUMMARY when it is set.
    """
    files, ids = job_files or [], job_id or []
    if not files and not ids:
        raise _cannot_run("give one or more job files, or --job-id N (repeatable)")
    if not url:
        raise _cannot_run("no server given: pass --url URL or set VIGIL_URL")
    body: dict[str, Any] = {
        "baseline": baseline,
        "fork_commit": fork_commit,
        "jobs": [_clean(_read_job(path)) for path in files],
        "job_ids": ids,
    }
    report = _post(url, body, token, timeout)
    _print_table(report)
    summary = markdown_summary(report)
    try:
        if markdown is not None:
            markdown.write_text(summary, encoding="utf-8")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as out:
                out.write(summary)
    except OSError as exc:
        raise _cannot_run(f"cannot write the Markdown summary: {exc}") from None
    overall = report.get("verdict")
    judged, not_judged = report.get("judged_count", 0), report.get("not_judged_count", 0)
    if overall == "regression":
        count = report.get("blocking_count", report["regression_count"])
        typer.secho(f"{_plural(count, 'regression')}.", fg=typer.colors.RED)
        raise typer.Exit(EXIT_REGRESSION)
    if overall == "not judged":
        why = report.get("reason") or f"none of the {_plural(not_judged, 'series')} could be judged"
        if allow_not_judged:
            typer.secho(
                f"Not judged ({why}); allowed by --allow-not-judged.", fg=typer.colors.YELLOW
            )
            raise typer.Exit(EXIT_NO_REGRESSION)
        typer.secho(f"Not judged: {why}.", fg=typer.colors.YELLOW)
        raise typer.Exit(EXIT_NOT_JUDGED)
    extra = f", {not_judged} not judged" if not_judged else ""
    typer.secho(f"No regression ({judged} series judged{extra}).", fg=typer.colors.GREEN)


# analyse ------------------------------------------------------------------------------


def analyse(
    metric: Annotated[str | None, typer.Option(help="Only the series of this metric.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only the series on this dataset.")] = None,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Re-run change-point detection over the stored history of every series.

    Records are created, moved or dissolved to match what the data show; records found
    this way are not announced to subscribers.
    """
    from rich.progress import Progress

    from vigil.server.services.regressions import AnalysisReport

    with server_factory(database_url) as factory:
        service = factory.create_regression_service()
        ids = service.series_ids(metric=metric, dataset=dataset)
        if not ids:
            raise fail("no series matches; check --metric and --dataset")
        total = AnalysisReport()
        with Progress() as progress:
            task = progress.add_task("Analysing series", total=len(ids))
            for series_id in ids:
                total.add(service.analyse(series_id))
                progress.advance(task)
    typer.echo(
        f"{total.series} series analysed: {total.created} new, {total.moved} moved,"
        f" {total.dissolved} dissolved, {total.fixed} specification failures fixed."
    )


# worker -------------------------------------------------------------------------------


def worker(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(min=0.01, help="Seconds between passes (default VIGIL_WORKER_INTERVAL)."),
    ] = None,
    database_url: str | None = DATABASE_URL,
) -> None:
    """Analyse stored jobs and deliver notifications, in a loop (Ctrl-C stops).

    Run one or more beside API servers started with VIGIL_BACKGROUND_WORKER=false.
    """
    from vigil.server.background import run_pass

    with server_factory(database_url, wait=True) as factory:
        pause = interval or factory.settings.worker_interval
        typer.echo("Worker started; Ctrl-C stops it.")
        try:
            while True:
                # A database that drops out is one line a pass, tried again the next pass.
                report, outage = run_pass(factory)
                if outage is not None:
                    if once:
                        raise fail(outage)
                    typer.echo(f"error: {outage}; trying again in {pause:g} s", err=True)
                elif not report.idle:
                    a, d = report.analysis, report.delivery
                    typer.echo(
                        f"{a.series} series analysed ({a.created} new, {a.moved} moved,"
                        f" {a.dissolved} dissolved, {a.fixed} fixed); {report.queued_messages}"
                        f" messages queued; {d.delivered} delivered, {d.retried} to retry,"
                        f" {d.given_up} given up"
                    )
                if once:
                    return
                time.sleep(pause)
        except KeyboardInterrupt:
            typer.echo("Worker stopped.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("check", cls=_CheckCommand)(check)
    app.command("analyse")(analyse)
    app.command("worker")(worker)
