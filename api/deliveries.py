"""Deliveries: the attempt log (newest first), and replay of dead letters (one, or a webhook's
failures since T) back onto the RabbitMQ work queue, through the app's `dead_letters.Replayer`.

Each route parses and calls a function here (`list_attempts_page`, `retry`, `recover`), which
the customer portal (api/portal/) calls too.
"""

import base64
import binascii
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class AttemptQuery:
    """What a listing of attempts may be narrowed to; None is no condition."""

    webhook_id: str | None = None
    event_id: str | None = None
    delivery_id: str | None = None
    outcome: str | None = None
    status_code: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def match(self) -> Doc:
        match: Doc = {}
        for name in ("webhook_id", "event_id", "delivery_id", "outcome", "status_code"):
            value = getattr(self, name)
            if value is not None:
                match[name] = value
        at: dict[str, Any] = {}
        if self.since is not None:
            at["$gte"] = self.since
        if self.until is not None:
            at["$lt"] = self.until
        if at:
            match["at"] = at
        return match


async def list_attempts_page(
    ctx: ApiContext, org: str, query: AttemptQuery, limit: int, after: str | None
) -> AttemptPage:
    """One page of the org's attempts, newest first; `after` is the `next` of the page before."""
    before = decode_cursor(after) if after else None
    rows = await ctx.deliveries.attempts(org, query.match(), limit=limit + 1, before=before)
    rows, next_cursor = page_of(rows, limit, encode_cursor)
    return AttemptPage(data=[attempt_out(a) for a in rows], next=next_cursor)


async def retry(ctx: ApiContext, org: str, actor: str, delivery_id: str) -> int:
    """Replay one dead letter of the org (NotFound if it has none by that id), audited as
    `actor`'s (an API key's id, or the portal session's)."""
    if await ctx.deliveries.dead_letter(org, delivery_id) is None:
        raise NotFound(f"no dead letter {delivery_id}")
    coll = ctx.db[dead_letters.DEAD_LETTERS]
    n = await ctx.replayer.run(lambda ex: dead_letters.retry_one(coll, ex, org, delivery_id))
    await ctx.audit.record(org, actor, "delivery.retry", delivery_id, None, {"replayed": n})
    return n


async def recover(ctx: ApiContext, org: str, actor: str, webhook_id: str, since: datetime) -> int:
    """Replay every dead letter of the org's webhook since `since`; how many were published.
    Audited as `actor`'s."""
    await ctx.webhooks.get(org, webhook_id)  # 404 for a webhook that is not this org's
    coll = ctx.db[dead_letters.DEAD_LETTERS]
    n = await ctx.replayer.run(lambda ex: dead_letters.recover(coll, ex, org, webhook_id, since))
    after = {"since": rfc3339(since), "replayed": n}
    await ctx.audit.record(org, actor, "webhook.recover", webhook_id, None, after)
    return n


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
        query = AttemptQuery(webhook_id, event_id, delivery_id, outcome, status_code, since, until)
        return await list_attempts_page(ctx, who.org, query, limit, after)

    @r.post(
        "/v1/deliveries/{delivery_id}/retry",
        status_code=202,
        response_model=Replayed,
        responses=errors.responses(401, 404, 422, 503),
        summary="Replay one dead-lettered delivery (same webhook-id, fresh retry schedule)",
    )
    async def retry_delivery(who: Replayer, delivery_id: Id) -> Replayed:
        return Replayed(replayed=await retry(ctx, who.org, who.key_id, delivery_id))

    @r.post(
        "/v1/webhooks/{webhook_id}/recover",
        status_code=202,
        response_model=Replayed,
        responses=errors.responses(400, 401, 404, 413, 422, 503),
        summary="Replay every dead letter of a webhook since a time",
    )
    async def recover_webhook(who: Replayer, webhook_id: Id, body: RecoverRequest) -> Replayed:
        return Replayed(replayed=await recover(ctx, who.org, who.key_id, webhook_id, body.since))

    return r
