"""Regressions (list, detail, triage), subscriptions and the gate of ``vigil check``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from ...dependencies import (
    base_url,
    check_role,
    factory_dependency,
    gate_body,
    optional_user,
    read_access,
    require_role,
    require_user,
)
from ...domain import Role, User
from ...domain.gate import (
    MAX_GATE_JOBS,
    NOT_JUDGED,
    GateReport,
    GateVerdict,
    SpecificationCheck,
)
from ...domain.regressions import (
    Delivery,
    JobRef,
    Regression,
    RegressionDetail,
    RegressionFilter,
    RegressionGroup,
    Subscription,
    SubscriptionDraft,
)
from ...exceptions import PayloadTooLargeError
from ...factory import Factory
from ._common import ERRORS, Limit, next_url, page_limit, unprocessable
from .models import ErrorModel, PackageModel, PageModel, SeriesModel

__all__ = [
    "DeliveryModel",
    "GateReportModel",
    "GateRequestModel",
    "RegressionDetailModel",
    "RegressionGroupModel",
    "RegressionListModel",
    "RegressionModel",
    "RegressionUpdateModel",
    "SubscriptionCreateModel",
    "SubscriptionCreatedModel",
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
    notify_on: str = Field(
        "confirmed",
        description=(
            "confirmed: told of a change once later data confirm it; suspected: told on its"
            " first suspect run already (and not again when it is confirmed)."
        ),
    )


class DeliveryModel(BaseModel):
    """How the latest message to a webhook or Slack subscription fared."""

    status: str = Field(..., description="pending, retrying, failed (given up) or delivered.")
    attempts: int
    created: datetime
    delivered: datetime | None
    next_attempt: datetime | None
    error: str | None = Field(
        ...,
        description=(
            "Why the last attempt failed, without network detail: connection failed,"
            " HTTP <status>, refused: private address, unsubscribed."
        ),
    )
    error_detail: str | None = Field(
        None, description="The network detail of that failure (administrators only)."
    )

    @classmethod
    def from_domain(cls, d: Delivery) -> DeliveryModel:
        """Build from a domain delivery."""
        return cls(
            status=d.status,
            attempts=d.attempts,
            created=d.created_at,
            delivered=d.delivered_at,
            next_attempt=d.next_attempt_at,
            error=d.error,
            error_detail=d.error_detail,
        )


class SubscriptionModel(SubscriptionCreateModel):
    """A stored subscription."""

    id: int
    url: str
    user: str
    target: str
    created: datetime | None
    secret_created: datetime | None = Field(
        None, description="When the webhook's signing key was made or last rotated."
    )
    last_delivery: DeliveryModel | None = None

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
            notify_on=s.notify_on,
            created=s.created_at,
            secret_created=s.secret_created_at,
            last_delivery=(
                None if s.last_delivery is None else DeliveryModel.from_domain(s.last_delivery)
            ),
        )


class SubscriptionCreatedModel(SubscriptionModel):
    """A subscription just created, or whose signing key was just rotated."""

    secret: str | None = Field(
        None,
        description=(
            "The webhook's HMAC-SHA256 signing key, shown this once (null for other"
            " channels): see docs/regressions.md, Signed webhooks."
        ),
    )

    @classmethod
    def from_created(cls, s: Subscription, base: str) -> SubscriptionCreatedModel:
        """Build from a subscription that carries its new key."""
        return cls(**SubscriptionModel.from_domain(s, base).model_dump(), secret=s.secret)


class GateRequestModel(BaseModel):
    """Jobs to check: stored (``job_id``, ``job_ids``) or not (``job``, ``jobs``: Job
    documents); several are re-runs of one commit on one dataset, judged together."""

    job_id: int | None = None
    job_ids: list[int] = Field(
        default_factory=list,
        description="Stored jobs: re-runs of one commit, judged together.",
        max_length=MAX_GATE_JOBS,
    )
    job: dict[str, Any] | None = Field(None, description="An lsst.verify Job document.")
    jobs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="lsst.verify Job documents: re-runs of one commit, judged together.",
        max_length=MAX_GATE_JOBS,
    )
    baseline: str = Field(
        "main", description="``main``, ``fork-point`` or a branch name.", max_length=256
    )
    fork_commit: str | None = Field(
        None, description="With ``fork-point``: the commit the branch left main at."
    )


class GateSpecificationModel(BaseModel):
    """A specification on the baseline's level and on the new value."""

    name: str
    operator: str
    threshold: float
    threshold_unit: str
    status: str = Field(
        ...,
        description="newly failing (blocks), still failing (reported, not blocking), fixed,"
        " passing, or failing (no baseline to compare).",
    )
    baseline_passed: bool | None = Field(None, description="Null: no baseline value.")
    passed: bool

    @classmethod
    def from_domain(cls, c: SpecificationCheck) -> GateSpecificationModel:
        """Build from a domain check."""
        return cls(**{name: getattr(c, name) for name in cls.model_fields})


