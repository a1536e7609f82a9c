"""One error tree. Retryability lives in the type; HTTP status is mapped in one place (the API).

Delivery outcomes are not errors: an attempt's result is a `core.delivery.Decision`.
"""

from __future__ import annotations

# The one map of HTTP status to error code: the API's answers (api/errors.py) use it, and so
# do the ingest metrics' labels (adapters/metrics), which must not import the API.
ERROR_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


class PlatformError(Exception):
    """Base of every error this platform raises on purpose."""


class InvalidInput(PlatformError):
    """Input that a client can fix. `field` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidFilter(InvalidInput):
    """A webhook filter that cannot be compiled (unknown operator, bad operand)."""


class DestinationRefused(InvalidInput):
    """A webhook URL that resolves to an address the SSRF guard refuses."""


class TooLarge(PlatformError):
    """A request body past the cap, in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class NotFound(PlatformError):
    pass


class Unauthorized(PlatformError):
    pass


class Forbidden(PlatformError):
    pass


class RateLimited(PlatformError):
    """Over an org's ingest quota: 429, with the seconds until the request would be admitted."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("over the org's ingest quota; retry later")
        self.retry_after_s = retry_after_s


class BrokerUnavailable(PlatformError):
    """Kafka, RabbitMQ or MongoDB did not answer; the caller should back off and retry."""


class PartitionStalled(BrokerUnavailable):
    """A Kafka consumer stopped reading a partition that has records waiting (core.progress):
    the filter rebuilds its consumer, which resumes at the committed offset."""
