"""Settings parse strictly: a bad value stops start-up instead of becoming a default."""

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]
)
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("KENSA_FLAG", raw)
    assert env_bool("KENSA_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["flase", "2", "enabled"])
def test_a_typo_in_a_boolean_is_an_error(monkeypatch, raw):
    monkeypatch.setenv("KENSA_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="KENSA_FLAG"):
        env_bool("KENSA_FLAG", False)


def test_integers_and_their_minimum(monkeypatch):
    monkeypatch.setenv("KENSA_N", "12")
    assert env_int("KENSA_N", 1, minimum=10) == 12
    monkeypatch.setenv("KENSA_N", "5")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env_int("KENSA_N", 1, minimum=10)
    monkeypatch.setenv("KENSA_N", "12mb")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("KENSA_N", 1)


def test_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("KENSA_SECRET", raising=False)
    monkeypatch.setenv("KENSA_SECRET_FILE", str(secret))
    assert env_str("KENSA_SECRET") == "s3cret"
    monkeypatch.setenv("KENSA_SECRET", "other")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_str("KENSA_SECRET")


def test_required_and_lists(monkeypatch):
    monkeypatch.delenv("KENSA_MISSING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="required"):
        env_str("KENSA_MISSING")
    monkeypatch.setenv("KENSA_HOSTS", "a.example, b.example,,")
    assert env_list("KENSA_HOSTS", []) == ["a.example", "b.example"]


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter, as a server would at start-up."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'])"
    )
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KENSA_DATA_DIR": "/tmp/kensa-env-test",
    }
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=False
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _start({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_embedded_default_is_sqlite_and_database_url_switches_to_postgresql():
    assert _start({"DEBUG": "true"}).stdout.strip() == "django.db.backends.sqlite3"
    postgres = _start({"SECRET_KEY": "k", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"})
    assert postgres.stdout.strip() == "django.db.backends.postgresql"


def test_bad_debug_value_stops_start_up():
    result = _start({"DEBUG": "ture", "SECRET_KEY": "k"})
    assert result.returncode != 0 and "DEBUG='ture'" in result.stderr
