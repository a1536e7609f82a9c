"""The scenarios, in the order they run: actors first, then services, then receivers.

`full()` is `make chaos`; `short()` is the version inside `make test` (same faults, shorter
receiver windows, the ones that exercise different recovery paths).
"""

from __future__ import annotations

from testkit.chaos.faults import kill_actor, receiver, restart_service, rule_cache_without_mongo
from testkit.chaos.harness import Scenario


def full(receiver_window_s: float = 30.0, compound: bool = True) -> list[Scenario]:
    """`compound` adds the one two-fault scenario (35 s of FerretDB down: too long for make test)."""
    w = receiver_window_s
    return [
        Scenario("kill filter actor", kill_actor("filters")),
        Scenario("kill delivery actor", kill_actor("deliveries")),
        Scenario("kill rule cache", kill_actor("rules")),
        Scenario("restart Kafka", restart_service("kafka"), stops_services=True),
        Scenario("restart RabbitMQ", restart_service("rabbitmq"), stops_services=True),
        Scenario("restart FerretDB", restart_service("ferretdb"), stops_services=True),
        *(
            [
                Scenario(
                    "kill rule cache while FerretDB is down 35s",
                    rule_cache_without_mongo(),
                    stops_services=True,
                )
            ]
            if compound
            else []
        ),
        Scenario(f"receiver 500 for {w:.0f}s", receiver(w, status=500)),
        Scenario(f"receiver hangs for {w:.0f}s", receiver(w, hang=True)),
        Scenario(f"receiver 429 Retry-After 2 for {w:.0f}s", receiver(w, status=429, retry_after="2")),
    ]


def by_name(scenarios: list[Scenario], names: list[str]) -> list[Scenario]:
    wanted = [n.lower() for n in names]
    picked = [s for s in scenarios if any(w in s.name.lower() for w in wanted)]
    if not picked:
        raise ValueError(f"no scenario matches {names}: {[s.name for s in scenarios]}")
    return picked
