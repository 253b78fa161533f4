"""Station authentication: `Authorization: Bearer <station key>`."""

from typing import Any

from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from inspection.errors import ApiError
from lines.models import Station
from lines.selectors import station_by_key

BEARER = b"bearer"
AUTHENTICATE_HEADER = 'Bearer realm="kensa"'


class MissingStationKey(exceptions.NotAuthenticated):
    default_detail = "Send the station's API key as 'Authorization: Bearer <key>'."
    default_code = "missing_api_key"


class InvalidStationKey(exceptions.AuthenticationFailed):
    default_detail = "The station API key is not valid."
    default_code = "invalid_api_key"


class StationPrincipal:
    """`request.user` for a station: authenticated, but not a Django user (no admin, no MES)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, station: Station):
        self.station = station

    def __str__(self) -> str:
        return f"station {self.station}"


def station_from_authorization(authorization: bytes) -> Station | None:
    """The active station whose key the `Authorization: Bearer <key>` header carries; None when
    the header carries no bearer credentials at all. A wrong key or a disabled station raises."""
    key = bearer_key(authorization)
    return None if key is None else checked_station(station_by_key(key))


def bearer_key(authorization: bytes) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None for no bearer credentials."""
    parts = authorization.split()
    if not parts or parts[0].lower() != BEARER:
        return None
    if len(parts) != 2:
        raise InvalidStationKey()
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidStationKey() from None


def checked_station(station: Station | None) -> Station:
    """The station a key named, if it may upload; raises for an unknown key or a disabled station."""
    if station is None:
        raise InvalidStationKey()
    if not station.active:
        raise ApiError("station_inactive", f"Station {station} is disabled.", status.HTTP_403_FORBIDDEN)
    return station


class StationKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Station] | None:
        station = station_from_authorization(get_authorization_header(request))
        return None if station is None else (StationPrincipal(station), station)

    def authenticate_header(self, request: Request) -> str:
        return AUTHENTICATE_HEADER
