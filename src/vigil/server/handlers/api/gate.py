"""The gate of ``vigil check``: a job, or re-runs of one commit, against its baseline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from ...dependencies import base_url, factory_dependency, gate_body, optional_user, read_access
from ...domain import User
from ...domain.gate import MAX_GATE_JOBS, NOT_JUDGED, GateReport, GateVerdict, SpecificationCheck
from ...exceptions import PayloadTooLargeError
from ...factory import Factory
from ._common import ERRORS, unprocessable
from .models import ErrorModel
from .regressions import JobRefModel

__all__ = ["GateReportModel", "GateRequestModel", "router"]

router = APIRouter(prefix="/api", dependencies=[Depends(read_access)])


# Models -----------------------------------------------------------------------------------


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
