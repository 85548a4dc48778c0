"""SQuaSH endpoints of metrics, specifications, datasets, app feeds and server facts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from vigil import __version__

from ...dependencies import read_access
from ...services.squash import MONITOR_PERIODS, SquashService
from ._common import ERRORS, SquashRoute, next_url, squash_service
from .models import (
    DatasetListResponse,
    DefaultResponse,
    MetricListResponse,
    MetricModel,
    MonitorResponse,
    PackageListResponse,
    SpecificationListResponse,
    SpecificationModel,
    StatsResponse,
    VersionResponse,
    squash_date,
)

__all__ = ["router"]

router = APIRouter(route_class=SquashRoute, tags=["squash"], dependencies=[Depends(read_access)])

Limit = Query(None, description="Items per page (default and maximum: VIGIL_PAGE_SIZE_MAX).")
Cursor = Query(None, description="Where the page starts: the ``next`` URL of the previous one.")


@router.get("/metrics", response_model=MetricListResponse, summary="Metrics", responses=ERRORS)
def metrics(
    request: Request,
    package: str | None = Query(None, description="Only the metrics of this package."),
    limit: int | None = Limit,
    cursor: str | None = Cursor,
    service: SquashService = Depends(squash_service),
) -> MetricListResponse:
    """Metric definitions by name."""
    page = service.list_metrics(package=package, limit=limit, cursor=cursor)
    return MetricListResponse(
        metrics=[MetricModel.from_domain(m) for m in page.items],
        next=next_url(request, page.next_cursor),
        truncated=page.truncated,
    )


@router.get("/metric/{name}", response_model=MetricModel, summary="A metric", responses=ERRORS)
def metric(name: str, service: SquashService = Depends(squash_service)) -> MetricModel:
    """One metric definition, e.g. ``validate_drp.AM1``."""
    return MetricModel.from_domain(service.get_metric(name))


@router.get(
    "/specs",
    response_model=SpecificationListResponse,
    summary="Metric specifications",
    responses=ERRORS,
)
def specs(
    request: Request,
    metric: str | None = Query(None, description="Full metric name, e.g. validate_drp.AM1."),
    dataset_name: str | None = Query(None, description="``dataset_name`` of the metadata query."),
    filter_name: str | None = Query(None, description="``filter_name`` of the metadata query."),
    tag: str | None = Query(None, description="A tag the specification has."),
    limit: int | None = Limit,
    cursor: str | None = Cursor,
    service: SquashService = Depends(squash_service),
) -> SpecificationListResponse:
    """Specifications by name, filtered as SQuaSH did."""
    page = service.list_specifications(
        metric=metric,
        dataset_name=dataset_name,
        filter_name=filter_name,
        tag=tag,
        limit=limit,
        cursor=cursor,
    )
    return SpecificationListResponse(
        specs=[SpecificationModel.from_domain(s) for s in page.items],
        next=next_url(request, page.next_cursor),
        truncated=page.truncated,
    )


@router.get(
    "/spec/{name}",
    response_model=SpecificationModel,
    summary="A metric specification",
    responses=ERRORS,
)
def spec(name: str, service: SquashService = Depends(squash_service)) -> SpecificationModel:
    """One specification, e.g. ``validate_drp.AM1.minimum_gri``."""
    return SpecificationModel.from_domain(service.get_specification(name))


@router.get("/datasets", response_model=DatasetListResponse, summary="Datasets", responses=ERRORS)
def datasets(service: SquashService = Depends(squash_service)) -> DatasetListResponse:
    """The datasets jobs ran on."""
    return DatasetListResponse(datasets=service.datasets())


@router.get(
    "/packages",
    response_model=PackageListResponse,
    summary="Verification packages",
    responses=ERRORS,
)
def packages(service: SquashService = Depends(squash_service)) -> PackageListResponse:
    """The packages that define metrics (``validate_drp``...)."""
    return PackageListResponse(packages=service.packages())


@router.get(
    "/default", response_model=DefaultResponse, summary="Display defaults", responses=ERRORS
)
def default(service: SquashService = Depends(squash_service)) -> DefaultResponse:
    """First dataset, package, metric of each package and specification of each metric."""
    return DefaultResponse.from_domain(service.defaults())


@router.get(
    "/monitor", response_model=MonitorResponse, summary="Monitor app feed", responses=ERRORS
)
def monitor(
    ci_dataset: str | None = Query(None, description="Only jobs on this dataset."),
    metric: str | None = Query(None, description="Only this metric."),
    period: str | None = Query(
        None, description=f"One of {', '.join(MONITOR_PERIODS)}; default: Last Month."
    ),
    limit: int | None = Limit,
    service: SquashService = Depends(squash_service),
) -> MonitorResponse:
    """Measurement values over time, oldest first, as parallel columns."""
    rows, truncated = service.monitor(dataset=ci_dataset, metric=metric, period=period, limit=limit)
    return MonitorResponse(
        value=[r[0] for r in rows],
        metric_name=[r[1] for r in rows],
        date_created=[squash_date(r[2]) for r in rows],
        ci_id=[r[3] for r in rows],
        ci_url=[r[4] for r in rows],
        truncated=truncated,
    )


@router.get("/version", response_model=VersionResponse, summary="API version")
def version() -> VersionResponse:
    """The SQuaSH API version served."""
    return VersionResponse(server=f"vigil {__version__}")


@router.get("/stats", response_model=StatsResponse, summary="Counts", responses=ERRORS)
def stats(service: SquashService = Depends(squash_service)) -> StatsResponse:
    """Numbers of jobs, metrics and measurements, and when the last job came."""
    return StatsResponse.from_domain(service.stats())
