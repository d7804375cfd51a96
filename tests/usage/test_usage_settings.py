"""The usage module's settings: defaults, environment variables, and bad values."""

from __future__ import annotations

import pytest

from handler.settings import Settings, SettingsError


@pytest.mark.unit
def test_defaults_keep_auth_on_with_short_cache_and_bounded_retries() -> None:
    settings = Settings.from_env({})
    assert settings.auth_enabled is True
    assert (settings.keys_table, settings.usage_table) == ("embeddings-keys", "embeddings-usage")
    assert settings.usage_queue_url == ""
    assert (settings.key_cache_seconds, settings.usage_ttl_days) == (30, 90)
    assert (
        settings.dynamodb_connect_timeout_ms,
        settings.dynamodb_read_timeout_ms,
        settings.dynamodb_max_attempts,
    ) == (500, 1000, 3)


@pytest.mark.unit
def test_environment_fills_every_usage_field() -> None:
    settings = Settings.from_env(
        {
            "AUTH_ENABLED": "false",
            "KEYS_TABLE": "k",
            "USAGE_TABLE": "u",
            "USAGE_FALLBACK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "KEY_CACHE_TTL_SECONDS": "0",
            "USAGE_RECORD_TTL_DAYS": "15",
            "DYNAMODB_CONNECT_TIMEOUT_MS": "200",
            "DYNAMODB_READ_TIMEOUT_MS": "300",
            "DYNAMODB_MAX_ATTEMPTS": "2",
        }
    )
    assert settings.auth_enabled is False
    assert (settings.keys_table, settings.usage_table) == ("k", "u")
    assert settings.usage_queue_url.endswith("/1/q")
    assert (settings.key_cache_seconds, settings.usage_ttl_days) == (0, 15)
    assert (
        settings.dynamodb_connect_timeout_ms,
        settings.dynamodb_read_timeout_ms,
        settings.dynamodb_max_attempts,
    ) == (200, 300, 2)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEY_CACHE_TTL_SECONDS", "-1"),
        ("KEY_CACHE_TTL_SECONDS", "301"),
        ("USAGE_RECORD_TTL_DAYS", "0"),
        ("USAGE_RECORD_TTL_DAYS", "14"),
        ("DYNAMODB_MAX_ATTEMPTS", "0"),
        ("DYNAMODB_READ_TIMEOUT_MS", "soon"),
        ("AUTH_ENABLED", "maybe"),
        ("DEFAULT_RPM", "-1"),
        ("DEFAULT_TPM", "lots"),
        ("DEFAULT_MONTHLY_TOKENS", "1e6"),
    ],
)
def test_bad_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


@pytest.mark.unit
def test_quota_defaults_are_off_unless_set_and_zero_means_none() -> None:
    # GIVEN no variables, empty ones, or the template's Number default of 0
    for env in ({}, dict.fromkeys(QUOTA_DEFAULTS, ""), dict.fromkeys(QUOTA_DEFAULTS, "0")):
        settings = Settings.from_env(env)
        # THEN there is no deployment-wide default limit
        assert (
            settings.default_rpm,
            settings.default_tpm,
            settings.default_monthly_tokens,
        ) == (None, None, None)


@pytest.mark.unit
def test_quota_defaults_from_the_environment() -> None:
    settings = Settings.from_env(
        {"DEFAULT_RPM": "60", "DEFAULT_TPM": " 150000 ", "DEFAULT_MONTHLY_TOKENS": "5000000"}
    )
    assert (settings.default_rpm, settings.default_tpm, settings.default_monthly_tokens) == (
        60,
        150_000,
        5_000_000,
    )


QUOTA_DEFAULTS = ("DEFAULT_RPM", "DEFAULT_TPM", "DEFAULT_MONTHLY_TOKENS")
