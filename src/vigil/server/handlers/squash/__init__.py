"""The SQuaSH-compatible API, mounted at the root path (``/job``, ``/auth``, ``/jobs``...).

It lets lsst.verify's ``dispatch_verify.py`` and other SQuaSH clients work unchanged
against Vigil; see ``docs/squash.md``.
"""

from fastapi import APIRouter

from . import definitions, jobs
from ._common import ENDPOINTS, endpoint_map, prefers_json

__all__ = ["ENDPOINTS", "endpoint_map", "prefers_json", "router"]

router = APIRouter()
for _module in (jobs, definitions):
    router.include_router(_module.router)
