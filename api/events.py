"""Where did my event go: `GET /v1/events/{id}` (the event as accepted) and
`GET /v1/events/{id}/deliveries` (each matching webhook's state and attempts).

The event comes from Kafka (adapters/event_lookup.py: by the id's time, nothing stored per
event); the deliveries from the attempt log, and the webhooks the event matches now that have
no attempt yet are pending. An event id from an idempotency key carries no time: such an event
is found through its first attempt, so one that matched no webhook is not found.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.responses import Response

from adapters.mongo import Doc
from api import errors
from api.auth import Principal
from api.context import ApiContext, caller
from api.deliveries import attempt_out
from api.schemas import AttemptOut
from core.errors import NotFound
from core.lookup import delivery_states
from core.models import Event, Webhook, encode_event, rfc3339
from core.rules import RuleSnapshot
from core.scopes import EVENTS_READ


class EventIdConvertor(StringConvertor):
    """Every id ingest gives is `evt_` and base32 (core/ids.py). As a path convertor, not only a
    parameter pattern, so that `/v1/events/batch` is not an event's path at all: a GET there is
    405 like any method the path does not have, not a 422 about an event id."""

    regex = "evt_[a-z0-9]{1,60}"


register_url_convertor("event_id", EventIdConvertor())
EventId = Annotated[str, Path(pattern=f"^{EventIdConvertor.regex}$")]
MAX_ATTEMPTS = 1000  # rows read for one event: far more than its webhooks' retry schedules
MAX_WEBHOOK_PAGES = 50


class DeliveryOut(BaseModel):
    webhook_id: str
    delivery_id: str
    state: str = Field(description="pending, delivered, retrying, dead_lettered or dropped")
    next_attempt_at: str | None = Field(description="when retrying: when the next attempt is due")
    attempts: list[AttemptOut] = Field(description="oldest first")


class EventDeliveries(BaseModel):
    event_id: str
    event_found: bool = Field(description="false when the event is past Kafka's retention")
    data: list[DeliveryOut]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["events"])
    Reader = Annotated[Principal, Depends(caller(ctx, EVENTS_READ))]

    async def attempts_of(org: str, event_id: str) -> list[Doc]:
        return await ctx.deliveries.attempts(org, {"event_id": event_id}, limit=MAX_ATTEMPTS)

    async def event_of(
        org: str, event_id: str, rows: list[Doc] | None
    ) -> tuple[Event | None, list[Doc] | None]:
        event = await ctx.events.find(event_id, org)
        if event is None:
            rows = rows if rows is not None else await attempts_of(org, event_id)
            if rows:
                event = await ctx.events.find(event_id, org, around_ms=min(_ms(row["at"]) for row in rows))
        return event, rows

    async def webhooks_of(org: str) -> dict[str, Webhook]:
        out: dict[str, Webhook] = {}
        after: str | None = None
        for _ in range(MAX_WEBHOOK_PAGES):
            page = await ctx.webhooks.list_page(org, limit=100, after=after)
            out.update((w.id, w) for w in page)
            if len(page) < 100:
                break
            after = page[-1].id
        return out

    @r.get(
        "/v1/events/{event_id:event_id}",
        response_model=None,
        responses={
            200: {"description": "The event as accepted, byte for byte as delivered"},
            **errors.responses(401, 403, 404, 422, 503),
        },
        summary="One event as accepted (within Kafka's retention)",
    )
    async def get_event(who: Reader, event_id: EventId) -> Response:
        event, _ = await event_of(who.org, event_id, None)
        if event is None:
            raise NotFound(f"event {event_id} not found (or past the retention window)")
        return Response(encode_event(event), media_type="application/json")

    @r.get(
        "/v1/events/{event_id:event_id}/deliveries",
        response_model=EventDeliveries,
        responses=errors.responses(401, 403, 404, 422, 503),
        summary="Each webhook the event matches: its delivery state and attempts",
    )
    async def get_deliveries(who: Reader, event_id: EventId) -> EventDeliveries:
        rows = await attempts_of(who.org, event_id)
        event, _ = await event_of(who.org, event_id, rows)
        matching: list[str] = []
        if event is not None:
            hooks = await webhooks_of(who.org)
            matching = [w.id for w in RuleSnapshot(1, hooks).match(dict(event))]
        elif not rows:
            raise NotFound(f"event {event_id} not found (or past the retention window)")
        states = delivery_states(event_id, matching, rows)
        return EventDeliveries(
            event_id=event_id,
            event_found=event is not None,
            data=[
                DeliveryOut(
                    webhook_id=s.webhook_id,
                    delivery_id=s.delivery_id,
                    state=s.state,
                    next_attempt_at=rfc3339(s.next_attempt_at) if s.next_attempt_at else None,
                    attempts=[attempt_out(dict(a)) for a in s.attempts],
                )
                for s in states
            ],
        )

    return r
