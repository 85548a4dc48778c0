"""The native API, mounted at ``/api``."""

from fastapi import APIRouter, Depends

from ...dependencies import read_access
from . import admin, artifacts, index, jobs, metrics, series

__all__ = ["router"]

router = APIRouter(prefix="/api", dependencies=[Depends(read_access)])
for _module in (index, jobs, artifacts, metrics, series, admin):
    router.include_router(_module.router)
