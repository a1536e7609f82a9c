"""API keys."""

from __future__ import annotations

import hashlib
import re

from core.keys import constant_time_equals, hash_key, key_hint, new_api_key, verify_key


def test_new_key_shape_and_hash() -> None:
    plaintext, digest = new_api_key()
    assert re.fullmatch(r"edp_live_[a-z2-7]{52}", plaintext)
    assert digest == hashlib.sha256(plaintext.encode()).hexdigest() == hash_key(plaintext)
    assert new_api_key()[0] != plaintext
    assert new_api_key("acme")[0].startswith("acme_live_")


def test_verify_and_compare() -> None:
    plaintext, digest = new_api_key()
    assert verify_key(plaintext, digest)
    assert not verify_key(plaintext + "x", digest)
    assert constant_time_equals("abc", "abc") and not constant_time_equals("abc", "abd")
    assert constant_time_equals("é", "é")


def test_hint_reveals_little() -> None:
    plaintext, _ = new_api_key()
    hint = key_hint(plaintext)
    assert hint.startswith("edp_live_") and len(hint) == len("edp_live_") + 5
