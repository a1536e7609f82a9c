"""Everything the API needs to know, bundled so one object can be handed to its actors, as the
pipeline's actors get a `cluster.config.PipelineConfig`.

`jobs/api.py` builds it once from its environment and each `ApiServer` gets it pickled (the
admin key is a `SecretStr`, which pickles); `create_app` takes it as it is, so nothing in the
app reads the environment. Tests build one with their own topic and database names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import (
    AdminSettings,
    ApiSettings,
    DeliverySettings,
    KafkaSettings,
    LogSettings,
    MongoSettings,
    PortalSettings,
    RabbitSettings,
    SecretsSettings,
)


@dataclass(frozen=True)
class ApiConfig:
    api: ApiSettings = field(default_factory=ApiSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    mongo: MongoSettings = field(default_factory=MongoSettings)
    # Where replays of dead letters are published.
    rabbit: RabbitSettings = field(default_factory=RabbitSettings)
    # For its SSRF allowlist only: webhook URLs are checked when written against the delivery
    # workers' own, so a URL accepted here is not refused at send time for a reason known now.
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    log: LogSettings = field(default_factory=LogSettings)
    # Webhook secrets are sealed with these on write and opened on read (core/sealing.py).
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
