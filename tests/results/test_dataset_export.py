"""export_dataset (and its admin action) writes QA's reviewed images in generate_dataset's layout
with QA's labels, and the demo model's training learns from it: the result is a draft version."""

import io
import json
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from inspection.constants import ModelStage, TaskType, Verdict
from inspection.demo.synthetic import DEMO_LABELS, make_parts
from inspection.models import Inspection, InspectionModel
from lines.models import ProductionLine
from results.review.constants import Decision, Disposition
from results.review.dataset import split_of
from results.review.services import defect_review_record, part_disposition_record
from tests.factories import make_station
from tests.results.review_data import finished
from tests.users import make_user, signed_in

pytestmark = pytest.mark.django_db

BOX = [40.0, 30.0, 100.0, 90.0]


def demo_line(code: str, task: str = TaskType.DETECTION) -> tuple[ProductionLine, object]:
    model = InspectionModel.objects.create(
        name=f"{code}-model",
        version="1",
        sha256="0" * 64,
        task=task,
        labels=DEMO_LABELS,
        good_labels=["good"],
    )
    line = ProductionLine.objects.create(code=code, name=code, inspection_model=model)
    station, _ = make_station(line, code="cam")
    return line, station


def stored(station, part, *, serial: str, verdict: str, defects=()) -> Inspection:
    """A finished inspection whose image is the synthetic part's JPEG, in storage."""
    inspection = finished(station, verdict, defects=defects, serial=serial)
    key = default_storage.save(f"images/export/{uuid.uuid4().hex}.jpg", ContentFile(part.jpeg()))
    Inspection.objects.filter(id=inspection.id).update(image_key=key, width=part.image.width, height=part.image.height)
    inspection.refresh_from_db()
    for defect in inspection.defects.all():
        defect.box = BOX
        defect.save(update_fields=["box"])
    return inspection


def decide(inspection: Inspection, decision: str, new_label: str = "") -> None:
    defect_review_record(defect=inspection.defects.get(), decision=decision, new_label=new_label, by="qa")


@pytest.fixture
def reviewed_line():
    """Line A with one part per case QA can make, plus confirmed and passed parts enough for
    both splits; line B with a reviewed part that must not be exported."""
    line, station = demo_line("export-a")
    parts = iter(make_parts(11, 30, size=(160, 128)))
    cases = {}
    cases["confirmed"] = stored(station, next(parts), serial="SN-2", verdict=Verdict.FAIL, defects=(("scratch", 0.9),))
    decide(cases["confirmed"], Decision.CONFIRMED)
    cases["relabelled"] = stored(station, next(parts), serial="SN-3", verdict=Verdict.FAIL, defects=(("scratch", 0.8),))
    decide(cases["relabelled"], Decision.RELABELLED, "dent")
    cases["rejected"] = stored(station, next(parts), serial="SN-4", verdict=Verdict.FAIL, defects=(("spot", 0.6),))
    decide(cases["rejected"], Decision.REJECTED)
    part_disposition_record(inspection=cases["rejected"], disposition=Disposition.PASS, by="qa", reason="dust")
    cases["escape"] = stored(station, next(parts), serial="SN-5", verdict=Verdict.PASS)
    part_disposition_record(inspection=cases["escape"], disposition=Disposition.FAIL, by="qa", reason="dent")
    cases["unreviewed"] = stored(station, next(parts), serial="SN-6", verdict=Verdict.FAIL, defects=(("crack", 0.9),))
    cases["old"] = stored(station, next(parts), serial="SN-7", verdict=Verdict.PASS)
    part_disposition_record(inspection=cases["old"], disposition=Disposition.PASS, by="qa")
    Inspection.objects.filter(id=cases["old"].id).update(received_at=cases["old"].received_at - timedelta(days=30))
    for number in (0, 1, 8, 9, 10, 12, 13, 14):  # 0, 1, 9 and 10 are test parts (split_of)
        label = DEMO_LABELS[number % len(DEMO_LABELS)]
        if label == "good":
            filler = stored(station, next(parts), serial=f"SN-{number}", verdict=Verdict.PASS)
            part_disposition_record(inspection=filler, disposition=Disposition.PASS, by="qa")
        else:
            filler = stored(station, next(parts), serial=f"SN-{number}", verdict=Verdict.FAIL, defects=((label, 0.9),))
            decide(filler, Decision.CONFIRMED)
    _, other_station = demo_line("export-b")
    elsewhere = stored(other_station, next(parts), serial="SN-99", verdict=Verdict.PASS)
    part_disposition_record(inspection=elsewhere, disposition=Disposition.PASS, by="qa")
    return line, cases


def export(out: Path, *args: str) -> dict:
    call_command("export_dataset", "--line", "export-a", "--out", str(out), *args, stdout=io.StringIO())
    return json.loads((out / "manifest.json").read_text())


