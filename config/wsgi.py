"""WSGI entry point: what the upload API's server (gunicorn, KENSA_ROLE=ingest) runs.

Direct uploads (`POST /api/v1/inspections/`) go straight to their view. Django's middleware
and URL resolution cost more CPU per upload than storing the image, and none of them has work
to do for a station's POST: no session, cookie, CSRF token or redirect applies, and the view
authenticates the station and answers in the API's error shape itself. Django's request
signals still run around it, so database connections are kept and dropped as for any other
request. Everything else takes Django's full path.
"""

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from django.core import signals  # noqa: E402 - Django must be set up first
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.core.handlers.wsgi import WSGIRequest, get_script_name  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402

from inspection.api.views import inspection_create_view  # noqa: E402

logger = logging.getLogger("kensa.ingest")

UPLOAD_PATH = "/api/v1/inspections/"
StartResponse = Callable[..., Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == UPLOAD_PATH:
        return _upload(environ, start_response)
    return django_application(environ, start_response)


def _upload(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    set_script_prefix(get_script_name(environ))
    signals.request_started.send(sender=_upload, environ=environ)
    try:
        response = inspection_create_view(WSGIRequest(environ))
    except SuspiciousOperation as exc:  # e.g. a Host header outside ALLOWED_HOSTS
        logger.warning("Upload refused: %s", exc)
        response = _error(400, "bad_request", "The request is malformed.")
    except Exception:
        logger.exception("Upload failed")
        response = _error(500, "internal_error", "The upload failed on the server.")
    start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
    return response  # the server's call to its close() sends request_finished, as in Django


def _error(status: int, code: str, message: str) -> HttpResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)
