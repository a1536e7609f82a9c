"""Webhook secrets at rest: `python -m jobs.secrets {status,reseal,rotate,new-key}`.

`rotate` (key file only) rotates while the platform runs: it writes a new current key in front
of the old ones, waits until every process seals with it, re-seals every secret under it, checks
that no secret names an old key, and only then drops the old keys from the file. Processes that
meet a secret under a key they do not know read the file again, so deliveries keep being signed
throughout. `reseal` seals whatever is plain or under a non-current key (run it after changing
EDP_SECRETS_KEY, with the old key in EDP_SECRETS_PREVIOUS_KEYS). docs/control-plane.md has the
procedure. The settings are the platform's: EDP_MONGO_*, EDP_SECRETS_*.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from adapters import mongo
from adapters.secret_keys import CHECK_S, SecretBox, read_key_file, write_key_file
from adapters.secret_sweep import key_usage, reseal
from core.sealing import Keyring, new_master_key
from core.settings import MongoSettings, SecretsSettings

from .common import configure_logging

log = logging.getLogger(__name__)

# Every process re-checks the key file at most every CHECK_S while it seals; waiting a few of
# those makes sure none seals with the old key once the sweep starts.
SETTLE_S = 3 * CHECK_S + 1.0


def status(db: Any, box: SecretBox) -> dict[str, Any]:
    usage = key_usage(db)
    return {"keys": list(box.keyring.ids), "current": box.current, "secrets_by_key": dict(usage)}


def rotate(
    db: Any, settings: SecretsSettings, *, keep_old: bool = False, settle_s: float = SETTLE_S
) -> dict[str, Any]:
    if not settings.key_file:
        raise SystemExit(
            "rotate needs EDP_SECRETS_KEY_FILE. With EDP_SECRETS_KEY: set the new key there and the old one "
            "in EDP_SECRETS_PREVIOUS_KEYS, restart, run `reseal`, then drop the previous key."
        )
    old = read_key_file(settings.key_file)
    new = new_master_key()
    write_key_file(settings.key_file, [new, *old], "rotation in progress")
    new_id = Keyring.of([new]).current
    log.info("secrets rotation: new key=%s written, waiting %.1fs for every process", new_id, settle_s)
    time.sleep(settle_s)
    box = SecretBox(settings)
    rewritten = reseal(db, box)
    left = {k: n for k, n in key_usage(db).items() if k != new_id}
    if left:
        raise SystemExit(f"secrets still under old keys {left}: the old keys stay in {settings.key_file}")
    if not keep_old:
        write_key_file(settings.key_file, [new], "")
        # A process that sealed with an old key between the check and now would be caught here.
        late = {k: n for k, n in key_usage(db).items() if k != new_id}
        if late:
            write_key_file(settings.key_file, [new, *old], "rotation in progress")
            raise SystemExit(f"secrets sealed under old keys during the rotation {late}: run rotate again")
    return {"current": new_id, "resealed_webhooks": rewritten, "old_keys_kept": keep_old}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="the keyring and how many secrets each key seals")
    sub.add_parser("reseal", help="seal every secret that is plain or under a non-current key")
    rot = sub.add_parser("rotate", help="new key, re-seal everything, drop the old keys (key file only)")
    rot.add_argument("--keep-old", action="store_true", help="leave the old keys in the file")
    sub.add_parser("new-key", help="print a fresh key (for EDP_SECRETS_KEY)")
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "new-key":
        print(new_master_key())
        return 0
    settings = SecretsSettings()
    db = mongo.sync_database(MongoSettings())
    try:
        if args.command == "status":
            result = status(db, SecretBox(settings))
        elif args.command == "reseal":
            result = {"resealed_webhooks": reseal(db, SecretBox(settings))}
        else:
            result = rotate(db, settings, keep_old=args.keep_old)
    finally:
        db.client.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
