"""The rule snapshot: an immutable, versioned set of webhooks and the index that matches events.

`match(event)` is on the hot path of every event, so the work is done when a snapshot is built:

* per org, a dict `event type -> Bucket` whose buckets already include the webhooks subscribed
  through `prefix.*` or `*` (merged once per known type at build time);
* in a bucket, webhooks without a filter are a plain tuple, and filters that require an equality
  (`{"data.customer": "c_1"}`) are indexed by that value, so an event only runs the filters its
  own value selects;
* per org, the wildcard subscriptions, consulted only for types no webhook names exactly; their
  buckets are memoised per (org, type) in a bounded cache.

A match is then two or three dict lookups plus the filters that are left. `with_changes` copies
only the hash shards and orgs that changed and reuses compiled filters whose spec did not change.
Measured figures: bench/match_bench.py and bench/results/match-*.json.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from core.errors import InvalidFilter
from core.filters import Hint, Predicate, compile_filter, index_hint, index_key, path_getter
from core.models import Webhook

log = logging.getLogger(__name__)

# (webhook, its compiled filter or None, the filter's index hint or None)
_Entry = tuple[Webhook, Predicate | None, Hint | None]
_Candidates = tuple[_Entry, ...]
_Filtered = tuple[tuple[Webhook, Predicate], ...]
_Getter = Callable[[Mapping[str, Any]], Any]


class Bucket(NamedTuple):
    """The subscribers of one (org, type), arranged so an event costs as little as possible.

    `plain` have no filter; `filtered` have one that must run; `indexed` hold, per path, a table
    from value to the webhooks whose filter requires that value there, so only the webhooks
    the event's own value selects run their filter.
    """

    plain: tuple[Webhook, ...]
    filtered: _Filtered
    indexed: tuple[tuple[_Getter, dict[Any, _Filtered]], ...]


_EMPTY = Bucket((), (), ())
MEMO_SIZE = 65_536
MIN_INDEXED = 4  # below this many webhooks on one path, calling their filters is cheaper


class _OrgIndex:
    """One org's slice of the index. Never mutated after `_build_org` returns it."""

    __slots__ = ("exact", "members", "wild")

    def __init__(
        self, members: dict[str, _Entry], exact: dict[str, Bucket], wild: dict[str, _Candidates]
    ) -> None:
        self.members = members  # webhook id -> entry, the enabled, live webhooks only
        self.exact = exact  # event type -> candidates, wildcard subscribers merged in
        self.wild = wild  # type prefix ("order." for "order.*", "" for "*") -> subscribers


def _wild_prefix(pattern: str) -> str | None:
    if pattern == "*":
        return ""
    if pattern.endswith(".*"):
        return pattern[:-1]  # keep the dot: "order.*" matches "order.x", not "orders"
    return None


def _prefixes(etype: str) -> Iterator[str]:
    """Every wildcard prefix that can match `etype`: "", then up to each dot ("a.", "a.b.")."""
    yield ""
    i = etype.find(".")
    while i != -1:
        yield etype[: i + 1]
        i = etype.find(".", i + 1)


def _build_org(members: dict[str, _Entry]) -> _OrgIndex:
    exact: dict[str, list[_Entry]] = {}
    wild: dict[str, list[_Entry]] = {}
    for entry in members.values():
        for pattern in dict.fromkeys(entry[0].event_types):  # dedupe, keep order
            prefix = _wild_prefix(pattern)
            if prefix is None:
                exact.setdefault(pattern, []).append(entry)
            else:
                wild.setdefault(prefix, []).append(entry)
    frozen_wild = {prefix: tuple(entries) for prefix, entries in wild.items()}
    merged = {etype: _merge(entries, etype, frozen_wild) for etype, entries in exact.items()}
    return _OrgIndex(members, merged, frozen_wild)


def _merge(entries: list[_Entry], etype: str, wild: dict[str, _Candidates]) -> Bucket:
    extra = [wild[p] for p in _prefixes(etype) if p in wild] if wild else None
    unique: Iterable[_Entry] = entries
    if extra:
        out: dict[str, _Entry] = {e[0].id: e for e in entries}
        for more in extra:
            for e in more:
                out.setdefault(e[0].id, e)
        unique = out.values()
    plain: list[Webhook] = []
    filtered: list[tuple[Webhook, Predicate]] = []
    by_path: dict[str, list[tuple[Webhook, Predicate, tuple[Any, ...]]]] = {}
    for wh, pred, hint in unique:
        if pred is None:
            plain.append(wh)
        elif hint is None:
            filtered.append((wh, pred))
        else:
            by_path.setdefault(hint[0], []).append((wh, pred, hint[1]))
    indexed: list[tuple[_Getter, dict[Any, _Filtered]]] = []
    for path, members in by_path.items():
        if len(members) < MIN_INDEXED:
            filtered.extend((wh, pred) for wh, pred, _ in members)
            continue
        table: dict[Any, list[tuple[Webhook, Predicate]]] = {}
        for wh, pred, values in members:
            for key in dict.fromkeys(index_key(v) for v in values):  # 1 and 1.0: one key
                table.setdefault(key, []).append((wh, pred))
        indexed.append((path_getter(path), {k: tuple(v) for k, v in table.items()}))
    return Bucket(tuple(plain), tuple(filtered), tuple(indexed))


