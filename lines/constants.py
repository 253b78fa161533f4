from django.db import models


class Priority(models.TextChoices):
    """A line's priority picks the queue its inspections go to (inspection/queues.py)."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


# Station keys look like `ksa_<8-char prefix>_<secret>`; the prefix is stored in clear so that
# plant IT can tell keys apart in the admin, the whole key only as a SHA-256 digest.
STATION_KEY_PREFIX = "ksa_"
