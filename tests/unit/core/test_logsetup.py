from __future__ import annotations

import logging

import pytest

from core.logsetup import configure_logging
from core.settings import LogSettings


def test_level_per_component_then_global_then_info(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EDP_LOG_LEVEL", "EDP_LOG_LEVEL_DELIVERY", "EDP_LOG_LEVEL_FILTER"):
        monkeypatch.delenv(name, raising=False)
    assert LogSettings().level_for("filter") == "INFO"
    monkeypatch.setenv("EDP_LOG_LEVEL", "warning")
    monkeypatch.setenv("EDP_LOG_LEVEL_DELIVERY", "debug")
    env = LogSettings()
    assert env.level_for("delivery") == "DEBUG"
    assert env.level_for("filter") == "WARNING"


def test_one_format_with_the_component(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("filter", LogSettings(level_filter="INFO"))
        logging.getLogger("actors.partition_filter").info("filter=%d partitions=%s", 0, [0, 2])
        err = capsys.readouterr().err
        assert "INFO component=filter actors.partition_filter filter=0 partitions=[0, 2]" in err
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_the_api_logs_at_warning_unless_its_own_level_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDP_LOG_LEVEL", "debug")
    monkeypatch.delenv("EDP_LOG_LEVEL_API", raising=False)
    assert LogSettings().level_for("api") == "WARNING"
    monkeypatch.setenv("EDP_LOG_LEVEL_API", "info")
    assert LogSettings().level_for("api") == "INFO"
    with pytest.raises(AttributeError):
        LogSettings().level_for("no_such_component")


def test_every_component_that_sets_up_logging_has_its_own_level() -> None:
    """A component without a field fails at its start; for an actor that restarts for ever, that is
    a crash loop (the retention actor had one). Find every configure_logging("...") call."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    names = {
        m.group(1)
        for folder in ("actors", "cluster", "jobs", "api", "testkit", "bench")
        for path in (root / folder).rglob("*.py")
        for m in re.finditer(r'configure_logging\(\s*"(\w+)"', path.read_text())
    }
    assert {"delivery", "filter", "retention", "rules", "supervisor"} <= names
    for name in names:
        assert LogSettings().level_for(name)
