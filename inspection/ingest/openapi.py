"""The upload API in the OpenAPI schema.

Direct uploads are a plain Django view and the ingest server's ASGI door (for measured speed,
see views.py), and resumable uploads speak tus: drf-spectacular inspects DRF views only, so
these endpoints are described here and added to the generated schema by a postprocessing hook
(SPECTACULAR_SETTINGS in config/settings.py). Error responses are built from the one table of
codes (inspection.errors.API_ERRORS), so the schema cannot drift from what the code raises.
"""

from typing import Any

from inspection.errors import API_ERRORS

STATION_SECURITY: list[dict[str, list[str]]] = [{"StationKey": []}]

# The refusals each endpoint can answer with, besides those of every station request.
_STATION = ["missing_api_key", "invalid_api_key", "station_inactive", "database_unavailable"]
DIRECT_UPLOAD_ERRORS = [
    *_STATION,
    "bad_request",
    "invalid_content_length",
    "unsupported_media_type",
    "multipart_invalid",
    "multipart_too_many_parts",
    "multipart_too_large",
    "image_missing",
    "image_empty",
    "image_truncated",
    "image_corrupt",
    "image_trailing_data",
    "image_too_large",
    "image_too_many_pixels",
    "image_unrecognized",
    "image_format_unsupported",
    "content_type_mismatch",
    "serial_missing",
    "serial_invalid",
    "captured_at_invalid",
    "idempotency_key_invalid",
    "idempotency_key_reused",
    "line_invalid",
    "line_mismatch",
    "line_inactive",
    "line_has_no_model",
    "line_backlog_full",
    "storage_unavailable",
]
TUS_CREATE_ERRORS = [
    *_STATION,
    "tus_version_unsupported",
    "upload_length_required",
    "upload_length_invalid",
    "upload_metadata_invalid",
    "image_empty",
    "image_too_large",
    "serial_missing",
    "serial_invalid",
    "captured_at_invalid",
    "line_inactive",
    "line_has_no_model",
]
TUS_PIECE_ERRORS = [
    *_STATION,
    *(code for code in DIRECT_UPLOAD_ERRORS if code.startswith("image_") or code.startswith("line_")),
    "tus_version_unsupported",
    "upload_offset_invalid",
    "upload_content_type",
    "upload_not_found",
    "upload_expired",
    "upload_offset_mismatch",
    "upload_exceeds_length",
    "checksum_algorithm_unsupported",
    "upload_checksum_invalid",
    "upload_checksum_mismatch",
    "storage_unavailable",
]
TUS_UPLOAD_ERRORS = [*_STATION, "tus_version_unsupported", "upload_not_found", "upload_expired"]


