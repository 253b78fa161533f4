"""Who may call an endpoint: each view names the one scope it needs (`required_scope`)."""

from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from inspection.errors import ApiError
from inspection.parsing import LINE_CODE_RULE, is_line_code
from inspection.permissions import station_of
from lines.models import ProductionLine
from lines.selectors import visible_line_ids_for_user
from results.mes.authentication import ApiClientPrincipal
from results.mes.constants import Scope
from results.mes.models import ApiClient

# Plant users logged in to the dashboards read (their lines, lines.selectors); acknowledging and managing webhooks
# are an integration's acts, and need an API client (acknowledgements are per client).
SESSION_SCOPES = frozenset({Scope.RESULTS_READ, Scope.INSPECTIONS_READ})


def api_client_of(request: Request) -> ApiClient | None:
    return request.auth if isinstance(request.auth, ApiClient) else None


def visible_line_ids(request: Request) -> frozenset[int] | None:
    """The lines whose inspections the caller may read; None for every line. An API client's
    are its own; a plant user's come from their line access (lines.selectors); a station's one
    line is applied by inspection.permissions.visible_line_id."""
    user = request.user
    if isinstance(user, ApiClientPrincipal):
        return user.line_ids
    if station_of(request) is not None:
        return None
    return visible_line_ids_for_user(user)


def visible_line_by_code(request: Request, code: str) -> int:
    """The id of the line named `code`, if the caller may see it. A code no line can have is
    `line_invalid` (a NUL or a newline must not reach PostgreSQL); a line the caller may not
    see is answered as one that does not exist (`line_not_found`)."""
    if not is_line_code(code):
        raise ApiError("line_invalid", LINE_CODE_RULE)
    line_ids = visible_line_ids(request)
    line_id = ProductionLine.objects.filter(code=code).values_list("id", flat=True).first()
    if line_id is None or (line_ids is not None and line_id not in line_ids):
        raise ApiError("line_not_found", f"No line has the code {code!r}.", status.HTTP_404_NOT_FOUND)
    return line_id


def api_client_required(request: Request) -> ApiClient:
    client = api_client_of(request)
    if client is None:
        raise ApiError("api_client_required", "Only an API client can do this.", status.HTTP_403_FORBIDDEN)
    return client


class HasScope(BasePermission):
    """An API client needs the view's `required_scope`; a logged-in plant user needs it to be
    one of SESSION_SCOPES; a station passes only where the view sets `stations_allowed` (and
    checks the station's line itself)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        scope: str = getattr(view, "required_scope")  # noqa: B009 - every view using it must set it
        client = api_client_of(request)
        if client is not None:
            if not client.has_scope(scope):
                raise ApiError(
                    "scope_missing", f"This API client lacks the scope {scope!r}.", status.HTTP_403_FORBIDDEN
                )
            return True
        if station_of(request) is not None:
            return bool(getattr(view, "stations_allowed", False))
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 not_authenticated
        if scope not in SESSION_SCOPES:
            api_client_required(request)
        return True
