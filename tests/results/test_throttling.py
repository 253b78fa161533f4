"""A request rate per API client: 429 `throttled` with Retry-After, one client's limit is not
another's."""

import pytest

from tests.factories import make_api_client, mes_api

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_client_over_its_rate_gets_429_with_retry_after(settings):
    settings.KENSA_API_CLIENT_RATE = "2/min"
    busy, calm = (mes_api(make_api_client()[1]) for _ in range(2))
    assert [busy.get("/api/v1/results/").status_code for _ in range(2)] == [200, 200]
    refused = busy.get("/api/v1/results/")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled" and refused.json()["error"]["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Every endpoint counts against the same rate.
    assert busy.get("/api/v1/parts/SN-1/").status_code == 429
    assert calm.get("/api/v1/results/").status_code == 200


def test_the_count_is_shared_by_every_process_through_redis(settings, redis_client):
    settings.KENSA_API_CLIENT_RATE = "1/min"
    client, token = make_api_client()
    assert mes_api(token).get("/api/v1/results/").status_code == 200
    assert redis_client.exists(f"kensa:1:throttle:api-client:{client.pk}") == 1
