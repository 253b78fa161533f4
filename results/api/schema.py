"""The results API in the OpenAPI schema: responses built from the payload's TypedDict
(inspection.payloads.InspectionPayload) and errors from the one table of codes, so that the
schema says what the code does. drf-spectacular reads the views' @extend_schema."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import resolve_type_hint
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from inspection.ingest.openapi import error_responses
from inspection.payloads import InspectionPayload
from results.mes.services import AckOutcome


class ApiClientScheme(OpenApiAuthenticationExtension):
    target_class = "results.mes.authentication.ApiClientAuthentication"
    name = "ApiClient"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API client's token (kapi_…), created in the admin or with create_api_client.",
        }


class StationKeyScheme(OpenApiAuthenticationExtension):
    target_class = "inspection.ingest.authentication.StationKeyAuthentication"
    name = "StationKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": "A station's API key (ksa_…)."}


# An inspection's image is served as it was uploaded, in one of the formats uploads accept.
IMAGE_RESPONSE = OpenApiResponse(response=OpenApiTypes.BINARY, description="The image as it was uploaded.")
IMAGE_REDIRECT = OpenApiResponse(
    description="With S3 storage: Location is a short-lived signed link to the image in object storage."
)

INSPECTION: dict[str, Any] = resolve_type_hint(InspectionPayload)

# Refusals every client endpoint can give.
CLIENT_ERRORS = [
    "not_authenticated",
    "authentication_failed",
    "invalid_api_token",
    "api_client_revoked",
    "scope_missing",
    "parameter_unknown",
    "throttled",
    "database_unavailable",
]


def responses(
    ok: dict[str, Any] | OpenApiResponse, *codes: str, media_types: tuple[str, ...] = ()
) -> dict[int | tuple[int | str, ...], Any]:
    """200 with `ok` (as JSON unless `media_types` are given), and the error responses of
    `codes` besides those of every client call."""
    refusals = {int(status): body for status, body in error_responses([*CLIENT_ERRORS, *codes]).items()}
    return {
        (200, *media_types) if media_types else 200: ok,
        **{
            status: OpenApiResponse(
                response=body["content"]["application/json"]["schema"], description=body["description"]
            )
            for status, body in refusals.items()
        },
    }


def page_of(items: dict[str, Any], key: str, **extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key, "has_more", *extra],
        "properties": {key: {"type": "array", "items": items}, "has_more": {"type": "boolean"}, **extra},
    }


RESULT_PAGE = page_of(INSPECTION, "results", next_cursor={"type": "string", "nullable": True})
PART_PAGE = page_of(INSPECTION, "inspections", serial={"type": "string"})
ACK_REQUEST = inline_serializer(
    "ResultAckRequest",
    fields={"ids": serializers.ListField(child=serializers.UUIDField(), min_length=1)},
)
ACK_RESPONSE = page_of(
    {
        "type": "object",
        "required": ["id", "outcome"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "outcome": {
                "type": "string",
                "enum": [AckOutcome.ACKNOWLEDGED, AckOutcome.ALREADY_ACKNOWLEDGED, AckOutcome.NOT_FOUND],
            },
        },
    },
    "results",
)
ACK_RESPONSE["required"].remove("has_more")
del ACK_RESPONSE["properties"]["has_more"]


def query(name: str, description: str, type_: Any = str) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description)


FILTER_HELP = {
    "finished_after": "Finished at or after (ISO 8601 with offset; write + as %2B).",
    "finished_before": "Finished before (ISO 8601 with offset).",
    "acknowledged": "true: only results this API client acknowledged.",
    "unacknowledged": "true: only results this API client has not acknowledged.",
    "model": "The model's name.",
    "model_version": "The model's version.",
}


# Webhook subscriptions (results/api/webhooks.py).
WEBHOOK: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "url", "events", "all_lines", "lines", "active", "disabled_reason", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": ["inspection.finished"]}},
        "all_lines": {"type": "boolean"},
        "lines": {"type": "array", "items": {"type": "string"}},
        "active": {"type": "boolean"},
        "disabled_reason": {"type": "string", "description": "Why Kensa stopped it (a receiver answered 410)."},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
WEBHOOK_CREATED: dict[str, Any] = {
    **WEBHOOK,
    "required": [*WEBHOOK["required"], "secret"],
    "properties": {
        **WEBHOOK["properties"],
        "secret": {"type": "string", "description": "whsec_…: verify deliveries with it. Shown this once."},
    },
}
WEBHOOK_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["webhooks"],
    "properties": {"webhooks": {"type": "array", "items": WEBHOOK}},
}
WEBHOOK_REQUEST = inline_serializer(
    "WebhookRequest",
    fields={
        "name": serializers.CharField(max_length=200),
        "url": serializers.CharField(max_length=2000, help_text="http(s), in KENSA_WEBHOOK_ALLOWED_NETWORKS"),
        "lines": serializers.ListField(child=serializers.CharField(), required=False, help_text="line codes"),
        "all_lines": serializers.BooleanField(required=False, help_text="every line (clients that see all)"),
        "events": serializers.ListField(
            child=serializers.ChoiceField(choices=["inspection.finished"]), required=False, min_length=1
        ),
    },
)
