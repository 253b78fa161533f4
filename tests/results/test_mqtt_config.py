"""The MQTT publisher's configuration (KENSA_MQTT_URL and the broker address read from it), its
command's refusals, and its lag on /metrics."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from inspection.models import Inspection
from results.mqtt.broker import BrokerAddress
from results.mqtt.cursor import mqtt_cursor_advance, mqtt_cursor_get_or_create
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.results.test_mqtt import end


def test_the_broker_address_comes_from_the_url():
    plain = BrokerAddress.from_url("mqtt://broker.plant")
    assert (plain.host, plain.port, plain.tls, plain.username, plain.password) == (
        "broker.plant",
        1883,
        False,
        None,
        None,
    )
    secure = BrokerAddress.from_url("mqtts://kensa:p%40ss%2Fword@10.0.0.5")
    assert (secure.host, secure.port, secure.tls) == ("10.0.0.5", 8883, True)
    assert (secure.username, secure.password) == ("kensa", "p@ss/word")
    assert BrokerAddress.from_url("mqtt://u:p@h:1884").port == 1884
    assert str(secure) == "mqtts://kensa@10.0.0.5:8883"  # what the logs show: never the password
    for url in ("http://h", "mqtt://", "mqtt://h:port", "mqtt://h:70000"):
        with pytest.raises(ValueError):
            BrokerAddress.from_url(url)


@pytest.mark.parametrize(
    "url", ["http://broker:1883", "mqtt://broker:not-a-port", "mqtt://kensa:pw@broker/x", "broker:1883"]
)
def test_a_malformed_broker_url_stops_start_up_without_repeating_it(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KENSA_MQTT")}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, "KENSA_MQTT_URL": url},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: KENSA_MQTT_URL: use mqtt://" in result.stderr
    assert "pw@" not in result.stderr


def test_the_command_refuses_to_run_without_a_broker_or_with_a_bad_name(settings):
    settings.KENSA_MQTT_URL = ""
    with pytest.raises(CommandError, match="KENSA_MQTT_URL is not set"):
        call_command("publish_mqtt")
    settings.KENSA_MQTT_URL = "mqtt://127.0.0.1:1"
    with pytest.raises(CommandError, match="--name"):
        call_command("publish_mqtt", name="kensa/+")


def lag_samples(client: Client) -> dict[str, float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    samples = {}
    for text in answer.content.decode().splitlines():
        if text.startswith("kensa_mqtt_lag_seconds{"):
            labels, value = text.rsplit(" ", 1)
            samples[labels] = float(value)
    return samples


@pytest.mark.django_db(transaction=True)
def test_metrics_show_how_long_the_oldest_unpublished_result_has_waited():
    client = Client(REMOTE_ADDR="127.0.0.1")  # /metrics answers loopback
    assert lag_samples(client) == {}
    line = make_line(code="mqtt-lag")
    cursor = mqtt_cursor_get_or_create(name="plant-broker")
    assert lag_samples(client) == {'kensa_mqtt_lag_seconds{publisher="plant-broker"}': 0.0}
    first, second = accept(line), accept(line)
    end(first)
    # As if it had finished a minute ago: the lag then reads a minute, and a moment after the
    # cursor passes it, far less (the second finished just now), however slow the machine.
    Inspection.objects.filter(id=first.id).update(finished_at=timezone.now() - timedelta(seconds=60))
    end(second)
    waited = lag_samples(client)['kensa_mqtt_lag_seconds{publisher="plant-broker"}']
    assert 60 <= waited < 120
    first.refresh_from_db()
    assert mqtt_cursor_advance(cursor=cursor, to=first)
    assert 0 < lag_samples(client)['kensa_mqtt_lag_seconds{publisher="plant-broker"}'] < waited
    second.refresh_from_db()
    assert mqtt_cursor_advance(cursor=cursor, to=second)
    assert lag_samples(client) == {'kensa_mqtt_lag_seconds{publisher="plant-broker"}': 0.0}


@pytest.mark.django_db(transaction=True)
def test_a_new_publisher_starts_at_the_feeds_beginning_unless_told_to_start_from_now():
    line = make_line(code="mqtt-new")
    rows = [accept(line) for _ in range(2)]
    for row in rows:
        end(row)
    assert mqtt_cursor_get_or_create(name="everything").after is None
    newest = Inspection.objects.get(id=rows[-1].id)
    assert mqtt_cursor_get_or_create(name="fresh", from_now=True).after == (newest.feed_position, newest.id)
    # --from-now only places a new cursor: an existing one stays where it is.
    assert mqtt_cursor_get_or_create(name="everything", from_now=True).after is None
