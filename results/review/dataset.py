"""QA's reviewed images as a training data set, in the layout `generate_dataset` writes (images/,
masks/, manifest.json with each part's label and split), so the demo model's training reads it
(`manage.py build_demo_model --dataset DIR`) and so can a plant's own.

What QA said decides: a rejected defect is dropped, a relabelled one carries its new label,
and the part's disposition says pass or fail (without one, the defects left do). Kensa keeps a
box per defect, not its pixels: a part's mask is its kept defects' boxes filled with their
label's index, written only for models that gave boxes (a classifier's part has none).
"""

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Prefetch, QuerySet
from PIL import Image, ImageDraw

from inspection.constants import Status, TaskType
from inspection.errors import KensaError
from inspection.models import Defect, Inspection
from results.review.constants import Decision, Disposition
from results.review.selectors import latest_decision, latest_disposition, reviewed

# Format of the manifest, as generate_dataset's `dataset_version` numbers its images' recipe.
EXPORT_FORMAT = 1
# A fifth of the parts are the test split, as generate_dataset holds out.
TEST_BUCKETS = 51  # of 256: 0.199
CHUNK = 200  # inspections per database round trip (each with its defects)

Write = Callable[[str, bytes], None]


@dataclass
class DatasetSummary:
    parts: dict[str, int] = field(default_factory=lambda: {"train": 0, "test": 0})
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def __str__(self) -> str:
        skipped = "".join(f"; {count} skipped ({why})" for why, count in sorted(self.skipped.items()))
        return f"{self.parts['train']} training and {self.parts['test']} test parts{skipped}"


def split_of(serial: str) -> str:
    """Train or test by the part's serial, so every image of one part (several stations, a
    re-inspection) lands in the same split, and a part stays in its split in every export."""
    return "test" if hashlib.sha256(serial.encode()).digest()[0] < TEST_BUCKETS else "train"


def reviewed_inspections(queryset: QuerySet[Inspection]) -> QuerySet[Inspection]:
    """The finished inspections of `queryset` that QA has reviewed, oldest first, each with its
    latest disposition and its defects' latest decisions."""
    defects = Defect.objects.annotate(decision=latest_decision(), new_label=latest_decision("new_label"))
    return (
        queryset.filter(reviewed(), status=Status.DONE, model__isnull=False)
        .select_related("model")
        .annotate(qa_disposition=latest_disposition())
        .prefetch_related(Prefetch("defects", queryset=defects.order_by("-confidence", "id")))
        .order_by("received_at", "id")
    )


def kept_defects(inspection: Inspection) -> list[tuple[str, Defect]]:
    """(QA's label, defect) for each defect QA did not reject, surest first; a defect nobody
    judged keeps the model's label."""
    kept = []
    for defect in inspection.defects.all():
        decision = getattr(defect, "decision", None)
        if decision == Decision.REJECTED:
            continue
        kept.append((getattr(defect, "new_label", "") if decision == Decision.RELABELLED else defect.label, defect))
    return kept


def part_label(inspection: Inspection, kept: list[tuple[str, Defect]]) -> str | None:
    """The part's one label: a good label when QA passed it (or, with no disposition, no
    defect is left), else its surest kept defect's; None when QA failed a part without a
    defect to name (nothing to learn from)."""
    model = inspection.model
    assert model is not None
    defects = [label for label, _ in kept if label not in model.good_labels]
    disposition = getattr(inspection, "qa_disposition", None)
    failed = disposition == Disposition.FAIL or (disposition is None and bool(defects))
    if failed:
        return defects[0] if defects else None
    return model.good_labels[0] if model.good_labels else None


def box_mask(inspection: Inspection, kept: list[tuple[str, Defect]], labels: list[str]) -> bytes:
    """An 8-bit PNG the image's size, each kept box filled with its label's index (0 elsewhere);
    the surest defect is drawn last, so it wins where boxes overlap."""
    mask = Image.new("L", (inspection.width, inspection.height), 0)
    draw = ImageDraw.Draw(mask)
    for label, defect in reversed(kept):
        if defect.box and len(defect.box) == 4 and label in labels:
            x0, y0, x1, y1 = (float(v) for v in defect.box)
            draw.rectangle([x0, y0, max(x1 - 1, x0), max(y1 - 1, y0)], fill=labels.index(label))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def _image(inspection: Inspection) -> bytes | None:
    try:
        with default_storage.open(inspection.image_key, "rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        return None


def _entry(inspection: Inspection, labels: list[str], write: Write, summary: DatasetSummary) -> dict[str, Any] | None:
    """Write one part's image (and mask) and return its manifest entry; None when skipped."""
    model = inspection.model
    assert model is not None
    kept = kept_defects(inspection)
    label = part_label(inspection, kept)
    if label is None:
        summary.skip("failed by QA with no defect left to name")
        return None
    image = _image(inspection)
    if image is None:
        summary.skip("image no longer in storage")
        return None
    split = split_of(inspection.serial)
    name = f"{split}-{summary.parts[split]:05d}"
    extension = "jpg" if inspection.image_format.upper() == "JPEG" else inspection.image_format.lower()
    write(f"images/{name}.{extension}", image)
    mask = None
    if model.task != TaskType.CLASSIFICATION:
        mask = f"masks/{name}.png"
        write(mask, box_mask(inspection, kept, labels))
    summary.parts[split] += 1
    return {
        "file": f"images/{name}.{extension}",
        "mask": mask,
        "label": label,
        "split": split,
        "boxes": [{"label": qa, "box": d.box} for qa, d in kept if d.box and qa not in model.good_labels],
        "inspection": str(inspection.id),
        "serial": inspection.serial,
        "station": inspection.station.code,
        "model": str(model),
        "qa_disposition": getattr(inspection, "qa_disposition", None),
    }


def dataset_write(*, inspections: QuerySet[Inspection], write: Write, line: str = "") -> DatasetSummary:
    """Write the reviewed ones among `inspections` through `write(name, bytes)` (a directory,
    a zip): images, masks, and manifest.json last, so that a manifest means a whole data set.
    Every part must come from model versions with the same labels (a label's index is its
    class), else `dataset_labels_differ`; none at all is `dataset_empty`."""
    summary = DatasetSummary()
    rows = reviewed_inspections(inspections).select_related("station").iterator(chunk_size=CHUNK)
    parts: list[dict[str, Any]] = []
    first = None
    for inspection in rows:
        model = inspection.model
        assert model is not None
        if first is None:
            first = model
        elif list(model.labels) != list(first.labels):
            raise KensaError(
                "dataset_labels_differ",
                f"{model} has other labels than {first} ({first.labels}): export a shorter period.",
            )
        entry = _entry(inspection, list(first.labels), write, summary)
        if entry is not None:
            parts.append(entry)
    if first is None:
        raise KensaError("dataset_empty", "No reviewed inspection matches: review some first, or choose others.")
    manifest = {
        "export_format": EXPORT_FORMAT,
        "line": line,
        "labels": list(first.labels),
        "good_labels": list(first.good_labels),
        "masks": "the boxes of the defects QA kept, filled with their label's index; null for classifiers",
        "parts": parts,
    }
    write("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return summary
