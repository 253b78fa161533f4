from django.db import models


class Defect(models.Model):
    """A defect the model found on an inspection's image.

    `box` is `[x0, y0, x1, y1]` in pixels of the original image and `area` its size in pixels;
    both are empty for classification models, which say what is wrong but not where.
    """

    inspection = models.ForeignKey("inspection.Inspection", on_delete=models.CASCADE, related_name="defects")
    label = models.CharField(max_length=100)
    confidence = models.FloatField()
    box = models.JSONField(null=True, blank=True)
    area = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["inspection", "-confidence", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.confidence:.2f})"
