"""Rotating a station's key in the admin needs change permission on stations."""

import pytest

from lines.models import Station, hash_station_key
from tests.factories import make_line, make_station
from tests.users import make_user, signed_in, viewer

pytestmark = pytest.mark.django_db

URL = "/admin/lines/station/"


def rotate(client, station: Station):
    response = client.post(URL, {"action": "rotate_keys", "_selected_action": [str(station.id)]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_view_only_user_cannot_rotate_keys_and_the_old_key_keeps_working():
    station, key = make_station(make_line())
    client = signed_in(viewer())
    assert '<option value="rotate_keys"' not in client.get(URL).content.decode()
    assert "New API key" not in rotate(client, station)
    assert Station.objects.get(id=station.id).key_hash == hash_station_key(key)


def test_change_permission_rotates_and_shows_the_new_key_once():
    station, key = make_station(make_line())
    client = signed_in(make_user("it", staff=True, perms=("lines.view_station", "lines.change_station")))
    assert '<option value="rotate_keys"' in client.get(URL).content.decode()
    assert f"New API key for {station}" in rotate(client, station)
    assert Station.objects.get(id=station.id).key_hash != hash_station_key(key)
