"""QA re-queues failed and expired inspections from the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from inspection.constants import Status
from inspection.models import Inspection
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.messages import queued_groups

pytestmark = pytest.mark.django_db


def test_admin_action_requeues_failed_and_expired_only(redis_client, django_capture_on_commit_callbacks):
    line = make_line(priority="normal", deadline_seconds=90)
    failed, expired, done = accept(line), accept(line), accept(line)
    past = timezone.now()
    Inspection.objects.filter(id=failed.id).update(status=Status.FAILED, error_code="too_many_attempts", attempts=5)
    Inspection.objects.filter(id=expired.id).update(status=Status.EXPIRED, error_code="deadline_exceeded")
    Inspection.objects.filter(id=done.id).update(status=Status.DONE, verdict="pass", finished_at=past)
    redis_client.delete("inspect.normal")

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("qa", password="x"))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/inspection/inspection/",
            {"action": "requeue", "_selected_action": [str(failed.id), str(expired.id), str(done.id)]},
            follow=True,
        )
    assert response.status_code == 200
    assert "2 inspections queued again" in response.content.decode()

    failed.refresh_from_db()
    assert (failed.status, failed.error_code, failed.attempt_limit) == (Status.QUEUED, "", 5 + 5)
    assert failed.deadline_at > past
    assert Inspection.objects.get(id=expired.id).status == Status.QUEUED
    assert Inspection.objects.get(id=done.id).status == Status.DONE
    # Each alone: a failed inspection may be a poison image, which must spend only its own attempts.
    assert sorted(queued_groups(redis_client, "inspect.normal")) == sorted([[str(failed.id)], [str(expired.id)]])


def test_admin_lists_failures_with_their_codes():
    line = make_line()
    row = accept(line)
    Inspection.objects.filter(id=row.id).update(status=Status.FAILED, error_code="image_decode_failed")
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("qa", password="x"))
    page = admin.get("/admin/inspection/inspection/", {"status__exact": "failed"}).content.decode()
    assert "image_decode_failed" in page and row.serial in page
