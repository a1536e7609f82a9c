"""The chaos report: a JSON file and a table (markdown, so the README can take it as it is)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testkit.chaos.harness import Result, Timing

COLUMNS = (
    "scenario",
    "expected",
    "received",
    "lost",
    "duplicates",
    "recovery (s)",
    "stall (s)",
    "fault (s)",
    "ordered: out of order",
)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: Sequence[Result]) -> str:
    rows = [
        (
            r.name,
            str(r.expected),
            str(r.received),
            str(r.lost),
            str(r.duplicates),
            _fmt(r.recovery_s),
            _fmt(r.stall_s),
            _fmt(r.fault_s),
            f"{r.out_of_order} of {r.ordered}",
        )
        for r in results
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(COLUMNS), sep, *(line(r) for r in rows)])


def document(
    results: Sequence[Result], timing: Timing, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": "chaos",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "timing": dataclasses.asdict(timing),
        "definitions": {
            "expected": "(event acknowledged by Kafka or the ingest API, matching webhook) pairs",
            "received": "unique webhook-ids (delivery ids) among the expected answered 2xx",
            "lost": "expected - received; must be 0",
            "duplicates": "2xx answers to a webhook-id already received",
            "recovery_s": "injection until every delivery of every event produced before the fault "
            "cleared was received (the backlog drained)",
            "stall_s": "longest time without a new delivery between the injection and the end of the load",
            "fault_s": "injection until the fault cleared (service answering again, receiver window over)",
            "consumer_rebuilds": "filter consumers rebuilt because a partition with records waiting "
            "was not being read (core/progress.py)",
            "load_producer_rebuilds": "the load's own Kafka producers replaced after a failed delivery "
            "(their events sent again, same ids)",
            "ordered": "deliveries of the scenario's ordered webhook (one org's events, faulty receiver)",
            "out_of_order": "of those, first arrivals after one of an event Kafka accepted later; must be 0",
            "ordered_old_repeats": "repeats of anything but the delivery just before (after a crash at most "
            "the one in flight is repeated; a load producer rebuilt can put an event in Kafka twice)",
        },
        "ok": all(r.ok for r in results),
        "scenarios": [dataclasses.asdict(r) for r in results],
        **(extra or {}),
    }


def write(doc: dict[str, Any], folder: Path, append: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{dt.date.today().isoformat()}-chaos.json"
    if append and out.exists():
        old = json.loads(out.read_text())
        names = {s["name"] for s in doc["scenarios"]}
        doc["scenarios"] = [s for s in old["scenarios"] if s["name"] not in names] + doc["scenarios"]
        doc["ok"] = all(s["lost"] == 0 and s.get("out_of_order", 0) == 0 for s in doc["scenarios"])
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def rows(path: Path) -> list[Result]:
    """The results a report file holds (all of them, also rows added by a later run)."""
    return [Result(**s) for s in json.loads(path.read_text())["scenarios"]]
