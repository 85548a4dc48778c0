"""The web dashboard: HTML pages, each with a JSON twin (``?format=json``).

See ``_render.py`` for how a page renders (`render`, `PageRoute`, the nav bar). Every
page needs read access (``VIGIL_PUBLIC_READ``, else a token).
"""

from fastapi import APIRouter, Depends

from ...dependencies import read_access
from . import compare, jobs, metric_overlay, metrics, overview
from ._render import (
    NAV_ITEMS,
    NavItem,
    PageRoute,
    mount_static,
    render,
    render_error,
)

__all__ = [
    "NAV_ITEMS",
    "NavItem",
    "PageRoute",
    "mount_static",
    "render",
    "render_error",
    "router",
]

router = APIRouter(
    route_class=PageRoute, include_in_schema=False, dependencies=[Depends(read_access)]
)
for _module in (overview, metrics, metric_overlay, jobs, compare):
    router.include_router(_module.router)
