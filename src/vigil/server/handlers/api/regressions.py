"""Regressions: list, detail, triage (subscriptions and the gate have their own modules)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ...dependencies import base_url, factory_dependency, read_access, require_role
from ...domain import Role, User
from ...domain.regressions import (
    JobRef,
    Regression,
    RegressionDetail,
    RegressionFilter,
    RegressionGroup,
)
from ...factory import Factory
from ._common import ERRORS, Limit, next_url, page_limit
from .models import PackageModel, PageModel, SeriesModel

__all__ = [
    "JobRefModel",
    "RegressionDetailModel",
    "RegressionGroupModel",
    "RegressionListModel",
    "RegressionModel",
    "RegressionUpdateModel",
    "regression_filter",
    "router",
]

router = APIRouter(prefix="/api", dependencies=[Depends(read_access)])


# Models -----------------------------------------------------------------------------------


class JobRefModel(BaseModel):
    """A job as a regression refers to it."""

    id: int
    url: str
    time: datetime = Field(..., description="The job's own date, else when it was received.")
    branch: str | None
    commit_sha: str | None
    author: str | None
    author_email: str | None
    ci_url: str | None
    dataset: str | None

    @classmethod
    def from_domain(cls, job: JobRef, base: str) -> JobRefModel:
        """Build from a domain job reference."""
        return cls(
            id=job.id,
            url=f"{base}/api/jobs/{job.id}",
            time=job.time,
            branch=job.branch,
            commit_sha=job.commit_sha,
            author=job.author,
            author_email=job.author_email,
            ci_url=job.ci_url,
            dataset=job.dataset,
        )


class RegressionModel(BaseModel):
    """A change of level, or failing specifications, on the default branch of a series."""

    id: int
    url: str
    html_url: str
    kind: str = Field(..., description="regression, improvement, change or spec_failure.")
    status: str = Field(..., description="open, acknowledged, false_positive or fixed.")
    series: SeriesModel
    specification: str | None = Field(
        None, description="The first of ``specifications`` (null when there is none)."
    )
    specifications: list[str] = Field(
        default_factory=list,
        description="The specifications the change makes fail (a level change), or that fail"
        " with no change of level to explain it (spec_failure: one record per series).",
    )
    first_bad: JobRefModel = Field(..., description="The first job at the new level.")
    last_good: JobRefModel | None = Field(None, description="The last job at the old level.")
    before: float | None = Field(None, description="Level before (median), metric unit.")
    after: float | None = Field(None, description="Level after (median), metric unit.")
    unit: str
    size: float | None = Field(None, description="``after - before``.")
    relative_size: float | None = Field(None, description="``size / |before|``.")
    effect_size: float | None = Field(None, description="``size`` in noise sigmas.")
    p_value: float | None = None
    significance: float | None = Field(None, description="``1 - p_value``.")
    dissolved: bool = Field(..., description="Later data no longer show this change.")
    suspected: bool = Field(
        False,
        description=(
            "An early warning: the newest values already look like this change, too few to"
            " confirm it yet; later data confirm it (then false) or dissolve it."
        ),
    )
    fixed_by: JobRefModel | None = Field(
        None, description="The first job back at the earlier level: a later change undid this."
    )
    created: datetime | None
    updated: datetime | None

    @classmethod
    def from_domain(cls, r: Regression, base: str) -> RegressionModel:
        """Build from a domain regression."""
        return cls(
            id=r.id,
            url=f"{base}/api/regressions/{r.id}",
            html_url=f"{base}/regressions/{r.id}",
            kind=r.kind,
            status=r.status,
            series=SeriesModel.from_domain(r.series, base),
            specification=r.specification,
            specifications=list(r.specifications),
            first_bad=JobRefModel.from_domain(r.first_bad, base),
            last_good=JobRefModel.from_domain(r.last_good, base) if r.last_good else None,
            before=r.before,
            after=r.after,
            unit=r.unit,
            size=r.size,
            relative_size=r.relative_size,
            effect_size=r.effect_size,
            p_value=r.p_value,
            significance=r.significance,
            dissolved=r.dissolved,
            suspected=r.suspected,
            fixed_by=JobRefModel.from_domain(r.fixed_by, base) if r.fixed_by else None,
            created=r.created_at,
            updated=r.updated_at,
        )


class RegressionGroupModel(BaseModel):
    """Records that share a commit or a first bad job."""

    key: str = Field(..., description="The commit SHA (empty: none recorded) or the job id.")
    label: str = Field(..., description="``commit 0c1d956: 15 series regressed``.")
    commit_sha: str | None
    job: JobRefModel = Field(..., description="The earliest first bad job of the group.")
    series: int = Field(..., description="How many series the records are on.")
    counts: dict[str, int] = Field(..., description="Series per kind of record.")
    regression_ids: list[int] = Field(..., description="Its records, newest first.")

    @classmethod
    def from_domain(cls, g: RegressionGroup, base: str) -> RegressionGroupModel:
        """Build from a domain group."""
        return cls(
            key=g.key,
            label=g.label,
            commit_sha=g.job.commit_sha,
            job=JobRefModel.from_domain(g.job, base),
            series=g.series,
            counts=g.counts,
            regression_ids=[r.id for r in g.regressions],
        )


class RegressionListModel(PageModel[RegressionModel]):
    """Regressions, newest first, or grouped (``group``): then ``items`` holds the
    records of every group, in group order, and ``groups`` the groups."""

    group: str | None = Field(None, description="commit or job; null when not grouped.")
    groups: list[RegressionGroupModel] | None = Field(
        None, description="The groups, newest first (when grouped)."
    )
    truncated: bool = Field(
        False, description="Grouped: more records matched than the 1000 newest grouped."
    )


class SuspectCommitModel(BaseModel):
    """A commit that first ran between the last good and the first bad job."""

    sha: str
    author: str | None
    author_email: str | None
    job_ids: list[int]


class PackageDiffModel(BaseModel):
    """A package that differs between the last good and the first bad job."""

    name: str
    change: str = Field(..., description="added, removed or changed.")
    before: PackageModel | None
    after: PackageModel | None


class RegressionEventModel(BaseModel):
    """One entry of a regression's history."""

    time: datetime
    user: str | None = Field(None, description="Who did it; null for Vigil's own analysis.")
    action: str = Field(
        ...,
        description=(
            "created, status, note, moved, dissolved, reappeared, fixed, confirmed (a"
            " suspicion later data confirm), suspected."
        ),
    )
    from_status: str | None
    to_status: str | None
    note: str | None


