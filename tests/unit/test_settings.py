from datetime import timedelta
from pathlib import Path

import pytest

from frwatch.errors import ConfigError
from frwatch.settings import SPECS, Settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///./frwatch.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.poll_interval == timedelta(minutes=15)
    assert settings.allow_private_networks == ()
    assert settings.max_body_bytes == 15 * 1024 * 1024
    assert settings.webhook_retry_schedule[0] == timedelta(seconds=5)
    assert len(settings.webhook_retry_schedule) == 9


def test_values_are_parsed() -> None:
    settings = Settings.from_env({"FRWATCH_POLL_INTERVAL": "2h", "FRWATCH_PORT": "9000",
                                  "FRWATCH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8, 10.1.2.0/24",
                                  "FRWATCH_DATABASE_URL": "postgresql+asyncpg://u@h/db"})
    assert settings.poll_interval == timedelta(hours=2)
    assert settings.port == 9000
    assert [str(n) for n in settings.allow_private_networks] == ["127.0.0.0/8", "10.1.2.0/24"]
    assert not settings.is_sqlite


def test_rules_dir_is_a_path_the_classifier_loads() -> None:
    """FRWATCH_RULES_DIR used to stay a str, and Classifier.load(str) failed at start-up."""
    from frwatch.classify import Classifier

    settings = Settings.from_env({"FRWATCH_RULES_DIR": str(REPO / "config" / "rules")})
    assert settings.rules_dir == REPO / "config" / "rules"
    assert Classifier.load(settings.rules_dir).classify  # loads without error
    assert Settings.from_env({}).rules_dir is None


@pytest.mark.parametrize("name, value", [
    ("FRWATCH_DATABASE_URL", "not a url"),
    ("FRWATCH_DATABASE_URL", "mysql://root@localhost/x"),
    ("FRWATCH_POLL_INTERVAL", "-5m"),
    ("FRWATCH_POLL_INTERVAL", "soon"),
    ("FRWATCH_PORT", "70000"),
    ("FRWATCH_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/33"),
    ("FRWATCH_LOG_FORMAT", "xml"),
    ("FRWATCH_MAX_BODY_BYTES", "0"),
    ("FRWATCH_MAX_REDIRECTS", "-1"),  # would fail every fetch with "more than -1 redirects"
])
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(name + ":")
    assert "\n" not in message


def test_every_variable_is_documented() -> None:
    example = (REPO / "config" / "example.env").read_text()
    readme = (REPO / "README.md").read_text()
    for spec in SPECS.values():
        assert f"{spec.env}={spec.default}" in example, spec.env
        assert f"`{spec.env}`" in readme, spec.env


def test_the_suite_resolves_no_external_names() -> None:
    """Safety net of tests/conftest.py: a DNS query would leave the machine."""
    import socket

    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.org", 443)
    assert socket.getaddrinfo("127.0.0.1", 80)
