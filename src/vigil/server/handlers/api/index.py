"""The API's entry point and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from vigil import __version__

from ...dependencies import base_url, require_user
from ...domain import User
from ._common import ERRORS
from .models import IndexModel, UserModel

router = APIRouter(tags=["meta"])


@router.get("/", response_model=IndexModel, summary="API entry point")
def get_index(request: Request) -> IndexModel:
    """Name and version of the server, and where its documentation is."""
    base = base_url(request)
    return IndexModel(
        name="vigil",
        version=__version__,
        docs_url=f"{base}/api/docs",
        openapi_url=f"{base}/api/openapi.json",
    )


@router.get("/me", response_model=UserModel, summary="Who the token belongs to", responses=ERRORS)
def get_me(user: User = Depends(require_user)) -> UserModel:
    """The user the request's token belongs to (a way to check a token)."""
    return UserModel.from_domain(user)
