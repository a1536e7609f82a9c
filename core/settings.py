"""Settings: one frozen pydantic-settings class per component, one env prefix each.

Every name used on the brokers (topic, exchange, queues, database) is a setting, so tests can
run a whole pipeline in a namespace of their own against the shared local services.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.retry import DEFAULT_SCHEDULE


def half_the_cores() -> int:
    """The default size of the filter and delivery pools: one actor per two cores of the machine
    that starts the pipeline. Every actor costs a Python process and Ray's core-worker threads,
    and on two cores one of each delivered the most (bench/results/*-sweep.json: 1 delivery
    actor drained 1.4x as fast as 2); a cluster sets EDP_FILTER_ACTORS / EDP_DELIVERY_ACTORS."""
    return max(1, (os.cpu_count() or 2) // 2)


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_KAFKA_", frozen=True)

    bootstrap: str = "127.0.0.1:9092"
    topic: str = "events"
    partitions: int = Field(default=4, ge=1, le=1024)
    derived_prefix: str = "events."
    derived_topics: bool = True
    consumer_group: str = "edp-filter"
    # How long the API's producer waits for more events before it sends a produce request
    # (librdkafka's linger.ms). On this broker a request costs far more than a record in it:
    # single events at 1,300/s used ~20 % less broker CPU at 5 ms than at 2 (README, Speed), for
    # up to 3 ms more ingest latency at a trickle. 2 keeps the latency of a lightly loaded platform.
    linger_ms: float = Field(default=2, ge=0, le=1000)


class RabbitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_RABBIT_", frozen=True)

    url: SecretStr = SecretStr("amqp://edp:edp@127.0.0.1:5672/edp")
    exchange: str = "webhooks"
    queue: str = "deliveries"

    @property
    def retry_prefix(self) -> str:
        return f"{self.queue}.retry."

    @property
    def dead_queue(self) -> str:
        return f"{self.queue}.dead"

    @property
    def signals_exchange(self) -> str:
        """Fanout between the delivery actors: what one learns about an endpoint, all apply."""
        return f"{self.exchange}.signals"


class MongoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_MONGO_", frozen=True)

    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = "edp"


class FilterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_FILTER_", frozen=True)

    actors: int = Field(default_factory=half_the_cores, ge=1)
    poll_batch: int = Field(default=1000, ge=1, le=100_000)
    # How long a poll waits for the first record when there is none (kafka_io.take returns at
    # the first one); what bounds the loop's housekeeping when idle.
    poll_timeout_s: float = Field(default=0.25, gt=0)
    # Batches published whose confirms (and lane saves) are still outstanding, at most.
    batches_in_flight: int = Field(default=4, ge=1, le=64)
    # Offsets of confirmed work are committed at most this often: a commit is a write to
    # Kafka's offsets topic, and one per small batch was a large part of the broker's CPU. At
    # least once either way; a crash replays at most this much more (same delivery ids).
    commit_interval_s: float = Field(default=1.0, ge=0)
    # Tasks of one webhook from one batch travel in one RabbitMQ message, at most this many.
    max_tasks_per_message: int = Field(default=100, ge=1, le=10_000)
    # The longest a long poll of the rule cache waits with no change (then it asks again): a
    # change itself arrives as soon as the cache sees it (actors/snapshot.py).
    snapshot_wait_s: float = Field(default=5.0, gt=0)
    # The stall watch (core.progress): how often a filter compares its position in each
    # partition with the broker's high watermark, and how long records may wait unread before
    # it rebuilds its consumer. Far above any healthy pause (a fetch waits at most 10 ms).
    stall_check_s: float = Field(default=5.0, gt=0)
    stall_timeout_s: float = Field(default=30.0, gt=0)
    # After this long without a record the consumer stops fetching and a long-polling doorbell
    # consumer waits for the next one (adapters/kafka_doze.py); 0 keeps fetching every 10 ms.
    doze_after_s: float = Field(default=5.0, ge=0)


class RuleCacheSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_RULES_", frozen=True)

    poll_interval_s: float = Field(default=0.25, gt=0)
    # After `idle_after_s` without a change the cache polls every `idle_poll_interval_s` instead:
    # an idle platform costs the database a query a second, not four; the first change after a
    # quiet spell still arrives well inside the product's 2 s bound (tests/e2e/test_propagation).
    idle_poll_interval_s: float = Field(default=1.0, gt=0)
    idle_after_s: float = Field(default=30.0, ge=0)
    # A poll reads the rules clock (adapters/rules_clock.py) and scans the webhooks only when it
    # moved, or this often anyway, for writes that did not go through the API.
    scan_interval_s: float = Field(default=1.0, gt=0)
    # Polling by updated_at can miss a write whose timestamp lands just behind the last one seen
    # (clock skew between API servers): every poll looks back this far and upserts idempotently.
    overlap_s: float = Field(default=5.0, ge=0)
    full_reload_s: float = Field(default=60.0, gt=0)

    def interval(self, quiet_s: float) -> float:
        """Seconds to the next poll, `quiet_s` after the last change seen."""
        if quiet_s < self.idle_after_s:
            return self.poll_interval_s
        return max(self.poll_interval_s, self.idle_poll_interval_s)


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_DELIVERY_", frozen=True)

    actors: int = Field(default_factory=half_the_cores, ge=1)
    # Tasks an actor holds unacked, about: its prefetch in messages follows their size
    # (core/flow.py), between 4 and `prefetch` messages. Enough to keep endpoints' calls out;
    # more is work every new event waits behind. Side-by-side 5000x1 on one platform,
    # alternating (README "Speed"): p99 210-310 ms at 192, 445-515 at 512, 237-1,467 with the
    # fixed 32 messages in effect before; deliveries/s the same within noise.
    tasks_in_hand: int = Field(default=192, ge=1)
    prefetch: int = Field(default=256, ge=1, le=65535)
    max_in_flight: int = Field(default=256, ge=1)
    per_endpoint_concurrency: int = Field(default=32, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    total_timeout_s: float = Field(default=15.0, gt=0)
    # Seconds, comma-separated in the environment: EDP_DELIVERY_SCHEDULE="5,300,1800".
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = Field(default=0.2, ge=0, lt=1)
    max_retry_after_s: float = Field(default=3600.0, gt=0)
    response_excerpt_bytes: int = Field(default=4096, ge=0)
    # Destinations on loopback/private nets are refused unless listed here (CIDRs).
    ssrf_allowlist: tuple[str, ...] = ()
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open it
    # Results within the breaker's window before a failure ratio of one half opens it.
    breaker_min_requests: int = Field(default=20, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    attempt_flush_s: float = Field(default=0.5, gt=0)
    attempt_batch: int = Field(default=500, ge=1)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_API_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    servers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_events: int = Field(default=1000, ge=1)
    max_json_depth: int = Field(default=32, ge=2)
    key_cache_s: float = Field(default=5.0, ge=0)
    # Compiled event-type JSON Schemas are cached per org this long, like keys: ingest makes no
    # database call per event, and a schema written on another server applies within this time.
    event_type_cache_s: float = Field(default=5.0, ge=0)
    # Resolving a webhook's host when it is written (the SSRF check) gives up after this long.
    dns_timeout_s: float = Field(default=3.0, gt=0)
    max_schema_bytes: int = Field(default=65_536, ge=1024)
    # Backpressure (adapters/backlog.py): while more than this many delivery messages wait in
    # the work queue beyond every delivery actor's prefetch (a message holds up to a share of
    # an endpoint's cap: a tenth of a second of work at 8), new events wait up to `backpressure_max_wait_s`
    # before they are accepted. 0: never.
    backpressure_messages: int = Field(default=8, ge=0)
    backpressure_max_wait_s: float = Field(default=2.0, ge=0)
    backpressure_poll_s: float = Field(default=0.05, gt=0)
    # While nothing waits in the work queue it is read this often instead (adapters/backlog.py).
    backpressure_idle_poll_s: float = Field(default=0.25, gt=0)


class PortalSettings(BaseSettings):
    """The customer portal (api/portal/, docs/portal.md): single-use links, then a session."""

    model_config = SettingsConfigDict(env_prefix="EDP_PORTAL_", frozen=True)

    # Signs link tokens and session cookies. Unset: derived from EDP_ADMIN_KEY (HKDF), so a
    # deployment with an admin key needs nothing more; with neither, portal links answer 503.
    secret: SecretStr | None = None
    # How long a link opens a session when its creator does not say (the request may ask for
    # up to `max_link_ttl_s`): short, because a link is a bearer credential in a chat or a mail.
    link_ttl_s: float = Field(default=900.0, ge=1, le=86_400)
    max_link_ttl_s: float = Field(default=86_400.0, ge=1, le=7 * 86_400)
    session_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    # The origin links point at (https://portal.example.com); unset: the origin the API was
    # called at. An https origin also marks the cookies Secure.
    public_url: str | None = None


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDP_", frozen=True)

    admin_key: SecretStr | None = None


class SecretsSettings(BaseSettings):
    """The master keys that seal webhook secrets at rest (core/sealing.py).

    Either `EDP_SECRETS_KEY` (base64 of 32 bytes; `EDP_SECRETS_PREVIOUS_KEYS`, comma-separated,
    still open what they sealed), or `EDP_SECRETS_KEY_FILE`: one key per line, the first
    current, re-read while running, which is what lets `jobs.secrets rotate` rotate live.
    """

    model_config = SettingsConfigDict(env_prefix="EDP_SECRETS_", frozen=True)

    key: SecretStr | None = None
    previous_keys: SecretStr | None = None
    key_file: str | None = None


class RetentionSettings(BaseSettings):
    """FerretDB has no TTL indexes, so old rows are deleted by a periodic job (the supervisor
    runs it every `interval_s`; `python -m jobs.retention` runs it once)."""

    model_config = SettingsConfigDict(env_prefix="EDP_RETENTION_", frozen=True)

    attempts_days: float = Field(default=30, gt=0)
    dead_letters_days: float = Field(default=30, gt=0)
    tombstones_days: float = Field(default=1, gt=0)
    interval_s: float = Field(default=3600, gt=0)


class LogSettings(BaseSettings):
    """Log levels per component: EDP_LOG_LEVEL_<COMPONENT> (e.g. EDP_LOG_LEVEL_DELIVERY=DEBUG),
    else EDP_LOG_LEVEL, else INFO. One field per component that calls `configure_logging`."""

    model_config = SettingsConfigDict(env_prefix="EDP_LOG_", frozen=True)

    level: str | None = None
    level_api: str | None = None
    level_delivery: str | None = None
    level_filter: str | None = None
    level_rules: str | None = None
    level_supervisor: str | None = None
    level_retention: str | None = None
    level_job: str | None = None
    level_chaos: str | None = None

    def level_for(self, component: str) -> str:
        # getattr without a default: a component with no field here fails at its start, where a
        # silent INFO would hide that its variable is not read.
        own: str | None = getattr(self, f"level_{component}")
        return (own or _OWN_DEFAULTS.get(component) or self.level or "INFO").upper()


# Components whose default does not follow EDP_LOG_LEVEL: the API servers log at WARNING (as
# uvicorn does there) unless EDP_LOG_LEVEL_API says otherwise.
_OWN_DEFAULTS = {"api": "WARNING"}
