"""Every metric of the platform, in one place: names with units, bounded labels only.

Never an event, org or webhook id, nor a URL, as a label: each label below takes values from a
fixed set (or a partition number, bounded by the topic). Exported as `ray_<name>`.
"""

from __future__ import annotations

from core.errors import ERROR_CODES

from .registry import define

LATENCY_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Up to two days: a delivery that succeeds late in the retry schedule still lands in a bucket.
END_TO_END_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0)
END_TO_END_S_TAIL = (36000.0, 172800.0)

OUTCOMES = ("success", "retry", "dead", "dropped", "parked")
STAGES = ("api", "rule_cache", "filter", "delivery", "supervisor")
FAILURE_KINDS = (
    "http_3xx",
    "http_4xx",
    "http_429",
    "http_5xx",
    "timeout",
    "connect",
    "refused_destination",
    "webhook_gone",
    "webhook_disabled",
    "other",
)
INGEST_PATHS = ("/v1/events", "/v1/events/batch")
# Rejections are labelled with the code the API answers with (a bounded set).
REJECTION_REASONS = {**ERROR_CODES, 429: "rate_limited"}

# -- ingest -----------------------------------------------------------------------------------
INGEST_REQUESTS = define(
    "edp_ingest_requests_total", "counter", "Ingest HTTP requests", ("endpoint", "status")
)
INGEST_EVENTS = define("edp_ingest_events_total", "counter", "Events accepted (Kafka has them)")
INGEST_LATENCY = define(
    "edp_ingest_latency_seconds", "histogram", "Ingest request time", ("endpoint",), LATENCY_S
)
INGEST_REJECTIONS = define("edp_ingest_rejections_total", "counter", "Ingest requests refused", ("reason",))
INGEST_THROTTLED = define(
    "edp_ingest_throttled_events_total", "counter", "Events refused by an org's ingest quota (429)"
)
# -- filter -----------------------------------------------------------------------------------
FILTER_LAG = define("edp_filter_consumer_lag", "gauge", "Records behind the partition end", ("partition",))
FILTER_EVENTS = define("edp_filter_events_total", "counter", "Events read from Kafka and matched")
FILTER_MATCHES = define("edp_filter_matches_total", "counter", "Delivery tasks published")
FILTER_INVALID = define("edp_filter_invalid_total", "counter", "Records skipped as invalid")
FILTER_DERIVED = define("edp_filter_derived_total", "counter", "Copies produced to derived topics")
FILTER_BATCH = define("edp_filter_batch_seconds", "histogram", "Batch time, consume to commit", (), BATCH_S)
# -- RabbitMQ publishing ----------------------------------------------------------------------
PUBLISH_CONFIRM = define(
    "edp_publish_confirm_seconds", "histogram", "Publish until every confirm is in", (), BATCH_S
)
PUBLISH_UNCONFIRMED = define("edp_publish_unconfirmed", "gauge", "Messages published, not yet confirmed")
# -- delivery ---------------------------------------------------------------------------------
DELIVERY_ATTEMPTS = define("edp_delivery_attempts_total", "counter", "Delivery outcomes", ("outcome",))
DELIVERY_LATENCY = define(
    "edp_delivery_latency_seconds", "histogram", "Webhook HTTP attempt time", ("outcome",), LATENCY_S
)
DELIVERY_FAILURES = define("edp_delivery_failures_total", "counter", "Failed attempts by cause", ("kind",))
DELIVERY_IN_FLIGHT = define("edp_delivery_in_flight", "gauge", "Deliveries being handled")
DELIVERY_CIRCUITS_OPEN = define("edp_delivery_circuits_open", "gauge", "Endpoints whose breaker is open")
END_TO_END = define(
    "edp_delivery_end_to_end_seconds",
    "histogram",
    "Receiver 2xx time minus event time",
    (),
    END_TO_END_S + END_TO_END_S_TAIL,
)
RETRIES_SCHEDULED = define("edp_retries_scheduled_total", "counter", "Retries put on a wait queue")
DEAD_LETTERS = define("edp_dead_letters_total", "counter", "Tasks sent to the dead-letter queue")
DEAD_LETTER_DEPTH = define("edp_dead_letter_depth", "gauge", "Messages in the dead-letter queue")
# -- rules and lifecycle ----------------------------------------------------------------------
RULES_VERSION = define("edp_rules_version", "gauge", "Rule snapshot version", ("stage",))
RULES_AGE = define("edp_rules_age_seconds", "gauge", "Time since the snapshot was known current", ("stage",))
RULES_WEBHOOKS = define("edp_rules_webhooks", "gauge", "Webhooks in the snapshot", ("stage",))
RESTARTS = define("edp_restarts_total", "counter", "Actor loop restarts after a failure", ("stage",))
