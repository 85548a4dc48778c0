"""Metrics, specifications and datasets."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from ...dependencies import factory_dependency
from ...factory import Factory
from ._common import ERRORS, Limit, next_url, page_limit
from .models import (
    DatasetModel,
    MetricDetailModel,
    MetricModel,
    PageModel,
    SpecificationModel,
)

router = APIRouter()


@router.get(
    "/metrics",
    response_model=PageModel[MetricModel],
    summary="List metrics",
    tags=["metrics"],
    responses=ERRORS,
)
def list_metrics(
    request: Request,
    package: str | None = Query(None, description="Only metrics of this package."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[MetricModel]:
    """Metric definitions by name."""
    page = factory.create_metric_service().list_metrics(
        package=package, limit=page_limit(request, limit), cursor=cursor
    )
    return PageModel[MetricModel](
        items=[MetricModel.from_domain(m) for m in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@router.get(
    "/metrics/{name}",
    response_model=MetricDetailModel,
    summary="One metric with its specifications",
    tags=["metrics"],
    responses=ERRORS,
)
def get_metric(name: str, factory: Factory = Depends(factory_dependency)) -> MetricDetailModel:
    """A metric definition and its specifications."""
    metric, specs = factory.create_metric_service().get_metric(name)
    return MetricDetailModel(
        **MetricModel.from_domain(metric).model_dump(),
        specifications=[SpecificationModel.from_domain(s) for s in specs],
    )


@router.get(
    "/specifications",
    response_model=PageModel[SpecificationModel],
    summary="List specifications",
    tags=["metrics"],
    responses=ERRORS,
)
def list_specifications(
    request: Request,
    metric: str | None = Query(None, description="Only specifications of this metric."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[SpecificationModel]:
    """Specifications by name."""
    page = factory.create_metric_service().list_specifications(
        metric=metric, limit=page_limit(request, limit), cursor=cursor
    )
    return PageModel[SpecificationModel](
        items=[SpecificationModel.from_domain(s) for s in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@router.get(
    "/specifications/{name}",
    response_model=SpecificationModel,
    summary="One specification",
    tags=["metrics"],
    responses=ERRORS,
)
def get_specification(
    name: str, factory: Factory = Depends(factory_dependency)
) -> SpecificationModel:
    """A specification by name (``package.metric.spec``)."""
    return SpecificationModel.from_domain(factory.create_metric_service().get_specification(name))


@router.get(
    "/datasets",
    response_model=list[DatasetModel],
    summary="List datasets",
    tags=["datasets"],
    responses=ERRORS,
)
def list_datasets(factory: Factory = Depends(factory_dependency)) -> list[DatasetModel]:
    """Datasets that jobs ran on, with job counts and instruments."""
    return [DatasetModel.from_domain(d) for d in factory.create_dataset_service().list_datasets()]
