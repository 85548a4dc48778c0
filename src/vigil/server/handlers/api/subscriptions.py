"""Subscriptions to regressions: list, create, read, delete, rotate a webhook's key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from ...dependencies import (
    base_url,
    check_role,
    factory_dependency,
    read_access,
    require_role,
    require_user,
)
from ...domain import Role, User
from ...domain.regressions import Delivery, Subscription, SubscriptionDraft
from ...factory import Factory
from ._common import ERRORS, unprocessable

__all__ = [
    "DeliveryModel",
    "SubscriptionCreateModel",
    "SubscriptionCreatedModel",
    "SubscriptionModel",
    "router",
]

router = APIRouter(prefix="/api", dependencies=[Depends(read_access)])


# Models -----------------------------------------------------------------------------------


class SubscriptionCreateModel(BaseModel):
    """What to be told about, and where."""

    channel: str = Field(..., description="email, webhook (plain JSON) or slack.")
    target: str | None = Field(
        None, description="Email address (default: yours) or the webhook URL."
    )
    metric_pattern: str | None = Field(
        None, description="Glob on metric names (``validate_drp.PA*``) or ``re:<regex>``."
    )
    package: str | None = Field(None, description="Only metrics of this package.")
    tag: str | None = Field(None, description="Only metrics with this tag.")
    dataset: str | None = Field(None, description="Only series on this dataset.")
    notify_on: str = Field(
        "confirmed",
        description=(
            "confirmed: told of a change once later data confirm it; suspected: told on its"
            " first suspect run already (and not again when it is confirmed)."
        ),
    )


class DeliveryModel(BaseModel):
    """How the latest message to a webhook or Slack subscription fared."""

    status: str = Field(..., description="pending, retrying, failed (given up) or delivered.")
    attempts: int
    created: datetime
    delivered: datetime | None
    next_attempt: datetime | None
    error: str | None = Field(
        ...,
        description=(
            "Why the last attempt failed, without network detail: connection failed,"
            " HTTP <status>, refused: private address, unsubscribed."
        ),
    )
    error_detail: str | None = Field(
        None, description="The network detail of that failure (administrators only)."
    )

    @classmethod
    def from_domain(cls, d: Delivery) -> DeliveryModel:
        """Build from a domain delivery."""
        return cls(
            status=d.status,
            attempts=d.attempts,
            created=d.created_at,
            delivered=d.delivered_at,
            next_attempt=d.next_attempt_at,
            error=d.error,
            error_detail=d.error_detail,
        )


class SubscriptionModel(SubscriptionCreateModel):
    """A stored subscription."""

    id: int
    url: str
    user: str
    target: str
    created: datetime | None
    secret_created: datetime | None = Field(
        None, description="When the webhook's signing key was made or last rotated."
    )
    last_delivery: DeliveryModel | None = None

    @classmethod
    def from_domain(cls, s: Subscription, base: str) -> SubscriptionModel:
        """Build from a domain subscription."""
        return cls(
            id=s.id,
            url=f"{base}/api/subscriptions/{s.id}",
            user=s.user_name,
            channel=s.channel,
            target=s.target,
            metric_pattern=s.metric_pattern,
            package=s.package,
            tag=s.tag,
            dataset=s.dataset,
            notify_on=s.notify_on,
            created=s.created_at,
            secret_created=s.secret_created_at,
            last_delivery=(
                None if s.last_delivery is None else DeliveryModel.from_domain(s.last_delivery)
            ),
        )


class SubscriptionCreatedModel(SubscriptionModel):
    """A subscription just created, or whose signing key was just rotated."""

    secret: str | None = Field(
        None,
        description=(
            "The webhook's HMAC-SHA256 signing key, shown this once (null for other"
            " channels): see docs/regressions.md, Signed webhooks."
        ),
    )

    @classmethod
    def from_created(cls, s: Subscription, base: str) -> SubscriptionCreatedModel:
        """Build from a subscription that carries its new key."""
        return cls(**SubscriptionModel.from_domain(s, base).model_dump(), secret=s.secret)


# Subscriptions ----------------------------------------------------------------------------

_SUBSCRIPTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: unprocessable("Malformed pattern, channel or target, or a refused webhook address"),
}


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionModel],
    summary="Your subscriptions",
    responses=ERRORS,
    tags=["subscriptions"],
)
def list_subscriptions(
    request: Request,
    all: bool = Query(False, description="Everyone's (administrators only)."),
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> list[SubscriptionModel]:
    """The subscriptions of the token's user (everyone's for an administrator with all)."""
    found = factory.create_subscription_service().list(user, everyone=all)
    base = base_url(request)
    return [SubscriptionModel.from_domain(s, base) for s in found]


@router.post(
    "/subscriptions",
    response_model=SubscriptionCreatedModel,
    status_code=201,
    summary="Subscribe to regressions",
    responses=_SUBSCRIPTION_ERRORS,
    tags=["subscriptions"],
)
def create_subscription(
    request: Request,
    response: Response,
    body: SubscriptionCreateModel,
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionCreatedModel:
    """Be told about new regressions of the metrics matching every filter given.

    A webhook subscription's answer carries its signing key, shown this once.
    """
    if body.channel.strip().lower() in ("webhook", "slack"):  # the server posts to a URL
        check_role(user, Role.TRIAGER)
    created = factory.create_subscription_service().create(
        user, SubscriptionDraft(**body.model_dump())
    )
    model = SubscriptionCreatedModel.from_created(created, base_url(request))
    response.headers["Location"] = model.url
    return model


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionModel,
    summary="One subscription",
    responses=ERRORS,
    tags=["subscriptions"],
)
def get_subscription(
    request: Request,
    subscription_id: int,
    user: User = Depends(require_user),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionModel:
    """One of your subscriptions."""
    found = factory.create_subscription_service().get(user, subscription_id)
    return SubscriptionModel.from_domain(found, base_url(request))


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
    responses=ERRORS,
    tags=["subscriptions"],
)
def delete_subscription(
    subscription_id: int,
    user: User = Depends(require_role(Role.VIEWER)),
    factory: Factory = Depends(factory_dependency),
) -> Response:
    """Remove one of your subscriptions."""
    factory.create_subscription_service().delete(user, subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/secret",
    response_model=SubscriptionCreatedModel,
    summary="Rotate a webhook's signing key",
    responses=_SUBSCRIPTION_ERRORS,
    tags=["subscriptions"],
)
def rotate_subscription_secret(
    request: Request,
    subscription_id: int,
    user: User = Depends(require_role(Role.TRIAGER)),
    factory: Factory = Depends(factory_dependency),
) -> SubscriptionCreatedModel:
    """Give one of your webhook subscriptions a new signing key (shown this once)."""
    rotated = factory.create_subscription_service().rotate_secret(user, subscription_id)
    return SubscriptionCreatedModel.from_created(rotated, base_url(request))
