"""Regressions (list, detail, triage), subscriptions and the gate of ``vigil check``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from ...dependencies import base_url, factory_dependency, read_access, require_user
from ...domain import User
from ...domain.regressions import (
    GateVerdict,
    JobRef,
    Regression,
    RegressionDetail,
    RegressionFilter,
    Subscription,
    SubscriptionDraft,
)
from ...factory import Factory
from ...services.gate import GateReport
from ._common import ERRORS, Limit, next_url, page_limit, unprocessable
from .models import PackageModel, PageModel, SeriesModel

__all__ = [
    "GateReportModel",
    "GateRequestModel",
    "RegressionDetailModel",
    "RegressionModel",
    "RegressionUpdateModel",
    "SubscriptionCreateModel",
    "SubscriptionModel",
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
    """A change point or a failing specification on the default branch of a series."""

    id: int
    url: str
    html_url: str
    kind: str = Field(..., description="regression, improvement, change or spec_failure.")
    status: str = Field(..., description="open, acknowledged, false_positive or fixed.")
    series: SeriesModel
    specification: str | None = Field(None, description="The failing specification.")
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
            created=r.created_at,
            updated=r.updated_at,
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
    action: str = Field(..., description="created, status, note, moved, dissolved, reappeared.")
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


class SubscriptionCreateModel(BaseModel):
    """What to be told about, and where."""

    channel: str = Field(..., description="email, webhook (plain JSON) or slack.")
    target: str | None = Field(
        None, description="Email address (default: yours) or the webhook URL."
    )
    metric_pattern: str | None = Field(
        None, description="Glob on metric names (``validate_drp.PA*``) or ``re:<regex>``."
    )
    package: str | None = Field(None, description="Only metrics of this package.")
    tag: str | None = Field(None, description="Only metrics with this tag.")
    dataset: str | None = Field(None, description="Only series on this dataset.")


class SubscriptionModel(SubscriptionCreateModel):
    """A stored subscription."""

    id: int
    url: str
    user: str
    target: str
    created: datetime | None

    @classmethod
    def from_domain(cls, s: Subscription, base: str) -> SubscriptionModel:
        """Build from a domain subscription."""
        return cls(
            id=s.id,
            url=f"{base}/api/subscriptions/{s.id}",
            user=s.user_name,
            channel=s.channel,
            target=s.target,
            metric_pattern=s.metric_pattern,
            package=s.package,
            tag=s.tag,
            dataset=s.dataset,
            created=s.created_at,
        )


class GateRequestModel(BaseModel):
    """A job to check: stored (``job_id``) or not (``job``, a Job document)."""

    job_id: int | None = None
    job: dict[str, Any] | None = Field(None, description="An lsst.verify Job document.")
    baseline: str = Field(
        "main", description="``main``, ``fork-point`` or a branch name.", max_length=256
    )
    fork_commit: str | None = Field(
        None, description="With ``fork-point``: the commit the branch left main at."
    )


class GateVerdictModel(BaseModel):
    """The gate's answer for one series."""

    metric: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any]
    series_key: str
    value: float | None
    unit: str
    direction: str | None
    verdict: str = Field(
        ..., description="regression, improvement, no change, change or not enough data."
    )
    baseline_count: int
    baseline_median: float | None
    difference: float | None
    relative_difference: float | None
    effect_size: float | None
    p_value: float | None
    message: str

    @classmethod
    def from_domain(cls, v: GateVerdict) -> GateVerdictModel:
        """Build from a domain verdict."""
        return cls(**{name: getattr(v, name) for name in cls.model_fields})


class GateReportModel(BaseModel):
    """The gate's verdicts on every series of a job."""

    job_id: int | None
    branch: str | None
    commit_sha: str | None
    baseline: str
    baseline_description: str
    regression_count: int
    verdicts: list[GateVerdictModel]

    @classmethod
    def from_domain(cls, r: GateReport) -> GateReportModel:
        """Build from a domain report."""
        return cls(
            job_id=r.job_id,
            branch=r.branch,
            commit_sha=r.commit_sha,
            baseline=r.baseline,
            baseline_description=r.baseline_description,
            regression_count=len(r.regressions),
            verdicts=[GateVerdictModel.from_domain(v) for v in r.verdicts],
        )


# Regressions ------------------------------------------------------------------------------


@router.get(
    "/regressions",
    response_model=PageModel[RegressionModel],
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
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[RegressionModel]:
    """Regressions, newest first."""
    filters = RegressionFilter(
        status=status,
        kind=kind,
        metric=metric,
        dataset=dataset,
        series_key=series_key,
        include_dissolved=include_dissolved,
    )
    page = factory.create_regression_service().list_regressions(
        filters, limit=page_limit(request, limit), cursor=cursor
    )
    base = base_url(request)
    return PageModel[RegressionModel](
        items=[RegressionModel.from_domain(r, base) for r in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
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
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> RegressionDetailModel:
    """Triage: the history records who changed what, when, and the note."""
    detail = factory.create_regression_service().update_status(
        regression_id, user, status=body.status, note=body.note
    )
    return RegressionDetailModel.from_detail(detail, base_url(request))


# Subscriptions ----------------------------------------------------------------------------

_SUBSCRIPTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: unprocessable("Malformed pattern, channel or target"),
}


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionModel],
    summary="Your subscriptions",
    responses=ERRORS,
    tags=["subscriptions"],
)
def list_subscriptions(
    request: Request,
    all: bool = Query(False, description="Everyone's (administrators only)."),
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> list[SubscriptionModel]:
    """The subscriptions of the token's user (everyone's for an administrator with all)."""
    found = factory.create_subscription_service().list(user, everyone=all)
    base = base_url(request)
    return [SubscriptionModel.from_domain(s, base) for s in found]


@router.post(
    "/subscriptions",
    response_model=SubscriptionModel,
    status_code=201,
    summary="Subscribe to regressions",
    responses=_SUBSCRIPTION_ERRORS,
    tags=["subscriptions"],
)
def create_subscription(
    request: Request,
    response: Response,
    body: SubscriptionCreateModel,
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionModel:
    """Be told about new regressions of the metrics matching every filter given."""
    created = factory.create_subscription_service().create(
        user, SubscriptionDraft(**body.model_dump())
    )
    model = SubscriptionModel.from_domain(created, base_url(request))
    response.headers["Location"] = model.url
    return model


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionModel,
    summary="One subscription",
    responses=ERRORS,
    tags=["subscriptions"],
)
def get_subscription(
    request: Request,
    subscription_id: int,
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionModel:
    """One of your subscriptions."""
    found = factory.create_subscription_service().get(user, subscription_id)
    return SubscriptionModel.from_domain(found, base_url(request))


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
    responses=ERRORS,
    tags=["subscriptions"],
)
def delete_subscription(
    subscription_id: int,
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Remove one of your subscriptions."""
    factory.create_subscription_service().delete(user, subscription_id)
    return Response(status_code=204)


# Gate -------------------------------------------------------------------------------------


@router.post(
    "/gate",
    response_model=GateReportModel,
    summary="Check a job against its baseline",
    responses={**ERRORS, 422: unprocessable("Not a valid job")},
    tags=["regressions"],
)
def post_gate(
    body: GateRequestModel, factory: Factory = Depends(factory_dependency)
) -> GateReportModel:
    """The gate's verdict on every series of a job (``vigil check``); stores nothing."""
    report = factory.create_gate_service().check(
        job_id=body.job_id,
        document=body.job,
        baseline=body.baseline,
        fork_commit=body.fork_commit,
    )
    return GateReportModel.from_domain(report)
