"""How a receiver verifies our signatures, with the standardwebhooks library: the code shown
next to an endpoint's secret. tests/unit/api/portal/test_snippets.py runs the Python one
against a delivery signed by `core.signing`, so what the page shows keeps working."""

from __future__ import annotations

PLACEHOLDER = "whsec_..."


def python(secret: str | None) -> str:
    return f'''# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook

verifier = Webhook("{secret or PLACEHOLDER}")  # this endpoint's signing secret


def verified_event(body: bytes, headers: dict[str, str]) -> dict:
    """body: the raw request body, as received; headers: the request's
    (webhook-id, webhook-timestamp, webhook-signature). Raises
    WebhookVerificationError for a wrong signature or a timestamp
    more than 5 minutes off."""
    return verifier.verify(body, headers)
'''


def javascript(secret: str | None) -> str:
    return f"""// npm install standardwebhooks
import {{ Webhook }} from "standardwebhooks";

const verifier = new Webhook("{secret or PLACEHOLDER}"); // this endpoint's signing secret

// rawBody: the request body exactly as received (string or Buffer);
// headers: the request's. Throws for a wrong signature or a timestamp
// more than 5 minutes off.
export function verifiedEvent(rawBody, headers) {{
  return verifier.verify(rawBody, headers);
}}
"""
