"""Webhook secrets sealed at rest: AES-256-GCM under a keyring of master keys.

A sealed value is `edp:v1:<key id>:<base64url(nonce || ciphertext+tag)>`. It names the key that
sealed it, so a keyring holding the old and the new key reads both while a rotation re-seals
(docs/control-plane.md); the webhook's id is the associated data, so a ciphertext copied onto
another webhook does not open. A value without the prefix is a secret written before sealing
existed: it reads as itself, and the start-up sweep (adapters.sealed) seals it.

Pure computation (the `cryptography` package's AESGCM): the key material comes from settings,
the keyring file is read by `adapters.secret_keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import PlatformError

PREFIX = "edp:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12


class SecretsKeyError(PlatformError):
    """A sealed secret cannot be opened (its key is not in the keyring, or it was tampered
    with), or one must be sealed and there is no key."""


def new_master_key() -> str:
    """A fresh master key, as EDP_SECRETS_KEY and the key file hold it (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_master_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretsKeyError("a secrets key must be base64 (of 32 bytes)") from None
    if len(raw) != KEY_BYTES:
        raise SecretsKeyError(f"a secrets key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def key_id(key: bytes) -> str:
    """A short public name for a key, derived from it: no separate id to configure or mix up."""
    return hashlib.sha256(b"edp-secrets-key-id\x00" + key).hexdigest()[:12]


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The id of the key a sealed value names; None for a plain-text value."""
    if not is_sealed(value):
        return None
    return value[len(PREFIX) :].partition(":")[0]


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; `current` seals, every key opens. Its repr shows ids only."""

    keys: Mapping[str, bytes] = field(repr=False)
    current: str | None = None
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, encoded: Iterable[str]) -> Keyring:
        """A keyring from base64 keys, the first one current (the key file's and env's order)."""
        raws = [parse_master_key(k) for k in encoded if k.strip()]
        keys = {key_id(raw): raw for raw in raws}
        return cls(keys, key_id(raws[0]) if raws else None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.keys)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raw = self.keys.get(kid)
            if raw is None:
                raise SecretsKeyError(f"secrets key {kid} is not in the keyring")
            cipher = self._ciphers[kid] = AESGCM(raw)
        return cipher

    def seal(self, plaintext: str, aad: str) -> str:
        if self.current is None:
            raise SecretsKeyError("no secrets key: set EDP_SECRETS_KEY or EDP_SECRETS_KEY_FILE")
        nonce = os.urandom(NONCE_BYTES)
        ct = self._cipher(self.current).encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{PREFIX}{self.current}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def open(self, value: str, aad: str) -> str:
        """The plain text of a sealed value; a plain-text value (written before sealing) as is."""
        if not is_sealed(value):
            return value
        kid, _, blob = value[len(PREFIX) :].partition(":")
        cipher = self._cipher(kid)
        try:
            raw = base64.urlsafe_b64decode(blob)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretsKeyError(f"a secret sealed with key {kid} does not open: damaged or moved") from None


def seal_secrets(doc: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The webhook document with every secret sealed under the current key (a copy)."""
    return _map_secrets(doc, lambda s: keyring.seal(keyring.open(s, doc["_id"]), doc["_id"]))


def open_secrets(doc: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    """The webhook document with every secret opened (a copy); raises SecretsKeyError."""
    return _map_secrets(doc, lambda s: keyring.open(s, doc["_id"]))


def needs_sealing(doc: dict[str, Any], current: str | None) -> bool:
    """Whether a document holds a secret in plain text or under a key other than `current`."""
    return any(sealed_key_id(str(s.get("key", ""))) != current for s in doc.get("secrets") or ())


def _map_secrets(doc: dict[str, Any], fn: Any) -> dict[str, Any]:
    secrets = doc.get("secrets")
    if not secrets:
        return dict(doc)
    return {**doc, "secrets": [{**s, "key": fn(s["key"])} for s in secrets]}
