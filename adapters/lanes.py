"""Where ordered delivery keeps its progress (core.ordering), in MongoDB.

`ordered_positions`: per ordered webhook, its lane's last (sequence, partition, offset), written
by the filter that numbered it after a batch is confirmed and before its offsets may be
committed.
`ordered_cursors`: per ordered webhook, what its lane's consumer finished and the attempt in
progress, written before each ack. Both are read and written by `_id` only: the one lookup
FerretDB answers without reading the whole collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from adapters.mongo import Doc
from core.errors import BrokerUnavailable
from core.ordering import Cursor, LaneBook, Position

POSITIONS = "ordered_positions"
CURSORS = "ordered_cursors"


class LaneStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._positions = db[POSITIONS]
        self._cursors = db[CURSORS]

    async def load_positions(self, book: LaneBook, webhook_ids: Iterable[str]) -> None:
        for wid in webhook_ids:
            book.load(wid, await self._find(self._positions, wid))

    async def save_positions(self, positions: Mapping[str, Position]) -> None:
        """The lanes one batch numbered further, each as that batch left it."""
        for wid in sorted(positions):
            await self._put(self._positions, wid, positions[wid].doc())

    async def cursor(self, webhook_id: str) -> Cursor:
        return Cursor.from_doc(await self._find(self._cursors, webhook_id))

    async def save_cursor(self, webhook_id: str, cursor: Cursor) -> None:
        await self._put(self._cursors, webhook_id, cursor.to_doc())

    async def forget(self, webhook_id: str) -> None:
        """A deleted webhook's cursor."""
        try:
            await self._cursors.delete_one({"_id": webhook_id})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    @staticmethod
    async def _find(coll: AsyncCollection[Doc], key: str) -> Doc | None:
        try:
            return await coll.find_one({"_id": key})
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc

    @staticmethod
    async def _put(coll: AsyncCollection[Doc], key: str, doc: Doc) -> None:
        try:
            await coll.replace_one({"_id": key}, {"_id": key, **doc}, upsert=True)
        except PyMongoError as exc:
            raise BrokerUnavailable(f"mongo: {exc}") from exc
