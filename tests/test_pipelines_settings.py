"""The GPU service's own settings (pipelines/settings.py): the same variables as ever,
read from the mapping given, and errors that name the variable."""

from __future__ import annotations

import pytest

from pipelines.settings import Settings, SettingsError


def test_a_variable_that_does_not_parse_is_named() -> None:
    with pytest.raises(SettingsError, match="LOOKALIKE_BATCH_SIZE='eight' does not parse"):
        Settings.from_env({"LOOKALIKE_BATCH_SIZE": "eight"})
    with pytest.raises(SettingsError, match="LOOKALIKE_COMPILE="):
        Settings.from_env({"LOOKALIKE_COMPILE": "fast"})
    with pytest.raises(SettingsError, match="LOOKALIKE_BATCH_PAD_SIZES="):
        Settings.from_env({"LOOKALIKE_BATCH_PAD_SIZES": "1,two"})


def test_lists_are_comma_separated_and_only_the_mapping_given_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOKALIKE_BATCH_SIZE", "3")  # the shell's, not the mapping's
    settings = Settings.from_env(
        {"LOOKALIKE_BATCH_PAD_SIZES": "1, 2,4", "LOOKALIKE_MODELS": "tiny"}, device="cpu"
    )
    assert settings.batch_pad_sizes == (1, 2, 4)
    assert (settings.models, settings.device, settings.batch_size) == ("tiny", "cpu", 8)
    assert settings.models_dir == settings.data_dir / "models"
