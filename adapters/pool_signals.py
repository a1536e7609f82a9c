"""The delivery pool's signals: what one delivery actor learns about an endpoint, all apply.

An endpoint that asked for a pause (429/503 with Retry-After) and a webhook one actor disabled
travel over a RabbitMQ fanout (`RabbitSettings.signals_exchange`, one exclusive queue per
actor), so the pool acts as one without a remote call per delivery. Signals are hints that
make the pool act sooner; nothing depends on them for correctness (every actor also follows
the rule snapshot), so they are transient, unconfirmed and dropped when malformed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from adapters import rabbit
from core.settings import RabbitSettings

log = logging.getLogger(__name__)


class PoolSignals:
    """Sends this actor's signals and hands the others' to `on_pause` / `on_disable`."""

    def __init__(
        self,
        me: str,
        on_pause: Callable[[str, float], None],
        on_disable: Callable[[str, int], None],
    ) -> None:
        self._me = me  # our own signals come back on the fanout: skip them
        self._on_pause = on_pause
        self._on_disable = on_disable
        self._exchange: AbstractExchange | None = None

    async def open(self, channel: AbstractChannel, settings: RabbitSettings) -> None:
        """Declare the fanout and this actor's queue on `channel`, and start listening."""
        self._exchange, queue = await rabbit.signals(channel, settings)
        await queue.consume(self._heard, no_ack=True)

    async def paused(self, webhook_id: str, until: float) -> None:
        await self._send({"webhook_id": webhook_id, "paused_until": until})

    async def disabled(self, webhook_id: str, version: int) -> None:
        await self._send({"webhook_id": webhook_id, "disabled_version": version})

    async def _send(self, doc: dict[str, object]) -> None:
        if self._exchange is None:
            return
        body = orjson.dumps({**doc, "from": self._me})
        try:
            await self._exchange.publish(aio_pika.Message(body), routing_key="")
        except Exception as exc:  # a hint: losing one costs a few extra calls, never a delivery
            log.warning("signal not sent from=%s error=%r", self._me, exc)

    async def _heard(self, message: AbstractIncomingMessage) -> None:
        try:
            doc = orjson.loads(message.body)
            if doc.get("from") == self._me:
                return
            wid = str(doc["webhook_id"])
            if "paused_until" in doc:
                self._on_pause(wid, float(doc["paused_until"]))
            if "disabled_version" in doc:
                self._on_disable(wid, int(doc["disabled_version"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("bad signal ignored at=%s error=%r", self._me, exc)
