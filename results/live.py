"""Live push of finished inspections to the line's dashboards over the Channels layer.

Delivery over the channel layer is at most once: a dashboard that was disconnected catches
up over REST. A failed push therefore never fails the inspection; it is logged.
"""

import json
import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

EVENT_TYPE = "inspection.finished"


def line_group(line_code: str) -> str:
    return f"line.{line_code}"


def inspection_json(inspection: Any) -> dict[str, Any]:
    """The inspection as plain JSON types (what the serializer gives, with dates as strings)."""
    from results.api.serializers import InspectionSerializer

    data: dict[str, Any] = json.loads(json.dumps(InspectionSerializer(inspection).data, cls=DjangoJSONEncoder))
    return data


def publish_inspection(*, inspection_id: uuid.UUID) -> None:
    from results.selectors import inspection_get

    inspection = inspection_get(inspection_id)
    if inspection is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            line_group(inspection.line.code), {"type": EVENT_TYPE, "inspection": inspection_json(inspection)}
        )
    except Exception:
        logger.exception("Live push of inspection %s failed; dashboards catch up over REST", inspection_id)
