"""API key scopes: known names, defaults for keys from before scopes, no escalation."""

from __future__ import annotations

import pytest

from core.errors import Forbidden, InvalidInput
from core.scopes import (
    ALL_ORG_SCOPES,
    ANY_ORG,
    MissingScope,
    check_scopes,
    granted,
    may_grant,
    may_publish_for,
    require,
)


def test_unknown_scopes_are_named_by_position() -> None:
    with pytest.raises(InvalidInput) as err:
        check_scopes(["webhooks:read", "webhooks:admin"])
    assert err.value.field == "scopes.1"
    with pytest.raises(InvalidInput):
        check_scopes([])


def test_a_stored_key_without_scopes_has_them_all() -> None:
    assert granted(None) == ALL_ORG_SCOPES
    assert granted(["attempts:read", "gone:scope"]) == {"attempts:read"}


def test_a_missing_scope_is_named() -> None:
    with pytest.raises(MissingScope, match="webhooks:write") as err:
        require(frozenset({"webhooks:read"}), "webhooks:write")
    assert err.value.scope == "webhooks:write"


def test_a_key_grants_at_most_its_own_scopes() -> None:
    may_grant(ALL_ORG_SCOPES, frozenset({"webhooks:read"}))
    with pytest.raises(Forbidden, match="webhooks:write"):
        may_grant(frozenset({"keys:write"}), frozenset({"keys:write", "webhooks:write"}))


def test_producer_orgs() -> None:
    assert may_publish_for(frozenset({"org_a", "org_b"}), "org_a")
    assert not may_publish_for(frozenset({"org_a"}), "org_c")
    assert may_publish_for(frozenset({ANY_ORG}), "org_anything")
