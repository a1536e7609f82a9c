"""Where the secrets keyring comes from: the environment, or a key file re-read while running.

A process that meets a secret sealed under a key it does not know (a rotation has begun
elsewhere) reads the file again at once; one that seals checks the file's mtime at most every
`CHECK_S`, so within that long after `jobs.secrets rotate` writes a new current key every
process seals with it. Keys from the environment are fixed for the life of the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from core.sealing import Keyring, SecretsKeyError, open_secrets, seal_secrets
from core.settings import SecretsSettings

log = logging.getLogger(__name__)

CHECK_S = 1.0


def read_key_file(path: str | Path) -> list[str]:
    """The base64 keys of a key file, current first; `#` starts a comment."""
    lines = Path(path).read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def write_key_file(path: str | Path, keys: list[str], note: str = "") -> None:
    """Replace the key file atomically (readers see the old file or the new one, never half)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    header = "# EDP secrets keyring: the first key seals, every key opens. " + note
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(header.rstrip() + "\n" + "\n".join(keys) + "\n")
    os.replace(tmp, target)


def keyring_from_env(settings: SecretsSettings) -> Keyring:
    keys: list[str] = []
    if settings.key is not None:
        keys.append(settings.key.get_secret_value())
    if settings.previous_keys is not None:
        keys.extend(k for k in settings.previous_keys.get_secret_value().split(",") if k.strip())
    return Keyring.of(keys)


class SecretBox:
    """Seals and opens webhook documents' secrets with the current keyring (thread-safe)."""

    def __init__(self, settings: SecretsSettings, clock: Any = time.monotonic) -> None:
        self._file = settings.key_file
        self._clock = clock
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        self._keyring = keyring_from_env(settings) if not self._file else self._load()

    @classmethod
    def of(cls, keyring: Keyring) -> SecretBox:
        """A box over a fixed keyring (tests, tools)."""
        box = cls(SecretsSettings(key=None, previous_keys=None, key_file=None))
        box._keyring = keyring
        return box

    @property
    def current(self) -> str | None:
        return self._keyring.current

    @property
    def keyring(self) -> Keyring:
        if self._file and self._clock() - self._checked >= CHECK_S:
            self._reload_if_changed()
        return self._keyring

    def _load(self) -> Keyring:
        assert self._file is not None
        try:
            self._mtime = os.stat(self._file).st_mtime_ns
            keyring = Keyring.of(read_key_file(self._file))
        except OSError as exc:
            raise SecretsKeyError(f"secrets key file {self._file}: {exc.strerror}") from None
        self._checked = self._clock()
        return keyring

    def _reload_if_changed(self, force: bool = False) -> None:
        with self._lock:
            try:
                mtime = os.stat(self._file or "").st_mtime_ns
            except OSError as exc:  # keep what we have: a file being replaced is there again soon
                log.warning("secrets key file unreadable path=%s error=%s", self._file, exc.strerror)
                self._checked = self._clock()
                return
            if force or mtime != self._mtime:
                before = self._keyring.ids
                self._keyring = self._load()
                if self._keyring.ids != before:
                    log.info(
                        "secrets keyring reloaded keys=%s current=%s",
                        self._keyring.ids,
                        self._keyring.current,
                    )
            self._checked = self._clock()

    def seal(self, doc: dict[str, Any]) -> dict[str, Any]:
        return seal_secrets(doc, self.keyring)

    def open(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document with its secrets opened; a key not known yet makes the file be read again."""
        try:
            return open_secrets(doc, self.keyring)
        except SecretsKeyError:
            if not self._file:
                raise
            self._reload_if_changed(force=True)
            return open_secrets(doc, self._keyring)