def test_the_export_carries_qas_labels_boxes_and_split(reviewed_line, tmp_path):
    _, cases = reviewed_line
    since = (cases["confirmed"].received_at - timedelta(days=1)).isoformat()
    manifest = export(tmp_path / "set", "--since", since)
    assert (manifest["labels"], manifest["good_labels"], manifest["line"]) == (DEMO_LABELS, ["good"], "export-a")
    by_serial = {entry["serial"]: entry for entry in manifest["parts"]}
    # Not reviewed, before --since, QA failed with nothing to name, another line: not exported.
    assert set(by_serial) == {f"SN-{n}" for n in (0, 1, 2, 3, 4, 8, 9, 10, 12, 13, 14)}
    assert by_serial["SN-2"]["label"] == "scratch" and by_serial["SN-2"]["boxes"] == [{"label": "scratch", "box": BOX}]
    assert by_serial["SN-3"]["label"] == "dent" and by_serial["SN-3"]["boxes"] == [{"label": "dent", "box": BOX}]
    assert by_serial["SN-4"]["label"] == "good" and by_serial["SN-4"]["boxes"] == []
    assert all(entry["split"] == split_of(serial) for serial, entry in by_serial.items())
    assert {entry["split"] for entry in manifest["parts"]} == {"train", "test"}
    # Images are the stored bytes; masks are the kept boxes filled with their label's index.
    image = (tmp_path / "set" / by_serial["SN-3"]["file"]).read_bytes()
    with default_storage.open(cases["relabelled"].image_key) as original:
        assert image == original.read()
    with Image.open(tmp_path / "set" / by_serial["SN-3"]["mask"]) as mask_image:
        mask = np.asarray(mask_image)
    assert mask.shape == (128, 160)
    assert set(np.unique(mask[30:90, 40:100])) == {DEMO_LABELS.index("dent")} and mask.sum() == 60 * 60 * 4
    with Image.open(tmp_path / "set" / by_serial["SN-4"]["mask"]) as mask_image:
        assert not np.asarray(mask_image).any()  # the rejected spot is no defect
    written = {p.relative_to(tmp_path / "set").as_posix() for p in (tmp_path / "set").rglob("*.*")}
    named = {entry["file"] for entry in manifest["parts"]} | {entry["mask"] for entry in manifest["parts"]}
    assert written == named | {"manifest.json"}


def test_the_demo_training_learns_from_an_export_and_registers_a_draft(reviewed_line, tmp_path):
    export(tmp_path / "set")
    out = io.StringIO()
    call_command("build_demo_model", "--dataset", str(tmp_path / "set"), "--epochs", "1", "--seed", "3", stdout=out)
    trained = InspectionModel.objects.get(name="demo-surface", version__contains="-set")
    assert (trained.stage, trained.line, trained.labels) == (ModelStage.DRAFT, None, DEMO_LABELS)
    assert trained.sha256 in out.getvalue() and "8 training, 4 test parts" in out.getvalue()


def test_classifier_parts_have_no_mask_and_refusals_are_clear(tmp_path):
    _, station = demo_line("export-a", task=TaskType.CLASSIFICATION)
    with pytest.raises(CommandError, match="dataset_empty"):
        export(tmp_path / "empty")
    inspection = stored(station, make_parts(2, 1)[0], serial="SN-1", verdict=Verdict.FAIL, defects=(("spot", 0.9),))
    decide(inspection, Decision.CONFIRMED)
    manifest = export(tmp_path / "set")
    assert [(entry["label"], entry["mask"]) for entry in manifest["parts"]] == [("spot", None)]
    with pytest.raises(CommandError, match="not empty"):
        export(tmp_path / "set")
    with pytest.raises(CommandError, match="line_not_found"):
        call_command("export_dataset", "--line", "nope", "--out", str(tmp_path / "x"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a date"):
        export(tmp_path / "y", "--since", "yesterday")


def test_the_admin_action_zips_the_export_for_those_who_may_export(reviewed_line):
    line, _ = reviewed_line
    ids = [str(i) for i in Inspection.objects.order_by("id").values_list("id", flat=True)]
    data = {"action": "export_dataset", "_selected_action": ids}
    exporter = make_user(
        "exporter",
        staff=True,
        perms=("inspection.view_inspection", "results.export_inspections"),
        lines=[line],
    )
    response = signed_in(exporter).post("/admin/inspection/inspection/", data)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.getvalue()))
    manifest = json.loads(archive.read("manifest.json"))
    # Line B's part was selected too, but the exporter does not see line B.
    assert "SN-99" not in {entry["serial"] for entry in manifest["parts"]}
    assert len(manifest["parts"]) == 12  # with the old part: the action has no --since
    assert set(archive.namelist()) == {"manifest.json"} | {e["file"] for e in manifest["parts"]} | {
        e["mask"] for e in manifest["parts"]
    }
    reviewer = make_user("reviewer", staff=True, perms=("inspection.view_inspection", "results.review_inspection"))
    refused = signed_in(reviewer).post("/admin/inspection/inspection/", data)
    assert refused.status_code == 302 and refused.get("Content-Type", "").startswith("text/html")
