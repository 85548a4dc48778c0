"""Administration through the API: tokens (one's own, or anyone's for an administrator),
deleting a job or a metric, and the audit log (administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ...dependencies import factory_dependency, require_role
from ...domain import Role, Token, User
from ...domain.audit import Actor, AuditEntry
from ...domain.users import sorted_roles
from ...factory import Factory
from ._common import ERRORS, Limit, next_url, page_limit
from .models import PageModel

__all__ = ["AuditEntryModel", "TokenModel", "router"]

router = APIRouter(tags=["administration"])


class TokenModel(BaseModel):
    """An API token as stored: never its secret."""

    id: int
    user: str
    name: str
    roles: list[str] = Field(..., description="The roles it is scoped to.")
    created: datetime
    last_used: datetime | None
    expires: datetime | None = Field(
        ..., description="When it stops working; null for a token older than expiry (never)."
    )
    revoked: datetime | None

    @classmethod
    def from_domain(cls, t: Token) -> TokenModel:
        """Build from a domain token."""
        return cls(
            id=t.id,
            user=t.user_name,
            name=t.name,
            roles=sorted_roles(t.roles),
            created=t.created_at,
            last_used=t.last_used_at,
            expires=t.expires_at,
            revoked=t.revoked_at,
        )


class AuditEntryModel(BaseModel):
    """One administrative action."""

    id: int
    time: datetime
    actor: str = Field(..., description="The user's name, or cli:<login> for the commands.")
    action: str = Field(..., description="job.delete, metric.delete, token.create, ...")
    target: str
    summary: dict[str, Any] = Field(..., description="What was removed or changed.")

    @classmethod
    def from_domain(cls, e: AuditEntry) -> AuditEntryModel:
        """Build from a domain entry."""
        return cls(
            id=e.id,
            time=e.created_at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            summary=e.summary,
        )


def _actor(user: User) -> Actor:
    return Actor(user.name, user.id)


# Tokens -----------------------------------------------------------------------------------


@router.get(
    "/tokens",
    response_model=list[TokenModel],
    summary="Your tokens (everyone's for administrators)",
    responses=ERRORS,
)
def list_tokens(
    all: bool = Query(False, description="Everyone's tokens (administrators only)."),
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> list[TokenModel]:
    """Tokens with their roles and dates, revoked ones included; never their secrets."""
    tokens = factory.create_user_service().tokens_of(user, everyone=all)
    return [TokenModel.from_domain(t) for t in tokens]


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenModel,
    summary="Revoke a token",
    responses=ERRORS,
)
def revoke_token(
    token_id: int,
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> TokenModel:
    """Revoke one of your tokens (any token, for an administrator); its sessions end too."""
    revoked = factory.create_user_service().revoke_token(token_id, by=user)
    return TokenModel.from_domain(revoked)


# Deletion ---------------------------------------------------------------------------------


@router.delete(
    "/jobs/{job_id}",
    response_model=AuditEntryModel,
    summary="Delete a job",
    responses=ERRORS,
)
def delete_job(
    job_id: int,
    user: User = Depends(require_role(Role.ADMIN)),
    factory: Factory = Depends(factory_dependency),
) -> AuditEntryModel:
    """Delete a job with its measurements, blobs, packages and artifacts, all or nothing;
    its series are analysed again. Answers the audit entry."""
    entry = factory.create_deletion_service().delete_job(job_id, _actor(user))
    return AuditEntryModel.from_domain(entry)


@router.delete(
    "/metrics/{name}",
    response_model=AuditEntryModel,
    summary="Delete a metric",
    responses=ERRORS,
)
def delete_metric(
    name: str,
    user: User = Depends(require_role(Role.ADMIN)),
    factory: Factory = Depends(factory_dependency),
) -> AuditEntryModel:
    """Delete a metric with its specifications, series, measurements and regressions, all
    or nothing. Answers the audit entry."""
    entry = factory.create_deletion_service().delete_metric(name, _actor(user))
    return AuditEntryModel.from_domain(entry)


# Audit log --------------------------------------------------------------------------------


@router.get(
    "/audit",
    response_model=PageModel[AuditEntryModel],
    summary="The audit log",
    responses=ERRORS,
)
def list_audit(
    request: Request,
    action: str | None = Query(None, description="Only this action (job.delete, ...)."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="The previous page's next_cursor."),
    user: User = Depends(require_role(Role.ADMIN)),
    factory: Factory = Depends(factory_dependency),
) -> PageModel[AuditEntryModel]:
    """Administrative actions, newest first: deletions, users, roles and tokens."""
    page = factory.create_audit_service().list(
        limit=page_limit(request, limit), cursor=cursor, action=action or None
    )
    return PageModel[AuditEntryModel](
        items=[AuditEntryModel.from_domain(e) for e in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )
