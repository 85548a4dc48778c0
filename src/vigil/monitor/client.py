"""HTTP to the Vigil server for the monitor and log senders: the dispatch client's retries.

`EventClient` is `vigil.client.SubmitClient` pointed at another endpoint: answers 5xx,
408 and 429, timeouts and connection errors are retried with exponential backoff within a
total time budget; other 4xx answers raise at once (`RejectedJobError`,
`AuthenticationError`), and a server out of reach raises `ServerUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from vigil.client import SubmitClient
from vigil.client._responses import authentication_failure, rejection
from vigil.client.errors import ClientError, ServerUnavailableError

__all__ = ["EventClient"]


class EventClient(SubmitClient):
    """POST JSON documents to one endpoint of a Vigil server, with retries.

    Parameters
    ----------
    url
        Root URL of the server.
    path
        The endpoint, e.g. ``/api/monitor/events``.
    **kwargs
        As for `vigil.client.SubmitClient` (token, timeout, retries, backoff...).
    """

    def __init__(self, url: str, path: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = path

    @property
    def jobs_url(self) -> str:
        """The endpoint documents are posted to."""
        return f"{self.url}{self.path}"

    def post(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Send *document*; the server's JSON answer.

        Raises
        ------
        RejectedJobError
            The server refused the document (4xx).
        AuthenticationError
            The token is missing or refused (401, 403).
        ServerUnavailableError
            Every attempt failed (5xx, timeout, connection refused).
        """
        content = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
        response = self._post_with_retries(content, {"Content-Type": "application/json"})
        return self._answer(response)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """GET a JSON document from *path* (None on 204 No Content); one attempt.

        Raises
        ------
        ServerUnavailableError
            The server could not be reached or answered 5xx.
        """
        return self._once("GET", path, params=params)

    def post_to(self, path: str, document: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST *document* to another *path*, once (None on 204 No Content)."""
        content = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
        headers = {"Content-Type": "application/json"}
        return self._once("POST", path, content=content, headers=headers)

    def _once(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = self._http.request(
                method, f"{self.url}{path}", timeout=self.timeout, **kwargs
            )
        except httpx.TransportError as exc:
            raise ServerUnavailableError(
                f"{self.url}{path} could not be reached ({type(exc).__name__})."
            ) from None
        if response.status_code >= 500:
            raise ServerUnavailableError(f"{self.url}{path} answered {response.status_code}.")
        if response.status_code == 204:
            return None
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            raise authentication_failure(response, token_given=self.token is not None)
        if status >= 400:
            raise rejection(response)
        if status >= 300:
            raise ClientError(
                f"{response.request.url} answered {status}: is {self.url} the root URL of a"
                " Vigil server?"
            )
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
