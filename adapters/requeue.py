"""Where a delivery task goes when it is not done: a wait queue, or the dead letters.

One verb for the wait queues, `later`: a retry after a failed attempt, a task not due yet, one
held back from a busy endpoint are all the same write (the task, with its `not_before`, on the
ladder step that fits the delay; core.retry.pick_wait_queue), and what one message's tasks need
goes in one message per step. Each write is confirmed by the broker before it returns, because
the caller acks the original message only after it.
"""

from __future__ import annotations

import time

import orjson
from pymongo.asynchronous.collection import AsyncCollection

from adapters import dead_letters, metrics, rabbit
from adapters.mongo import Doc
from core.delivery import Later
from core.models import DeliveryTask, TaskBatch
from core.retry import pick_wait_queue
from core.settings import RabbitSettings


class Requeue:
    def __init__(
        self, topology: rabbit.Topology, settings: RabbitSettings, dead: AsyncCollection[Doc]
    ) -> None:
        self._topology = topology
        self._dead_queue = settings.dead_queue
        self._dead = dead

    async def later(self, due: Later) -> None:
        """Publish each (task, delay) to the wait queue that hands it back in about `delay` s,
        confirmed; the tasks bound for one wait queue go in one message (they are one
        webhook's: the tasks of one message always are)."""
        by_queue: dict[str, list[DeliveryTask]] = {}
        for task, delay in due:
            ttl = pick_wait_queue(delay) or min(self._topology.wait_queues)
            by_queue.setdefault(self._topology.wait_queues[ttl], []).append(task)
        msgs = []
        for queue, tasks in by_queue.items():
            body: TaskBatch = {"webhook_id": tasks[0]["webhook_id"], "tasks": tasks}
            msgs.append((queue, rabbit.message(orjson.dumps(body), tasks[0]["delivery_id"])))
        with metrics.publishing(len(msgs)):
            await rabbit.publish_confirmed(self._topology.default_exchange, msgs)

    async def dead(self, task: DeliveryTask, reason: str) -> None:
        """Record a task that will not be tried again, for replay, and for the operators' view."""
        headers: dict[str, object] = {
            "x-edp-reason": reason[:500],
            "x-edp-webhook": task["webhook_id"],
            "x-edp-dead-at": time.time(),
        }
        msg = rabbit.message(orjson.dumps(task), task["delivery_id"], headers)
        # Both before the ack: MongoDB is what replay reads, the queue is the operators' view.
        await dead_letters.record(self._dead, task, reason)
        with metrics.publishing(1):
            await rabbit.publish_confirmed(self._topology.default_exchange, [(self._dead_queue, msg)])
        metrics.dead_lettered()
