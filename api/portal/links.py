"""Getting in and out: `POST /v1/orgs/me/portal-links` (JSON, the org's API key) makes a link;
the link's page signs the browser in; signing out ends the session.

The link is `/portal/login#token=...`: the token sits in the fragment, which browsers never
send, so it stays out of access logs, proxies and Referer headers, and a link preview that
fetches the page cannot use it up. The page's script posts it, with a nonce from a SameSite
cookie, and the answer sets the session cookie.
"""

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api import errors
from api.auth import Principal
from api.context import caller
from api.portal.session import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_COOKIE_S,
    PATH,
    LinkRefused,
    Session,
    new_login_nonce,
    same_nonce,
)
from api.portal.web import LINK_PAGES, PageRoute, Portal, changing, form_of, redirect, render
from core.errors import InvalidInput
from core.models import rfc3339
from core.scopes import WEBHOOKS_WRITE

MAX_EXPIRES_IN_S = 7 * 86_400
# What a refusal page may repeat from its address: an expiry time, nothing a link could dress up.
_SAFE_DETAIL = re.compile(r"[0-9T:+-]{0,40}")


class PortalLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_s: float | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRES_IN_S,
        description="seconds the link can be opened in (default EDP_PORTAL_LINK_TTL_S, 900)",
    )


class PortalLinkOut(BaseModel):
    url: str = Field(description="opens a portal session for your org, once; a bearer credential")
    expires_at: str


def api_router(portal: Portal) -> APIRouter:
    r = APIRouter(tags=["orgs"])
    # A portal session can change the org's webhooks, so making one takes webhooks:write; a
    # producer key holds only events:publish and is refused.
    Who = Annotated[Principal, Depends(caller(portal.ctx, WEBHOOKS_WRITE))]
    sessions = portal.sessions

    @r.post(
        "/v1/orgs/me/portal-links",
        status_code=201,
        response_model=PortalLinkOut,
        responses=errors.responses(400, 401, 413, 422, 503),
        summary="A single-use, short-lived link to the customer portal for your org",
    )
    async def make_portal_link(
        who: Who, request: Request, body: Annotated[PortalLinkIn | None, Body()] = None
    ) -> PortalLinkOut:
        if not sessions.enabled:
            raise HTTPException(503, "the portal is off: set EDP_PORTAL_SECRET or EDP_ADMIN_KEY on the API")
        settings = sessions.settings
        asked = body.expires_in_s if body is not None else None
        ttl = settings.link_ttl_s if asked is None else asked
        if ttl > settings.max_link_ttl_s:
            raise InvalidInput("expires_in_s", f"must be at most {settings.max_link_ttl_s:.0f} here")
        base_url = settings.public_url or str(request.base_url)
        url, expires_at = await sessions.make_link(who.org, ttl, base_url, who.key_id)
        return PortalLinkOut(url=url, expires_at=rfc3339(expires_at))

    return r


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=PATH, route_class=PageRoute, include_in_schema=False)

    @r.get("/login")
    async def login_page(request: Request) -> Response:
        nonce = new_login_nonce()
        page = await render(request, "login.html", nonce=nonce)
        page.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_COOKIE_S,
            path=f"{PATH}/login",
            secure=secure(portal, request),
            httponly=True,
            samesite="strict",
        )
        return page

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        try:
            if not same_nonce(request.cookies.get(LOGIN_COOKIE), form.get("nonce")):
                raise LinkRefused("login")
            _, cookie = await portal.sessions.open(form.get("token", ""))
        except LinkRefused as exc:
            # To a page of its own (post, redirect, get): reloading it does not post the link
            # again, and a next link opened in this tab is a page load, not a fragment change.
            return redirect(f"{PATH}/login/refused?{urlencode({'why': exc.kind, 'detail': exc.detail})}")
        response = redirect(PATH)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=portal.sessions.max_age(),
            path=PATH,
            secure=secure(portal, request),
            httponly=True,
            # Lax, not Strict: a bookmark or a link from elsewhere still finds the session, and
            # no other site's POST carries it; every change also needs the CSRF token.
            samesite="lax",
        )
        response.delete_cookie(LOGIN_COOKIE, path=f"{PATH}/login")
        return response

    @r.get("/login/refused")
    async def refused(why: str = "tampered", detail: str = "") -> Response:
        raise LinkRefused(
            why if why in LINK_PAGES else "tampered", detail if _SAFE_DETAIL.fullmatch(detail) else ""
        )

    @r.post("/logout")
    async def logout(request: Request, session: Annotated[Session, Depends(changing)]) -> Response:
        await portal.sessions.close(session)
        page = await render(
            request,
            "signed_out.html",
            heading="You have signed out",
            why="The session has ended; its cookie no longer opens anything.",
        )
        page.delete_cookie(COOKIE, path=PATH)
        return page

    return r


def secure(portal: Portal, request: Request) -> bool:
    return portal.secure_cookies or request.url.scheme == "https"
