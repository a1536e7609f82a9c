from __future__ import annotations

import logging

import pytest

from core.logsetup import configure_logging, level_for


def test_level_per_component_then_global_then_info() -> None:
    env = {"EDP_LOG_LEVEL": "warning", "EDP_LOG_LEVEL_DELIVERY": "debug"}
    assert level_for("delivery", env) == "DEBUG"
    assert level_for("filter", env) == "WARNING"
    assert level_for("filter", {}) == "INFO"


def test_one_format_with_the_component(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("filter", "INFO")
        logging.getLogger("actors.partition_filter").info("filter=%d partitions=%s", 0, [0, 2])
        err = capsys.readouterr().err
        assert "INFO component=filter actors.partition_filter filter=0 partitions=[0, 2]" in err
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
