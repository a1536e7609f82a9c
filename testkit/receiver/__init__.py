"""Sample webhook receivers: the customer endpoints of `make run`, the e2e and chaos tests,
and the benchmark. See `python -m testkit.receiver --help`."""

from testkit.receiver.client import ReceiverClient, ReceiverError
from testkit.receiver.runner import Receivers, ReceiversThread, free_ports, start_receivers
from testkit.receiver.signature import decode_secret, sign, verify

__all__ = [
    "ReceiverClient",
    "ReceiverError",
    "Receivers",
    "ReceiversThread",
    "decode_secret",
    "free_ports",
    "sign",
    "start_receivers",
    "verify",
]
