from typing import Any

from django.urls import reverse
from rest_framework import serializers

from inspection.models import Inspection
from results.models import Defect


class DefectSerializer(serializers.ModelSerializer[Defect]):
    class Meta:
        model = Defect
        fields = ["label", "confidence", "box", "area"]


class InspectionSerializer(serializers.ModelSerializer[Inspection]):
    """An inspection with its verdict and defects: the JSON of the API and the live feed."""

    line = serializers.CharField(source="line.code")
    station = serializers.CharField(source="station.code")
    model = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    defects = DefectSerializer(many=True)

    class Meta:
        model = Inspection
        fields = [
            "id",
            "url",
            "line",
            "station",
            "serial",
            "status",
            "verdict",
            "error_code",
            "model",
            "defects",
            "image_url",
            "image_sha256",
            "image_format",
            "width",
            "height",
            "captured_at",
            "received_at",
            "started_at",
            "finished_at",
            "attempts",
            "timings",
        ]

    def get_model(self, inspection: Inspection) -> dict[str, Any] | None:
        if inspection.model is None:
            return None
        return {"name": inspection.model.name, "version": inspection.model.version}

    def get_url(self, inspection: Inspection) -> str:
        return reverse("inspection-detail", args=[inspection.id])

    def get_image_url(self, inspection: Inspection) -> str:
        return reverse("inspection-image", args=[inspection.id])
