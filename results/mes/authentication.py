"""API client authentication: `Authorization: Bearer kapi_…`.

Stations send `Bearer ksa_…` to the same endpoints (an inspection's detail): a bearer token
without this prefix is left to the next authentication class, never refused here.
"""

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from results.mes.constants import TOKEN_PREFIX
from results.mes.models import ApiClient
from results.mes.selectors import api_client_by_token, api_client_line_ids
from results.mes.services import api_client_touch

AUTHENTICATE_HEADER = 'Bearer realm="kensa"'


class InvalidApiToken(exceptions.AuthenticationFailed):
    default_detail = "The API token is not valid."
    default_code = "invalid_api_token"


class ApiClientRevoked(exceptions.AuthenticationFailed):
    default_detail = "This API client has been revoked."
    default_code = "api_client_revoked"


class ApiClientPrincipal:
    """`request.user` for an API client: authenticated, but not a Django user (no admin,
    no dashboards). `line_ids` are the lines it may see, None for all."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, client: ApiClient, line_ids: frozenset[int] | None):
        self.client = client
        self.line_ids = line_ids

    def __str__(self) -> str:
        return f"API client {self.client}"


def bearer_token(authorization: bytes) -> str | None:
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


class ApiClientAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiClient] | None:
        token = bearer_token(get_authorization_header(request))
        if token is None or not token.startswith(TOKEN_PREFIX):
            return None
        client = api_client_by_token(token)
        if client is None:
            raise InvalidApiToken()
        if client.revoked_at is not None:
            raise ApiClientRevoked()
        api_client_touch(client=client)
        return ApiClientPrincipal(client, api_client_line_ids(client)), client

    def authenticate_header(self, request: Request) -> str:
        return AUTHENTICATE_HEADER
