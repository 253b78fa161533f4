import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("kensa.security")


class InspectionConfig(AppConfig):
    name = "inspection"
    verbose_name = "Inspection"

    def ready(self) -> None:
        if settings.KENSA_PLAIN_HTTP and not (settings.DEBUG or settings.KENSA_DEMO):
            # Named at every start, so that plain HTTP in production is a choice someone sees.
            logger.warning(
                "KENSA_PLAIN_HTTP is on: cookies are sent without Secure and no HSTS header is set; "
                "serve Kensa over HTTPS unless this network is the plant's own."
            )
