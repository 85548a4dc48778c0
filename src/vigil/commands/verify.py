"""``vigil verify``: check lsst.verify files and evaluate measurements against specifications."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

verify_app = typer.Typer(
    name="verify",
    help="Check lsst.verify job, measurement, metric and specification files.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``vigil verify`` to *app*."""
    app.add_typer(verify_app)


def _format_value(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6g}"


def _format_data_id(data_id: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in data_id.items())


@verify_app.command("check")
def check(
    paths: list[Path] = typer.Argument(
        ...,
        help="Job JSON files, measurement YAML files, metric or specification files or "
        "folders (a metrics package such as verify_metrics, a butler tree of measurements).",
    ),
    metrics: Path | None = typer.Option(
        None, "--metrics", "-m", help="A metrics package (metrics/ and specs/) to check against."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Fail when a measurement's metric is not defined."
    ),
    package: str | None = typer.Option(
        None,
        "--package",
        "-p",
        help="Package of measurements whose metric names have none (faro writes 'AM1').",
    ),
    fail_on_spec: bool = typer.Option(
        False, "--fail-on-spec", help="Exit with code 3 when a measurement fails a specification."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Validate files and print their measurements with pass/fail for each specification."""
    from rich.console import Console
    from rich.table import Table

    from vigil.verify import Job, UnknownMetricError, VerifyError
    from vigil.verify.files import LoadedFiles, load_path

    console = Console()
    loaded = LoadedFiles()
    try:
        if metrics is not None:
            load_path(metrics, loaded)
        for path in paths:
            load_path(path, loaded)
    except (VerifyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None

    if package:
        for _, measurement in loaded.measurements:
            if "." not in measurement.metric:
                measurement.metric = f"{package}.{measurement.metric}"
    jobs = list(loaded.jobs)
    if loaded.measurements:
        jobs.append(("measurement files", Job([m for _, m in loaded.measurements])))

    report: dict[str, Any] = {
        "metrics": len(loaded.metrics),
        "specifications": len(loaded.specs),
        "warnings": loaded.warnings,
        "jobs": [],
    }
    failed_specs = 0
    for source, job in jobs:
        for metric in loaded.metrics.values():
            if metric.name not in job.metrics:
                job.metrics.insert(metric)
        for spec in loaded.specs.values():
            if spec.name not in job.specs:
                job.specs.insert(spec)
        unknown = sorted({m.metric for m in job.measurements if m.metric not in job.metrics})
        if unknown and metrics is not None and not strict:
            loaded.warnings.append(
                f"{source}: {len(unknown)} measured metric(s) not defined: {', '.join(unknown)}"
            )
        if strict:
            if unknown:
                error = UnknownMetricError(unknown[0], source=source, known=len(job.metrics))
                typer.echo(f"error: {error} ({len(unknown)} unknown in all)", err=True)
                raise typer.Exit(1)
        verdicts = job.evaluate()
        by_measurement: dict[str, list[Any]] = {}
        for verdict in verdicts:
            by_measurement.setdefault(verdict.measurement.identifier, []).append(verdict)
        rows: list[dict[str, Any]] = []
        for measurement in job.measurements:
            mine = by_measurement.get(measurement.identifier, [])
            failed = [v.spec.name for v in mine if v.passed is False]
            failed_specs += len(failed)
            rows.append(
                {
                    "metric": measurement.metric,
                    "data_id": measurement.data_id,
                    "value": None if math.isnan(measurement.value) else measurement.value,
                    "unit": measurement.unit,
                    "passed": [v.spec.name for v in mine if v.passed],
                    "failed": failed,
                    "no_verdict": [v.spec.name for v in mine if v.passed is None],
                }
            )
        report["jobs"].append({"source": source, "measurements": rows})

        if not as_json:
            table = Table(
                title=f"{source}: {len(job.measurements)} measurements, "
                f"{len(job.specs)} specifications",
                title_justify="left",
            )
            table.add_column("metric", overflow="fold")
            table.add_column("dataId")
            table.add_column("value", justify="right")
            table.add_column("unit")
            table.add_column("specifications")
            for row, measurement in zip(rows, job.measurements, strict=True):
                if row["failed"]:
                    shown = ", ".join(name.rsplit(".", 1)[1] for name in row["failed"][:4])
                    more = f" +{len(row['failed']) - 4}" if len(row["failed"]) > 4 else ""
                    status = f"[red]✖ {len(row['failed'])} failed[/red] ({shown}{more})"
                    if row["passed"]:
                        status += f", [green]✔ {len(row['passed'])}[/green]"
                elif row["passed"]:
                    status = f"[green]✔ {len(row['passed'])} passed[/green]"
                elif row["no_verdict"]:
                    status = "[yellow]NaN: no verdict[/yellow]"
                else:
                    status = "[dim]no specification applies[/dim]"
                table.add_row(
                    measurement.metric,
                    _format_data_id(measurement.data_id),
                    _format_value(measurement.value),
                    measurement.unit,
                    status,
                )
            console.print(table)

    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for warning in loaded.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
        metric_names = set(loaded.metrics).union(*(job.metrics for _, job in jobs))
        spec_names = set(loaded.specs).union(*(job.specs for _, job in jobs))
        console.print(
            f"OK: {len(metric_names)} metrics, {len(spec_names)} specifications, "
            f"{sum(len(j.measurements) for _, j in jobs)} measurements in {len(jobs)} job(s); "
            f"{failed_specs} specification failures."
        )
    if fail_on_spec and failed_specs:
        raise typer.Exit(3)
