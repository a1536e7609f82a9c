"""What an API key may do: its scopes, its expiry, and for a producer key the orgs it publishes for.

An org key without scopes of its own has every org scope (what keys could do before scopes
existed); one created with scopes has exactly those. A producer key belongs to no org: it
publishes for any org, or for a listed set, naming `org` in each event, and nothing else.
Every check is a set lookup on the cached principal: nothing here costs the hot path a query.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import Forbidden, InvalidInput

PUBLISH = "events:publish"
EVENTS_READ = "events:read"
WEBHOOKS_READ = "webhooks:read"
WEBHOOKS_WRITE = "webhooks:write"
EVENT_TYPES_READ = "event_types:read"
EVENT_TYPES_WRITE = "event_types:write"
ATTEMPTS_READ = "attempts:read"
REPLAY = "deliveries:replay"
KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"
AUDIT_READ = "audit:read"

# Every scope an org key can hold, in the order the docs list them.
ORG_SCOPES: tuple[str, ...] = (
    PUBLISH,
    EVENTS_READ,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
    EVENT_TYPES_READ,
    EVENT_TYPES_WRITE,
    ATTEMPTS_READ,
    REPLAY,
    KEYS_READ,
    KEYS_WRITE,
    AUDIT_READ,
)
ALL_ORG_SCOPES = frozenset(ORG_SCOPES)
PRODUCER_SCOPES = frozenset({PUBLISH})
ANY_ORG = "*"  # a producer key's `orgs` holding only this publishes for every org


class MissingScope(Forbidden):
    """The key is valid but may not do this: 403 naming the scope it lacks."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this API key lacks the scope {scope}")
        self.scope = scope


def check_scopes(scopes: Iterable[str], field: str = "scopes") -> frozenset[str]:
    """The scopes a client asked for, each one known, else InvalidInput naming the entry."""
    out: set[str] = set()
    for i, scope in enumerate(scopes):
        if scope not in ALL_ORG_SCOPES:
            raise InvalidInput(f"{field}.{i}", f"unknown scope {scope!r}; known: {', '.join(ORG_SCOPES)}")
        out.add(scope)
    if not out:
        raise InvalidInput(field, "must hold at least one scope")
    return frozenset(out)


def granted(stored: Iterable[str] | None) -> frozenset[str]:
    """The scopes of a stored org key: None (a key from before scopes) is every org scope."""
    return ALL_ORG_SCOPES if stored is None else frozenset(stored) & ALL_ORG_SCOPES


def require(scopes: frozenset[str], scope: str) -> None:
    if scope not in scopes:
        raise MissingScope(scope)


def may_grant(own: frozenset[str], wanted: frozenset[str]) -> None:
    """A key issues keys with at most its own scopes: keys:write is not a way to widen them."""
    extra = sorted(wanted - own)
    if extra:
        raise Forbidden(f"a key cannot grant a scope it lacks: {', '.join(extra)}")


def may_publish_for(orgs: frozenset[str], org: str) -> bool:
    """Whether a producer key whose `orgs` are these may publish for `org`."""
    return ANY_ORG in orgs or org in orgs
