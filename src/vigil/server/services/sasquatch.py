"""The Sasquatch surface: the Kafka REST proxy calls of analysis_tools' dispatcher,
translated onto the job ingest (`JobService`).

``SasquatchDispatcher`` (lsst.analysis.tools) sends one request per metric of a
``MetricMeasurementBundle``: the topic ``<namespace>.<topic>`` names the bundle's metric,
each record's fields are the dispatcher's fixed fields (``id``, ``run``,
``dataset_tag``, ``timestamp``, the dataId keys...) plus one numeric field per
measurement. Each record becomes one Vigil job; see ``docs/sasquatch.md``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..database import read_transaction
from ..domain import User
from ..exceptions import (
    AuthenticationError,
    InvalidJobError,
    InvalidRequestError,
    NotFoundError,
    VigilError,
)
from ..storage.metrics import MetricStore
from .auth import AuthService
from .jobs import IngestResult, JobService

__all__ = [
    "CLUSTER_ID",
    "IDENTIFIER_KEYS",
    "ClusterNotFoundError",
    "InvalidTopicError",
    "SasquatchService",
    "SasquatchTopics",
    "TopicExistsError",
    "metric_fields",
]

CLUSTER_ID = "vigil"
"""The id of the one Kafka cluster this surface pretends to be."""

IDENTIFIER_KEYS = (
    "detector",
    "patch",
    "skymap",
    "visit",
    "tract",
    "physical_filter",
    "instrument",
    "band",
    "exposure",
    "group",
    "day_obs",
)
"""The record fields that make the dataId (the dispatcher's ``IDENTIFIER_KEYS``)."""

_INTEGER_KEYS = frozenset({"detector", "patch", "visit", "tract", "exposure", "day_obs"})
"""DataId keys whose values are integers in the Butler (sent as strings)."""

_FIXED_FIELDS = frozenset(
    {
        "id",
        "run",
        "dataset_type",
        "dataset_tag",
        "reference_package",
        "reference_package_version",
        "tags",
        *IDENTIFIER_KEYS,
    }
)
"""Record fields the dispatcher adds to every record: never metric values."""

_NUMERIC = frozenset({"int", "long", "float", "double"})
_IDENTIFIER_MAX = 128


class TopicExistsError(VigilError):
    """A topic of that name was already created (the dispatcher expects this 400)."""

    status_code = 400
    code = "topic_exists"


class ClusterNotFoundError(NotFoundError):
    code = "cluster_not_found"


class InvalidTopicError(VigilError):
    """A topic name without a namespace, or not the one its schema names."""

    status_code = 422
    code = "invalid_topic"


class SasquatchTopics:
    """The topics created on this process (held by the process context).

    Topics only gate ``POST /v3/clusters/{id}/topics`` (a second creation is 400, as
    the proxy answers); records are accepted on any topic, so a deployment of several
    processes behaves the same for the dispatcher.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def add(self, name: str) -> bool:
        """Remember *name*; False if it was already there."""
        with self._lock:
            if name in self._names:
                return False
            self._names.add(name)
            return True


@dataclass(frozen=True, slots=True)
class ProduceResult:
    """What ``POST /topics/{topic}`` stored: one job per record, and the schema's id."""

    results: list[IngestResult]
    value_schema_id: int


def metric_fields(schema_fields: list[dict[str, Any]]) -> list[str]:
    """The names of the schema fields that hold metric values.

    A field is a metric value when its Avro type is numeric (``int``, ``long``,
    ``float``, ``double``, or a union of these with ``null``) and it is not one of the
    dispatcher's fixed fields or a timestamp (a name containing ``timestamp``).
    """
    names = []
    for field in schema_fields:
        name = field["name"]
        if name in _FIXED_FIELDS or "timestamp" in name:
            continue
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        kinds = {t for t in types if t != "null"}
        if kinds and kinds <= _NUMERIC:
            names.append(name)
    return names


class SasquatchService:
    """Serves the Sasquatch surface; job ingest owns the write transaction.

    Parameters
    ----------
    session
        The database session shared with *job_service* and *auth_service*.
    job_service
        Stores the jobs the records become.
    auth_service
        Checks API tokens.
    topics
        The topics created on this process.
    metrics
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        job_service: JobService,
        auth_service: AuthService,
        topics: SasquatchTopics,
        *,
        metrics: MetricStore,
    ) -> None:
        self._session = session
        self._jobs = job_service
        self._auth = auth_service
        self._topics = topics
        self._metrics = metrics

    def authenticate(self, username: str, token: str) -> User:
        """The user of HTTP Basic credentials: a user name and one of its API tokens.

        Raises
        ------
        AuthenticationError
            The token is not valid, or belongs to another user.
        """
        try:
            user = self._auth.authenticate(token)
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"Invalid credentials for {username!r}: the password of the proxy URL"
                f" (http://USER:TOKEN@host/sasquatch) must be a valid Vigil API token of"
                f" that user ({exc.message})",
                field="password",
            ) from None
        if username and user.name != username:
            raise AuthenticationError(
                f"Invalid credentials: the token given as password does not belong to"
                f" {username!r}; put the token's owner, {user.name!r}, in the URL.",
                field="username",
            )
        return user

    def clusters(self) -> list[str]:
        """The cluster ids (one)."""
        return [CLUSTER_ID]

    def create_topic(self, cluster_id: str, body: Any) -> str:
        """Create the topic named in *body* (``topic_name``); return its name.

        Raises
        ------
        ClusterNotFoundError
            *cluster_id* is not this server's cluster.
        InvalidRequestError
            The body has no ``topic_name`` string, or the name has no namespace.
        TopicExistsError
            The topic was already created.
        """
        self._check_cluster(cluster_id)
        if not isinstance(body, dict) or not isinstance(body.get("topic_name"), str):
            raise InvalidRequestError(
                "The body must be a JSON object with a 'topic_name' string.", field="topic_name"
            )
        name: str = body["topic_name"]
        _split_topic(name, None)
        if not self._topics.add(name):
            raise TopicExistsError(f"Topic {name!r} already exists.", field="topic_name")
        return name

    def produce(self, topic_name: str, body: Any, user: User) -> ProduceResult:
        """Store the records of a produce request: one job per record, all or none.

        Raises
        ------
        InvalidRequestError
            The topic has no namespace, or it disagrees with the schema's.
        InvalidJobError
            The body, its ``value_schema`` or a record is malformed; the field names
            the record (``records[2].value.tract``).
        ConflictError
            A record's ``id`` was stored with other content on this topic.
        """
        if not isinstance(body, dict):
            raise InvalidJobError(
                "The body must be a JSON object with 'value_schema' and 'records'.",
                field="body",
            )
        schema = _parse_schema(body.get("value_schema"))
        namespace, topic = _split_topic(topic_name, schema)
        records = body.get("records")
        if not isinstance(records, list) or not records:
            raise InvalidJobError("Field records must be a non-empty array.", field="records")
        values = []
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not isinstance(record.get("value"), dict):
                raise InvalidJobError(
                    f"Record {i} must be an object with a 'value' object.",
                    field=f"records[{i}].value",
                )
            _check_record(record["value"], schema["fields"], i)
            values.append(record["value"])
        names = metric_fields(schema["fields"])
        if not names:
            raise InvalidJobError(
                "The schema has no numeric field besides the dispatcher's fixed fields, so"
                " the records hold no metric value.",
                field="value_schema.fields",
            )
        units = self._units([f"{topic}.{n}" for n in names])
        payloads = [_job(namespace, topic, v, names, units) for v in values]
        results = self._jobs.ingest_many(payloads, user)
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        schema_id = int(hashlib.sha256(canonical.encode()).hexdigest()[:7], 16)
        return ProduceResult(results, schema_id)

    def _units(self, names: list[str]) -> dict[str, str]:
        # The dispatcher sends no units: a stored metric's own unit is the value's.
        with read_transaction(self._session):
            return {n: m.unit for n, m in self._metrics.get_many(names).items()}

    def _check_cluster(self, cluster_id: str) -> None:
        if cluster_id != CLUSTER_ID:
            raise ClusterNotFoundError(
                f"No cluster has the id {cluster_id!r}; this server's is {CLUSTER_ID!r}"
                " (GET /sasquatch/v3/clusters).",
                field="cluster_id",
            )


def _split_topic(name: str, schema: dict[str, Any] | None) -> tuple[str, str]:
    """(namespace, topic) of a topic name ``<namespace>.<topic>``.

    With a schema that has a namespace, the name must be ``<its namespace>.<its
    name>``; else the namespace is what comes before the last dot.
    """
    namespace = schema.get("namespace") if schema is not None else None
    if schema is not None and isinstance(namespace, str) and namespace:
        expected = f"{namespace}.{schema['name']}"
        if name != expected:
            raise InvalidTopicError(
                f"The topic {name!r} is not the schema's namespace and name, {expected}.",
                field="topic_name",
            )
        return namespace, str(schema["name"])
    head, dot, tail = name.rpartition(".")
    if not dot or not head or not tail:
        raise InvalidTopicError(
            f"The topic {name!r} has no namespace: name it <namespace>.<topic>, as the"
            " dispatcher does (lsst.dm.<metric>).",
            field="topic_name",
        )
    return head, tail


def _parse_schema(raw: Any) -> dict[str, Any]:
    if raw is None:
        raise InvalidJobError(
            "Field value_schema is missing: send the Avro schema of the records (schema"
            " ids are not kept).",
            field="value_schema",
        )
    try:
        schema = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise InvalidJobError(
            f"Field value_schema is not JSON: {exc.msg}.", field="value_schema"
        ) from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise InvalidJobError(
            "Field value_schema must be an Avro record schema ({'type': 'record', ...}).",
            field="value_schema",
        )
    if not isinstance(schema.get("name"), str) or not schema["name"]:
        raise InvalidJobError("The schema needs a name.", field="value_schema.name")
    fields = schema.get("fields")
    if not isinstance(fields, list):
        raise InvalidJobError("The schema needs a fields array.", field="value_schema.fields")
    for i, field in enumerate(fields):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise InvalidJobError(
                "Each schema field needs a name.", field=f"value_schema.fields[{i}]"
            )
        if "type" not in field:
            raise InvalidJobError(
                f"Schema field {field['name']!r} has no type.", field=f"value_schema.fields[{i}]"
            )
    return schema


def _matches(value: Any, avro_type: Any) -> bool:
    """Whether *value* (decoded JSON) is of *avro_type* (a name, union or complex type)."""
    if isinstance(avro_type, list):
        return any(_matches(value, t) for t in avro_type)
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "array":
            return isinstance(value, list) and all(
                _matches(v, avro_type.get("items")) for v in value
            )
        if kind == "map":
            return isinstance(value, dict) and all(
                _matches(v, avro_type.get("values")) for v in value.values()
            )
        return _matches(value, kind)
    match avro_type:
        case "null":
            return value is None
        case "boolean":
            return isinstance(value, bool)
        case "int" | "long":
            return isinstance(value, int) and not isinstance(value, bool)
        case "float" | "double":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string" | "bytes":
            return isinstance(value, str)
        case "array":
            return isinstance(value, list)
    return False


def _type_text(avro_type: Any) -> str:
    if isinstance(avro_type, dict):
        return str(avro_type.get("type"))
    if isinstance(avro_type, list):
        return " or ".join(_type_text(t) for t in avro_type)
    return str(avro_type)


def _check_record(value: dict[str, Any], fields: list[dict[str, Any]], index: int) -> None:
    # Fields absent from the schema are ignored (the dispatcher leaves ``tags: []`` in
    # the record but not in the schema); every schema field must be present and typed.
    for field in fields:
        name = field["name"]
        where = f"records[{index}].value.{name}"
        if name not in value:
            raise InvalidJobError(
                f"Record {index} has no field {name!r}, which its schema declares.", field=where
            )
        if not _matches(value[name], field["type"]):
            raise InvalidJobError(
                f"Record {index}: field {name!r} is {json.dumps(value[name])[:80]}, not of"
                f" the schema's type {_type_text(field['type'])}.",
                field=where,
            )


def _data_id(value: dict[str, Any]) -> dict[str, Any]:
    data_id: dict[str, Any] = {}
    for key in IDENTIFIER_KEYS:
        raw = value.get(key)
        if raw is None or raw == "":
            continue
        text = str(raw)
        if key in _INTEGER_KEYS and text.lstrip("-").isdigit():
            data_id[key] = int(text)
        else:
            data_id[key] = raw
    return data_id


def _identifier(record_id: str, namespace: str, topic: str) -> str:
    # The dispatcher sends the bundle's id on the record of each of its metrics (one
    # topic each): the key is the id within the topic.
    identifier = f"{record_id}/{namespace}.{topic}"
    if len(identifier) > _IDENTIFIER_MAX:
        digest = hashlib.sha256(f"{namespace}.{topic}".encode()).hexdigest()[:32]
        identifier = f"{record_id[: _IDENTIFIER_MAX - 33]}/{digest}"
    return identifier


def _job(
    namespace: str,
    topic: str,
    value: dict[str, Any],
    names: list[str],
    units: dict[str, str],
) -> dict[str, Any]:
    """The lsst.verify Job document of one record."""
    data_id = _data_id(value)
    measurements = [
        {
            "metric": f"{topic}.{name}",
            "value": value[name],
            "unit": units.get(f"{topic}.{name}", ""),
            "data_id": data_id,
        }
        for name in names
        if value[name] is not None
    ]
    fields = {k: v for k, v in value.items() if k not in names}
    meta: dict[str, Any] = {
        "sasquatch": {"namespace": namespace, "topic": topic, "fields": fields},
    }
    if isinstance(value.get("dataset_tag"), str) and value["dataset_tag"]:
        meta["dataset"] = value["dataset_tag"]
    if isinstance(value.get("run"), str) and value["run"]:
        meta["butler_run"] = value["run"]
    if isinstance(value.get("dataset_type"), str) and value["dataset_type"]:
        meta["dataset_type"] = value["dataset_type"]
    if isinstance(value.get("instrument"), str) and value["instrument"]:
        meta["instrument"] = value["instrument"]
    stamp = value.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and stamp > 0:
        meta["run_at"] = datetime.fromtimestamp(stamp, UTC).isoformat()
    job: dict[str, Any] = {"measurements": measurements, "meta": meta}
    record_id = value.get("id")
    if isinstance(record_id, str) and record_id:
        job["identifier"] = _identifier(record_id, namespace, topic)
    return job
