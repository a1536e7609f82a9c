"""infra/compose.yml, the Docker users' stack: valid for Docker Compose, and the same loopback-only
addresses as the local stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

INFRA = Path(__file__).resolve().parents[3] / "infra"
COMPOSE = INFRA / "compose.yml"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    # The docker client may lack the compose plugin (it is separate from the client here).
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_docker_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no `docker compose` here (docker client or its compose plugin missing)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_services_and_pinned_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "mongo", "rabbitmq", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["command"][:2] == ["--replSet", "rs0"]
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"


def test_every_port_is_on_loopback(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, _container_port = str(port).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[int(host_port)] = name
        if service.get("network_mode") == "host":
            listen = " ".join(service.get("command", [])) + str(service.get("environment", {}))
            assert "127.0.0.1" in listen, f"{name} shares the host network: bind it to 127.0.0.1"
    assert {9092: "kafka", 27017: "mongo", 5672: "rabbitmq", 15672: "rabbitmq"}.items() <= published.items()


def test_mounted_config_files_exist(compose: dict[str, Any]) -> None:
    for name in ("prometheus", "rabbitmq"):
        for volume in compose["services"][name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
