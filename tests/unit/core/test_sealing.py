"""Sealing webhook secrets: AES-GCM round trips, key ids in the ciphertext, rotation, tampering."""

from __future__ import annotations

import pytest

from core.models import Secret, Webhook
from core.sealing import (
    Keyring,
    SecretsKeyError,
    is_sealed,
    needs_sealing,
    new_master_key,
    open_secrets,
    seal_secrets,
    sealed_key_id,
)
from core.signing import new_secret


def test_a_sealed_secret_opens_to_itself_and_names_its_key() -> None:
    ring = Keyring.of([new_master_key()])
    secret = new_secret()
    sealed = ring.seal(secret, "wh_1")
    assert is_sealed(sealed) and secret not in sealed and "whsec_" not in sealed
    assert sealed_key_id(sealed) == ring.current
    assert ring.open(sealed, "wh_1") == secret
    assert ring.seal(secret, "wh_1") != sealed  # a fresh nonce every time


def test_a_ciphertext_moved_to_another_webhook_or_altered_does_not_open() -> None:
    ring = Keyring.of([new_master_key()])
    sealed = ring.seal(new_secret(), "wh_1")
    with pytest.raises(SecretsKeyError):
        ring.open(sealed, "wh_2")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretsKeyError):
        ring.open(tampered, "wh_1")


def test_during_a_rotation_old_and_new_ciphertexts_both_open() -> None:
    old_key, new_key = new_master_key(), new_master_key()
    old = Keyring.of([old_key])
    under_old = old.seal("whsec_a", "wh_1")
    both = Keyring.of([new_key, old_key])
    under_new = both.seal("whsec_b", "wh_1")
    assert both.current != old.current and sealed_key_id(under_new) == both.current
    assert both.open(under_old, "wh_1") == "whsec_a" and both.open(under_new, "wh_1") == "whsec_b"
    with pytest.raises(SecretsKeyError, match="not in the keyring"):
        old.open(under_new, "wh_1")  # a process that has not read the new key yet


def test_plain_text_from_before_sealing_reads_as_itself_and_needs_sealing() -> None:
    ring = Keyring.of([new_master_key()])
    doc = Webhook("wh_1", "org", "https://x", ("A",), secrets=(Secret("whsec_plain"),)).to_doc()
    assert needs_sealing(doc, ring.current)
    sealed = seal_secrets(doc, ring)
    assert not needs_sealing(sealed, ring.current) and "whsec_plain" not in str(sealed)
    assert open_secrets(sealed, ring)["secrets"][0]["key"] == "whsec_plain"
    assert doc["secrets"][0]["key"] == "whsec_plain"  # the input is not changed


def test_no_key_means_nothing_can_be_sealed_and_bad_keys_are_refused() -> None:
    with pytest.raises(SecretsKeyError, match="EDP_SECRETS_KEY"):
        Keyring.of([]).seal("whsec_x", "wh_1")
    with pytest.raises(SecretsKeyError, match="32 bytes"):
        Keyring.of(["c2hvcnQ="])
    with pytest.raises(SecretsKeyError, match="base64"):
        Keyring.of(["not base64!"])


def test_no_secret_shows_in_a_repr() -> None:
    ring = Keyring.of([new_master_key()])
    wh = Webhook("wh_1", "org", "https://x", ("A",), secrets=(Secret("whsec_visible"),))
    assert "whsec_visible" not in repr(wh) and "whsec_visible" not in str(wh)
    assert str(ring.keys[ring.current or ""]) not in repr(ring)