def error_responses(codes: list[str]) -> dict[str, Any]:
    """OpenAPI responses for `codes`, one per HTTP status, each listing its codes with an example."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):  # in order, once each
        by_status.setdefault(API_ERRORS[code][0], []).append(code)
    responses: dict[str, Any] = {}
    for status, members in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "; ".join(f"`{code}`: {API_ERRORS[code][1]}" for code in members),
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"},
                    "examples": {
                        code: {"value": {"error": {"code": code, "message": API_ERRORS[code][1]}}} for code in members
                    },
                }
            },
        }
    return responses


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted(API_ERRORS), "description": "Stable; clients switch on it."},
                "message": {"type": "string", "description": "A sentence for people; may change."},
                "fields": {"type": "object", "description": "Per-field problems of `invalid_request`."},
            },
            "additionalProperties": True,
        }
    },
}

_ACCEPTED = {
    "type": "object",
    "required": ["id", "url", "status"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "url": {"type": "string", "format": "uri"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "expired"]},
    },
}
_TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "enum": ["1.0.0"]},
}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
IMAGE_MEDIA_TYPES = ["image/jpeg", "image/png", "image/bmp", "image/tiff"]


def _direct_upload() -> dict[str, Any]:
    raw_parameters = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
        for name, text in [
            ("serial", "The part's serial (or the header Kensa-Serial); required with a raw body."),
            ("captured_at", "ISO 8601 with an offset (or Kensa-Captured-At)."),
            ("line", "The line the station expects to belong to (or Kensa-Line)."),
        ]
    ]
    return {
        "post": {
            "operationId": "inspections_create",
            "tags": ["uploads"],
            "summary": "Upload one image of one part",
            "description": "Multipart (`image`, `serial`, optional `captured_at`) or the image itself as the body. "
            "Answers 202 once the image is stored durably and queued. A retry with the same "
            "`Idempotency-Key` returns the same inspection with `Idempotent-Replayed: true`.",
            "security": STATION_SECURITY,
            "parameters": [
                *raw_parameters,
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["image", "serial"],
                            "properties": {
                                "image": {"type": "string", "format": "binary"},
                                "serial": {"type": "string", "maxLength": 128},
                                "captured_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    },
                    **{media: {"schema": {"type": "string", "format": "binary"}} for media in IMAGE_MEDIA_TYPES},
                },
            },
            "responses": {
                "202": {
                    "description": "Accepted: stored and queued.",
                    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                    "content": {"application/json": {"schema": _ACCEPTED}},
                },
                **error_responses(DIRECT_UPLOAD_ERRORS),
            },
        }
    }


def _tus_collection() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "uploads_create",
            "tags": ["uploads"],
            "summary": "Start a resumable (tus 1.0.0) upload",
            "description": "Metadata (base64, tus style): `serial` (required), `captured_at`, `filetype`.",
            "security": STATION_SECURITY,
            "parameters": [
                _TUS_RESUMABLE,
                {"name": "Upload-Length", "in": "header", "required": True, "schema": {"type": "integer"}},
                {"name": "Upload-Metadata", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "201": {
                    "description": "Created; send the bytes with PATCH to Location.",
                    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                },
                **error_responses(TUS_CREATE_ERRORS),
            },
        },
        "options": {
            "operationId": "uploads_options",
            "tags": ["uploads"],
            "summary": "The tus versions, extensions and size limit",
            "security": [],
            "responses": {"204": {"description": "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm."}},
        },
    }


def _tus_upload() -> dict[str, Any]:
    return {
        "head": {
            "operationId": "uploads_offset",
            "tags": ["uploads"],
            "summary": "How many bytes the server holds",
            "description": "Until the upload has become an inspection, Upload-Offset stays below Upload-Length; "
            "then Kensa-Inspection-Id names it.",
            "security": STATION_SECURITY,
            "parameters": [_UPLOAD_ID, _TUS_RESUMABLE],
            "responses": {
                "200": {"description": "Upload-Offset, Upload-Length."},
                **error_responses(TUS_UPLOAD_ERRORS),
            },
        },
        "patch": {
            "operationId": "uploads_append",
            "tags": ["uploads"],
            "summary": "Send the next piece",
            "description": "The last piece turns the upload into an inspection, exactly as a direct upload; the "
            "response carries Kensa-Inspection-Id and Kensa-Inspection-Url.",
            "security": STATION_SECURITY,
            "parameters": [
                _UPLOAD_ID,
                _TUS_RESUMABLE,
                {"name": "Upload-Offset", "in": "header", "required": True, "schema": {"type": "integer"}},
                {"name": "Upload-Checksum", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {"204": {"description": "Stored; Upload-Offset."}, **error_responses(TUS_PIECE_ERRORS)},
        },
        "delete": {
            "operationId": "uploads_delete",
            "tags": ["uploads"],
            "summary": "Abandon an upload",
            "security": STATION_SECURITY,
            "parameters": [_UPLOAD_ID, _TUS_RESUMABLE],
            "responses": {"204": {"description": "Deleted."}, **error_responses(TUS_UPLOAD_ERRORS)},
        },
    }


def add_upload_api(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the upload endpoints, the station key and the error shape."""
    paths = result.setdefault("paths", {})
    paths["/api/v1/inspections/"] = _direct_upload()
    paths["/api/v1/uploads/"] = _tus_collection()
    paths["/api/v1/uploads/{upload_id}"] = _tus_upload()
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["StationKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A station's API key (created with create_station or in the admin, shown once).",
    }
    return result
