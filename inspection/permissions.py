from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from lines.models import Station


def station_of(request: Request) -> Station | None:
    return request.auth if isinstance(request.auth, Station) else None


class IsStation(BasePermission):
    """Only stations may upload images."""

    message = "Only a station may send images."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return station_of(request) is not None


class IsPlantUser(BasePermission):
    """A Django user (QA, operator, the MES's service account), not a station."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return station_of(request) is None and bool(request.user and request.user.is_authenticated)


class CanSeeInspection(BasePermission):
    """Plant users see every inspection; a station only those of its own line."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        station = station_of(request)
        return station is None or obj.line_id == station.line_id
