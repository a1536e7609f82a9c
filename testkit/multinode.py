"""A node lost under load: three Ray nodes on one machine, the pipeline spread over the two
workers, events flowing, one worker killed; every expected delivery must still arrive.

Runs as its own process (`python -m testkit.multinode`), because a driver connected to a
`ray.cluster_utils.Cluster` cannot share a process with the plain local Ray of `ray_local`.
Prints one JSON document (the figures) on stdout and exits 0 only if nothing was lost.

The head has no CPUs, so every actor lands on a worker, and the supervisor's SPREAD strategy
alternates them between the two: each worker holds a filter (with its partitions) and a
delivery actor. The victim is killed hard (SIGKILL, as a machine lost); a short GCS health
check notices within seconds, then Ray restarts the actors (max_restarts=-1) on the surviving
worker with the same partitions; those chosen by --gone-for-good (by default its filters) are
killed for good as well, as if their restarts were exhausted, and the supervisor must recreate
them with the same partitions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray._private.state
from ray.cluster_utils import Cluster

from cluster.supervisor import Supervisor
from core.models import Event
from testkit.pipeline import PipelineWorld, namespaced_config, received_ids, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
# A lost node is noticed after period x threshold instead of Ray's default 3 s x 5.
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
ORGS = ["org_a", "org_b", "org_c"]
TYPES = ["T1", "T2"]
GONE_FOR_GOOD = {
    "none": (),
    "filters": ("filter",),
    "deliveries": ("delivery",),
    "all": ("filter", "delivery", "rules"),
}


@dataclass
class Outcome:
    nodes: int
    partitions: int
    events: int = 0
    expected: int = 0
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    placement_before: dict[str, str] = field(default_factory=dict)
    placement_after: dict[str, str] = field(default_factory=dict)
    victim: str = ""
    victim_actors: list[str] = field(default_factory=list)
    victim_partitions: list[int] = field(default_factory=list)
    partitions_covered_after: list[int] = field(default_factory=list)
    detected_s: float | None = None
    recovered_s: float | None = None
    drained_s: float | None = None
    recreated_by_supervisor: int = 0
    restarts_by_ray: int = 0
    gone_for_good: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def start_cluster(workers: int) -> tuple[Cluster, list[Any]]:
    loopback: dict[str, Any] = {"node_ip_address": "127.0.0.1", "object_store_memory": 80 * MB}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **loopback,
            "num_cpus": 0,  # as on a production head: it runs no pipeline actors
            "include_dashboard": False,
            "_system_config": HEALTH_CHECK,
        },
    )
    nodes = [cluster.add_node(**loopback, num_cpus=4) for _ in range(workers)]
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        namespace="edp-test",
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        log_to_driver=False,
    )
    return cluster, nodes


def actor_nodes(handles: dict[str, Any]) -> dict[str, tuple[str, str, int]]:
    """name -> (node id, state, restarts), straight from the GCS actor table."""
    out = {}
    for name, handle in handles.items():
        info: Any = ray._private.state.actors(actor_id=handle._actor_id.hex())
        out[name] = (info["Address"]["NodeID"], info["State"], int(info["NumRestarts"]))
    return out


def alive_nodes() -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # type: ignore[no-untyped-call]


def named_handles(sup: Supervisor) -> dict[str, Any]:
    h = sup.handles()
    return {
        "rules": h["rules"],
        **{f"filter-{i}": a for i, a in enumerate(h["filters"])},
        **{f"delivery-{i}": a for i, a in enumerate(h["deliveries"])},
    }


class Load(threading.Thread):
    """Produces `rate` events a second straight into Kafka (the ingest API is not under test)."""

    def __init__(self, world: PipelineWorld, rate: int) -> None:
        super().__init__(name="load", daemon=True)
        self.world, self.rate = world, rate
        self.sent: list[Event] = []
        self.halt = threading.Event()

    def run(self) -> None:
        tick = 0.05
        per_tick = max(1, round(self.rate * tick))
        nxt = time.monotonic()
        while not self.halt.is_set():
            batch = self.world.events(per_tick, ORGS, TYPES, data=lambda i: {"i": i})
            self.world.produce(batch)
            self.sent.extend(batch)
            nxt += tick
            self.halt.wait(max(0.0, nxt - time.monotonic()))


def ready_filters(sup: Supervisor, timeout: float = 0.5) -> dict[int, list[int]] | None:
    """filter index -> partitions, if every filter and delivery actor answers ready now."""
    h = sup.handles()
    refs = [a.status.remote() for a in h["filters"] + h["deliveries"]]
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    if len(done) < len(refs):
        return None
    try:
        statuses = ray.get(refs, timeout=timeout)
    except Exception:
        return None
    filters = statuses[: len(h["filters"])]
    if not all(s.get("ready") for s in statuses):
        return None
    return {s["index"]: s["partitions"] for s in filters}


def run(args: argparse.Namespace) -> Outcome:
    t_start = time.monotonic()
    out = Outcome(nodes=1 + args.workers, partitions=args.partitions)
    cluster, workers = start_cluster(args.workers)
    world = PipelineWorld(
        namespaced_config(partitions=args.partitions, filters=args.workers, deliveries=args.workers)
    )
    try:
        with ReceiversThread([0, 0, 0]) as receivers:
            urls = [receivers.receivers.url(p, "/hook") for p in receivers.ports]
            world.add_webhook("org_a", urls[0], ["*"])
            world.add_webhook("org_b", urls[1], ["T1"])
            world.add_webhook("org_c", urls[2], ["*"], filter={"data.i": {"$gte": 0}})
            world.add_webhook("org_c", urls[0], ["T2"])
            for port, state in receivers.receivers.states.items():
                state.set_secrets(s.key for w in world.webhooks if f":{port}/" in w.url for s in w.secrets)
                state.mode = Mode(delay_ms=2.0)  # keeps deliveries in flight when the node goes
            sup = Supervisor(world.config, detached=False, check_interval_s=1.0)
            sup.start(timeout=90)
            try:
                return _scenario(args, out, cluster, workers, world, sup, receivers, t_start)
            finally:
                sup.stop()
    finally:
        world.cleanup()
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def _scenario(
    args: argparse.Namespace,
    out: Outcome,
    cluster: Cluster,
    workers: list[Any],
    world: PipelineWorld,
    sup: Supervisor,
    receivers: ReceiversThread,
    t_start: float,
) -> Outcome:
    node_of = {n.node_id: f"worker-{i + 1}" for i, n in enumerate(workers)}
    victim = _choose_victim(out, workers, node_of, sup)
    load = Load(world, args.rate)
    load.start()
    flowing = wait_until(lambda: len(received_ids(receivers)[0]) > args.rate, 30)
    assert flowing, "no deliveries before the removal"
    time.sleep(args.before_s)

    doomed = {k: v for k, v in named_handles(sup).items() if k in out.victim_actors}
    t_remove = time.monotonic()
    cluster.remove_node(victim, allow_graceful=False)
    # Restarts exhausted: these actors of the lost node are dead for good; only the supervisor's
    # heal() brings them back (a filter with the same partitions), while Ray restarts the rest.
    for name, handle in doomed.items():
        if name.split("-")[0] in GONE_FOR_GOOD[args.gone_for_good]:
            ray.kill(handle, no_restart=True)
            out.gone_for_good.append(name)
    wait_until(lambda: victim.node_id not in alive_nodes(), 30, 0.1)
    out.detected_s = round(time.monotonic() - t_remove, 2)
    _wait_recovered(out, sup, t_remove, args.recover_timeout_s)

    time.sleep(args.after_s)
    load.halt.set()
    load.join()
    t_load_end = time.monotonic()
    expected = world.expected(load.sent)
    wait_until(lambda: received_ids(receivers)[0] >= expected, args.drain_timeout_s, 0.25)
    out.drained_s = round(time.monotonic() - t_load_end, 2)
    time.sleep(0.5)  # late duplicates show up now
    got, out.duplicates = received_ids(receivers)
    after = actor_nodes(named_handles(sup))
    out.placement_after = {k: node_of.get(v[0], v[0]) for k, v in after.items()}
    out.restarts_by_ray = sum(v[2] for v in after.values())
    out.recreated_by_supervisor = sup.recreated
    out.events, out.expected = len(load.sent), len(expected)
    out.received, out.lost = len(got & expected), len(expected - got)
    if got - expected:
        out.notes.append(f"{len(got - expected)} deliveries nobody expected")
    out.elapsed_s = round(time.monotonic() - t_start, 1)
    return out


def _choose_victim(out: Outcome, workers: list[Any], node_of: dict[str, str], sup: Supervisor) -> Any:
    """A worker that holds a filter and a delivery actor (SPREAD gives each worker one)."""
    before = actor_nodes(named_handles(sup))
    out.placement_before = {k: node_of.get(v[0], "head") for k, v in before.items()}
    per_node: dict[str, list[str]] = {}
    for name, (node, _, _) in before.items():
        per_node.setdefault(node, []).append(name)
    for node in workers:
        names = per_node.get(node.node_id, [])
        if any(a.startswith("filter") for a in names) and any(a.startswith("delivery") for a in names):
            out.victim = node_of[node.node_id]
            out.victim_actors = sorted(names)
            owned = {f["index"]: f["partitions"] for f in sup.status()["filters"]}
            out.victim_partitions = sorted(
                p for a in names if a.startswith("filter") for p in owned[int(a.split("-")[1])]
            )
            return node
    raise SystemExit(f"no worker holds both a filter and a delivery actor: {out.placement_before}")


def _wait_recovered(out: Outcome, sup: Supervisor, t_remove: float, timeout_s: float) -> None:
    """Until every actor answers ready and the filters own every partition between them."""
    every = list(range(out.partitions))
    deadline = t_remove + timeout_s
    while time.monotonic() < deadline:
        covered = ready_filters(sup)
        if covered is not None:
            out.partitions_covered_after = sorted(p for ps in covered.values() for p in ps)
            if out.partitions_covered_after == every:
                out.recovered_s = round(time.monotonic() - t_remove, 2)
                return
        time.sleep(0.1)


def verdict(out: Outcome, partitions: int) -> list[str]:
    problems = []
    if out.lost:
        problems.append(f"lost {out.lost} of {out.expected} deliveries")
    if out.recovered_s is None or out.partitions_covered_after != list(range(partitions)):
        problems.append(f"partitions not covered again: {out.partitions_covered_after}")
    if out.victim in out.placement_after.values():
        problems.append("an actor still claims the removed node")
    if out.recreated_by_supervisor < len(out.gone_for_good):
        problems.append(f"the supervisor did not recreate {out.gone_for_good}")
    if out.notes:
        problems += out.notes
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--rate", type=int, default=200, help="events per second into Kafka")
    p.add_argument("--before-s", type=float, default=3.0, help="load before the removal")
    p.add_argument("--after-s", type=float, default=6.0, help="load after the partitions are covered again")
    p.add_argument("--recover-timeout-s", type=float, default=45.0)
    p.add_argument("--drain-timeout-s", type=float, default=45.0)
    p.add_argument(
        "--gone-for-good",
        choices=["none", "filters", "deliveries", "all"],
        default="filters",
        help="which of the lost node's actors have no restarts left (the supervisor recreates them)",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    # Ray keeps "the current cluster" in <tmp>/ray/ray_current_cluster and Cluster overwrites,
    # then deletes it: with a directory of our own, a running `make run` cluster keeps its file.
    tmp = tempfile.mkdtemp(prefix="edp-mn-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = tmp
    try:
        out = run(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    problems = verdict(out, args.partitions)
    doc = {**asdict(out), "problems": problems}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
