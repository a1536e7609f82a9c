"""Test events ("pings"): one event sent to one endpoint, to see that it is reachable and that
its signature checks pass.

The event is built and checked as ingest builds and checks every event (`ingest.build_event`,
the payload checks, the org's event-type schema), but it does not go through Kafka: the rule
engine would hand it to every endpoint subscribed to its type, and a test is for one. It is
published as that endpoint's delivery task, the way a replay is (`dead_letters.publish`), so it
is signed, rate limited, retried, dead-lettered and logged like any other delivery; its
attempts are found by its delivery id (`GET /v1/attempts?delivery_id=`).
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters import dead_letters
from api import errors
from api.auth import Principal
from api.context import ApiContext, caller
from api.ingest import build_event
from api.schemas import EVENT_TYPE_PATTERN, ID_PATTERN
from core.ids import delivery_id
from core.models import DeliveryTask, rfc3339, utcnow
from core.scopes import WEBHOOKS_WRITE
from core.validation import check_event_payload

DEFAULT_TYPE = "webhook.test"


class TestEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)] = Field(
        default=DEFAULT_TYPE, description="the event's type; checked against its schema if it has one"
    )
    data: dict[str, Any] = Field(default_factory=dict, description="the event's data")


class TestEventSent(BaseModel):
    event_id: str
    delivery_id: str = Field(description="its attempts: GET /v1/attempts?delivery_id=...")


async def send_test(ctx: ApiContext, org: str, webhook_id: str, body: TestEventIn) -> TestEventSent:
    """Publish a test event for the org's webhook `webhook_id` (NotFound if it is not the org's)."""
    webhook = await ctx.webhooks.get(org, webhook_id)
    max_depth = ctx.api.max_json_depth
    check_event_payload(body.data, max_depth)  # what orjson would refuse later: 64-bit ints, NaN
    who = Principal(org, "", "", org.encode())
    event = build_event({"type": body.type, "data": body.data}, who, None, rfc3339(utcnow()), max_depth)
    await ctx.event_schemas.check(org, [event])
    task: DeliveryTask = {
        "delivery_id": delivery_id(event["id"], webhook.id),
        "event": event,
        "webhook_id": webhook.id,
        "attempt": 1,
        "first_attempt_at": time.time(),
        "not_before": 0.0,
    }
    await ctx.replayer.run(lambda exchange: dead_letters.publish(exchange, [task]))
    return TestEventSent(event_id=event["id"], delivery_id=task["delivery_id"])


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["webhooks"])
    # A test event is sent to the endpoint as a delivery: it takes webhooks:write, as the
    # portal's "send a test event" button needs a session that can change webhooks.
    Who = Annotated[Principal, Depends(caller(ctx, WEBHOOKS_WRITE))]

    @r.post(
        "/v1/webhooks/{webhook_id}/test",
        status_code=202,
        response_model=TestEventSent,
        responses=errors.responses(400, 401, 404, 413, 422, 503),
        summary="Send a test event to this endpoint only (it skips the type and filter rules)",
    )
    async def test_webhook(
        who: Who,
        webhook_id: Annotated[str, Path(pattern=ID_PATTERN)],
        body: Annotated[TestEventIn | None, Body()] = None,
    ) -> TestEventSent:
        return await send_test(ctx, who.org, webhook_id, body or TestEventIn())

    return r
