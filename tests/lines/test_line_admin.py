"""A line's latency target is set in the admin, beside its priority and deadline."""

import pytest

from lines.models import ProductionLine
from tests.factories import make_line
from tests.users import make_user, signed_in

pytestmark = pytest.mark.django_db


def test_qa_sets_and_clears_a_lines_latency_target_in_the_admin():
    line = make_line(code="press-1")
    client = signed_in(make_user("qa", staff=True, perms=("lines.view_productionline", "lines.change_productionline")))
    url = f"/admin/lines/productionline/{line.id}/change/"
    form = client.get(url).content.decode()
    assert 'name="latency_target_ms"' in form
    fields = {
        "code": line.code,
        "name": line.name,
        "priority": "critical",
        "active": "on",
        "deadline_seconds": "300",
        "queue_limit": "2000",
        "inspection_model": str(line.inspection_model_id),
        "review_sample_rate": "0.02",
        "stations-TOTAL_FORMS": "0",
        "stations-INITIAL_FORMS": "0",
    }
    response = client.post(url, {**fields, "latency_target_ms": "250"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ProductionLine.objects.get(id=line.id).latency_target_ms == 250
    client.post(url, {**fields, "latency_target_ms": ""})
    assert ProductionLine.objects.get(id=line.id).latency_target_ms is None
    # Zero is no target a worker could meet: refused.
    response = client.post(url, {**fields, "latency_target_ms": "0"})
    assert response.status_code == 200 and ProductionLine.objects.get(id=line.id).latency_target_ms is None
