"""Sasquatch endpoints: clusters, topic creation, and produce (records → jobs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ...dependencies import base_url, json_body, read_access, require_role
from ...domain import Role, User
from ...services.sasquatch import SasquatchService
from ._common import ERRORS, SasquatchRoute, basic_credentials, sasquatch_service
from .models import (
    ClusterListResponse,
    ClusterModel,
    ErrorResponse,
    OffsetModel,
    ProduceResponse,
    TopicResponse,
)

__all__ = ["router"]

router = APIRouter(
    route_class=SasquatchRoute, tags=["sasquatch"], dependencies=[Depends(basic_credentials)]
)

_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.get(
    "/v3/clusters",
    response_model=ClusterListResponse,
    summary="Kafka clusters (one)",
    responses={401: ERRORS[401]},
    dependencies=[Depends(read_access)],
)
def clusters(
    request: Request, service: SasquatchService = Depends(sasquatch_service)
) -> ClusterListResponse:
    """The one cluster; the dispatcher reads ``data[0].cluster_id``."""
    root = f"{base_url(request)}/sasquatch/v3/clusters"
    return ClusterListResponse(
        metadata={"self": root, "next": None},
        data=[
            ClusterModel(cluster_id=c, metadata={"self": f"{root}/{c}"}) for c in service.clusters()
        ],
    )


@router.post(
    "/v3/clusters/{cluster_id}/topics",
    response_model=TopicResponse,
    status_code=201,
    summary="Create a topic",
    description=(
        "The body's ``topic_name`` is ``<namespace>.<topic>``. A topic created before is"
        " answered 400, which the dispatcher takes as success."
    ),
    openapi_extra=_JSON_BODY,
    responses={
        **ERRORS,
        400: {"model": ErrorResponse, "description": "The topic already exists"},
        422: {"model": ErrorResponse, "description": "No topic_name, or no namespace in it"},
    },
)
def create_topic(
    request: Request,
    cluster_id: str,
    body: Any = Depends(json_body),
    user: User = Depends(require_role(Role.SUBMITTER)),
    service: SasquatchService = Depends(sasquatch_service),
) -> TopicResponse:
    """Create (remember) a topic."""
    name = service.create_topic(cluster_id, body)
    root = f"{base_url(request)}/sasquatch/v3/clusters/{cluster_id}/topics/{name}"
    return TopicResponse(
        metadata={"self": root},
        cluster_id=cluster_id,
        topic_name=name,
        replication_factor=body.get("replication_factor"),
        partitions_count=body.get("partitions_count"),
    )


@router.post(
    "/topics/{topic_name}",
    response_model=ProduceResponse,
    summary="Send records to a topic (each record becomes a job)",
    description=(
        "Content type ``application/vnd.kafka.avro.v2+json``: ``value_schema`` (an Avro"
        ' record schema as a JSON string) and ``records`` (``[{"value": {...}}]``). Each'
        " record is checked against the schema and stored as one job; all records or"
        " none. A re-sent record (same ``id``, same content) returns its stored job."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/vnd.kafka.avro.v2+json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        **ERRORS,
        400: {"model": ErrorResponse, "description": "The body is not a JSON object"},
        409: {"model": ErrorResponse, "description": "A record's id is stored with other content"},
        422: {"model": ErrorResponse, "description": "A record breaks its schema; nothing stored"},
    },
)
def produce(
    topic_name: str,
    body: Any = Depends(json_body),
    user: User = Depends(require_role(Role.SUBMITTER)),
    service: SasquatchService = Depends(sasquatch_service),
) -> ProduceResponse:
    """Store the records as jobs and answer the offsets (job ids)."""
    result = service.produce(topic_name, body, user)
    return ProduceResponse(
        offsets=[OffsetModel(offset=r.id, created=r.created) for r in result.results],
        value_schema_id=result.value_schema_id,
    )
