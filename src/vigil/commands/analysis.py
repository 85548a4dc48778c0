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

from vigil.commands._database import DATABASE_URL, fail, server_factory

__all__ = ["markdown_summary", "register"]

_MARKS = {
    "regression": "❌",
    "improvement": "✅",
    "change": "⚠️",
    "no change": "·",
    "not enough data": "?",
}


# check --------------------------------------------------------------------------------


def _read_job(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)  # bare NaN, as lsst.verify writes them
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict):
        raise fail(f"{path} is not a job document (a JSON object)")
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


def _data_id(data_id: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(data_id.items()))


def markdown_summary(report: dict[str, Any]) -> str:
    """A pull-request comment of a gate report (the JSON of ``POST /api/gate``)."""
    verdicts = report["verdicts"]
    regressions = report["regression_count"]
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    if regressions:
        head = f"## ❌ Vigil: {regressions} regression{'s' if regressions != 1 else ''}"
    else:
        head = "## ✅ Vigil: no regression"
    where = report.get("branch") or "this job"
    commit = f" at `{report['commit_sha'][:10]}`" if report.get("commit_sha") else ""
    lines = [
        head,
        "",
        f"{where}{commit} against {report['baseline_description']}: "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
        "",
    ]
    shown = [v for v in verdicts if v["verdict"] != "no change"]
    if shown:
        lines += [
            "| | Metric | Dataset | dataId | Value | Baseline | Change | p |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for v in shown:
            lines.append(
                f"| {_MARKS.get(v['verdict'], '')} {v['verdict']} | `{v['metric']}` |"
                f" {v['dataset'] or ''} | {_data_id(v['data_id'])} |"
                f" {_number(v['value'])} {v['unit']} | {_number(v['baseline_median'])} |"
                f" {_percent(v['relative_difference'])} | {_number(v['p_value'], '.2g')} |"
            )
        lines.append("")
    hidden = len(verdicts) - len(shown)
    if hidden:
        lines.append(f"{hidden} series show no change.")
    return "\n".join(lines) + "\n"


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Gate against {report['baseline_description']}")
    for column in ("Verdict", "Metric", "Dataset", "dataId", "Value", "Baseline", "Change", "p"):
        table.add_column(
            column, justify="right" if column in ("Value", "Baseline", "p") else "left"
        )
    styles = {"regression": "bold red", "improvement": "green", "change": "yellow"}
    for v in report["verdicts"]:
        table.add_row(
            v["verdict"],
            v["metric"],
            v["dataset"] or "",
            _data_id(v["data_id"]),
            f"{_number(v['value'])} {v['unit']}".strip(),
            _number(v["baseline_median"]),
            _percent(v["relative_difference"]),
            _number(v["p_value"], ".2g"),
            style=styles.get(v["verdict"]),
        )
    console = Console()
    if not console.is_terminal:
        # CI logs: no terminal width to fit, so do not wrap metric names.
        console = Console(width=200)
    console.print(table)


def check(
    job_file: Annotated[
        Path | None, typer.Argument(help="A job file (lsst.verify Job JSON), not yet stored.")
    ] = None,
    job_id: Annotated[
        int | None, typer.Option("--job-id", help="A job stored on the server instead.")
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(help="main (the default branch), fork-point, or a branch name."),
    ] = "main",
    fork_commit: Annotated[
        str | None,
        typer.Option(help="With --baseline fork-point: the commit the branch left main at."),
    ] = None,
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
    """Gate a job against its baseline: print the verdicts, exit 1 on a regression.

    Appends the Markdown summary to $GITHUB_STEP_SUMMARY when it is set.
    """
    import httpx

    if (job_file is None) == (job_id is None):
        raise fail("give a job file or --job-id N (one of them)")
    if not url:
        raise fail("no server given: pass --url URL or set VIGIL_URL")
    body: dict[str, Any] = {"baseline": baseline, "fork_commit": fork_commit}
    if job_file is not None:
        body["job"] = _clean(_read_job(job_file))
    else:
        body["job_id"] = job_id
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(
            url.rstrip("/") + "/api/gate", json=body, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        try:
            message = response.json()["detail"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise fail(f"the server answered {response.status_code}: {message}")
    report = response.json()
    _print_table(report)
    summary = markdown_summary(report)
    if markdown is not None:
        markdown.write_text(summary, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(summary)
    count = report["regression_count"]
    if count:
        typer.secho(f"{count} regression{'s' if count != 1 else ''}.", fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.secho("No regression.", fg=typer.colors.GREEN)


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
    with server_factory(database_url) as factory:
        pause = interval or factory.settings.worker_interval
        typer.echo("Worker started; Ctrl-C stops it.")
        try:
            while True:
                report = factory.create_worker_service().run_once()
                if not report.idle:
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
    app.command("check")(check)
    app.command("analyse")(analyse)
    app.command("worker")(worker)
