"""Per-org ingest quotas: each API process's share, all-or-nothing batches, Retry-After."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.quota import Quota, QuotaBook


def test_an_org_gets_its_share_per_server_and_waits_for_more() -> None:
    book = QuotaBook(servers=2)
    q = Quota(rate=10, burst=10)  # 5/s and 5 at once here
    assert all(book.admit(0.0, {"a": (q, 1)}) == 0.0 for _ in range(5))
    wait = book.admit(0.0, {"a": (q, 1)})
    assert wait == pytest.approx(0.2)
    assert book.admit(0.2, {"a": (q, 1)}) == 0.0


def test_a_batch_takes_every_org_tokens_or_none() -> None:
    book = QuotaBook(servers=1)
    small, big = Quota(2, 2), Quota(100, 100)
    assert book.admit(0.0, {"a": (small, 2)}) == 0.0
    assert book.admit(0.0, {"a": (small, 1), "b": (big, 50)}) > 0
    assert book.admit(0.0, {"b": (big, 100)}) == 0.0  # b's tokens were not taken above


def test_orgs_without_quota_pass_and_others_do_not_share_a_bucket() -> None:
    book = QuotaBook(servers=1)
    assert book.admit(0.0, {"free": (None, 10_000)}) == 0.0
    book.admit(0.0, {"a": (Quota(1, 1), 1)})
    assert book.admit(0.0, {"b": (Quota(1, 1), 1)}) == 0.0


def test_a_batch_larger_than_the_burst_is_invalid_not_throttled() -> None:
    with pytest.raises(InvalidInput) as err:
        QuotaBook(servers=1).admit(0.0, {"a": (Quota(10, 10), 11)})
    assert err.value.field == "events"


def test_a_changed_quota_applies_at_once() -> None:
    book = QuotaBook(servers=1)
    book.admit(0.0, {"a": (Quota(1, 1), 1)})
    assert book.admit(0.0, {"a": (Quota(1, 1), 1)}) > 0
    assert book.admit(0.0, {"a": (Quota(100, 100), 1)}) == 0.0
