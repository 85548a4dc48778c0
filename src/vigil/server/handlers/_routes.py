"""Routes that render every error of a surface in that surface's own shape."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from ..exceptions import InvalidRequestError, VigilError
from ._params import validation_error

__all__ = ["error_shaped_route"]


def error_shaped_route(render: Callable[[VigilError], Response], doc: str) -> type[APIRoute]:
    """An `APIRoute` class whose errors are all answered by *render*.

    Vigil's own errors, FastAPI's validation errors and a body it cannot read at all (a
    400) become `VigilError` values rendered the surface's way (SQuaSH's ``message``, the
    Kafka REST proxy's ``error_code``); any other exception goes on to the app.
    """

    class ErrorShapedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except VigilError as exc:
                    return render(exc)
                except RequestValidationError as exc:
                    return render(validation_error(exc))
                except HTTPException as exc:
                    if exc.status_code != 400:
                        raise
                    # A body FastAPI cannot read at all (a form where JSON was expected).
                    return render(InvalidRequestError(str(exc.detail), field="body"))

            return route

    ErrorShapedRoute.__doc__ = doc
    return ErrorShapedRoute
