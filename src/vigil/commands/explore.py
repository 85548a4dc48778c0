"""``vigil`` commands of the explore area: ``vigil compute`` and ``vigil demo catalog``.

Each command is one function listed in `COMMANDS` (top-level) or `DEMO_COMMANDS` (under
``vigil demo``); `register` adds them all. Heavy imports (DuckDB, PyArrow, pandas) happen
inside the command bodies so that ``vigil --help`` stays quick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["COMMANDS", "DEMO_COMMANDS", "compute", "demo_catalog", "explore", "register"]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress display, as a ``progress(step, done, total)`` callback."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=total)
            bars.update(tasks[step], completed=done, total=total)

        yield update


DASK_HELP = (
    "Run on a Dask cluster: a scheduler's address (tcp://scheduler:8786), or 'local' /"
    " 'local:N' for a cluster of worker processes on this machine. The workers must see"
    " the repository at the same path."
)


@contextmanager
def _dask(console: Console, spec: str | None) -> Iterator[Any]:
    """The Dask cluster *spec* names, open for the block (None without one)."""
    if spec is None:
        yield None
        return
    from vigil.compute.dask_cluster import DaskConnectionError, open_cluster

    try:
        cluster = open_cluster(spec)
    except DaskConnectionError as exc:
        raise _fail(f"--dask: {exc.message}") from None
    with cluster:
        console.print(f"Dask cluster {escape(cluster.spec)}: {cluster.workers} workers")
        yield cluster


def _compute(
    console: Console,
    repo: Path,
    metrics: list[str] | None,
    threads: int,
    dask_client: Any = None,
) -> None:
    from vigil.compute import ComputeError, compute_repository

    try:
        with _progress(console) as progress:
            report = compute_repository(
                repo, names=metrics, progress=progress, threads=threads, dask_client=dask_client
            )
    except ComputeError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"{len(report.computed)} metrics, {report.rows:,} values written to"
        f" {escape(str(repo / 'metrics'))} in {report.seconds:.1f} s"
    )
    for name, reason in report.skipped.items():
        console.print(f"  skipped {escape(name)}: {escape(reason)}", style="dim")
    for name, note in report.notes.items():
        console.print(f"  {escape(name)}: {escape(note)}", style="dim")


def compute(
    repo: Path = typer.Argument(..., help="The data repository (created by --input if new)."),
    metric: list[str] | None = typer.Option(
        None,
        "--metric",
        "-m",
        help="A metric to compute (repeatable); a template such as"
        " 'psf_size_residual_{band}' means every band. Default: those of vigil-repo.yaml,"
        " else every standard metric the tables have columns for.",
        show_default=False,
    ),
    inputs: list[Path] | None = typer.Option(
        None,
        "--input",
        "-i",
        help="A catalogue (Parquet or FITS) to load into objects/ first (repeatable).",
        show_default=False,
    ),
    mapping: str = typer.Option(
        "auto", help="Column mapping of the inputs: hsc-legacy, hsc-faro, native or auto."
    ),
    band: str | None = typer.Option(
        None, help="Band of a single-band input catalogue (hsc-legacy).", show_default=False
    ),
    tract: int | None = typer.Option(
        None, help="Tract of every input row (default: from the object ids).", show_default=False
    ),
    threads: int = typer.Option(2, min=1, help="Files computed at the same time."),
    dask: str | None = typer.Option(None, "--dask", help=DASK_HELP, show_default=False),
    repeatability: str | None = typer.Option(
        None,
        "--repeatability",
        metavar="BAND",
        help="Print the repeatability metrics PA1 (mmag) and AM1 (mas) of BAND from the"
        " matched visit sources, and stop (no metric tables written).",
        show_default=False,
    ),
    psf: str | None = typer.Option(
        None,
        "--psf",
        metavar="BAND",
        help="Print the PSF ellipticity and size residuals of the stars of BAND's visit"
        " sources and their rho statistics, and stop (no metric tables written).",
        show_default=False,
    ),
    butler: str | None = typer.Option(
        None,
        "--butler",
        help="A Gen3 Butler repository to write the computed tables into as datasets"
        " (needs the lsst extra; see docs/lsst.md).",
        show_default=False,
    ),
    run: str | None = typer.Option(
        None,
        "--run",
        help="The Butler run collection to write (with --butler).",
        show_default=False,
    ),
    skymap: str | None = typer.Option(
        None,
        help="The Butler skymap of the tracts (default: vigil-repo.yaml's skymap).",
        show_default=False,
    ),
    instrument: str | None = typer.Option(
        None,
        help="The Butler instrument of the visits (default: vigil-repo.yaml's instrument).",
        show_default=False,
    ),
    register_dimensions: bool = typer.Option(
        False,
        "--register-dimensions",
        help="Add the skymap, tracts, instrument and visits the Butler registry lacks"
        " (a new repository); without it they are an error.",
    ),
) -> None:
    """Compute a data repository's metric tables (tidy Parquet, one file per tract or visit).

    Reads only the columns each metric declares, writes metrics/<metric>/tract=<t>.parquet
    and visit=<v>.parquet, and records in vigil-repo.yaml what was computed, with which
    selection, and the provenance. With --dask, each file is a task of a Dask cluster
    (results identical to a run here). With --butler and --run, the tables, the catalogues
    and vigil-repo.yaml then go into that run of a Gen3 Butler repository as datasets
    (vigil_metric_<metric>, vigil_objects, vigil_sources, vigil_repo).
    """
    if (butler is None) != (run is None):
        raise _fail("--butler and --run go together: give the Butler repository and the run")
    if butler is not None and run is not None:
        from vigil.lsst import ButlerError
        from vigil.lsst.repository import check_target

        try:
            check_target(butler, run)  # before the work, not after it
        except ButlerError as exc:
            raise _fail(exc.message) from None
    console = Console()
    if not inputs and not repo.exists():
        raise _fail(f"{repo} does not exist: give a repository, or catalogues with --input")
    if repeatability is not None:
        _repeatability(console, repo, repeatability)
        return
    if psf is not None:
        _psf(console, repo, psf)
        return
    with _dask(console, dask) as cluster:  # before the work, not after it
        if inputs:
            _load(console, repo, inputs, mapping, band, tract)
        _compute(console, repo, metric, threads, cluster.client if cluster else None)
    if butler is not None and run is not None:
        _store_in_butler(console, repo, butler, run, skymap, instrument, register_dimensions)


def _repeatability(console: Console, repo: Path, band: str) -> None:
    from vigil.compute import ComputeError
    from vigil.compute.repeatability import am1, pa1

    for measure in (pa1, am1):
        try:
            result = measure(repo, band)
        except ComputeError as exc:
            raise _fail(exc.message) from None
        console.print(escape(result.describe()))


def _psf(console: Console, repo: Path, band: str) -> None:
    from vigil.commands._psf_tables import print_psf_report
    from vigil.compute import ComputeError
    from vigil.compute.psf import psf_report

    try:
        report = psf_report(repo, band)
    except ComputeError as exc:
        raise _fail(exc.message) from None
    print_psf_report(console, report)


def _load(
    console: Console,
    repo: Path,
    inputs: list[Path],
    mapping: str,
    band: str | None,
    tract: int | None,
) -> None:
    """Load the catalogues *inputs* into the objects of *repo*."""
    from vigil.compute import ComputeError
    from vigil.compute.mapping import import_catalog

    for path in inputs:
        try:
            loaded = import_catalog(path, repo, mapping=mapping, band=band, tract=tract)
        except ComputeError as exc:
            raise _fail(exc.message) from None
        console.print(
            f"Loaded {loaded.rows:,} objects of {escape(str(path))} ({loaded.mapping};"
            f" bands {', '.join(loaded.bands)}; tracts {', '.join(map(str, loaded.tracts))})"
        )


def _store_in_butler(
    console: Console,
    repo: Path,
    butler: str,
    run: str,
    skymap: str | None,
    instrument: str | None,
    register_dimensions: bool,
) -> None:
    from vigil.lsst import ButlerError, store_repository

    try:
        with _progress(console) as progress:
            report = store_repository(
                repo,
                butler,
                run,
                skymap=skymap,
                instrument=instrument,
                register_dimensions=register_dimensions,
                progress=progress,
            )
    except ButlerError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"{report.datasets} datasets of {len(report.dataset_types)} dataset types written to"
        f" run {escape(run)} of {escape(butler)} in {report.seconds:.1f} s"
    )
    if report.records:
        console.print(f"  added to the registry: {escape(', '.join(report.records))}", style="dim")


def demo_catalog(
    out: Path = typer.Option(..., "--out", help="The repository folder to write."),
    tracts: int = typer.Option(4, min=1, max=1000, help="Tracts (9813, 9814, ...)."),
    objects_per_tract: int = typer.Option(
        20_000, min=100, help="Objects in each tract's coadd table."
    ),
    visits: int | None = typer.Option(
        None,
        min=2,
        help="Visits, each covering one tract in one band (default: two per band and tract).",
        show_default=False,
    ),
    bands: str = typer.Option("g,r,i", help="Bands, comma-separated, from ugrizy."),
    seed: int = typer.Option(9813, min=0, help="Seed of everything random."),
    compute_metrics: bool = typer.Option(
        True, "--compute/--no-compute", help="Compute the standard metrics once written."
    ),
) -> None:
    """Write an HSC-like data repository with a bad patch, a bad visit and a bad CCD.

    Coadd object tables per tract and visit source tables per visit (detectors 0-103),
    realistic columns and ranges; the planted problems are listed under 'truth' in
    vigil-repo.yaml.
    """
    from vigil.demo.catalog import generate_catalog

    console = Console()
    band_list = [b.strip() for b in bands.split(",") if b.strip()]
    try:
        with _progress(console) as progress:
            catalog = generate_catalog(
                out,
                tracts=tracts,
                objects_per_tract=objects_per_tract,
                visits=visits,
                bands=band_list,
                seed=seed,
                progress=progress,
            )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"Wrote {catalog.objects:,} objects in {len(catalog.tracts)} tracts and"
        f" {catalog.sources:,} sources in {len(catalog.visits)} visits to {escape(str(out))}"
    )
    for problem in catalog.problems:
        where = ", ".join(f"{k} {v}" for k, v in problem.data_id.items())
        console.print(f"  planted {problem.kind}: {where} ({problem.metric})")
    if compute_metrics:
        _compute(console, out, None, 2)


def explore(
    repo: Path | None = typer.Argument(
        None, help="The data repository to explore (or --butler).", show_default=False
    ),
    compare: Path | None = typer.Option(
        None, "--compare", help="A second repository to compare with.", show_default=False
    ),
    butler: str | None = typer.Option(
        None,
        "--butler",
        help="Explore the Vigil datasets of a Gen3 Butler repository instead of a folder"
        " (needs the lsst extra).",
        show_default=False,
    ),
    collections: list[str] | None = typer.Option(
        None,
        "--collections",
        help="Butler collections to read, first found wins (comma-separated or repeated).",
        show_default=False,
    ),
    compare_collections: list[str] | None = typer.Option(
        None,
        "--compare-collections",
        help="Butler collections to compare with (comma-separated or repeated).",
        show_default=False,
    ),
    port: int = typer.Option(5006, min=0, max=65535, help="Port to listen on (0: any free)."),
    address: str = typer.Option(
        "127.0.0.1", help="Address to listen on (0.0.0.0: every interface, for other machines)."
    ),
    allow_websocket_origin: list[str] | None = typer.Option(
        None,
        "--allow-websocket-origin",
        help="HOST[:PORT] other machines open the app at (repeatable), e.g."
        " 'qa-box.example.org:5006'; needed with --address for a browser elsewhere.",
        show_default=False,
    ),
    show: bool = typer.Option(True, "--show/--no-show", help="Open a browser tab."),
    dask: str | None = typer.Option(None, "--dask", help=DASK_HELP, show_default=False),
) -> None:
    """Serve the drill-down explorer of a repository on 127.0.0.1 (docs/explorer.md).

    The URL's metric, band, tract, patch, visit and detector arguments open a metric at
    a dataId. For a browser on another machine, listen with --address and name the host
    it uses with --allow-websocket-origin, or use the server's /explore pages. With
    --dask, every query (quick look, aggregates, source lists) runs on a Dask cluster.
    """
    from vigil.compute import ComputeError
    from vigil.explorer.mount import serve_explorer
    from vigil.explorer.query import default_engine

    if butler is None:
        if collections or compare_collections:
            raise _fail("--collections and --compare-collections read a Butler: give --butler")
        if repo is None:
            raise _fail("give a data repository, or a Butler with --butler and --collections")
    elif repo is not None:
        raise _fail(f"give a repository folder ({repo}) or --butler, not both")
    elif compare is not None:
        raise _fail("with --butler, compare with --compare-collections, not --compare")
    for path in (repo, compare):
        if path is not None and not path.is_dir():
            raise _fail(f"{path} is not a folder: give a data repository (vigil demo catalog)")
    console = Console()
    try:
        with ExitStack() as stack:
            cluster = stack.enter_context(_dask(console, dask))
            if cluster is not None:
                stack.enter_context(default_engine("dask", cluster.client))
            if butler is not None:
                import signal

                from vigil.lsst import butler_view

                # The view's folder is removed on the way out, on SIGTERM as on Ctrl-C.
                signal.signal(signal.SIGTERM, _exit_on_signal)
                from vigil.lsst._butler import split_collections

                repo = stack.enter_context(
                    butler_view(butler, split_collections(collections or []))
                )
                if compare_collections:
                    compare = stack.enter_context(
                        butler_view(butler, split_collections(compare_collections))
                    )
            assert repo is not None
            serve_explorer(
                repo,
                compare,
                port=port,
                show=show,
                address=address,
                allow_websocket_origin=allow_websocket_origin or (),
            )
    except ComputeError as exc:
        raise _fail(exc.message) from None


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


COMMANDS: dict[str, Callable[..., None]] = {"compute": compute, "explore": explore}
"""Top-level commands of this area, by name."""

DEMO_COMMANDS: dict[str, Callable[..., None]] = {"catalog": demo_catalog}
"""Commands under ``vigil demo``, by name."""


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    for name, command in COMMANDS.items():
        app.command(name)(command)
    from vigil.commands.demo import demo_app

    present = {c.name for c in demo_app.registered_commands}
    for name, command in DEMO_COMMANDS.items():
        if name not in present:  # register() may run for several apps (tests)
            demo_app.command(name)(command)
