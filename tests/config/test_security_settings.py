"""Production defaults of transport security (config/settings.py), as a fresh process reads them
from its environment: Secure cookies and HSTS unless the plant opts out with KENSA_PLAIN_HTTP,
which every start names in its log; the demo and DEBUG keep plain http."""

import json
import os
import subprocess
import sys

from django.conf import settings

SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
    "getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.KENSA_METRICS_PUBLIC]))"
)


def read(**env: str) -> tuple[list, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KENSA_PLAIN", "KENSA_DEMO", "SECURE_", "DEBUG"))}
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_production_defaults_are_secure_and_quiet():
    values, log = read()
    assert values == [True, True, 365 * 24 * 3600, None, False]
    assert "KENSA_PLAIN_HTTP" not in log


def test_plain_http_is_one_setting_and_is_named_at_start():
    values, log = read(KENSA_PLAIN_HTTP="true")
    assert values[:3] == [False, False, 0]
    assert log.count("KENSA_PLAIN_HTTP is on") == 1


def test_the_demo_and_debug_keep_plain_http_without_the_warning():
    for env in ({"KENSA_DEMO": "true"}, {"DEBUG": "true"}):
        values, log = read(**env)
        assert values == [False, False, 0, None, True], env
        assert "KENSA_PLAIN_HTTP" not in log


def test_the_proxy_header_is_read_as_name_and_value():
    values, _ = read(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https")
    assert values[3] == ["HTTP_X_FORWARDED_PROTO", "https"]
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECURE_PROXY_SSL_HEADER": "https"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "Header-Name=value" in result.stderr
