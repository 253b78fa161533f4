"""The class behind issue #22's crashes, proved on the results list: any `line`, `limit` and
`cursor` (cursors as the API writes them with anything inside, and any text) gives a 200 or
a 4xx whose code is in inspection.errors.API_ERRORS with its status, never a 5xx."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings

from inspection import feed
from inspection.constants import Status, Verdict
from inspection.errors import API_ERRORS
from inspection.models import Inspection
from tests.factories import make_api_client, make_line
from tests.inspection.test_worker import accept
from tests.strategies import LINE_CODE, result_queries
from tests.users import make_user

# Feed positions are transaction ids, visible once committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mes_client() -> Client:
    line = make_line(code=LINE_CODE)
    for age in (30, 20, 10):
        row = accept(line)
        Inspection.objects.filter(id=row.id).update(
            status=Status.DONE,
            verdict=Verdict.PASS,
            finished_at=timezone.now() - timedelta(seconds=age),
            feed_position=feed.position_expression(),
        )
    user = make_user("mes-prop")
    return Client(headers={"Authorization": f"Bearer {make_api_client(name=user.username)[1]}"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=result_queries())
def test_any_query_is_a_page_or_a_documented_refusal(mes_client, query):
    response = mes_client.get("/api/v1/results/", query)
    body = response.json()
    assert response.status_code < 500, body
    if response.status_code == 200:
        assert set(body) == {"results", "next_cursor", "has_more"}
        if body["next_cursor"]:  # what the API writes, it reads back
            assert mes_client.get("/api/v1/results/", {"cursor": body["next_cursor"]}).status_code == 200
    else:
        code = body["error"]["code"]
        assert API_ERRORS.get(code, (None,))[0] == response.status_code, body
