"""The ``lookalike`` command's start-up rules (server/cli.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from server.cli import main, rehearsal_password
from server.settings import Settings


def test_a_rehearsal_without_a_password_gets_a_one_time_one_printed_not_logged(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = rehearsal_password(Settings.from_env({}))
    printed = capsys.readouterr().out
    assert first.organiser_password and first.organiser_password in printed
    assert first.organiser_password not in caplog.text
    second = rehearsal_password(Settings.from_env({}))
    assert second.organiser_password != first.organiser_password  # one per start
    capsys.readouterr()

    chosen = Settings.from_env({}, organiser_password="chosen-by-the-organiser")
    assert rehearsal_password(chosen) is chosen
    assert capsys.readouterr().out == ""


def test_production_refuses_to_start_without_an_organiser_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOOKALIKE_MODE", "production")
    monkeypatch.setenv("LOOKALIKE_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOOKALIKE_ORGANISER_PASSWORD", raising=False)
    assert main(["up"]) == 2
    error = capsys.readouterr().err
    assert "LOOKALIKE_ORGANISER_PASSWORD" in error
    assert not (tmp_path / "redis").exists()  # refused before starting anything
