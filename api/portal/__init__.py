"""The customer portal: web pages where an org manages its endpoints and sees its deliveries,
served by the API app under `/portal` (docs/portal.md).

Nothing here decides what is allowed: every change goes through the functions the JSON routes
call (`api.webhooks`, `api.deliveries`, `api.pings`), with the same repos, SSRF guard, filter
compiler and limits; the portal only turns forms into their bodies and answers into pages.
"""

import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from adapters.portal import PortalStore
from api.config import ApiConfig
from api.context import ApiContext
from api.portal import catalog, deliveries, endpoints, links, overview, pings
from api.portal.session import PATH, Sessions
from api.portal.tokens import Tokens, signing_key
from api.portal.web import STATIC, Portal, environment, not_found_router


def install(app: FastAPI, ctx: ApiContext, config: ApiConfig, clock: Callable[[], float] = time.time) -> None:
    """Add the portal's JSON route (links), its static files and its pages to `app`."""
    key = signing_key(config.portal, config.admin)
    store = PortalStore(ctx.db)
    portal = Portal(
        ctx=ctx,
        config=config,
        sessions=Sessions(store, ctx.orgs, Tokens(key) if key else None, config.portal, clock),
        store=store,
        env=environment(),
        clock=clock,
        secure_cookies=(config.portal.public_url or "").lower().startswith("https://"),
    )
    app.state.portal = portal
    app.include_router(links.api_router(portal))
    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="portal-static")
    for module in (links, overview, endpoints, pings, deliveries, catalog):
        app.include_router(module.router(portal))
    app.include_router(endpoints.actions(portal))
    app.include_router(not_found_router())  # last: whatever else is under /portal is a page too
