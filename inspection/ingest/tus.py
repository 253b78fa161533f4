"""The tus 1.0.0 resumable upload protocol under `/api/v1/uploads/`: core, creation,
checksum, expiration and termination, so that standard clients (tuspy, tus-js-client) work
unchanged. Stations authenticate as for direct uploads; an upload is visible only to the
station that created it.
"""

import base64
import binascii
import re
import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inspection.errors import ApiError, KensaError, as_api_error
from inspection.ingest import resumable
from inspection.ingest.authentication import MissingStationKey, StationKeyAuthentication
from inspection.ingest.services import Accepted
from inspection.models import ResumableUpload
from inspection.permissions import IsStation, station_of
from lines.models import Station

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,checksum,termination"


@extend_schema(exclude=True)  # described by hand with the direct upload (inspection/ingest/openapi.py)
class TusView(APIView):
    authentication_classes = [StationKeyAuthentication]
    permission_classes = [IsStation]
    parser_classes: list[Any] = []  # bodies are streamed by the protocol, never parsed

    def get_permissions(self) -> Any:
        # Discovery (OPTIONS) needs no key, as tus clients send it before anything else.
        return [] if self.request.method == "OPTIONS" else super().get_permissions()

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> Any:
        if not request.successful_authenticator:
            raise MissingStationKey()
        super().permission_denied(request, message, code)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise ApiError(
                "tus_version_unsupported",
                f"Send Tus-Resumable: {TUS_VERSION}.",
                status.HTTP_412_PRECONDITION_FAILED,
                tus_version=TUS_VERSION,
            )

    def handle_exception(self, exc: Exception) -> Response:
        """Refusals from the services answered with their code's status, except a line that takes
        no images: 422, which tus clients treat as final (resumable.LINE_REFUSALS)."""
        if isinstance(exc, KensaError):
            line_refused = exc.code in resumable.LINE_REFUSALS
            exc = as_api_error(exc, resumable.HTTP_LINE_REFUSED if line_refused else None)
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = TUS_VERSION
        return response

    @property
    def station(self) -> Station:
        station = station_of(self.request)
        assert station is not None  # IsStation guarantees it
        return station


def _upload_headers(upload: ResumableUpload) -> dict[str, str]:
    return {
        "Upload-Offset": str(resumable.offset_acknowledged(upload)),
        "Upload-Length": str(upload.length),
        "Upload-Expires": http_date(upload.expires_at.timestamp()),
        "Cache-Control": "no-store",
    }


def _inspection_headers(request: Request, accepted: Accepted | None) -> dict[str, str]:
    if accepted is None:
        return {}
    inspection_id = accepted.inspection.id
    url = request.build_absolute_uri(reverse("inspection-detail", args=[inspection_id]))
    return {"Kensa-Inspection-Id": str(inspection_id), "Kensa-Inspection-Url": url}


# ASCII digits only: str.isdigit accepts "²" and other Unicode digits that int() refuses, and
# a bound keeps int() from its own limit on long numbers; 20 digits exceed any real size.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,20}")


def _int_header(request: Request, name: str) -> int:
    raw = request.headers.get(name, "")
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ApiError(f"{name.lower().replace('-', '_')}_invalid", f"Send {name} as a whole number of bytes.")
    return int(raw)


class UploadCollectionView(TusView):
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        headers = {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(settings.KENSA_MAX_IMAGE_BYTES),
            "Tus-Checksum-Algorithm": ",".join(resumable.CHECKSUM_ALGORITHMS),
        }
        return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)

    def post(self, request: Request) -> Response:
        if "Upload-Defer-Length" in request.headers:
            raise ApiError("upload_length_required", "Send Upload-Length; deferred lengths are not supported.")
        length = _int_header(request, "Upload-Length")
        metadata = resumable.parse_metadata(request.headers.get("Upload-Metadata", ""))
        upload = resumable.upload_create(station=self.station, length=length, metadata=metadata)
        url = request.build_absolute_uri(reverse("upload-detail", args=[upload.id]))
        headers = {"Location": url, "Upload-Expires": http_date(upload.expires_at.timestamp())}
        return Response(status=status.HTTP_201_CREATED, headers=headers)


class UploadDetailView(TusView):
    def head(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload = resumable.upload_get(station=self.station, upload_id=upload_id)
        accepted = Accepted(upload.inspection, replayed=True) if upload.inspection else None
        return Response(
            status=status.HTTP_200_OK, headers=_upload_headers(upload) | _inspection_headers(request, accepted)
        )

    def patch(self, request: Request, upload_id: uuid.UUID) -> Response:
        if request.content_type.split(";")[0].strip() != "application/offset+octet-stream":
            raise ApiError(
                "upload_content_type",
                "Send pieces as application/offset+octet-stream.",
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        upload = resumable.upload_get(station=self.station, upload_id=upload_id)
        offset = _int_header(request, "Upload-Offset")
        accepted = resumable.upload_append(
            upload=upload, offset=offset, body=request._request, checksum=_checksum(request)
        )
        headers = _upload_headers(upload) | _inspection_headers(request, accepted)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)

    def delete(self, request: Request, upload_id: uuid.UUID) -> Response:
        resumable.upload_delete(upload=resumable.upload_get(station=self.station, upload_id=upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _checksum(request: Request) -> tuple[str, bytes] | None:
    header = request.headers.get("Upload-Checksum")
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in resumable.CHECKSUM_ALGORITHMS:
        raise ApiError("checksum_algorithm_unsupported", f"Use one of {', '.join(resumable.CHECKSUM_ALGORITHMS)}.")
    try:
        return algorithm, base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ApiError("upload_checksum_invalid", "Upload-Checksum is not base64.") from None
