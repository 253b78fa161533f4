from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from lines.models import Station
from lines.selectors import visible_line_ids_for_user


def station_of(request: Request) -> Station | None:
    return request.auth if isinstance(request.auth, Station) else None


class IsStation(BasePermission):
    """Only stations may upload images."""

    message = "Only a station may send images."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return station_of(request) is not None


def visible_line_id(request: Request) -> int | None:
    """The one line whose inspections the caller may see, or None for all of them.

    Views look rows up within it, so another line's inspection is "not found" exactly like an
    unknown id: a station cannot learn which ids exist on other lines.
    """
    station = station_of(request)
    return station.line_id if station is not None else None


class CanSeeInspection(BasePermission):
    """A station sees only its own line's inspections, a plant user those of the lines they
    see (lines.selectors.visible_line_ids_for_user).

    The line scope is applied to the lookup (`visible_line_id`, and the readers' line ids);
    the object check stays as a second lock, should a view ever fetch a row without it.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        line_id = visible_line_id(request)
        if line_id is not None:
            return bool(obj.line_id == line_id)
        if isinstance(request.user, AbstractBaseUser):  # a plant user (API clients have their own)
            line_ids = visible_line_ids_for_user(request.user)
            return line_ids is None or obj.line_id in line_ids
        return True
