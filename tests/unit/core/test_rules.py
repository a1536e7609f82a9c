"""Rule snapshot: matching by org, type (exact, prefix.*, *), filters, state; incremental changes."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Webhook
from core.rules import RuleSnapshot


def wh(wid: str, org: str = "o", types: tuple[str, ...] = ("A",), **kw: Any) -> Webhook:
    return Webhook(id=wid, org=org, url=f"https://example.com/{wid}", event_types=types, **kw)


def ev(org: str = "o", etype: str = "A", **data: Any) -> dict[str, Any]:
    return {"id": "evt_1", "org": org, "type": etype, "timestamp": "2026-01-01T00:00:00Z", "data": data}


def ids(snapshot: RuleSnapshot, event: dict[str, Any]) -> list[str]:
    return sorted(w.id for w in snapshot.match(event))


def members(s: RuleSnapshot, org: str) -> dict[str, Any]:
    index = s._orgs[org].index
    assert index is not None
    return index.members


def snap(*hooks: Webhook, version: int = 1) -> RuleSnapshot:
    return RuleSnapshot(version=version, webhooks={h.id: h for h in hooks})


def test_match_by_org_type_wildcards_and_state() -> None:
    s = snap(
        wh("exact", types=("order.created",)),
        wh("prefix", types=("order.*",)),
        wh("all", types=("*",)),
        wh("other_org", org="p", types=("*",)),
        wh("disabled", types=("*",), enabled=False),
        wh("deleted", types=("*",), deleted=True),
        wh("both", types=("order.created", "order.*", "order.created")),
    )
    assert ids(s, ev(etype="order.created")) == ["all", "both", "exact", "prefix"]
    assert ids(s, ev(etype="order.paid")) == ["all", "both", "prefix"]
    assert ids(s, ev(etype="orders.x")) == ["all"]  # prefix.* needs the dot
    assert ids(s, ev(etype="order")) == ["all"]
    assert ids(s, ev(org="p")) == ["other_org"]
    assert ids(s, ev(org="nobody")) == []
    assert s.match({"org": 1, "type": "A"}) == []
    assert s.get("disabled") is not None and s.get("nope") is None
    assert len(s) == 7 and "deleted" in s
    assert {w.id for w in s} == {"exact", "prefix", "all", "other_org", "disabled", "deleted", "both"}


def test_filters_apply_and_bad_stored_filter_matches_nothing() -> None:
    s = snap(
        wh("big", filter={"data.amount": {"$gte": 100}}),
        wh("small", filter={"data.amount": {"$lt": 100}}),
        wh("broken", filter={"$where": "1"}),
        wh("none"),
    )
    assert ids(s, ev(amount=150)) == ["big", "none"]
    assert ids(s, ev(amount=5)) == ["none", "small"]


def test_index_is_built_on_first_use() -> None:
    s = snap(wh("a", filter={"data.x": 1}), wh("b", org="p"))
    assert s.get("a") is not None and all(o.index is None for o in s._orgs.values())
    assert ids(s, ev(x=1)) == ["a"]
    assert s._orgs["o"].index is not None and s._orgs["p"].index is None
    s.warm()
    assert s._orgs["p"].index is not None


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.rules

    monkeypatch.setattr(core.rules, "MEMO_SIZE", 8)
    s = snap(wh("w", types=("t.*",)))
    for i in range(50):
        assert ids(s, ev(etype=f"t.{i}")) == ["w"]
    assert len(s._memo) <= 8


def test_with_changes_is_incremental_and_leaves_the_old_snapshot_alone() -> None:
    a, b, c = wh("a", filter={"data.x": 1}), wh("b", types=("B",)), wh("c", org="p")
    s1 = snap(a, b, c)
    s1.warm()
    pred_a = members(s1, "o")["a"][1]
    s2 = s1.with_changes(
        upserts=[
            wh("b", types=("A",)),
            wh("d", types=("*",)),
            wh("a", filter={"data.x": 1}, description="x"),
        ],
        deletes=["c"],
        version=2,
    )
    assert s2.version == 2 and s1.version == 1
    assert ids(s1, ev(x=1)) == ["a"] and ids(s1, ev(org="p")) == ["c"]
    assert ids(s2, ev(x=1)) == ["a", "b", "d"]
    assert ids(s2, ev(org="p")) == [] and "p" not in s2._orgs
    assert members(s2, "o")["a"][1] is pred_a  # same filter: not compiled again
    assert s2.get("c") is None and s1.get("c") is not None
    s3 = s2.with_changes([wh("a", enabled=False), wh("a", filter={"data.x": 2})], [], 3)
    assert ids(s3, ev(x=2)) == ["a", "b", "d"]  # the last upsert of an id wins
    s4 = s3.with_changes([wh("b", org="q")], [], 4)
    assert ids(s4, ev(x=2)) == ["a", "d"] and ids(s4, ev(org="q")) == ["b"]


hooks = st.builds(
    wh,
    st.sampled_from(["w1", "w2", "w3", "w4", "w5", "w6"]),
    st.sampled_from(["o", "p"]),
    st.lists(st.sampled_from(["A", "B", "x.a", "x.*", "*"]), min_size=1, max_size=3).map(tuple),
    enabled=st.booleans(),
    deleted=st.booleans(),
    filter=st.sampled_from([None, {"data.n": {"$gt": 0}}, {"data.n": {"$lte": 0}}]),
)


@settings(max_examples=settings().max_examples * 4)
@given(
    start=st.lists(hooks, max_size=6),
    steps=st.lists(
        st.tuples(st.lists(hooks, max_size=3), st.lists(st.sampled_from(["w1", "w3", "w9"]))), max_size=4
    ),
)
def test_with_changes_equals_a_fresh_build(
    start: list[Webhook], steps: list[tuple[list[Webhook], list[str]]]
) -> None:
    current = {h.id: h for h in start}
    s = RuleSnapshot(0, current)
    if len(steps) % 2:
        s.warm()  # both paths: orgs indexed before the changes, and orgs indexed lazily after
    for version, (ups, dels) in enumerate(steps, 1):
        s = s.with_changes(ups, dels, version)
        current.update({h.id: h for h in ups})
        for d in dels:
            current.pop(d, None)
    fresh = RuleSnapshot(len(steps), current)
    for org in ("o", "p"):
        for etype in ("A", "B", "x.a", "x.b", "y"):
            for n in (-1, 1):
                assert ids(s, ev(org, etype, n=n)) == ids(fresh, ev(org, etype, n=n))
    assert {w.id for w in s} == set(current)


BACKGROUND = [
    wh(
        f"bg{i}",
        "o",
        (["A", "B", "x.a", "x.*", "*"][i % 5],),
        filter={"data.n": {"$gt": 0}} if i % 3 else None,
    )
    for i in range(40)
]
exact_hooks = st.builds(
    wh,
    st.sampled_from(["w1", "w2", "w3", "bg0", "bg1", "bg5"]),
    st.just("o"),
    st.lists(st.sampled_from(["A", "B", "x.a", "x.b"]), min_size=1, max_size=2).map(tuple),
    enabled=st.booleans(),
    filter=st.sampled_from([None, {"data.n": {"$lte": 0}}]),
)


@settings(max_examples=settings().max_examples * 4)
@given(
    steps=st.lists(
        st.tuples(st.lists(exact_hooks, max_size=3), st.lists(st.sampled_from(["w1", "bg1"]))), max_size=4
    )
)
def test_patched_orgs_equal_a_fresh_build(steps: list[tuple[list[Webhook], list[str]]]) -> None:
    # Big org, few exact-only changes: the incremental path (_patch_org), next to wildcard subscribers.
    current = {h.id: h for h in BACKGROUND}
    s = RuleSnapshot(0, current)
    s.warm()  # built indexes are patched; unbuilt ones wait for their first event
    for version, (ups, dels) in enumerate(steps, 1):
        s = s.with_changes(ups, dels, version)
        current.update({h.id: h for h in ups})
        for d in dels:
            current.pop(d, None)
    fresh = RuleSnapshot(len(steps), current)
    for etype in ("A", "B", "x.a", "x.b", "x.c", "y"):
        for n in (-1, 1):
            assert ids(s, ev("o", etype, n=n)) == ids(fresh, ev("o", etype, n=n))


def test_small_changes_patch_instead_of_rebuilding(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.rules

    calls: list[str] = []
    real_build, real_patch = core.rules._build_org, core.rules._patch_org

    def build(*args: Any) -> Any:
        calls.append("build")
        return real_build(*args)

    def patch(*args: Any) -> Any:
        calls.append("patch")
        return real_patch(*args)

    monkeypatch.setattr(core.rules, "_build_org", build)
    monkeypatch.setattr(core.rules, "_patch_org", patch)
    s = RuleSnapshot(0, {h.id: h for h in BACKGROUND})
    s.warm()
    calls.clear()
    s.with_changes([wh("new", "o", ("A",))], [], 1)
    s.with_changes([wh("new", "o", ("x.*",))], [], 2)  # a wildcard moved: rebuild the org
    assert calls == ["patch", "build"]


KEYS_ = st.sampled_from([1, 1.0, 2, True, False, "1", "a", None])
EVENT_DATA = st.fixed_dictionaries({"k": KEYS_, "j": KEYS_, "n": st.sampled_from([-1, 1])})
indexable = st.one_of(
    st.builds(lambda p, v: {p: v}, st.sampled_from(["data.k", "data.j"]), KEYS_),
    st.builds(lambda v: {"data.k": {"$eq": v}}, KEYS_),
    st.builds(lambda vs: {"data.k": {"$in": vs}}, st.lists(KEYS_, max_size=3)),
    st.builds(lambda v: {"$and": [{"data.n": {"$gt": 0}}, {"data.k": v}]}, KEYS_),
    st.builds(lambda v: {"data.k": v, "data.n": {"$lte": 0}}, KEYS_),
    st.just({"data.n": {"$gt": 0}}),
    st.just({}),
)


@settings(max_examples=settings().max_examples * 4)
@given(
    filters=st.lists(indexable, min_size=1, max_size=24),
    events=st.lists(
        st.fixed_dictionaries({"k": KEYS_, "j": KEYS_, "n": st.sampled_from([-1, 1])}), max_size=6
    ),
)
def test_indexed_buckets_match_like_running_every_filter(
    filters: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    from core.filters import compile_filter

    hooks = [wh(f"w{i}", filter=f or None) for i, f in enumerate(filters)]
    s = snap(*hooks)
    for data in [*events, {}, {"k": [1]}]:
        event = ev(**data)
        expected = sorted(h.id for h in hooks if compile_filter(h.filter)(event))
        assert ids(s, event) == expected, (data, filters)


def test_equality_filters_are_indexed() -> None:
    hooks = [wh(f"c{i}", filter={"data.customer": f"cus_{i}"}) for i in range(100)]
    s = snap(*hooks, wh("any"))
    bucket = s.candidates("o", "A")
    assert len(bucket.indexed) == 1 and not bucket.filtered and len(bucket.indexed[0][1]) == 100
    assert ids(s, ev(customer="cus_7")) == ["any", "c7"]
    assert ids(s, ev(customer="nobody")) == ids(s, ev()) == ["any"]


def test_many_webhooks_match_like_a_scan() -> None:
    rng = random.Random(7)
    hooks = [wh(f"w{i}", f"org{i % 50}", (f"T{rng.randrange(20)}",)) for i in range(5000)]
    s = snap(*hooks)
    for i in range(500):
        org, etype = f"org{i % 50}", f"T{i % 23}"
        expected = sorted(h.id for h in hooks if h.org == org and h.event_types[0] == etype)
        assert ids(s, ev(org, etype)) == expected
