"""The folder table of docs/architecture.md, checked: what each package may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO = {
    "ray",
    "confluent_kafka",
    "aio_pika",
    "aiormq",
    "pika",
    "pymongo",
    "aiohttp",
    "httpx",
    "fastapi",
    "starlette",
}
OURS = {"core", "adapters", "api", "actors", "cluster", "jobs", "testkit", "bench", "tests"}
FORBIDDEN = {
    "core": IO | OURS - {"core"},
    "adapters": {"api", "actors", "cluster", "jobs", "testkit", "bench", "tests"},
    "api": {"actors", "cluster", "jobs", "testkit", "bench", "tests"},
    "actors": {"cluster", "jobs", "testkit", "bench", "tests"},
    "cluster": {"jobs", "testkit", "bench", "tests"},
    "jobs": {"testkit", "bench", "tests"},
    "testkit": {"bench", "tests"},
    "bench": {"tests"},
}
# The one actor that serves the HTTP app.
ALLOWED = {("actors/api_server.py", "api")}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_may(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for name in imported(path) & FORBIDDEN[package]:
            if (rel, name) not in ALLOWED:
                bad.append(f"{rel} imports {name}")
    assert not bad, bad
