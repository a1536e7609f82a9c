"""Deliveries: the attempt log (newest first), and replay of dead letters (one, or a webhook's
failures since T) back onto the RabbitMQ work queue, through the app's `dead_letters.Replayer`.
"""

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from adapters import dead_letters
from adapters.mongo import Doc
from api import errors
from api.auth import Principal
from api.context import ApiContext, caller
from api.schemas import (
    ID_PATTERN,
    MAX_PAGE,
    AttemptOut,
    AttemptPage,
    Outcome,
    RecoverRequest,
    Replayed,
    Rfc3339,
    page_of,
)
from core.errors import InvalidInput, NotFound
from core.models import rfc3339
from core.scopes import ATTEMPTS_READ, REPLAY

Id = Annotated[str, Path(pattern=ID_PATTERN)]
MAX_CURSOR = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: Doc) -> str:
    ms = (row["at"] - EPOCH) // timedelta(milliseconds=1)  # exact: BSON dates are whole ms
    raw = f"{ms}:{row['_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ms, _, row_id = raw.partition(":")
        at = EPOCH + timedelta(milliseconds=int(ms))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise InvalidInput("after", "is not a cursor this API returned") from None
    if not row_id:
        raise InvalidInput("after", "is not a cursor this API returned")
    return at, row_id


def _ts(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def attempt_out(row: Doc) -> AttemptOut:
    return AttemptOut(
        id=str(row["_id"]),
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        webhook_id=row["webhook_id"],
        attempt=int(row.get("attempt", 1)),
        status_code=row.get("status_code"),
        outcome=row.get("outcome", ""),
        error=row.get("error"),
        latency_ms=float(row.get("latency_ms", 0.0)),
        response_excerpt=row.get("response_excerpt") or "",
        at=rfc3339(row["at"]),
        next_attempt_at=_ts(row.get("next_attempt_at")),
        sequence=row.get("seq"),
        note=row.get("note"),
    )


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["deliveries"])
    Reader = Annotated[Principal, Depends(caller(ctx, ATTEMPTS_READ))]
    Replayer = Annotated[Principal, Depends(caller(ctx, REPLAY))]
    IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]

    @r.get(
        "/v1/attempts",
        response_model=AttemptPage,
        responses=errors.responses(401, 422, 503),
        summary="Delivery attempts, newest first",
    )
    async def list_attempts(
        who: Reader,
        webhook_id: IdQuery = None,
        event_id: IdQuery = None,
        delivery_id: IdQuery = None,
        outcome: Annotated[Outcome | None, Query()] = None,
        status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
        since: Annotated[Rfc3339 | None, Query(description="RFC 3339, inclusive")] = None,
        until: Annotated[Rfc3339 | None, Query(description="RFC 3339, exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[
            str | None, Query(max_length=MAX_CURSOR, description="`next` of the last page")
        ] = None,
    ) -> AttemptPage:
        match: Doc = {}
        for name, value in (
            ("webhook_id", webhook_id),
            ("event_id", event_id),
            ("delivery_id", delivery_id),
            ("outcome", outcome),
            ("status_code", status_code),
        ):
            if value is not None:
                match[name] = value
        at: dict[str, Any] = {}
        if since is not None:
            at["$gte"] = since
        if until is not None:
            at["$lt"] = until
        if at:
            match["at"] = at
        before = decode_cursor(after) if after else None
        rows = await ctx.deliveries.attempts(who.org, match, limit=limit + 1, before=before)
        rows, next_cursor = page_of(rows, limit, encode_cursor)
        return AttemptPage(data=[attempt_out(a) for a in rows], next=next_cursor)

    @r.post(
        "/v1/deliveries/{delivery_id}/retry",
        status_code=202,
        response_model=Replayed,
        responses=errors.responses(401, 404, 422, 503),
        summary="Replay one dead-lettered delivery (same webhook-id, fresh retry schedule)",
    )
    async def retry_delivery(who: Replayer, delivery_id: Id) -> Replayed:
        if await ctx.deliveries.dead_letter(who.org, delivery_id) is None:
            raise NotFound(f"no dead letter {delivery_id}")
        coll = ctx.db[dead_letters.DEAD_LETTERS]
        n = await ctx.replayer.run(lambda ex: dead_letters.retry_one(coll, ex, who.org, delivery_id))
        await ctx.audit.record(who.org, who.key_id, "delivery.retry", delivery_id, None, {"replayed": n})
        return Replayed(replayed=n)

    @r.post(
        "/v1/webhooks/{webhook_id}/recover",
        status_code=202,
        response_model=Replayed,
        responses=errors.responses(400, 401, 404, 413, 422, 503),
        summary="Replay every dead letter of a webhook since a time",
    )
    async def recover_webhook(who: Replayer, webhook_id: Id, body: RecoverRequest) -> Replayed:
        await ctx.webhooks.get(who.org, webhook_id)  # 404 for a webhook that is not this org's
        coll = ctx.db[dead_letters.DEAD_LETTERS]
        since = body.since
        n = await ctx.replayer.run(lambda ex: dead_letters.recover(coll, ex, who.org, webhook_id, since))
        after = {"since": rfc3339(since), "replayed": n}
        await ctx.audit.record(who.org, who.key_id, "webhook.recover", webhook_id, None, after)
        return Replayed(replayed=n)

    return r
