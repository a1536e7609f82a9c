"""Helpers for the portal's HTTP tests (no tests here): a signed-in client per org, as a
browser would be after opening a link, over the app of `control_env`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.api.control_support import ControlEnv, Org

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class Visitor:
    """A browser's view of the portal: its cookies and the CSRF token its pages carry."""

    http: httpx.AsyncClient
    csrf: str = ""

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, data: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)


async def link(env: ControlEnv, org: Org, **body: Any) -> str:
    r = await env.http.post("/v1/orgs/me/portal-links", json=body or None, headers=org.auth)
    assert r.status_code == 201, r.text
    url: str = r.json()["url"]
    return url


def token_of(url: str) -> str:
    return url.split("#token=", 1)[1]


async def open_link(http: httpx.AsyncClient, url: str) -> httpx.Response:
    """What the link's page does: take the nonce it sets, post the token from the fragment."""
    page = await http.get("/portal/login")
    match = NONCE.search(page.text)
    assert match, page.text
    return await http.post("/portal/login", data={"token": token_of(url), "nonce": match.group(1)})


@asynccontextmanager
async def visitor(env: ControlEnv, org: Org | None = None) -> AsyncIterator[Visitor]:
    """A fresh client; signed in to `org`'s portal when one is given."""
    transport = httpx.ASGITransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        v = Visitor(http)
        if org is not None:
            r = await open_link(http, await link(env, org))
            assert r.status_code == 303 and r.headers["location"] == "/portal", r.text
            page = await http.get("/portal/endpoints")
            v.csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        yield v
