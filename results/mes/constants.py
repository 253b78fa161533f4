from django.db import models


class Scope(models.TextChoices):
    """What an API client may do; each endpoint names the one scope it needs."""

    RESULTS_READ = "results:read", "Read results (the feed)"
    RESULTS_ACK = "results:ack", "Acknowledge results"
    INSPECTIONS_READ = "inspections:read", "Read inspections, their images and parts"
    WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook subscriptions"


# Tokens look like `kapi_<8 hex>_<secret>`. The prefix differs from station keys (`ksa_`), so the
# API client authentication can pass on a station's key and let station authentication take it.
TOKEN_PREFIX = "kapi_"

# A client's last use is written at most this often: a poller calling every second must not
# turn every read into a write.
LAST_USED_RESOLUTION_SECONDS = 60
