"""How much a delivery actor asks the broker for: about a fixed number of tasks in hand.

RabbitMQ's prefetch counts messages, and a message holds from one task (a trickle, a wait-queue
step) to a share of an endpoint's cap (core.routing.Chunking). A prefetch that suits one-task
messages (many endpoints, each slow: enough calls out at once) holds seconds of work when the
messages are full, and every event then waits behind it; one that suits full messages starves a
fan-out to many slow endpoints. So the actor follows the size of what it receives and asks for
about `tasks` tasks' worth of messages.
"""

from __future__ import annotations

MIN_SAMPLE = 8  # messages seen before the size is trusted
CHANGE = 0.25  # a new prefetch is asked for only when it differs this much (basic.qos is a call)
GROWTH = 1.5  # at most this much more per retune: shrink at once, grow slowly
START = 32  # messages, before anything was seen


class Prefetch:
    def __init__(self, tasks: int, least: int, most: int) -> None:
        self.tasks = tasks
        self.least = max(1, least)
        self.most = max(self.least, most)
        # Small until something was seen, and growing slowly: a trickle of one-task messages must
        # not leave a prefetch so large that the next burst takes seconds of work at once (what
        # cannot wait in memory gets parked, a second at least each).
        self.current = min(self.most, max(self.least, START))
        self._messages = 0
        self._seen = 0

    def received(self, tasks: int) -> None:
        self._messages += 1
        self._seen += tasks

    def retune(self) -> int | None:
        """The prefetch to ask for now, or None to keep the current one."""
        if self._messages < MIN_SAMPLE:
            return None
        per_message = self._seen / self._messages
        self._messages = self._seen = 0
        want = min(self.most, max(self.least, round(self.tasks / per_message)))
        want = min(want, max(self.current + 1, round(self.current * GROWTH)))
        if abs(want - self.current) < CHANGE * self.current:
            return None
        self.current = want
        return want
