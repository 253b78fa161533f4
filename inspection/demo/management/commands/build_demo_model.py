"""Train the demo models on synthetic parts and register them: a classifier and a segmentation
model, each with its held-out scores printed, each promoted on a line when one is named."""

import time
from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError

from inspection.constants import ModelFormat, TaskType
from inspection.demo.scores import format_scores
from inspection.demo.synthetic import DEMO_GOOD_LABELS, DEMO_LABELS
from inspection.inference.registry import check_artifact, inspection_model_register, model_promote
from inspection.models import InspectionModel
from lines.models import ProductionLine

if TYPE_CHECKING:
    from inspection.demo.classifier import TrainedModel

CLASSIFIER_NAME = "demo-surface"
SEGMENTER_NAME = "demo-surface-seg"


class Command(BaseCommand):
    help = (
        "Train the demo models on synthetic parts (seeded, on the CPU: the classifier in about a minute "
        "and a half, the segmentation model in about three), print their held-out scores and register them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--task", choices=["classification", "segmentation", "all"], default="all")
        parser.add_argument("--line", help="make the classifier the model of this line")
        parser.add_argument("--segmentation-line", help="make the segmentation model the model of this line")
        parser.add_argument(
            "--dataset",
            type=Path,
            help="train the classifier on this data set (generate_dataset's layout; export_dataset writes one from "
            "QA's reviews) instead of fresh synthetic parts; registered as a draft (for --line's line, if named), "
            "for QA to validate and promote",
        )
        parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
        parser.add_argument(
            "--artifacts",
            type=Path,
            help="keep trained weights in this folder and reuse them: training is seeded, so a version's "
            "weights are the same every time (benchmarks and fresh databases skip minutes of training)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # torch only now: the demo's other steps and `manage.py help` should not wait for it.
        from inspection.demo import classifier, segmentation

        seed = options["seed"]
        epochs = {"epochs": options["epochs"]} if options["epochs"] else {}
        if options["epochs"] is not None and options["epochs"] < 1:
            raise CommandError("--epochs must be at least 1.")
        if options["dataset"] is not None:
            self._from_dataset(options["dataset"], seed=seed, line=_line(options["line"]), epochs=epochs)
            return
        if options["task"] in ("classification", "all"):
            self._provide(
                name=CLASSIFIER_NAME,
                version=classifier.model_version(seed),
                line=_line(options["line"]),
                artifacts=options["artifacts"],
                train=lambda: classifier.train_demo_classifier(seed=seed, **epochs),
                architecture=classifier.ARCHITECTURE,
                input_size=classifier.INPUT_SIZE,
                task=TaskType.CLASSIFICATION,
                format=ModelFormat.STATE_DICT,
                default_threshold=0.6,
            )
        if options["task"] in ("segmentation", "all"):
            self._provide(
                name=SEGMENTER_NAME,
                version=segmentation.model_version(seed),
                line=_line(options["segmentation_line"]),
                artifacts=options["artifacts"],
                train=lambda: segmentation.train_demo_segmenter(seed=seed, **epochs),
                architecture=segmentation.ARCHITECTURE,
                input_size=segmentation.INPUT_SIZE,
                task=TaskType.SEGMENTATION,
                format=ModelFormat.STATE_DICT,
                thresholds=segmentation.THRESHOLDS,
                default_threshold=segmentation.THRESHOLD,
            )

    def _from_dataset(self, directory: Path, *, seed: int, line: ProductionLine | None, epochs: dict[str, int]) -> None:
        """The classifier trained on a data set from a directory, as `name@<recipe>-<the data
        set's digest>-seed<seed>`: a draft for QA to validate and promote."""
        from inspection.demo import classifier
        from inspection.demo.dataset import DatasetError, dataset_digest, read_dataset

        try:
            splits = read_dataset(directory)
        except DatasetError as problem:
            raise CommandError(str(problem)) from None
        self.stdout.write(f"Data set {directory}: {len(splits['train'])} training, {len(splits['test'])} test parts.")
        self._provide(
            name=CLASSIFIER_NAME,
            version=f"{classifier.RECIPE}.0-set{dataset_digest(directory)}-seed{seed}",
            line=line,
            artifacts=None,
            train=lambda: classifier.train_demo_classifier(seed=seed, splits=splits, **epochs),
            architecture=classifier.ARCHITECTURE,
            input_size=classifier.INPUT_SIZE,
            task=TaskType.CLASSIFICATION,
            format=ModelFormat.STATE_DICT,
            default_threshold=0.6,
            promote=False,
        )

    def _provide(
        self,
        *,
        name: str,
        version: str,
        line: ProductionLine | None,
        artifacts: Path | None,
        train: Callable[[], "TrainedModel"],
        promote: bool = True,
        **registration: Any,
    ) -> None:
        """Train and register `name@version` unless it exists, then (`promote`) put it into
        production on `line` when it is new or the line has no model (a line's later choice is
        kept)."""
        from inspection.demo.classifier import MEAN, STD

        spec = InspectionModel.objects.filter(name=name, version=version).first()
        is_new = spec is None
        if spec is None:
            spec = inspection_model_register(
                name=name,
                version=version,
                artifact=self._trained(name, version, registration["architecture"], train, artifacts),
                labels=DEMO_LABELS,
                good_labels=DEMO_GOOD_LABELS,
                mean=MEAN,
                std=STD,
                line=line,
                checker=check_artifact,  # trained just now by this process
                **registration,
            )
        elif line is not None and spec.line_id != line.id:
            registered_for = f"line {spec.line.code}" if spec.line else "no line"
            raise CommandError(f"{spec} is registered for {registered_for}, not for line {line.code}.")
        if promote and line is not None and (is_new or line.inspection_model_id is None):
            model_promote(model=spec, by="manage.py build_demo_model")
            self.stdout.write(f"{spec} now serves line {line.code}.")
        self.stdout.write(f"Model {spec} ({spec.task}) sha256 {spec.sha256}")

    def _trained(
        self, name: str, version: str, architecture: str, train: Callable[[], "TrainedModel"], artifacts: Path | None
    ) -> bytes:
        """The version's weights: kept from an earlier run in `artifacts`, or trained now."""
        kept = artifacts / f"{name}-{version}.pt" if artifacts else None
        if kept is not None and kept.is_file():
            self.stdout.write(f"Reusing {name}@{version} trained earlier ({kept}); registration checks it again.")
            return kept.read_bytes()
        self.stdout.write(f"Training {name}@{version} ({architecture}) on synthetic parts…")
        start = time.monotonic()
        trained = train()
        self.stdout.write(f"Trained in {time.monotonic() - start:.0f} s. Scores on the held-out split:")
        self.stdout.write(format_scores(trained.scores))
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(".partial")
            partial.write_bytes(trained.artifact)
            partial.replace(kept)  # whole or absent: a run stopped mid-write leaves no half file
        return trained.artifact


def _line(code: str | None) -> ProductionLine | None:
    if code is None:
        return None
    line = ProductionLine.objects.filter(code=code).first()
    if line is None:
        raise CommandError(f"No line {code!r}.")
    return line
