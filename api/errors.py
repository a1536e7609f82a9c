"""Every error the API answers, as `{"error": {"code", "message", "field"}}`, mapped in one place.

Client mistakes are 4xx with a field name where there is one; a broker or database that does not
answer is 503 with Retry-After; anything else is a logged 500 that never echoes internals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from core.errors import (
    ERROR_CODES,
    BrokerUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    PlatformError,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from core.sealing import SecretsKeyError

log = logging.getLogger(__name__)

# A quota of a few events a day would say "come back tomorrow"; nobody should be told longer.
MAX_RETRY_AFTER_S = 86_400.0


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


class PayloadTooLarge(HTTPException, TooLarge):
    """Raised while reading a body past the cap: the platform's TooLarge, and an HTTPException too
    so FastAPI's body reader re-raises it instead of turning it into "error parsing the body"."""

    def __init__(self, limit: int) -> None:
        TooLarge.__init__(self, limit)
        HTTPException.__init__(self, 413, str(TooLarge(limit)))


class MalformedBody(InvalidInput):
    """The body is not JSON (bad syntax, bad UTF-8, NaN, empty): 400 rather than 422."""


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "field": field}})


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(error_body(code, message, field), status, headers, media_type="application/json")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can answer."""
    return {s: {"model": ErrorResponse, "description": ERROR_CODES.get(s, "error")} for s in statuses}


def http_error(exc: BaseException) -> tuple[int, str, str, str | None, dict[str, str]]:
    """(status, code, message, field, headers) for any exception: the one mapping to HTTP."""
    if isinstance(exc, InvalidInput):
        status = 400 if isinstance(exc, MalformedBody) else 422
        return status, ERROR_CODES[status], exc.message, exc.field, {}
    if isinstance(exc, Unauthorized):
        return 401, "unauthorized", str(exc), None, {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, Forbidden):
        return 403, "forbidden", str(exc), None, {}
    if isinstance(exc, NotFound):
        return 404, "not_found", str(exc), None, {}
    if isinstance(exc, RateLimited):
        retry = str(max(1, math.ceil(min(exc.retry_after_s, MAX_RETRY_AFTER_S))))
        return 429, "rate_limited", str(exc), None, {"Retry-After": retry}
    if isinstance(exc, SecretsKeyError):
        log.error("webhook secrets unavailable: %s", exc)
        return 503, "unavailable", "webhook secrets are unavailable; retry later", None, {"Retry-After": "5"}
    if isinstance(exc, BrokerUnavailable):
        log.warning("dependency unavailable: %s", exc)
        # The detail (addresses, topology) is for the log; the client learns which and when to retry.
        what = str(exc).split(" ", 1)[0].rstrip(":") or "a dependency"
        return 503, "unavailable", f"{what} is unavailable; retry later", None, {"Retry-After": "1"}
    if isinstance(exc, TooLarge):
        return 413, "too_large", str(exc), None, {}
    if isinstance(exc, HTTPException):
        status = exc.status_code
        return status, ERROR_CODES.get(status, "error"), str(exc.detail), None, dict(exc.headers or {})
    log.error("unhandled error", exc_info=exc)
    return 500, "internal", "internal error", None, {}


async def _platform(_: Request, exc: Exception) -> Response:
    status, code, message, field, headers = http_error(exc)
    return error_response(status, code, message, field, headers)


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    if first.get("type") == "json_invalid":
        return error_response(400, "malformed", "body is not valid JSON", None)
    return error_response(422, "invalid", str(first.get("msg", "invalid request")), field)


def install(app: FastAPI) -> None:
    for exc_type in (PlatformError, HTTPException, Exception):
        app.add_exception_handler(exc_type, _platform)
    app.add_exception_handler(RequestValidationError, _validation)
