"""What to do after one HTTP attempt, and what a task carries to its next step: pure decisions.

`decide` turns an attempt's result into ack / retry-after-delay / dead-letter, following the
Standard Webhooks conventions the best services use: 2xx succeeds, 410 disables the webhook,
everything else is retried on the schedule, `Retry-After` is honoured (clamped), and after the
last attempt the task is dead-lettered. `attempt_row` is what the attempt log keeps of it;
`retried` and `parked` are what a task carries to a wait queue. When an endpoint may be called
at all is `core.gates` and `core.admission`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.ids import new_id
from core.models import Attempt, DeliveryTask
from core.retry import Outcome, next_delay, verdict_for


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int | None
    error: str | None  # an error class such as "timeout", "connect", "refused_destination"
    latency_ms: float
    excerpt: str = ""
    retry_after: float | None = None


class Action(enum.Enum):
    ACK = "success"
    RETRY = "retry"
    DEAD = "dead"
    DROP = "dropped"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float | None = None
    disable_reason: str | None = None
    slow_down: bool = False
    reason: str = ""


def decide(
    attempt: int,
    result: HttpResult,
    schedule: Sequence[float],
    rng: random.Random,
    jitter: float,
    max_retry_after: float,
) -> Decision:
    verdict = verdict_for(result.status, result.error)
    if verdict.outcome is Outcome.SUCCESS:
        return Decision(Action.ACK)
    reason = f"http {result.status}" if result.status is not None else (result.error or "error")
    if verdict.outcome is Outcome.GONE:
        return Decision(Action.DEAD, disable_reason="endpoint answered 410 Gone", reason=reason)
    if result.error == "refused_destination":
        # The SSRF guard refused the resolved address: retrying will not change that soon enough.
        return Decision(Action.DEAD, reason="destination refused by the SSRF guard")
    delay = next_delay(
        attempt, schedule, result.retry_after, rng, jitter=jitter, max_retry_after=max_retry_after
    )
    if delay is None:
        return Decision(Action.DEAD, slow_down=verdict.slow_down, reason=f"{reason}; attempts exhausted")
    return Decision(Action.RETRY, delay=delay, slow_down=verdict.slow_down, reason=reason)


def attempt_row(task: DeliveryTask, result: HttpResult, decision: Decision, now: float) -> Attempt:
    """The attempt log's row for one attempt (or for a task dropped without one).

    Fields that are empty are left out, not stored as null: the log's database charges by the
    byte (readers default them), and most rows are plain successes."""
    row: Attempt = {
        "_id": new_id("att", int(now * 1000)),
        "delivery_id": task["delivery_id"],
        "event_id": task["event"]["id"],
        "webhook_id": task["webhook_id"],
        "org": task["event"]["org"],
        "attempt": task["attempt"],
        "status_code": result.status,
        "outcome": decision.action.value,
        "latency_ms": round(result.latency_ms, 3),
        "at": datetime.fromtimestamp(now, UTC),
    }
    if result.error is not None:
        row["error"] = result.error
    if result.excerpt:
        row["response_excerpt"] = result.excerpt
    if decision.delay is not None:
        row["next_attempt_at"] = datetime.fromtimestamp(now + decision.delay, UTC)
    return row


# What a message's tasks leave for the wait queues: (task, seconds until it is due), published
# together before the message is acked (adapters.requeue.Requeue.later).
Later = list[tuple[DeliveryTask, float]]


def retried(task: DeliveryTask, delay: float, now: float) -> DeliveryTask:
    """The task as its next attempt, due in `delay` seconds. An attempt was made, so the
    congestion backoff (`parks`) starts over."""
    task["attempt"] += 1
    task.pop("parks", None)
    task["not_before"] = now + delay
    return task


def parked(task: DeliveryTask, delay: float, now: float, *, congested: bool = False) -> DeliveryTask:
    """The same attempt, not before `delay` seconds from now. A park because the endpoint is
    congested counts towards that task's backoff (`core.gates.EndpointGate.park_for`)."""
    if congested:
        task["parks"] = task.get("parks", 0) + 1
    task["not_before"] = now + delay
    return task
