"""Read a Vigil server from Python or a notebook: series and jobs as pandas DataFrames.

::

    from vigil.client import ReadClient
    from vigil import plots
    from bokeh.plotting import show

    client = ReadClient("http://localhost:8000")
    df = client.series("validate_drp.PA1", dataset="validation_data_hsc",
                       data_id={"band": "r"})
    show(plots.series_plot(df, x="commit"))

pandas is imported when a DataFrame is built: the light install (``pip install vigil``)
has no pandas, and `ReadClient` then says how to get it.

``Client`` is the earlier name of `ReadClient`, kept for the scripts that use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx

from vigil.client.errors import AuthenticationError, ClientError, ServerUnavailableError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SERIES_COLUMNS", "Client", "ReadClient"]

SERIES_COLUMNS = (
    "job_id",
    "measurement_id",
    "time",
    "value",
    "unit",
    "branch",
    "commit_sha",
    "pull_request",
    "environment",
    "series_key",
    "metric",
    "dataset",
    "instrument",
    "data_id",
)
"""The columns of `ReadClient.series`, in order."""

_PAGE = 1000
# Points per request: the server caps it at its VIGIL_PAGE_SIZE_MAX, the cursor does the rest.
_POINT_PAGE = 100_000

_ARROW_STREAM = "application/vnd.apache.arrow.stream"

SeriesForm = Literal["arrow", "columns", "rows"]
"""How `ReadClient.series` reads points: an Arrow IPC stream, columnar JSON, or rows."""


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ClientError(
            "vigil.client.ReadClient returns pandas DataFrames, and pandas is not installed:"
            " run `pip install pandas` (or `pip install 'vigil[server]'`)."
        ) from None
    return pandas


def _default_form() -> SeriesForm:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "columns"
    return "arrow"


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class ReadClient:
    """The native API of a Vigil server (``/api``), read into DataFrames.

    Parameters
    ----------
    url
        Root URL of the server (``http://localhost:8000``).
    token
        API token, needed when the server does not allow public reading.
    timeout
        Seconds allowed to one request.
    transport
        An httpx transport (tests, unusual networks); default: open connections.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Server URL {url!r} must start with http:// or https://.")
        self.url = url.rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Requests ---------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._request(path, params).json()

    def _request(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.get(path, params=clean, headers=headers)
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(f"Cannot reach {self.url}: {exc}.") from exc
        if response.status_code == 401:
            raise AuthenticationError(
                f"{self.url} needs an API token to read: ReadClient(url, token=...).", status=401
            )
        if response.status_code >= 400:
            raise ClientError(f"{self.url}{path}: {_error_message(response)}")
        return response

    def _pages(self, path: str, params: Mapping[str, Any], limit: int | None) -> Iterator[Any]:
        cursor: str | None = None
        count = 0
        while True:
            size = _PAGE if limit is None else min(_PAGE, limit - count)
            if size <= 0:
                return
            body = self._get(path, {**params, "limit": size, "cursor": cursor})
            for item in body["items"]:
                yield item
                count += 1
            cursor = body.get("next_cursor")
            if not cursor:
                return

    # Reads ------------------------------------------------------------------------------

    def series(
        self,
        metric: str,
        dataset: str | None = None,
        data_id: Mapping[str, Any] | None = None,
        branch: str | None = None,
        *,
        instrument: str | None = None,
        environment: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        exact: bool = True,
        form: SeriesForm | None = None,
    ) -> pd.DataFrame:
        """The measurements of *metric*, one row per point, in job order per series.

        Parameters
        ----------
        metric
            ``package.metric``.
        dataset, instrument
            Only series on this dataset / instrument.
        data_id
            Only the series with this dataId (*exact*), or whose dataId contains it.
        branch, environment
            Only jobs of this branch / environment (default: every branch, so that the
            main line and branches can be drawn together).
        since, until
            Job time at or after / before (datetime or ISO 8601 text).
        exact
            Whether *data_id* must equal the series' dataId rather than be part of it.
        form
            How the points travel: ``"arrow"`` (an Arrow IPC stream, the default when
            pyarrow is installed), ``"columns"`` (columnar JSON, the default without
            pyarrow) or ``"rows"`` (one JSON object per point). The DataFrame is the same.

        Returns
        -------
        pandas.DataFrame
            Columns `SERIES_COLUMNS`: ``time`` is a UTC datetime, ``value`` is NaN where
            the measurement is not a number, ``data_id`` a dict. Empty (with these
            columns) when nothing matches. `vigil.plots.series_plot` draws it.

        Raises
        ------
        ClientError
            The server refused the request (unknown metric...); AuthenticationError or
            ServerUnavailableError when it is what they say.
        """
        pandas = _pandas()
        params = {
            "metric": metric,
            "dataset": dataset,
            "instrument": instrument,
            "data_id": json.dumps(dict(data_id)) if data_id is not None else None,
        }
        found = list(self._pages("/api/series", params, None))
        if data_id is not None and exact:
            found = [s for s in found if s["data_id"] == dict(data_id)]
        point_params = {
            "branch": branch,
            "environment": environment,
            "since": _iso(since),
            "until": _iso(until),
        }
        form = form or _default_form()
        frames = []
        for s in found:
            path = f"/api/series/{s['series_key']}/points"
            for part in self._point_pages(path, point_params, form):
                for name in ("series_key", "metric", "dataset", "instrument"):
                    part[name] = s[name]
                part["data_id"] = [s["data_id"]] * len(part)
                frames.append(part)
        frames = [f for f in frames if len(f)]
        if frames:
            frame = pandas.concat(frames, ignore_index=True)[list(SERIES_COLUMNS)]
        else:
            frame = pandas.DataFrame(columns=list(SERIES_COLUMNS))
        frame["time"] = pandas.to_datetime(frame["time"], utc=True, format="ISO8601").astype(
            "datetime64[ns, UTC]"
        )
        frame["value"] = pandas.to_numeric(frame["value"], errors="coerce").astype(float)
        frame["pull_request"] = frame["pull_request"].astype("Int64")
        return frame

    def _point_pages(
        self, path: str, params: Mapping[str, Any], form: SeriesForm
    ) -> Iterator[pd.DataFrame]:
        """The pages of one series' points, each a DataFrame of the point fields."""
        pandas = _pandas()
        cursor: str | None = None
        while True:
            page = {**params, "limit": _POINT_PAGE, "cursor": cursor}
            if form == "arrow":
                frame, cursor = _arrow_page(self._request(path, page, {"Accept": _ARROW_STREAM}))
                yield frame
            else:
                body = self._get(path, {**page, "form": form})
                if form == "columns":
                    yield pandas.DataFrame(body["columns"])
                else:
                    yield pandas.DataFrame(body["items"])
                cursor = body.get("next_cursor")
            if not cursor:
                return

    def jobs(
        self,
        *,
        branch: str | None = None,
        dataset: str | None = None,
        environment: str | None = None,
        instrument: str | None = None,
        commit: str | None = None,
        pull_request: int | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = 1000,
    ) -> pd.DataFrame:
        """Jobs matching the filters, newest first, one row each (at most *limit*).

        Columns are those of ``GET /api/jobs`` items (``id``, ``run_at``, ``dataset``,
        ``branch``, ``commit_sha``...); times are UTC datetimes.
        """
        pandas = _pandas()
        params = {
            "branch": branch,
            "dataset": dataset,
            "environment": environment,
            "instrument": instrument,
            "commit": commit,
            "pull_request": pull_request,
            "since": _iso(since),
            "until": _iso(until),
        }
        frame = pandas.DataFrame(list(self._pages("/api/jobs", params, limit)))
        for column in ("created", "run_at"):
            if column in frame:
                frame[column] = pandas.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def job(self, job_id: int) -> dict[str, Any]:
        """One job as ``GET /api/jobs/{id}`` returns it (meta, packages, measurements)."""
        body: dict[str, Any] = self._get(f"/api/jobs/{int(job_id)}")
        return body


Client = ReadClient
"""The earlier name of `ReadClient`."""


def _arrow_page(response: httpx.Response) -> tuple[pd.DataFrame, str | None]:
    """The points of an Arrow IPC answer and its ``next_cursor``."""
    import pyarrow as pa

    table = pa.ipc.open_stream(response.content).read_all()
    envelope = json.loads(table.schema.metadata[b"vigil"])
    # Dictionary-encoded text becomes plain strings (object columns, None for null),
    # as in the JSON forms.
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table.to_pandas(), envelope.get("next_cursor")


def _error_message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    return f"HTTP {response.status_code}"
