"""How portal pages are served: the `Portal` the routes share, HTML rendering (Jinja2, escaped
by default), streamed pages, form bodies, the session dependencies, and one error page.

Errors become pages here, never the API's JSON: `PageRoute` wraps every portal route and maps
what it raises through `api.errors.http_error`, the API's one mapping, so a status means the
same in both. Pages whose data takes a full scan of the attempt log on FerretDB are streamed:
the layout goes out at once and the data follows (`FLUSH` marks where the first part ends).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response, StreamingResponse

from adapters.portal import PortalStore
from api import errors
from api.config import ApiConfig
from api.context import ApiContext
from api.portal.session import COOKIE, LinkRefused, NoSession, Session, Sessions
from core.errors import Forbidden, InvalidInput

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
FLUSH = Markup("<!--flush-->")
MAX_FORM_FIELDS = 100
HEADERS = {
    # No inline script or style anywhere: a value that slipped past escaping still cannot run.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages hold the org's data and, on demand, its secrets
}
T = TypeVar("T")


@dataclass
class Portal:
    """What every portal route needs; one per app (`request.app.state.portal`)."""

    ctx: ApiContext
    config: ApiConfig
    sessions: Sessions
    store: PortalStore
    env: Environment
    clock: Callable[[], float] = time.time
    secure_cookies: bool = False

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        enable_async=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["pretty"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()
    env.filters["ms"] = lambda v: "" if v is None else f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"
    env.filters["pct"] = lambda v: "\u2013" if v is None else f"{v * 100:.1f} %"
    env.globals["flush"] = FLUSH
    return env


def when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# What a redirect after a change says on the next page (`?done=`): fixed texts, so a link cannot
# make the portal say something it did not.
DONE = {
    "created": "Endpoint created. Reveal its signing secret below and give it to your receiver.",
    "saved": "Saved. The delivery workers follow within seconds.",
    "enabled": "Enabled: deliveries resume.",
    "disabled": "Disabled: nothing is delivered until you enable it again.",
    "deleted": "Endpoint deleted.",
    "resumed": "Resumed: ordered deliveries go on with the next one.",
    "rotated": "New signing secret. Deliveries are signed with both until the old one expires.",
    "replayed": "Replayed: the delivery is back on the queue, with the same webhook-id and a fresh schedule.",
    "recovered": "Recovered: {n} dead deliveries are back on the queue.",
}


def _done(request: Request) -> str:
    text = DONE.get(request.query_params.get("done", ""), "")
    n = request.query_params.get("n", "0")
    return text.replace("{n}", n if n.isdigit() and len(n) < 10 else "0")


def _page_values(request: Request, session: Session | None, values: dict[str, Any]) -> dict[str, Any]:
    return {"request": request, "session": session, "nav": "", "done": _done(request), **values}


async def render(
    request: Request, name: str, session: Session | None = None, status: int = 200, **values: Any
) -> HTMLResponse:
    template = portal_of(request).env.get_template(name)
    body = await template.render_async(**_page_values(request, session, values))
    return HTMLResponse(body.replace(FLUSH, ""), status, headers=HEADERS)


def stream(request: Request, name: str, session: Session, **values: Any) -> StreamingResponse:
    """Send the page up to its `{{ flush }}` at once, the rest when its data has loaded."""
    template = portal_of(request).env.get_template(name)

    async def chunks() -> AsyncIterator[str]:
        buffered: list[str] = []
        async for chunk in template.generate_async(**_page_values(request, session, values)):
            if chunk == FLUSH:
                yield "".join(buffered)
                buffered = []
            else:
                buffered.append(chunk)
        yield "".join(buffered)

    return StreamingResponse(chunks(), media_type="text/html; charset=utf-8", headers=HEADERS)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """The data of a streamed page, or why there is none: after the first bytes went out, an
    error can only be shown in the page."""

    value: T | None = None
    error: str | None = None


async def loaded(operation: Coroutine[Any, Any, T]) -> Loaded[T]:
    try:
        return Loaded(await operation)
    except Exception as exc:
        _, _, message, _, _ = errors.http_error(exc)  # logs what is a bug
        return Loaded(error=message)


def redirect(url: str) -> Response:
    return Response(status_code=303, headers={"Location": url, **HEADERS})


async def form_of(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (read once per request)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if body and kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "forms are sent as application/x-www-form-urlencoded")
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("form", "is not a url-encoded form") from None
    form = dict(pairs)
    request.state.form = form
    return form


async def session(request: Request) -> Session:
    """The request's portal session (a dependency). Raises NoSession."""
    return await portal_of(request).sessions.current(request.cookies.get(COOKIE))


async def changing(request: Request) -> Session:
    """The session of a request that changes something: its CSRF token must come with it."""
    current = await session(request)
    given = request.headers.get("x-csrf-token") or (await form_of(request)).get("csrf")
    portal_of(request).sessions.check_csrf(current, given)
    return current


LINK_PAGES = {
    "tampered": (400, "This link is not valid", "It may have been cut short when it was copied."),
    "expired": (410, "This link has expired", "Portal links work for a short time only."),
    "used": (410, "This link has been used already", "A portal link opens the portal once."),
    "unknown": (400, "This link is not known here", "It was not made by this platform."),
    "login": (403, "Open the link again", "This sign-in did not come from the link's own page."),
    "off": (503, "The portal is not set up", "Set EDP_PORTAL_SECRET (or EDP_ADMIN_KEY) on the API."),
}


async def error_page(request: Request, exc: BaseException) -> Response:
    """The page for anything a portal route raised: the API's status, never its internals."""
    session_hint = None
    if isinstance(exc, NoSession):
        return await render(request, "signed_out.html", status=401)
    if isinstance(exc, LinkRefused):
        status, title, why = LINK_PAGES.get(exc.kind, LINK_PAGES["tampered"])
        return await render(
            request, "link_refused.html", status=status, title=title, why=why, detail=exc.detail
        )
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        if loc[:1] == ["path"]:  # an id of the wrong shape is an id nobody has
            status, message = 404, "There is nothing at this address in your organisation."
        else:
            status, message = 422, f"{'.'.join(loc[1:])}: {first.get('msg', 'invalid')}"
    else:
        status, _, message, _, _ = errors.http_error(exc)
        if isinstance(exc, Forbidden):
            session_hint = "reload"
    titles = {404: "Not found", 403: "Refused", 422: "Not accepted", 503: "Try again shortly"}
    return await render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=message if status < 500 or status == 503 else "An internal error; it has been logged.",
        hint=session_hint,
    )


class PageRoute(APIRoute):
    """A portal route: whatever it raises (also while FastAPI reads its parameters) is a page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return await error_page(request, exc)

        return run


def not_found_router() -> APIRouter:
    """Any other path under /portal, by any method: the portal's not-found page, not JSON."""
    r = APIRouter(route_class=PageRoute, include_in_schema=False)

    @r.api_route("/portal/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def nowhere(rest: str) -> Response:
        raise HTTPException(404, "There is nothing at this address in the portal.")

    return r
