"""Start the HTTP APIs on the Ray cluster: `python -m jobs.api [--servers N]`.

Run with `ray job submit --working-dir . -- python -m jobs.api`. Creates N detached, named
ApiServer actors (`edp-api-<i>`, namespace `edp`) unless they already exist, waits until
`/healthz` answers, prints the address and exits; the actors keep serving. Webhook secrets
still in plain text are sealed first (jobs/secrets.py). The settings are read here, once,
from this job's EDP_* environment, and reach every actor as one pickled `ApiConfig`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import ray

from adapters import kafka_io, mongo
from adapters.secret_keys import SecretBox
from adapters.secret_sweep import reseal
from api.config import ApiConfig
from cluster.remote import ApiServerActor

log = logging.getLogger(__name__)

NAMESPACE = "edp"
HEALTH_TIMEOUT_S = 60.0
# Loopback only: never through an HTTP proxy from the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def actor_name(i: int) -> str:
    return f"edp-api-{i}"


def wait_healthy(url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with _LOCAL.open(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    config = ApiConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, default=config.api.servers, help="number of ApiServer actors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    try:
        # Whoever starts first creates the topic, so /readyz does not wait on the pipeline job.
        kafka_io.ensure_topic(config.kafka)
    except Exception as exc:  # best effort: the pipeline job ensures it too
        log.warning("could not ensure the events topic: %s", exc)
    # Secrets written before sealing existed (or by tools that write plain documents) are
    # sealed before the API serves: after the first start no document holds one in plain text.
    # Unlike the topic, this is not best effort: a key that does not open them must stop here.
    db = mongo.sync_database(config.mongo)
    try:
        sealed = reseal(db, SecretBox(config.secrets))
    finally:
        db.client.close()
    if sealed:
        log.info("sealed the secrets of %d webhooks", sealed)
    ray.init(address="auto", namespace=NAMESPACE, log_to_driver=False)
    actors: list[Any] = [
        ApiServerActor.options(
            name=actor_name(i),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
        ).remote(config)
        for i in range(args.servers)
    ]
    ready = ray.get([a.ready.remote() for a in actors])
    if not all(ready):
        log.error("api servers not ready: %s", [actor_name(i) for i, ok in enumerate(ready) if not ok])
        return 1
    address = f"http://{config.api.host}:{config.api.port}"
    if not wait_healthy(f"{address}/healthz"):
        log.error("no answer from %s/healthz", address)
        return 1
    print(f"API up at {address} ({args.servers} servers; docs at {address}/docs)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
