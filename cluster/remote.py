"""Every Ray actor class of the platform, made from its plain class in one place.

The plain classes (actors/, cluster/supervisor.py) are what the tests construct and subclass;
these are what runs on the cluster. The pipeline's actors and the API servers restart for
ever (`max_restarts=-1`, their calls retried across a restart): each rebuilds its clients and
resumes from what the brokers confirmed. The supervisor and the retention actor ask for no
CPU: they are mostly idle.
"""

from __future__ import annotations

from typing import Any

import ray

from actors.api_server import ApiServer
from actors.delivery_worker import DeliveryWorker
from actors.partition_filter import PartitionFilter
from actors.retention import Retention
from actors.rule_cache import RuleCache
from cluster.supervisor import SupervisorProcess

RESTARTS: dict[str, Any] = {"max_restarts": -1, "max_task_retries": -1}
# Threaded: every filter and delivery actor keeps one long poll open on it (changes_since).
RULE_CACHE: dict[str, Any] = {**RESTARTS, "max_concurrency": 64}

RuleCacheActor = ray.remote(**RULE_CACHE)(RuleCache)
FilterActor = ray.remote(**RESTARTS)(PartitionFilter)
DeliveryActor = ray.remote(**RESTARTS)(DeliveryWorker)
RetentionActor = ray.remote(**RESTARTS, num_cpus=0)(Retention)
SupervisorActor = ray.remote(num_cpus=0, max_restarts=-1)(SupervisorProcess)
# A small CPU share, so the pipeline still fits beside it.
ApiServerActor = ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0.25)(ApiServer)
