"""A request rate per API client (KENSA_API_CLIENT_RATE), counted in Redis so that every web
process shares one count. Dashboard users and stations are not counted here."""

import logging

import redis
from django.conf import settings
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from results.mes.models import ApiClient

logger = logging.getLogger(__name__)


class ApiClientRateThrottle(SimpleRateThrottle):
    cache_alias = "throttle"

    def __init__(self) -> None:
        self.cache = caches[self.cache_alias]
        super().__init__()

    def get_rate(self) -> str:
        # Read at every request rather than once from DRF's settings, so a change (a test's) applies.
        return str(settings.KENSA_API_CLIENT_RATE)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not isinstance(request.auth, ApiClient):
            return None
        return f"throttle:api-client:{request.auth.pk}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except redis.RedisError as exc:
            # Redis down: serve the MES rather than fail it; the count resumes with Redis.
            logger.warning("API client throttle skipped, Redis unavailable: %s", exc)
            return True
