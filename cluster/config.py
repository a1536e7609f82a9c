"""Everything the pipeline needs to know, bundled so one object can be handed to the supervisor."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import (
    DeliverySettings,
    FilterSettings,
    KafkaSettings,
    MongoSettings,
    RabbitSettings,
    RetentionSettings,
    RuleCacheSettings,
    SecretsSettings,
)

# The Ray namespace every named actor of the platform lives in (jobs, the API, the pipeline).
NAMESPACE = "edp"


@dataclass(frozen=True)
class PipelineConfig:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    rabbit: RabbitSettings = field(default_factory=RabbitSettings)
    mongo: MongoSettings = field(default_factory=MongoSettings)
    filter: FilterSettings = field(default_factory=FilterSettings)
    rules: RuleCacheSettings = field(default_factory=RuleCacheSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # The rule cache opens webhook secrets with these (core/sealing.py).
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
    # Actor names are "<prefix>-rules", "<prefix>-filter-<i>", ... in the Ray namespace below,
    # so several pipelines (tests) can share one Ray cluster.
    prefix: str = "edp"
    namespace: str = NAMESPACE
    actor_cpus: float = 0.25
