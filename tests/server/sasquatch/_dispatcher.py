"""Requests shaped exactly as lsst.analysis.tools' ``SasquatchDispatcher`` builds them.

Mirrors ``python/lsst/analysis/tools/interfaces/datastore/_dispatcher.py``
(``_prepareBundle``, ``_handleIdentifier``, ``_generateAvroSchema``, ``_python2Avro``,
``_create_topic``, ``dispatch``) without the LSST imports: a bundle here is a mapping
metric name → list of ``{"metric": name, "value": value}`` (a measurement's ``json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from fastapi.testclient import TestClient

PARTITIONS = 1
REPLICATION_FACTOR = 3
IDENTIFIER_KEYS = [
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
]
AVRO = {"content-type": "application/vnd.kafka.avro.v2+json"}
JSON = {"content-type": "application/json"}


def python2avro(value: Any) -> Mapping[str, Any]:
    match value:
        case float() | None:
            return {"type": "float", "default": 0.0}
        case str():
            return {"type": "string", "default": ""}
        case int():
            return {"type": "int", "default": 0}
        case Sequence():
            tmp = {python2avro(item)["type"] for item in value}
            if len(tmp) == 0:
                return {}
            if len(tmp) > 1:
                return {"error_in_conversion": True}
            return {"type": "array", "items": tmp.pop()}
        case _:
            return {}


def avro_schema(namespace: str, metric: str, record: MutableMapping[str, Any]) -> str:
    schema: dict[str, Any] = {"type": "record", "namespace": namespace, "name": metric}
    fields = []
    remove = []
    for key in record:
        value = record[key]
        if "timestamp" in key:
            avro_type: Mapping[str, Any] = {"type": "double"}
        else:
            avro_type = python2avro(value)
            if len(avro_type) == 0:
                continue
            if avro_type.get("error_in_conversion"):
                remove.append(key)
                continue
        fields.append({"name": key, **avro_type})
    for key in remove:
        record.pop(key)
    schema["fields"] = fields
    return json.dumps(schema)


def prepare_bundle(
    bundle: Mapping[str, list[dict[str, Any]]],
    *,
    run: str,
    dataset_type: str,
    bundle_id: str,
    timestamp: float,
    identifier_fields: Mapping[str, Any] | None,
    dataset_identifier: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """``_prepareBundle``: metric → ``[{"value": record}]``."""
    meta: dict[str, Any] = {"id": bundle_id, "run": run, "dataset_type": dataset_type}
    meta["reference_package"] = ""
    meta["reference_package_version"] = ""
    meta["reference_package_timestamp"] = 0.0
    meta["run_timestamp"] = timestamp
    meta["timestamp"] = timestamp
    meta["dataset_tag"] = dataset_identifier or "Generic"
    fields = identifier_fields or {}
    for key in IDENTIFIER_KEYS:
        meta[key] = f"{fields.get(key, '')}"
    records: dict[str, list[dict[str, Any]]] = {}
    for metric, measurements in bundle.items():
        record = meta.copy()
        for measurement in measurements:
            record["tags"] = []
            record[measurement["metric"]] = measurement["value"]
        records.setdefault(metric, []).append({"value": record})
    return records


class Dispatcher:
    """``SasquatchDispatcher`` over a test client: *prefix* is its ``url``'s path."""

    def __init__(
        self,
        client: TestClient,
        auth: tuple[str, str] | None,
        namespace: str = "lsst.dm",
        prefix: str = "/sasquatch",
    ) -> None:
        self.client = client
        self.auth = auth
        self.namespace = namespace
        self.prefix = prefix

    def cluster_id(self) -> str:
        r = self.client.get(f"{self.prefix}/v3/clusters", headers=JSON, auth=self.auth)
        r.raise_for_status()
        return str(r.json()["data"][0]["cluster_id"])

    def create_topic(self, topic: str, cluster_id: str | None = None) -> Any:
        config = {
            "topic_name": f"{self.namespace}.{topic}",
            "partitions_count": PARTITIONS,
            "replication_factor": REPLICATION_FACTOR,
        }
        cid = cluster_id or self.cluster_id()
        return self.client.post(
            f"{self.prefix}/v3/clusters/{cid}/topics",
            content=json.dumps(config),
            headers=JSON,
            auth=self.auth,
        )

    def produce(self, metric: str, records: list[dict[str, Any]]) -> Any:
        data = {
            "value_schema": avro_schema(self.namespace, metric, records[0]["value"]),
            "records": records,
        }
        return self.client.post(
            f"{self.prefix}/topics/{self.namespace}.{metric}",
            content=json.dumps(data),
            headers=AVRO,
            auth=self.auth,
        )

    def dispatch(self, bundle: Mapping[str, list[dict[str, Any]]], **kwargs: Any) -> list[Any]:
        """``dispatch``: create each topic, then post its records; the responses."""
        answers = []
        for metric, records in prepare_bundle(bundle, **kwargs).items():
            created = self.create_topic(metric)
            assert created.status_code in (201, 400), created.text
            answers.append(self.produce(metric, records))
        return answers
