"""The chaos suite, short: every scenario of `make chaos` (testkit/chaos) with a few seconds of
load each, on one pipeline, against the real services. Zero lost deliveries, each scenario.

Kafka, RabbitMQ and FerretDB are restarted here (CI runs the tiers one after the other); each
restart returns only once the service answers again, so the tests after these find them up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.chaos import report, scenarios
from testkit.chaos.harness import Pipeline, Result, Scenario, Timing, run_scenario

pytestmark = [pytest.mark.services, pytest.mark.ray]

TIMING = Timing(rate=30.0, duration_s=10.0, inject_at_s=3.0, drain_timeout_s=120.0)
SCENARIOS = scenarios.full(receiver_window_s=6.0, compound=False)
RESULTS: list[Result] = []


@pytest.fixture(scope="module")
def pipeline(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with Pipeline() as p:
        yield p
    if RESULTS:
        out = report.write(report.document(RESULTS, TIMING), tmp_path_factory.mktemp("chaos"))
        print("\n" + report.table(RESULTS) + f"\n-> {out}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_nothing_lost(scenario: Scenario, pipeline: Pipeline) -> None:
    result = run_scenario(scenario, TIMING, pipeline)
    RESULTS.append(result)
    print(report.table([result]).splitlines()[-1])
    assert result.expected > 0
    assert result.lost == 0, f"{result.lost} of {result.expected} deliveries lost: {result}"
    assert result.recovery_s is not None
    # The scenario's ordered webhook: everything arrived, first arrivals in the accepted order.
    assert result.ordered > 0 and result.out_of_order == 0, result