class GateVerdictModel(BaseModel):
    """The gate's answer for one series."""

    metric: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any]
    series_key: str
    value: float | None = Field(None, description="The jobs' median, in ``unit``.")
    values: list[float | None] = Field(..., description="Each job's value (null: NaN).")
    unit: str
    direction: str | None
    verdict: str = Field(
        ...,
        description="regression, improvement, change (no direction known), no change"
        " or not judged.",
    )
    kind: str | None = Field(
        None,
        description="What the verdict rests on: level (a test against the baseline's"
        " noise), exact (a constant baseline) or specification (a newly failing one).",
    )
    reason_code: str | None = Field(
        None,
        description="Why not judged: baseline_branch_missing, fork_commit_missing,"
        " dataset_not_on_baseline, series_not_on_baseline, too_few_baseline_points,"
        " no_value or unit_mismatch.",
    )
    reason: str | None = Field(None, description="Why not judged, for a person.")
    baseline_count: int
    baseline_median: float | None
    noise: float | None = Field(None, description="Baseline noise sigma (0: exact).")
    difference: float | None
    relative_difference: float | None
    effect_size: float | None = Field(None, description="``difference`` in noise sigmas.")
    p_value: float | None
    message: str
    specifications: list[GateSpecificationModel]

    @classmethod
    def from_domain(cls, v: GateVerdict) -> GateVerdictModel:
        """Build from a domain verdict."""
        fields = {name: getattr(v, name) for name in cls.model_fields if name != "specifications"}
        return cls(
            **fields,
            specifications=[GateSpecificationModel.from_domain(c) for c in v.specifications],
        )


class GateReportModel(BaseModel):
    """The gate's verdicts on every series of one job or of re-runs of one commit."""

    verdict: str = Field(
        ...,
        description="regression (a series blocks: exit 1 of vigil check), not judged (the"
        " baseline is missing or no series was judged: exit 2) or no regression (exit 0).",
    )
    reason_code: str | None = Field(
        None, description="Why the baseline is missing (see the verdicts' reason_code)."
    )
    reason: str | None = None
    job_id: int | None = Field(None, description="The first job, if stored.")
    job_ids: list[int | None] = Field(..., description="The jobs judged (null: a document).")
    job_urls: list[str] = Field(..., description="Pages of the stored jobs judged.")
    branch: str | None
    commit_sha: str | None
    dataset: str | None
    instrument: str | None
    baseline: str
    baseline_description: str
    baseline_job: JobRefModel | None = Field(
        None, description="The newest baseline job of the dataset before the jobs."
    )
    baseline_job_url: str | None = Field(None, description="Its page.")
    compare_url: str | None = Field(
        None, description="The compare page of the (first) job against the baseline."
    )
    regression_count: int
    blocking_count: int = Field(..., description="Regressions and changes without direction.")
    judged_count: int
    not_judged_count: int
    verdicts: list[GateVerdictModel]

    @classmethod
    def from_domain(cls, r: GateReport, base: str) -> GateReportModel:
        """Build from a domain report; *base* is the server's public URL."""
        stored = [i for i in r.job_ids if i is not None]
        compare = None
        if r.baseline_job is not None and stored:
            compare = f"{base}/compare?" + urlencode({"a": r.baseline_job.id, "b": stored[0]})
        elif r.branch and r.branch_stored:
            query = {"branch": r.branch, "dataset": r.dataset or ""}
            if r.baseline_job is not None and r.baseline_job.branch:
                query["baseline"] = r.baseline_job.branch
            compare = f"{base}/compare?" + urlencode(query)
        not_judged = sum(v.verdict == NOT_JUDGED for v in r.verdicts)
        return cls(
            verdict=r.verdict,
            reason_code=r.reason_code,
            reason=r.reason,
            job_id=r.job_id,
            job_ids=r.job_ids,
            job_urls=[f"{base}/jobs/{i}" for i in stored],
            branch=r.branch,
            commit_sha=r.commit_sha,
            dataset=r.dataset,
            instrument=r.instrument,
            baseline=r.baseline,
            baseline_description=r.baseline_description,
            baseline_job=(
                JobRefModel.from_domain(r.baseline_job, base) if r.baseline_job else None
            ),
            baseline_job_url=f"{base}/jobs/{r.baseline_job.id}" if r.baseline_job else None,
            compare_url=compare,
            regression_count=len(r.regressions),
            blocking_count=len(r.blocking),
            judged_count=len(r.verdicts) - not_judged,
            not_judged_count=not_judged,
            verdicts=[GateVerdictModel.from_domain(v) for v in r.verdicts],
        )


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


