from django.db import models


class Status(models.TextChoices):
    """An inspection's life: queued → running → one of the terminal states."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


TERMINAL_STATUSES = (Status.DONE, Status.FAILED, Status.EXPIRED)


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    REVIEW = "review", "Review"


class ModelStage(models.TextChoices):
    """A model version's life on its line: registered, serving, replaced."""

    DRAFT = "draft", "Draft"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class ModelAction(models.TextChoices):
    PROMOTE = "promote", "Promote"
    ROLLBACK = "rollback", "Roll back"


class ModelFormat(models.TextChoices):
    STATE_DICT = "state_dict", "torchvision architecture + state dict"
    TORCHSCRIPT = "torchscript", "TorchScript archive"


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"  # one label per image
    SEGMENTATION = "segmentation", "Segmentation"  # a score map per label; defects by connected regions
    DETECTION = "detection", "Detection"  # boxes with labels and scores; label 0 is the background


class ErrorCode:
    """Stable codes stored on failed inspections (and shown in the admin and the API)."""

    IMAGE_MISSING_IN_STORAGE = "image_missing_in_storage"
    IMAGE_DECODE_FAILED = "image_decode_failed"
    NO_MODEL = "line_has_no_model"
    MODEL_CHECKSUM_MISMATCH = "model_checksum_mismatch"
    MODEL_LOAD_FAILED = "model_load_failed"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


# Supported image formats as Pillow names them, with the file extension used in storage keys.
IMAGE_FORMATS: dict[str, str] = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "TIFF": "tif"}
