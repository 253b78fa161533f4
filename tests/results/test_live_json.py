"""The "finished" event of a recorded round is built from the rows in hand, not read back: it
must be the JSON that the API gives for the same inspections, defects in the same order."""

import pytest

from inspection.constants import Verdict
from inspection.inference.verdicts import FoundDefect, Judgement
from inspection.lifecycle.claims import inspections_claim
from inspection.lifecycle.results import Result, inspections_record_results
from tests.factories import make_api_client, make_line, make_model, mes_api
from tests.inspection.test_worker import accept

pytestmark = pytest.mark.django_db


def test_the_finished_event_of_a_round_is_what_the_api_serves(finished_events, django_capture_on_commit_callbacks):
    model = make_model(always="spot")
    line = make_line(code="push-1", model=model)
    inspections = [accept(line), accept(line)]
    claims = inspections_claim(inspection_ids=[inspection.id for inspection in inspections])
    judgements = [
        # Not in the order shown, and two equally confident: stored order breaks the tie.
        Judgement(
            Verdict.FAIL,
            [
                FoundDefect("spot", 0.5, [1, 2, 3, 4], 4),
                FoundDefect("scratch", 0.9, [5, 6, 7, 8], 16),
                FoundDefect("dent", 0.7, None, None),
                FoundDefect("crack", 0.7, [0, 0, 2, 2], 4),
            ],
        ),
        Judgement(Verdict.PASS, []),
    ]
    pushed = finished_events

    with django_capture_on_commit_callbacks(execute=True):
        results = [
            Result(claims[i.id].inspection, claims[i.id].attempt, model, judgement, {"model_ms": 1.5, "batch_size": 2})
            for i, judgement in zip(inspections, judgements, strict=True)
        ]
        assert inspections_record_results(results) == [True, True]

    _, token = make_api_client(scopes=["inspections:read"])
    client = mes_api(token)
    served = [client.get(f"/api/v1/inspections/{inspection.id}/").json() for inspection in inspections]
    # The API's links are absolute and the image's signed (tests/results/test_image_links.py);
    # the event, for signed-in browsers, carries their paths. Every other field is the same.
    for event, answer in zip(pushed, served, strict=True):
        assert answer["url"] == f"http://testserver{event['url']}"
        assert answer["image_url"].startswith(f"http://testserver{event['image_url']}?expires=")
    links = {"url", "image_url"}
    assert [{k: v for k, v in event.items() if k not in links} for event in pushed] == [
        {k: v for k, v in answer.items() if k not in links} for answer in served
    ]
    assert [d["label"] for d in pushed[0]["defects"]] == ["scratch", "dent", "crack", "spot"]
    assert pushed[0]["model"] == {
        "name": model.name,
        "version": model.version,
        "thresholds_version": model.thresholds_version,
    }
    assert pushed[0]["finished_at"].endswith("Z") and pushed[1]["status"] == "done"