# Subscriptions ----------------------------------------------------------------------------

_SUBSCRIPTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: unprocessable("Malformed pattern, channel or target, or a refused webhook address"),
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
    response_model=SubscriptionCreatedModel,
    status_code=201,
    summary="Subscribe to regressions",
    responses=_SUBSCRIPTION_ERRORS,
    tags=["subscriptions"],
)
def create_subscription(
    request: Request,
    response: Response,
    body: SubscriptionCreateModel,
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionCreatedModel:
    """Be told about new regressions of the metrics matching every filter given.

    A webhook subscription's answer carries its signing key, shown this once.
    """
    if body.channel.strip().lower() in ("webhook", "slack"):  # the server posts to a URL
        check_role(user, Role.TRIAGER)
    created = factory.create_subscription_service().create(
        user, SubscriptionDraft(**body.model_dump())
    )
    model = SubscriptionCreatedModel.from_created(created, base_url(request))
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
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Remove one of your subscriptions."""
    factory.create_subscription_service().delete(user, subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/secret",
    response_model=SubscriptionCreatedModel,
    summary="Rotate a webhook's signing key",
    responses=_SUBSCRIPTION_ERRORS,
    tags=["subscriptions"],
)
def rotate_subscription_secret(
    request: Request,
    subscription_id: int,
    user: User = Depends(require_role(Role.TRIAGER)),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionCreatedModel:
    """Give one of your webhook subscriptions a new signing key (shown this once)."""
    rotated = factory.create_subscription_service().rotate_secret(user, subscription_id)
    return SubscriptionCreatedModel.from_created(rotated, base_url(request))


# Gate -------------------------------------------------------------------------------------


@router.post(
    "/gate",
    response_model=GateReportModel,
    summary="Check a job against its baseline",
    responses={
        **ERRORS,
        413: {"model": ErrorModel, "description": "Body or number of series over its limit"},
        422: unprocessable("Not a valid job"),
    },
    tags=["regressions"],
    # The body is read by `gate_body`, which bounds it before reading it whole.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GateRequestModel.model_json_schema()}},
        }
    },
)
def post_gate(
    request: Request,
    payload: Any = Depends(gate_body),
    user: User | None = Depends(optional_user),
    factory: Factory = Depends(factory_dependency),
) -> GateReportModel:
    """The gate's verdict on every series of a job, or of re-runs of one commit judged
    together (``vigil check``); stores nothing."""
    try:
        body = GateRequestModel.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    _bound_gate_work(body, user, factory)
    report = factory.create_gate_service().check(
        job_ids=([body.job_id] if body.job_id is not None else []) + body.job_ids,
        documents=([body.job] if body.job is not None else []) + body.jobs,
        baseline=body.baseline,
        fork_commit=body.fork_commit,
    )
    return GateReportModel.from_domain(report, base_url(request))


def _bound_gate_work(body: GateRequestModel, user: User | None, factory: Factory) -> None:
    """Refuse a gate request judging more measurements than ``gate_max_series``
    (anonymous callers) or ``gate_max_series_authenticated``: each costs a query and a
    test. Counted over every job of the request, documents and stored jobs."""
    settings = factory.settings
    if user is None:
        limit, setting = settings.gate_max_series, "VIGIL_GATE_MAX_SERIES"
    else:
        limit = settings.gate_max_series_authenticated
        setting = "VIGIL_GATE_MAX_SERIES_AUTHENTICATED"
    documents = ([body.job] if body.job is not None else []) + body.jobs
    count = 0
    for document in documents:
        measurements = document.get("measurements")
        count += len(measurements) if isinstance(measurements, list) else 0
    field = "job.measurements" if body.job is not None else "jobs"
    if count <= limit:
        jobs = factory.create_job_service()
        for job_id in ([body.job_id] if body.job_id is not None else []) + body.job_ids:
            count += jobs.get_summary(job_id).measurement_count or 0
            field = "job_id" if body.job_id is not None else "job_ids"
    if count > limit:
        raise PayloadTooLargeError(
            f"The gate judges at most {limit} measurements in one request ({setting});"
            f" this one has {count}. Check fewer jobs at once, or send a token.",
            field=field,
        )
