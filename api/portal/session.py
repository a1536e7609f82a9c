"""Portal links and sessions: a link opens one session for one org, once; the session is a
cookie the browser cannot read (HttpOnly), does not send from other sites' forms (SameSite),
and every change also needs the session's CSRF token, which only our own pages hold.

The org's API key never reaches the browser: the link is made with it, server to server, and
the session knows only the org it was opened for. Every page and action reads the org from
the session, so another org's ids are unknown ids, as they are to another org's API key.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.portal import PortalStore, Redeemed
from adapters.repos import OrgRepo
from api.portal.tokens import ExpiredLink, LinkClaim, TamperedLink, Tokens
from core.errors import Forbidden
from core.ids import new_id
from core.settings import PortalSettings

COOKIE = "edp_portal"
# Set by the page a link opens and sent back with its form: a site that makes a browser post
# someone else's link cannot read or send it (SameSite=Strict), so it cannot sign that browser
# in to another org's portal.
LOGIN_COOKIE = "edp_portal_login"
LOGIN_COOKIE_S = 600
PATH = "/portal"


class NoSession(Exception):
    """No portal session in this request, or one that has ended."""


class LinkRefused(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind  # tampered | expired | used | unknown | login
        self.detail = detail


# The audit log's actor for what a portal session changes: "portal:" and the id of the API key
# that made its link, so a change is traced to the key that handed the portal out.
PORTAL_ACTOR = "portal"


def portal_actor(key_id: str) -> str:
    return f"{PORTAL_ACTOR}:{key_id}" if key_id else PORTAL_ACTOR


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    org: str
    org_name: str
    csrf: str
    expires_at: datetime
    actor: str = PORTAL_ACTOR  # who the audit log names for this session's changes


def _dt(ts: float) -> datetime:
    # BSON keeps milliseconds: round here so what we hand out equals what we read back.
    return datetime.fromtimestamp(round(ts, 3), UTC)


class Sessions:
    def __init__(
        self,
        store: PortalStore,
        orgs: OrgRepo,
        tokens: Tokens | None,
        settings: PortalSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._orgs = orgs
        self._tokens = tokens
        self.settings = settings
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._tokens is not None

    def _require_tokens(self) -> Tokens:
        if self._tokens is None:
            raise LinkRefused("off")
        return self._tokens

    async def make_link(
        self, org: str, expires_in_s: float, base_url: str, key_id: str = ""
    ) -> tuple[str, datetime]:
        """A single-use URL opening a session for `org`, and when it stops working; `key_id` is
        the API key that asked for it, named in the audit log for the session's changes."""
        tokens = self._require_tokens()
        now = self._clock()
        await self._store.purge(_dt(now))
        claim = LinkClaim(new_id("plk"), org, now + expires_in_s)
        await self._store.add_link(claim.link_id, org, _dt(now), _dt(claim.expires_at), key_id)
        # In the fragment: browsers do not send it, so it stays out of access logs and Referer.
        return f"{base_url.rstrip('/')}{PATH}/login#token={tokens.link(claim)}", _dt(int(claim.expires_at))

    async def open(self, token: str) -> tuple[Session, str]:
        """Redeem a link: the new session and the cookie value that carries it.

        Raises:
            LinkRefused: tampered, expired, used already, or unknown here.
        """
        tokens = self._require_tokens()
        now = self._clock()
        try:
            claim = tokens.read_link(token.strip(), now)
        except TamperedLink:
            raise LinkRefused("tampered") from None
        except ExpiredLink as exc:
            raise LinkRefused("expired", _dt(exc.expired_at).isoformat(timespec="seconds")) from None
        verdict, key_id = await self._store.redeem_link(claim.link_id, claim.org, _dt(now))
        if verdict is Redeemed.USED:
            raise LinkRefused("used")
        org = await self._orgs.find(claim.org) if verdict is Redeemed.OK else None
        if org is None:
            raise LinkRefused("unknown")
        session = Session(
            sid=secrets.token_urlsafe(32),
            org=claim.org,
            org_name=str(org.get("name") or claim.org),
            csrf=secrets.token_urlsafe(32),
            expires_at=_dt(now + self.settings.session_s),
            actor=portal_actor(key_id),
        )
        await self._store.add_session(
            {
                "_id": session.sid,
                "org": session.org,
                "org_name": session.org_name,
                "csrf": session.csrf,
                "actor": session.actor,
                "link_id": claim.link_id,
                "created_at": _dt(now),
                "expires_at": session.expires_at,
            }
        )
        return session, tokens.cookie(session.sid)

    async def current(self, cookie: str | None) -> Session:
        """The session the cookie carries. Raises NoSession."""
        if not cookie or self._tokens is None:
            raise NoSession()
        sid = self._tokens.read_cookie(cookie)
        doc = await self._store.session(sid) if sid else None
        if doc is None or doc["expires_at"] <= _dt(self._clock()):
            raise NoSession()
        return Session(
            sid or "",
            doc["org"],
            doc.get("org_name") or doc["org"],
            doc["csrf"],
            doc["expires_at"],
            str(doc.get("actor") or PORTAL_ACTOR),
        )

    def check_csrf(self, session: Session, given: str | None) -> None:
        if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise Forbidden("this form is out of date or came from another site: reload the page")

    async def close(self, session: Session) -> None:
        await self._store.end_session(session.sid)

    def max_age(self) -> int:
        return int(self.settings.session_s)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_nonce(cookie: str | None, form: str | None) -> bool:
    return bool(cookie and form) and hmac.compare_digest((cookie or "").encode(), (form or "").encode())
