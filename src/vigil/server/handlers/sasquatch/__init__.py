"""The Kafka REST proxy subset that analysis_tools' ``SasquatchDispatcher`` uses,
mounted at ``/sasquatch``; see ``docs/sasquatch.md``."""

from fastapi import APIRouter

from . import topics

__all__ = ["router"]

router = APIRouter(prefix="/sasquatch")
router.include_router(topics.router)
