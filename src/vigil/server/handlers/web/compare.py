"""The compare page: a branch or a job beside its baseline (``/compare``).

``/compare?a=<job id>&b=<job id>`` puts job *b* beside job *a*;
``/compare?branch=<name>[&baseline=main][&dataset=...]`` puts a branch's latest job
beside the latest comparable job of the baseline branch. Without either, the page lists
the recently active branches. ``?format=json`` is the JSON twin.
The values of its FITS image pairs come from ``/api/compare/fits``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...dependencies import factory_dependency
from ...domain import JobSummary, PackageChanges
from ...factory import Factory
from ...services.compare import (
    DEFAULT_HISTORY,
    MIN_HISTORY,
    UNUSUAL_Z,
    BranchActivity,
    CompareQuery,
    Comparison,
    ImagePair,
    PackageCommits,
    SeriesDelta,
    data_id_text,
)
from ._format import commit_url, compare_url, safe_url, series_url
from ._render import PageRoute, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# The JSON twin (also what the templates read as ``page``) -----------------------------


def _artifact_url(job_id: int, name: str) -> str:
    return f"/api/jobs/{job_id}/artifacts/{quote(name)}"


class JobRef(BaseModel):
    """One side of the comparison."""

    id: int
    identifier: str
    url: str = Field(description="The job's page.")
    time: datetime = Field(description="When the job ran (else when it was received).")
    branch: str | None
    commit: str | None
    pull_request: int | None
    dataset: str | None
    instrument: str | None
    filter_name: str | None
    environment: str | None
    ci_url: str | None = Field(description="The CI run: an http(s) URL, else null.")
    author: str | None

    @classmethod
    def from_domain(cls, job: JobSummary) -> JobRef:
        """The reference of a job summary."""
        f = job.facts
        return cls(
            id=job.id,
            identifier=job.identifier,
            url=f"/jobs/{job.id}",
            time=f.run_at or job.created_at,
            branch=f.branch,
            commit=f.commit_sha,
            pull_request=f.pull_request,
            dataset=f.dataset,
            instrument=f.instrument,
            filter_name=f.filter_name,
            environment=f.environment,
            ci_url=safe_url(f.ci_url),
            author=f.author,
        )


class DeltaRow(BaseModel):
    """How one series moved from job ``a`` to job ``b`` (values in the metric's unit)."""

    rank: int = Field(description="Position in the worst-first order (0 = worst).")
    series_key: str
    metric: str
    metric_url: str = Field(description="The metric page of this series (dataset, dataId).")
    dataset: str | None = Field(None, description="The series' dataset.")
    data_id: dict[str, Any]
    data_id_text: str = Field(description="The dataId as ``band=r, patch=40``.")
    unit: str
    a: float | None = Field(description="Value in job a; null is NaN.")
    b: float | None = Field(description="Value in job b; null is NaN.")
    delta: float | None = Field(description="b - a.")
    percent: float | None = Field(description="100 (b - a) / |a|.")
    sigma: float | None = Field(description="Robust noise of one value of the series.")
    sigma_delta: float | None = Field(
        None, description="Noise of the delta (a difference of two values): sigma * sqrt(2)."
    )
    history: int = Field(description="Finite baseline points the noise comes from.")
    z: float | None = Field(
        description="How unusual the change is: the Gaussian-equivalent significance of"
        " delta / sigma_delta (|z| >= 3 as rare as a 3-sigma Gaussian event)."
    )
    p_value: float | None = Field(
        None, description="Two-sided: how often unchanged data differ at least this much."
    )
    direction: str | None = Field(description="Which way is better: lower, higher, null.")
    change: str = Field(
        description="worse, better, changed, within noise, unchanged, became NaN,"
        " no longer NaN or both NaN."
    )
    unusual: bool | None = Field(description="Stands out of the noise; null when unknown.")

    @classmethod
    def from_domain(cls, d: SeriesDelta) -> DeltaRow:
        """The row of a series delta."""
        return cls(
            rank=d.rank,
            series_key=d.series_key,
            metric=d.metric,
            metric_url=series_url(d.metric, d.dataset, d.data_id),
            dataset=d.dataset,
            data_id=d.data_id,
            data_id_text=data_id_text(d.data_id),
            unit=d.unit,
            a=d.a,
            b=d.b,
            delta=d.delta,
            percent=d.percent,
            sigma=d.sigma,
            sigma_delta=d.sigma_delta,
            history=d.history,
            z=d.z,
            p_value=d.p_value,
            direction=d.direction,
            change=d.change,
            unusual=d.unusual,
        )


class ImagePairRow(BaseModel):
    """Two different images of the same name."""

    name: str
    a_url: str
    b_url: str
    a_sha256: str
    b_sha256: str

    @classmethod
    def from_domain(cls, pair: ImagePair) -> ImagePairRow:
        """The row of an image pair."""
        return cls(
            name=pair.name,
            a_url=_artifact_url(pair.a.job_id, pair.name),
            b_url=_artifact_url(pair.b.job_id, pair.name),
            a_sha256=pair.a.sha256,
            b_sha256=pair.b.sha256,
        )


class CommitRow(BaseModel):
    """One commit of a package between job a and job b."""

    sha: str
    url: str | None = Field(description="The commit's web page (http(s)), else null.")
    author: str | None = Field(description="Its author, when a job ran it as its own commit.")


class FitsPairRow(ImagePairRow):
    """Two different FITS images of the same name, compared by value."""

    values_url: str = Field(description="A, B and A - B as float32 values (the API's).")

    @classmethod
    def from_pair(cls, pair: ImagePair) -> FitsPairRow:
        """The row of a FITS pair."""
        query = urlencode({"a": pair.a.job_id, "b": pair.b.job_id, "name": pair.name})
        return cls(
            **ImagePairRow.from_domain(pair).model_dump(), values_url=f"/api/compare/fits?{query}"
        )


class PackageRow(BaseModel):
    """A software package added, changed or removed from job a to job b."""

    name: str
    change: Literal["added", "changed", "removed"]
    before: str | None = Field(description="Version (or short SHA) in job a.")
    after: str | None = Field(description="Version (or short SHA) in job b.")
    compare_url: str | None = Field(
        None, description="The commits from a to b on the package's repository (http(s))."
    )
    commits: list[CommitRow] = Field(
        default_factory=list,
        description="The package's commits from a to b, newest first, with their authors.",
    )
    commits_complete: bool = Field(
        True, description="False when older commits of the range may be missing."
    )

    @staticmethod
    def rows(
        changes: PackageChanges | None, commits: dict[str, PackageCommits] | None = None
    ) -> list[PackageRow]:
        """The rows of a job-to-job package diff, with the commits of each change."""
        if changes is None:
            return []

        def label(version: str | None, sha: str | None) -> str | None:
            return version or (sha[:10] if sha else None)

        rows = []
        for c in changes.changed:
            found = (commits or {}).get(c.name)
            git_url = c.after.git_url or c.before.git_url
            rows.append(
                PackageRow(
                    name=c.name,
                    change="changed",
                    before=label(c.before.version, c.before.git_sha),
                    after=label(c.after.version, c.after.git_sha),
                    compare_url=compare_url(git_url, c.before.git_sha, c.after.git_sha),
                    commits=[
                        CommitRow(
                            sha=x.sha,
                            url=commit_url(git_url or found.git_url, x.sha),
                            author=x.author,
                        )
                        for x in found.commits
                    ]
                    if found
                    else [],
                    commits_complete=found.complete and not found.truncated if found else True,
                )
            )
        rows += [
            PackageRow(name=p.name, change="added", before=None, after=label(p.version, p.git_sha))
            for p in changes.added
        ]
        rows += [
            PackageRow(
                name=p.name, change="removed", before=label(p.version, p.git_sha), after=None
            )
            for p in changes.removed
        ]
        return rows


class CompareFilters(BaseModel):
    """The query-string state of the page (a permalink restores it)."""

    q: str | None
    unusual: bool
    sort: str
    dir: Literal["asc", "desc"]
    history: int


class ComparePage(BaseModel):
    """``/compare?a=&b=`` or ``/compare?branch=``: job b judged against job a."""

    mode: Literal["jobs", "branch"]
    a: JobRef = Field(description="The baseline job.")
    b: JobRef = Field(description="The job judged against it.")
    permalink: str = Field(description="This exact pair of jobs, with the same filters.")
    history_branch: str | None = Field(description="Branch whose points give the noise.")
    filters: CompareFilters
    unusual_z: float = Field(description="|z| from which a change is unusual.")
    min_history: int = Field(description="Fewest baseline points that give a noise.")
    in_common: bool = Field(description="Whether the jobs share any series or image.")
    total: int = Field(description="Series measured by both jobs.")
    counts: dict[str, int] = Field(description="Series per kind of change (all series).")
    deltas: list[DeltaRow] = Field(description="The series the filters select, sorted.")
    only_in_a: int
    only_in_b: int
    images: list[ImagePairRow] = Field(description="Images of the same name that differ.")
    fits: list[FitsPairRow] = Field(
        default_factory=list, description="FITS images of the same name that differ."
    )
    identical_images: list[str] = Field(description="Images with the same SHA-256.")
    images_only_in_a: list[str]
    images_only_in_b: list[str]
    packages: list[PackageRow]

    @classmethod
    def from_domain(cls, c: Comparison, query: CompareQuery) -> ComparePage:
        """The page of a comparison."""
        filters = CompareFilters(
            q=query.text or None,
            unusual=query.unusual_only,
            sort=query.sort,
            dir="desc" if query.descending else "asc",
            history=query.history,
        )
        params: dict[str, Any] = {"a": c.a.id, "b": c.b.id}
        if filters.q:
            params["q"] = filters.q
        if filters.unusual:
            params["unusual"] = "true"
        if filters.sort != "rank" or filters.dir != "asc":
            params.update(sort=filters.sort, dir=filters.dir)
        if filters.history != DEFAULT_HISTORY:
            params["history"] = filters.history
        return cls(
            mode="branch" if c.mode == "branch" else "jobs",
            a=JobRef.from_domain(c.a),
            b=JobRef.from_domain(c.b),
            permalink="/compare?" + urlencode(params),
            history_branch=c.history_branch,
            filters=filters,
            unusual_z=UNUSUAL_Z,
            min_history=MIN_HISTORY,
            in_common=c.in_common,
            total=c.total,
            counts=c.counts,
            deltas=[DeltaRow.from_domain(d) for d in c.deltas],
            only_in_a=c.only_in_a,
            only_in_b=c.only_in_b,
            images=[ImagePairRow.from_domain(p) for p in c.images],
            fits=[FitsPairRow.from_pair(p) for p in c.fits],
            identical_images=c.identical_images,
            images_only_in_a=c.images_only_in_a,
            images_only_in_b=c.images_only_in_b,
            packages=PackageRow.rows(c.packages, c.commits),
        )


class BranchRow(BaseModel):
    """A branch that can be compared with the baseline."""

    name: str
    jobs: int
    last_run: datetime
    compare_url: str


class BranchesPage(BaseModel):
    """``/compare`` with nothing chosen: the recently active branches."""

    baseline: str
    branches: list[BranchRow]

    @classmethod
    def from_domain(cls, branches: list[BranchActivity], baseline: str) -> BranchesPage:
        """The page of a branch list."""
        return cls(
            baseline=baseline,
            branches=[
                BranchRow(
                    name=b.name,
                    jobs=b.jobs,
                    last_run=b.last_run,
                    compare_url="/compare?" + urlencode({"branch": b.name}),
                )
                for b in branches
            ],
        )


# The page --------------------------------------------------------------------------------


@router.get("/compare")
def compare_page(
    request: Request,
    a: int | None = Query(None, description="Baseline job id."),
    b: int | None = Query(None, description="Job id judged against the baseline."),
    branch: str | None = Query(None, description="Compare this branch's latest job."),
    baseline: str | None = Query(None, description="Baseline branch (default: main)."),
    dataset: str | None = Query(None, description="The branch's latest job on this dataset."),
    history: int = Query(DEFAULT_HISTORY, description="Baseline points per series' noise."),
    q: str | None = Query(None, description="Only series whose metric or dataId has this."),
    unusual: bool = Query(False, description="Only changes that stand out of the noise."),
    sort: str = Query("rank", description="Column to sort by; rank is worst first."),
    order: Literal["asc", "desc"] = Query("asc", alias="dir", description="Sort direction."),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """The compare page, or the list of branches to compare when nothing is chosen."""
    service = factory.create_compare_service()
    if a is None and b is None and branch is None:
        branches = service.recent_branches()
        index = BranchesPage.from_domain(branches, factory.settings.default_branch)
        return render(request, "compare_index.html", {"nav": "compare"}, index)
    query = CompareQuery(
        a=a,
        b=b,
        branch=branch,
        baseline=baseline or None,
        dataset=dataset or None,
        history=history,
        text=q,
        unusual_only=unusual,
        sort=sort,
        descending=order == "desc",
    )
    comparison = service.compare(query)
    page = ComparePage.from_domain(comparison, query)
    return render(request, "compare.html", {"nav": "compare"}, page)