def _bucket_ids(bucket: Bucket) -> Iterator[str]:
    yield from (wh.id for wh in bucket.plain)
    yield from (wh.id for wh, _ in bucket.filtered)
    for _, table in bucket.indexed:
        for hits in table.values():
            yield from (wh.id for wh, _ in hits)


def _patch_org(old: _OrgIndex, members: dict[str, _Entry], ids: set[str], types: set[str]) -> _OrgIndex:
    """`old` with the buckets of `types` recomputed, when only exact subscriptions changed.

    Wildcard subscribers are untouched (else the caller rebuilds), so each bucket is its exact
    subscribers minus the changed ids, plus the changed ids' new entries, merged with `wild`.
    """
    exact = dict(old.exact)
    for etype in types:
        bucket = old.exact.get(etype)
        was = dict.fromkeys(_bucket_ids(bucket)) if bucket is not None else {}
        # Unchanged ids keep their entry in `members`; changed ones are added from there too.
        kept = [members[i] for i in was if i not in ids and etype in members[i][0].event_types]
        kept += [members[i] for i in ids if i in members and etype in members[i][0].event_types]
        if kept:
            exact[etype] = _merge(kept, etype, old.wild)
        else:
            exact.pop(etype, None)
    return _OrgIndex(members, exact, old.wild)


def _entry(webhook: Webhook) -> _Entry:
    if not webhook.filter:
        return webhook, None, None
    try:
        return webhook, compile_filter(webhook.filter), index_hint(webhook.filter)
    except InvalidFilter as exc:
        # The API validates filters on write; one bad stored document must not stop matching
        # for everybody else, so it matches nothing until it is fixed.
        log.warning("webhook=%s filter refused, matching nothing: %s", webhook.id, exc)
        return webhook, _never, None


def _never(_event: Mapping[str, Any]) -> bool:
    return False


def _live(webhook: Webhook) -> bool:
    return webhook.enabled and not webhook.deleted


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # A build allocates millions of long-lived objects and frees none: the cyclic GC would only
    # walk them again and again (half the build time at 100k webhooks).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_SHARDS = 256


def _shard(webhook_id: str) -> int:
    # crc32, not hash(): the same id lands in the same shard in every process.
    return zlib.crc32(webhook_id.encode()) & (_SHARDS - 1)


class _Org:
    """An org's live webhooks, and its index once something asked for it.

    The index is built on first use and then cached here. Orgs that did not change are shared
    between snapshot versions, so the cache is too; building is a pure function of `webhooks`.
    """

    __slots__ = ("index", "webhooks")

    def __init__(self, webhooks: dict[str, Webhook], index: _OrgIndex | None = None) -> None:
        self.webhooks = webhooks
        self.index = index


