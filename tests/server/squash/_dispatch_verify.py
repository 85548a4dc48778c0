"""The HTTP conversation of lsst.verify's ``dispatch_verify.py``, call for call.

lsst.verify is not installable here, so this module re-enacts, in our own words, what
its upload path does on the wire, with ``httpx`` standing in for ``requests``. Each
function names the lsst.verify function it mirrors (``python/lsst/verify/squash.py``,
``python/lsst/verify/job.py`` and ``python/lsst/verify/bin/dispatchverify.py``):
same URLs (discovered from the endpoint map at the API root), same headers, same JSON
bodies, same fields read from the responses, same status checks. Every request made is
kept in `DispatchVerifyConversation.requests` so tests can assert the exchange.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["DispatchVerifyConversation", "DispatchVerifyError", "insert_env_metadata"]

# squash._API_VERSION
API_VERSION = "1.0"


class DispatchVerifyError(RuntimeError):
    """What dispatch_verify would die with (``requests.exceptions.RequestException``)."""


@dataclass
class RecordedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    status_code: int


@dataclass
class DispatchVerifyConversation:
    """One run of dispatch_verify.py against *http* (a client for the server).

    Like lsst.verify's module-level ``_ENDPOINT_URLS``, the endpoint map is fetched once
    and cached for the rest of the run.
    """

    http: httpx.Client
    endpoint_urls: dict[str, str] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    log_messages: list[str] = field(default_factory=list)

    # -- squash.make_accept_header / make_authorization_header -----------------------
    @staticmethod
    def make_accept_header(version: str | None = None) -> str:
        return f"application/json; version={version or API_VERSION}"

    @staticmethod
    def make_authorization_header(access_token: str) -> str:
        return f"JWT {access_token}"

    # -- squash.get_endpoint_url ---------------------------------------------------
    def get_endpoint_url(self, api_url: str, api_endpoint: str) -> str:
        if self.endpoint_urls is None:
            response = self.get(api_url)
            self.endpoint_urls = response.json()
        assert self.endpoint_urls is not None
        # A KeyError here is what dispatch_verify raises when the map lacks an endpoint.
        return self.endpoint_urls[api_endpoint]

    # -- squash.get ----------------------------------------------------------------
    def get(self, api_url: str, api_endpoint: str | None = None) -> httpx.Response:
        url = self.get_endpoint_url(api_url, api_endpoint) if api_endpoint else api_url
        headers = {"Accept": self.make_accept_header()}
        response = self.http.get(url, headers=headers)
        self._record("GET", url, headers, None, b"", response)
        # requests' raise_for_status(): any 4xx/5xx is fatal.
        if response.status_code >= 400:
            raise DispatchVerifyError(f"GET {url}: {response.status_code} {response.text}")
        return response

    # -- squash.post ---------------------------------------------------------------
    def post(
        self,
        api_url: str,
        api_endpoint: str,
        json_doc: Any = None,
        access_token: str | None = None,
    ) -> httpx.Response:
        url = self.get_endpoint_url(api_url, api_endpoint)
        headers = {"Accept": self.make_accept_header()}
        if access_token:
            headers["Authorization"] = self.make_authorization_header(access_token)
        # requests.post(json=...) serialises with the json module; the lsst.verify Job
        # JSON of the era (and requests before 2.26) put bare NaN tokens on the wire.
        body = json.dumps(json_doc).encode()
        headers_sent = {**headers, "Content-Type": "application/json"}
        # allow_redirects=False: a redirect would turn the POST into a GET.
        response = self.http.post(url, content=body, headers=headers_sent, follow_redirects=False)
        self._record("POST", url, headers_sent, json_doc, body, response)
        if response.status_code >= 400:
            raise DispatchVerifyError(f"POST {url}: {response.status_code} {response.text}")
        # "be pedantic about return status": 3xx is an error too.
        if response.status_code not in (200, 201, 202):
            raise DispatchVerifyError(
                f"Expected status = 200(OK), 201(Created) or 202(Accepted)."
                f" Got status={response.status_code}."
            )
        return response

    # -- squash.get_access_token ---------------------------------------------------
    def get_access_token(self, api_url: str, api_user: str, api_password: str) -> str:
        json_doc = {"username": api_user, "password": api_password}
        response = self.post(api_url, "auth", json_doc)
        return str(response.json()["access_token"])

    # -- job.Job.dispatch ----------------------------------------------------------
    def dispatch(
        self, full_job_json: dict[str, Any], api_user: str, api_password: str, api_url: str
    ) -> httpx.Response:
        # Only these three keys are uploaded: no metrics, no specs.
        job_json = {k: full_job_json[k] for k in ("measurements", "blobs", "meta")}
        access_token = self.get_access_token(api_url, api_user, api_password)
        return self.post(api_url, "job", json_doc=job_json, access_token=access_token)

    # -- dispatchverify.main (upload part) ------------------------------------------
    def main(
        self, full_job_json: dict[str, Any], api_user: str, api_password: str, api_url: str
    ) -> httpx.Response:
        response = self.dispatch(full_job_json, api_user, api_password, api_url)
        # log.info(response.json()['message'])
        self.log_messages.append(response.json()["message"])
        return response

    def _record(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Any,
        raw: bytes,
        response: httpx.Response,
    ) -> None:
        self.requests.append(RecordedRequest(method, url, headers, body, raw, response.status_code))


def insert_env_metadata(
    job: dict[str, Any], env_name: str, metadata: dict[str, Any], date_created: str | None
) -> dict[str, Any]:
    """Mirror of dispatchverify.insert_env_metadata on a Job JSON document."""
    metadata = {**metadata, "env_name": env_name}
    metadata["date"] = date_created or datetime.now(UTC).isoformat()
    job["meta"]["env"] = metadata
    return job


def jenkins_env(build_id: str, build_url: str, product: str, dataset: str) -> dict[str, Any]:
    """Mirror of lsst.verify.metadata.jenkinsci.get_jenkins_env with those variables set."""
    return {
        "date": datetime.now(UTC).isoformat(),
        "ci_id": build_id,
        "ci_name": product,
        "ci_dataset": dataset,
        "ci_label": "centos-7",
        "ci_url": build_url,
        "status": 0,
    }
