"""Where benchmarks write their results: `bench/results/<date>-<name>.json` (and a PNG beside it),
never over an earlier run of the same day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench/results"


def unique_path(path: Path) -> Path:
    """`path`, or the first of `<stem>-2<suffix>`, `-3`... that does not exist yet: a day's
    earlier results are kept, not overwritten by a later run of the same benchmark."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def dated(name: str, directory: Path = RESULTS, day: dt.date | None = None) -> Path:
    """`<directory>/<day>-<name>.json` for a new run (today unless `day`), the directory made."""
    directory.mkdir(parents=True, exist_ok=True)
    return unique_path(directory / f"{(day or dt.date.today()).isoformat()}-{name}.json")
