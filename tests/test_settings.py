"""Settings: LOOKALIKE_* variables and a .env file, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, SettingsError


def test_variables_are_typed_and_lists_are_comma_separated() -> None:
    settings = Settings.from_env(
        {
            "LOOKALIKE_PROMPT_MAX_CHARS": "12",
            "LOOKALIKE_QUEUE_MAX_WAIT_S": "2.5",
            "LOOKALIKE_LOG_JSON": "yes",
            "LOOKALIKE_HTTP_FAST_PATH": "",  # empty is off
            "LOOKALIKE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,",
            "LOOKALIKE_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "LOOKALIKE_DATA_DIR": "/srv/lookalike",
            "OTHER_VARIABLE": "ignored",
        }
    )
    assert settings.prompt_max_chars == 12
    assert settings.queue_max_wait_s == 2.5
    assert settings.log_json is True
    assert settings.http_fast_path is False
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.data_dir == Path("/srv/lookalike")
    assert Settings.from_env({}).allowed_origins == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOOKALIKE_PROMPT_MAX_CHARS", "eight"),
        ("LOOKALIKE_MODE", "prod"),
        ("LOOKALIKE_LOG_JSON", "maybe"),
        ("LOOKALIKE_TRUSTED_PROXIES", "10.0.0.0/8,nowhere"),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}=.* does not parse: ") as caught:
        Settings.from_env({variable: value})
    assert caught.value.__cause__ is not None


def test_a_dotenv_file_in_the_working_directory_fills_what_the_environment_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "LOOKALIKE_PROMPT_MAX_CHARS=3\n"
        "LOOKALIKE_EVENT_TITLE='Draw the goose'\n"
        "LOOKALIKE_BLOCKLIST_EXTRA=goose, gander\n"
        "UNRELATED=1\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"LOOKALIKE_PROMPT_MAX_CHARS": "5"})
    assert settings.prompt_max_chars == 5  # the environment wins over the file
    assert settings.event_title == "Draw the goose"
    assert settings.blocklist_extra == ("goose", "gander")
    (tmp_path / ".env").write_text("LOOKALIKE_PORT=eighty\n")
    with pytest.raises(SettingsError, match="LOOKALIKE_PORT='eighty'"):
        Settings.from_env({})


def test_production_refuses_missing_secrets_naming_each() -> None:
    env = {"LOOKALIKE_MODE": "production", "LOOKALIKE_CAPTCHA_PROVIDER": "turnstile"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    for name in ("SECRET_KEY", "ORGANISER_PASSWORD", "CAPTCHA_SITE_KEY", "CAPTCHA_SECRET"):
        assert f"LOOKALIKE_{name}" in str(caught.value)
    unchecked = Settings.from_env(env, check=False)
    assert unchecked.secret_key == ""  # no default secret in production


def test_development_gets_a_random_secret_key_per_start() -> None:
    first, second = Settings.from_env({}), Settings.from_env({})
    assert first.secret_key and first.secret_key != second.secret_key


def test_secrets_stay_out_of_the_repr() -> None:
    settings = Settings.from_env(
        {"LOOKALIKE_CAPTCHA_SECRET": "cap-123456"},
        secret_key="key-123456",
        organiser_password="pw-123456",
    )
    assert settings.organiser_password == "pw-123456"
    for secret in ("key-123456", "cap-123456", "pw-123456"):
        assert secret not in repr(settings)
        assert secret not in str(settings)


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(TypeError, match="batch_sise"):
        Settings.from_env({}, batch_sise=3)
