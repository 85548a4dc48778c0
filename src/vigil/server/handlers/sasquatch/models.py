"""API models of the Sasquatch surface: the Kafka REST proxy's JSON shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "ClusterListResponse",
    "ClusterModel",
    "ErrorResponse",
    "OffsetModel",
    "ProduceResponse",
    "TopicResponse",
]


class ErrorResponse(BaseModel):
    """An error as the proxy answers it, plus Vigil's code and the field at fault."""

    error_code: int = Field(description="The HTTP status (the proxy's error code).")
    message: str = Field(description="What is wrong and what to do.")
    code: str = Field(description="Vigil's error code, e.g. ``invalid_job``.")
    field: str | None = Field(
        None, description="The input at fault, e.g. ``records[0].value.tract``."
    )


class ClusterModel(BaseModel):
    """One Kafka cluster."""

    kind: str = "KafkaCluster"
    metadata: dict[str, Any] = Field(default_factory=dict)
    cluster_id: str


class ClusterListResponse(BaseModel):
    """``GET /v3/clusters``: the dispatcher reads ``data[0].cluster_id``."""

    kind: str = "KafkaClusterList"
    metadata: dict[str, Any] = Field(default_factory=dict)
    data: list[ClusterModel]


class TopicResponse(BaseModel):
    """A created topic."""

    kind: str = "KafkaTopic"
    metadata: dict[str, Any] = Field(default_factory=dict)
    cluster_id: str
    topic_name: str
    is_internal: bool = False
    replication_factor: int | None = None
    partitions_count: int | None = None


class OffsetModel(BaseModel):
    """Where one record went; Vigil's ``offset`` is the id of the job it became."""

    partition: int = 0
    offset: int = Field(description="The id of the Vigil job stored for the record.")
    error_code: int | None = None
    error: str | None = None
    created: bool = Field(description="False when the record was already stored (re-sent).")


class ProduceResponse(BaseModel):
    """``POST /topics/{topic}``: one offset per record, in order."""

    offsets: list[OffsetModel]
    key_schema_id: int | None = None
    value_schema_id: int = Field(description="A stable id of the value schema sent.")