class RuleSnapshot:
    """Immutable view of every webhook at one version.

    `get` returns any webhook it was given, disabled or tombstoned ones included (a delivery
    worker needs to see that a webhook was disabled); `match` only considers enabled, live ones.
    Webhooks are kept in hash shards so that `with_changes` copies only the shards it touches
    (copying one dict of a million entries costs ~35 ms). An org's index (compiled filters,
    buckets) is built the first time one of its events is matched, or by `warm()`: a snapshot
    used only for `get` (delivery workers) never compiles a filter.
    """

    __slots__ = ("_count", "_memo", "_orgs", "_shards", "version")

    def __init__(self, version: int, webhooks: Mapping[str, Webhook]) -> None:
        with _gc_paused():
            shards: list[dict[str, Webhook]] = [{} for _ in range(_SHARDS)]
            grouped: dict[str, dict[str, Webhook]] = {}
            for wid, wh in webhooks.items():
                shards[_shard(wid)][wid] = wh
                if _live(wh):
                    grouped.setdefault(wh.org, {})[wid] = wh
            orgs = {org: _Org(m) for org, m in grouped.items()}
        self._init(version, shards, orgs)

    def _init(self, version: int, shards: list[dict[str, Webhook]], orgs: dict[str, _Org]) -> None:
        self.version = version
        self._shards = shards
        self._count = sum(len(s) for s in shards)
        self._orgs = orgs
        self._memo: dict[tuple[str, str], Bucket] = {}

    def __len__(self) -> int:
        return self._count

    def __contains__(self, webhook_id: object) -> bool:
        return isinstance(webhook_id, str) and webhook_id in self._shards[_shard(webhook_id)]

    def __iter__(self) -> Iterator[Webhook]:
        for shard in self._shards:
            yield from shard.values()

    def __repr__(self) -> str:
        return f"RuleSnapshot(version={self.version}, webhooks={self._count}, orgs={len(self._orgs)})"

    def get(self, webhook_id: str) -> Webhook | None:
        return self._shards[_shard(webhook_id)].get(webhook_id)

    def warm(self) -> None:
        """Build every org's index now rather than on its first event."""
        with _gc_paused():
            for org in self._orgs.values():
                if org.index is None:
                    org.index = _build_org({i: _entry(w) for i, w in org.webhooks.items()})

    def _index(self, org: str) -> _OrgIndex | None:
        found = self._orgs.get(org)
        if found is None:
            return None
        if found.index is None:
            with _gc_paused():
                found.index = _build_org({i: _entry(w) for i, w in found.webhooks.items()})
        return found.index

    def candidates(self, org: str, event_type: str) -> Bucket:
        """Webhooks of `org` subscribed to `event_type`, before their filters are applied."""
        index = self._index(org)
        if index is None:
            return _EMPTY
        found = index.exact.get(event_type)
        if found is not None:
            return found
        if not index.wild:
            return _EMPTY
        key = (org, event_type)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = _merge([], event_type, index.wild)
            if len(memo) >= MEMO_SIZE:
                try:
                    del memo[next(iter(memo))]  # FIFO: cheap, and good enough for a bounded cache
                except (RuntimeError, KeyError, StopIteration):  # another thread got there first
                    memo.clear()
            memo[key] = found
        return found

    def match(self, event: Mapping[str, Any]) -> list[Webhook]:
        org = event.get("org")
        etype = event.get("type")
        if type(org) is not str or type(etype) is not str:
            return []
        plain, filtered, indexed = self.candidates(org, etype)
        if not filtered and not indexed:
            return list(plain)
        out = list(plain)
        for wh, pred in filtered:
            if pred(event):
                out.append(wh)
        for get, table in indexed:
            hits = table.get(index_key(get(event)))  # a missing value gives None: no hits
            if hits is not None:
                for wh, pred in hits:
                    if pred(event):
                        out.append(wh)
        return out

    def with_changes(self, upserts: Iterable[Webhook], deletes: Iterable[str], version: int) -> RuleSnapshot:
        """A new snapshot with `upserts` applied, then `deletes`; this one is left untouched.

        Only the hash shards and orgs that changed are copied. An org whose index was built gets
        a new one at once, reusing compiled filters whose spec did not change, and rebuilding
        only the buckets of the event types involved when a few exact subscriptions changed.
        """
        with _gc_paused():
            shards = list(self._shards)
            copied: set[int] = set()
            edits: dict[str, dict[str, Webhook | None]] = {}  # org -> id -> new version, None: gone

            def swap(webhook_id: str, new: Webhook | None) -> None:
                n = _shard(webhook_id)
                if n not in copied:
                    shards[n] = dict(shards[n])
                    copied.add(n)
                old = shards[n].pop(webhook_id, None)
                if old is not None and _live(old):
                    edits.setdefault(old.org, {})[webhook_id] = None
                if new is not None:
                    shards[n][webhook_id] = new
                    if _live(new):
                        edits.setdefault(new.org, {})[webhook_id] = new

            for wh in upserts:
                swap(wh.id, wh)
            for webhook_id in deletes:
                swap(webhook_id, None)
            orgs = dict(self._orgs)
            for org, changes in edits.items():
                updated = _apply(self._orgs.get(org), changes)
                if updated is None:
                    orgs.pop(org, None)
                else:
                    orgs[org] = updated
        snap = RuleSnapshot.__new__(RuleSnapshot)
        snap._init(version, shards, orgs)
        return snap


def _apply(old: _Org | None, changes: dict[str, Webhook | None]) -> _Org | None:
    webhooks = dict(old.webhooks) if old else {}
    for webhook_id, new in changes.items():
        if new is None:
            webhooks.pop(webhook_id, None)
        else:
            webhooks[webhook_id] = new
    if not webhooks:
        return None
    if old is None or old.index is None:
        return _Org(webhooks)  # indexed on first use
    members = dict(old.index.members)
    patterns: set[str] = set()
    for webhook_id, new in changes.items():
        prev = members.pop(webhook_id, None)
        if prev is not None:
            patterns.update(prev[0].event_types)
        if new is not None:
            reuse = prev is not None and prev[0].filter == new.filter
            members[webhook_id] = (new, prev[1], prev[2]) if reuse and prev else _entry(new)
            patterns.update(new.event_types)
    ids = set(changes)
    if len(ids) * 4 > len(members) or any(_wild_prefix(p) is not None for p in patterns):
        return _Org(webhooks, _build_org(members))
    return _Org(webhooks, _patch_org(old.index, members, ids, patterns))