class RegressionDetailModel(RegressionModel):
    """A regression with its suspects and history."""

    jobs: list[JobRefModel] = Field(
        ..., description="Main-line jobs of the dataset after the last good up to the first bad."
    )
    commits: list[SuspectCommitModel]
    packages: list[PackageDiffModel]
    events: list[RegressionEventModel]

    @classmethod
    def from_detail(cls, d: RegressionDetail, base: str) -> RegressionDetailModel:
        """Build from a domain detail."""
        return cls(
            **RegressionModel.from_domain(d.regression, base).model_dump(),
            jobs=[JobRefModel.from_domain(j, base) for j in d.jobs],
            commits=[
                SuspectCommitModel(
                    sha=c.sha, author=c.author, author_email=c.author_email, job_ids=c.job_ids
                )
                for c in d.commits
            ],
            packages=[
                PackageDiffModel(
                    name=p.name,
                    change=p.change,
                    before=PackageModel.from_domain(p.before) if p.before else None,
                    after=PackageModel.from_domain(p.after) if p.after else None,
                )
                for p in d.packages
            ],
            events=[
                RegressionEventModel(
                    time=e.created_at,
                    user=e.user_name,
                    action=e.action,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    note=e.note,
                )
                for e in d.events
            ],
        )


class RegressionUpdateModel(BaseModel):
    """A triage step: a new status, a note, or both."""

    status: str | None = Field(None, description="open, acknowledged, false_positive or fixed.")
    note: str | None = Field(None, description="Why; kept in the history with your name.")


# Regressions ------------------------------------------------------------------------------


@router.get(
    "/regressions",
    response_model=RegressionListModel,
    summary="List regressions",
    responses=ERRORS,
    tags=["regressions"],
)
def list_regressions(
    request: Request,
    status: str | None = Query(None, description="open, acknowledged, false_positive, fixed."),
    kind: str | None = Query(None, description="regression, improvement, change, spec_failure."),
    metric: str | None = Query(None, description="Only this metric."),
    dataset: str | None = Query(None, description="Only this dataset."),
    series_key: str | None = Query(None, description="Only this series."),
    include_dissolved: bool = Query(False, description="Also change points that dissolved."),
    job: int | None = Query(None, description="Only records first bad at, or fixed by, this job."),
    group: str | None = Query(
        None, description="commit or job: group by the first bad job's commit, or by that job."
    ),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> RegressionListModel:
    """Regressions, newest first; with ``group``, grouped by commit or job."""
    filters = regression_filter(status, kind, metric, dataset, series_key, include_dissolved, job)
    base = base_url(request)
    service = factory.create_regression_service()
    if group:
        groups, truncated = service.group_regressions(filters, group)
        return RegressionListModel(
            items=[RegressionModel.from_domain(r, base) for g in groups for r in g.regressions],
            next_cursor=None,
            next_url=None,
            group=group,
            groups=[RegressionGroupModel.from_domain(g, base) for g in groups],
            truncated=truncated,
        )
    page = service.list_regressions(filters, limit=page_limit(request, limit), cursor=cursor)
    return RegressionListModel(
        items=[RegressionModel.from_domain(r, base) for r in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
        group=None,
        groups=None,
        truncated=False,
    )


def regression_filter(
    status: str | None,
    kind: str | None,
    metric: str | None,
    dataset: str | None,
    series_key: str | None,
    include_dissolved: bool,
    job: int | None,
) -> RegressionFilter:
    """The list's filters from query parameters (empty strings: no filter)."""
    return RegressionFilter(
        status=status or None,
        kind=kind or None,
        metric=metric or None,
        dataset=dataset or None,
        series_key=series_key or None,
        include_dissolved=include_dissolved,
        job=job,
    )


@router.get(
    "/regressions/{regression_id}",
    response_model=RegressionDetailModel,
    summary="One regression with its suspects",
    responses=ERRORS,
    tags=["regressions"],
)
def get_regression(
    request: Request, regression_id: int, factory: Factory = Depends(factory_dependency)
) -> RegressionDetailModel:
    """A regression, the jobs, commits and packages between its last good and first bad job,
    and its history."""
    detail = factory.create_regression_service().get(regression_id)
    return RegressionDetailModel.from_detail(detail, base_url(request))


@router.patch(
    "/regressions/{regression_id}",
    response_model=RegressionDetailModel,
    summary="Change a regression's status or add a note",
    responses=ERRORS,
    tags=["regressions"],
)
def patch_regression(
    request: Request,
    regression_id: int,
    body: RegressionUpdateModel,
    user: User = Depends(require_role(Role.TRIAGER)),
    factory: Factory = Depends(factory_dependency),
) -> RegressionDetailModel:
    """Triage: the history records who changed what, when, and the note."""
    detail = factory.create_regression_service().update_status(
        regression_id, user, status=body.status, note=body.note
    )
    return RegressionDetailModel.from_detail(detail, base_url(request))
