"""The overview: every endpoint of the org, with its last hour and day, state and a chart.

The figures come from one read of the last day of the org's attempts (`PortalStore.
attempts_since`), whatever the number of endpoints: on FerretDB any such read is a pass over
the whole attempt log, so the page makes one, and streams the list of endpoints before it.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from api.portal.session import PATH, Session
from api.portal.stats import HOURS, EndpointState, EndpointStats, by_endpoint, endpoint_state, endpoint_stats
from api.portal.web import Loaded, PageRoute, Portal, loaded, session, stream
from api.schemas import ID_PATTERN, page_of
from core.models import Webhook

PAGE = 50


@dataclass(frozen=True, slots=True)
class Figures:
    stats: EndpointStats
    state: EndpointState


async def figures(portal: Portal, org: str, hooks: list[Webhook]) -> dict[str, Figures]:
    now = portal.now()
    rows = by_endpoint(await portal.store.attempts_since(org, now - timedelta(hours=HOURS)))
    delivery = portal.config.delivery
    out: dict[str, Figures] = {}
    for wh in hooks:
        mine = rows.get(wh.id, [])
        state = endpoint_state(
            wh,
            mine,
            now,
            breaker_failures=delivery.breaker_failures,
            breaker_cooldown_s=delivery.breaker_cooldown_s,
            max_retry_after_s=delivery.max_retry_after_s,
        )
        out[wh.id] = Figures(endpoint_stats(mine, now), state)
    return out


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=PATH, route_class=PageRoute, include_in_schema=False)
    Who = Annotated[Session, Depends(session)]

    @r.get("")
    @r.get("/")
    async def overview(
        request: Request, who: Who, after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None
    ) -> Response:
        listed = await portal.ctx.webhooks.list_page(who.org, limit=PAGE + 1, after=after)
        hooks, next_cursor = page_of(listed, PAGE, lambda w: w.id)

        async def load_figures() -> Loaded[dict[str, Figures]]:
            return await loaded(figures(portal, who.org, hooks))

        return stream(
            request,
            "overview.html",
            who,
            nav="overview",
            hooks=hooks,
            next=next_cursor,
            load_figures=load_figures,
        )

    return r
