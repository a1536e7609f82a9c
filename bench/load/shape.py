"""The ramp's shape, apart from the locustfile: importing locust monkey-patches the process
(gevent), which nothing else, tests included, should suffer."""

from __future__ import annotations


def ramp_users(elapsed_s: float, users: int, ramp_s: float) -> int | None:
    """Users wanted `elapsed_s` into a linear ramp to `users` over `ramp_s`; None once it is over
    (k6's single stage `{duration: ramp_s, target: users}`)."""
    if elapsed_s >= ramp_s:
        return None
    # At least one user from the start, as k6 starts its first VU within the first second.
    return max(1, min(users, round(users * elapsed_s / ramp_s)))
