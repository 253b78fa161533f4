"""Webhook subscriptions for API clients with `webhooks:manage`: GET and POST
/api/v1/webhooks/, DELETE /api/v1/webhooks/<id>/. A client sees and deletes only the
subscriptions it made, and subscribes only to lines it may see; the signing secret is in the
answer to the POST alone."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from inspection.errors import ApiError, KensaError, as_api_error
from inspection.parsing import is_line_code
from lines.models import ProductionLine
from results.api.base import ClientApiView
from results.api.parameters import parameters_check
from results.api.schema import (
    WEBHOOK,
    WEBHOOK_CREATED,
    WEBHOOK_LIST,
    WEBHOOK_REQUEST,
    responses,
)
from results.mes.constants import Scope
from results.mes.models import ApiClient
from results.mes.permissions import api_client_required, visible_line_ids
from results.webhooks.constants import EventType
from results.webhooks.models import WebhookSubscription
from results.webhooks.services import subscription_create

FIELDS = {"name", "url", "lines", "all_lines", "events"}


def subscription_json(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "name": subscription.name,
        "url": subscription.url,
        "events": subscription.events,
        "all_lines": subscription.all_lines,
        "lines": sorted(line.code for line in subscription.lines.all()),
        "active": subscription.active,
        "disabled_reason": subscription.disabled_reason,
        "created_at": subscription.created_at.isoformat().replace("+00:00", "Z"),
    }


def _invalid(field: str, message: str) -> ApiError:
    return ApiError("invalid_request", f"{field}: {message}", fields={field: [message]})


def parse_subscription(body: Any, client: ApiClient, line_ids: frozenset[int] | None) -> dict[str, Any]:
    """The POST's body: {name, url, lines | all_lines, events?}, checked field by field."""
    if not isinstance(body, dict):
        raise ApiError("parse_error", "Send a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _invalid(unknown[0], "not a field of a webhook subscription")
    name, url = body.get("name"), body.get("url")
    if not isinstance(name, str) or not 1 <= len(name) <= 200 or not name.isprintable():
        raise _invalid("name", "1 to 200 printable characters")
    if not isinstance(url, str) or not 1 <= len(url) <= 2000 or not url.isprintable():
        raise _invalid("url", "an http(s) URL of at most 2000 characters")
    events = body.get("events", [EventType.INSPECTION_FINISHED])
    if not isinstance(events, list) or not events or not set(events) <= set(EventType.values):
        raise _invalid("events", f"a non-empty list of {', '.join(EventType.values)}")
    all_lines, codes = body.get("all_lines", False), body.get("lines", [])
    if not isinstance(all_lines, bool):
        raise _invalid("all_lines", "true or false")
    if not isinstance(codes, list) or len(codes) > 1000 or not all(isinstance(c, str) for c in codes):
        raise _invalid("lines", "a list of line codes")
    if all_lines == bool(codes):
        raise _invalid("lines", "name some lines, or set all_lines, not both")
    if all_lines and line_ids is not None:
        raise ApiError("permission_denied", "This API client may not see every line.", status.HTTP_403_FORBIDDEN)
    lines = list(ProductionLine.objects.filter(code__in=[c for c in codes if is_line_code(c)]))
    missing = sorted(set(codes) - {line.code for line in lines if line_ids is None or line.id in line_ids})
    if missing:
        raise ApiError("line_not_found", f"No line has the code {missing[0]!r}.", status.HTTP_404_NOT_FOUND)
    return {"name": name, "url": url, "events": events, "all_lines": all_lines, "lines": lines, "api_client": client}


def refusals(*codes: str) -> dict[int | tuple[int | str, ...], Any]:
    """The error responses of `codes` and of every client call, without a 200."""
    return {code: body for code, body in responses(WEBHOOK, *codes).items() if code != 200}


class WebhookListView(ClientApiView):
    required_scope = Scope.WEBHOOKS_MANAGE

    @extend_schema(
        operation_id="webhooks_list",
        summary="This API client's webhook subscriptions",
        responses=responses(WEBHOOK_LIST, "api_client_required"),
    )
    def get(self, request: Request) -> Response:
        client = api_client_required(request)
        parameters_check(request.query_params, [])
        owned = WebhookSubscription.objects.filter(api_client=client).prefetch_related("lines").order_by("id")
        return Response({"webhooks": [subscription_json(subscription) for subscription in owned]})

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe a receiver to finished results (the signing secret is shown in this answer only)",
        request={"application/json": WEBHOOK_REQUEST},
        responses={
            201: WEBHOOK_CREATED,
            **refusals(
                "api_client_required",
                "invalid_request",
                "parse_error",
                "permission_denied",
                "line_not_found",
                "webhook_url_not_allowed",
                "webhook_name_taken",
                "webhook_limit_reached",
                "unsupported_media_type",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        client = api_client_required(request)
        parameters_check(request.query_params, [])
        fields = parse_subscription(request.data, client, visible_line_ids(request))
        try:
            subscription, secret = subscription_create(**fields)
        except KensaError as refusal:
            raise as_api_error(refusal) from None
        return Response({**subscription_json(subscription), "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookDetailView(ClientApiView):
    required_scope = Scope.WEBHOOKS_MANAGE

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete one of this API client's webhook subscriptions (pending deliveries go with it)",
        responses={204: OpenApiResponse(description="Deleted."), **refusals("api_client_required", "not_found")},
    )
    def delete(self, request: Request, webhook_id: int) -> Response:
        client = api_client_required(request)
        parameters_check(request.query_params, [])
        deleted, _ = WebhookSubscription.objects.filter(id=webhook_id, api_client=client).delete()
        if not deleted:
            raise ApiError("not_found", "No webhook subscription of this API client has this id.", 404)
        return Response(status=status.HTTP_204_NO_CONTENT)
