"""Request and response bodies of the management API (webhooks, deliveries, event types).

Every limit a client can be told in advance is declared here, so `/openapi.json` states it and
FastAPI refuses a violation with 422 naming the field. What a schema cannot say (the SSRF
verdict on a URL, a filter's operators, reserved header names, a JSON Schema's validity) is
checked by the routes and answered the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)
from pydantic.json_schema import SkipJsonSchema

# Ids minted by this platform: a prefix, "_", base32 (core/ids.py).
ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
# An exact type, `prefix.*` (every type that starts with "prefix."), or `*`.
SUBSCRIPTION_PATTERN = r"^(\*|[A-Za-z0-9_.:-]{1,128}|[A-Za-z0-9_.:-]{1,128}\.\*)$"
# An RFC 9110 token, less what cannot be a document key in MongoDB/FerretDB (the headers are
# stored as one): no ".", no leading "$" (such a name was a 503 from the database).
HEADER_NAME_PATTERN = r"^[!#%&'*+^_`|~0-9A-Za-z-][!#$%&'*+^_`|~0-9A-Za-z-]{0,255}$"
HEADER_VALUE_PATTERN = r"^[^\x00-\x1f\x7f]{0,1024}$"  # no control characters: no header injection

MAX_URL = 2048
MAX_DESCRIPTION = 1024
MAX_HEADERS = 20
MAX_EVENT_TYPES = 50
MAX_SCHEDULE = 20
MAX_RATE_LIMIT = 10_000
MAX_EXPIRE_OLD_S = 7 * 24 * 3600
DEFAULT_EXPIRE_OLD_S = 24 * 3600
MAX_PAGE = 100

Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://"),
    Field(description="http(s) URL; its host must resolve to addresses the SSRF guard allows"),
]
Subscription = Annotated[str, StringConstraints(pattern=SUBSCRIPTION_PATTERN)]
EventTypes = Annotated[
    list[Subscription],
    Field(min_length=1, max_length=MAX_EVENT_TYPES, description="exact types, `prefix.*` or `*`"),
]
HeaderName = Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(max_length=1024, pattern=HEADER_VALUE_PATTERN)]
Headers = Annotated[
    dict[HeaderName, HeaderValue],
    Field(
        max_length=MAX_HEADERS,
        description="sent with every delivery; `webhook-*`, `content-type`, `host` and hop-by-hop "
        "headers are the platform's",
        # pydantic states the name pattern as patternProperties; say other names are refused.
        json_schema_extra={"additionalProperties": False},
    ),
]
Filter = Annotated[
    dict[str, Any],
    Field(description='Mongo-style query over the event, e.g. {"data.amount": {"$gte": 50}}'),
]
RateLimit = Annotated[int, Field(ge=1, le=MAX_RATE_LIMIT, description="deliveries per second at most")]
MaxConcurrency = Annotated[
    int, Field(ge=1, le=1000, description="calls in flight at most, across the delivery pool")
]
Delay = Annotated[float, Field(ge=0.1, le=86_400)]
Schedule = Annotated[
    list[Delay],
    Field(min_length=1, max_length=MAX_SCHEDULE, description="seconds before each retry"),
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value: object) -> object:
    # pydantic alone also takes unix numbers ("0.5") and dates without a time; the document says
    # date-time, so only that is accepted.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-28T09:00:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


OrderedFailure = Literal["skip", "pause"]
ORDERED_DOC = "deliver one at a time, in the order events were accepted, each with a webhook-sequence header"
ORDERED_FAILURE_DOC = (
    "after an ordered delivery's last attempt fails (dead-lettered): go on with the next (skip) "
    "or hold the rest until POST /v1/webhooks/{id}/resume (pause)"
)


class WebhookCreate(_Strict):
    url: Url
    event_types: EventTypes
    filter: Filter | None = None
    headers: Headers = {}
    rate_limit: RateLimit | None = None
    max_concurrency: MaxConcurrency | None = None
    description: Description = ""
    enabled: bool = True
    retry_schedule: Schedule | None = None
    ordered: StrictBool = Field(default=False, description=ORDERED_DOC)
    ordered_failure: OrderedFailure = Field(default="skip", description=ORDERED_FAILURE_DOC)


class WebhookPatch(_Strict):
    """Only the fields present change; `null` clears `filter`, `rate_limit`, `max_concurrency` and
    `retry_schedule`."""

    # SkipJsonSchema: absent is fine, an explicit null is not (the schema says so, the route checks).
    url: Url | SkipJsonSchema[None] = None
    event_types: EventTypes | SkipJsonSchema[None] = None
    filter: Filter | None = None
    headers: Headers | SkipJsonSchema[None] = None
    rate_limit: RateLimit | None = None
    max_concurrency: MaxConcurrency | None = None
    description: Description | SkipJsonSchema[None] = None
    enabled: bool | SkipJsonSchema[None] = Field(
        default=None, description="true re-enables a disabled webhook and clears disabled_reason"
    )
    retry_schedule: Schedule | None = None
    ordered: StrictBool | SkipJsonSchema[None] = Field(default=None, description=ORDERED_DOC)
    ordered_failure: OrderedFailure | SkipJsonSchema[None] = Field(
        default=None, description=ORDERED_FAILURE_DOC
    )


class WebhookOut(BaseModel):
    """A webhook as the API shows it: never its secrets."""

    id: str
    url: str
    event_types: list[str]
    filter: dict[str, Any] | None
    headers: dict[str, str]
    rate_limit: int | None
    max_concurrency: int | None
    description: str
    enabled: bool
    disabled_reason: str | None
    retry_schedule: list[float] | None
    ordered: bool
    ordered_failure: OrderedFailure
    ordered_paused: str | None = Field(description="why an ordered webhook holds its deliveries (resume it)")
    version: int
    updated_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret (whsec_...); also at GET /v1/webhooks/{id}/secret")


class WebhookPage(BaseModel):
    data: list[WebhookOut]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class SecretOut(BaseModel):
    secret: str


class RotateRequest(_Strict):
    expire_old_in_s: float = Field(
        default=DEFAULT_EXPIRE_OLD_S,
        ge=0,
        le=MAX_EXPIRE_OLD_S,
        description="how long deliveries stay signed with the old secret too",
    )


class Rotated(BaseModel):
    secret: str = Field(description="the new current secret")
    previous_expires_at: str | None = Field(description="when the old secret stops signing")


Outcome = Literal["success", "retry", "dead", "dropped"]


class AttemptOut(BaseModel):
    id: str
    delivery_id: str
    event_id: str
    webhook_id: str
    attempt: int
    status_code: int | None
    outcome: str
    error: str | None
    latency_ms: float
    response_excerpt: str
    at: str
    next_attempt_at: str | None
    sequence: int | None = Field(default=None, description="an ordered delivery's webhook-sequence")
    note: str | None = Field(default=None, description="what an ordered webhook did after this attempt")


class AttemptPage(BaseModel):
    data: list[AttemptOut]
    next: str | None = Field(description="pass as `after` for the next (older) page; null on the last")


class Replayed(BaseModel):
    replayed: int = Field(description="dead letters published back to the delivery queue")


class RecoverRequest(_Strict):
    since: Rfc3339 = Field(description="RFC 3339; every dead letter of the webhook since then")


class EventTypeIn(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
    description: Description = ""
    json_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="JSON Schema (2020-12) that every event's `data` of this type must match",
    )
    derived_topic: StrictBool = Field(
        default=False,
        description="also copy every event of this type to its own Kafka topic (`events.<type>`)",
    )


class EventTypeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    description: str
    json_schema: dict[str, Any] | None = Field(alias="schema")
    derived_topic: bool = False
    created_at: str
    updated_at: str


class EventTypePage(BaseModel):
    data: list[EventTypeOut]
    next: str | None


T = TypeVar("T")


def page_of(rows: list[T], limit: int, cursor: Callable[[T], str]) -> tuple[list[T], str | None]:
    """Rows fetched with `limit + 1`: the extra one only says whether a next page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor(rows[-1]) if more else None
