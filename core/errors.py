"""One error tree. Retryability lives in the type; HTTP status is mapped in one place (the API)."""

from __future__ import annotations


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


class NotFound(PlatformError):
    pass


class Unauthorized(PlatformError):
    pass


class Forbidden(PlatformError):
    pass


class DeliveryError(PlatformError):
    """A delivery attempt that did not succeed."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetryableDelivery(DeliveryError):
    """Worth trying again later; `retry_after` is the endpoint's own hint in seconds."""

    def __init__(
        self, message: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    """Never worth retrying (the webhook is gone, disabled, or refused by the SSRF guard)."""


class EndpointGone(PermanentDelivery):
    """410 Gone: the customer asked us to stop; the webhook gets disabled."""


class BrokerUnavailable(PlatformError):
    """Kafka, RabbitMQ or MongoDB did not answer; the caller should back off and retry."""
