"""The verification code the portal shows works: the Python snippet, run as shown, verifies a
delivery signed the way the delivery workers sign (core.signing), also while a secret rotates."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from api.portal import snippets
from core.signing import new_secret, request_headers


def run_python(secret: str) -> Any:
    scope: dict[str, Any] = {}
    exec(compile(snippets.python(secret), "snippet.py", "exec"), scope)  # the page's text, as is
    return scope["verified_event"]


def test_the_python_snippet_verifies_our_signatures() -> None:
    old, new = new_secret(), new_secret()
    body = orjson.dumps({"id": "evt_1", "org": "o", "type": "t", "timestamp": "x", "data": {"a": 1}})
    headers = request_headers("dlv_1", int(time.time()), body, [new, old], {"X-Team": "billing"})
    assert run_python(old)(body, headers)["data"] == {"a": 1}
    assert run_python(new)(body, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        run_python(new_secret())(body, headers)


def test_the_snippets_show_the_secret_only_when_given() -> None:
    assert snippets.PLACEHOLDER in snippets.python(None) and snippets.PLACEHOLDER in snippets.javascript(None)
    secret = new_secret()
    assert secret in snippets.python(secret) and secret in snippets.javascript(secret)
