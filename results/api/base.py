from rest_framework.views import APIView

from results.mes.permissions import HasScope
from results.mes.throttling import ApiClientRateThrottle


class ClientApiView(APIView):
    """An endpoint of the MES API: API clients by bearer token and scope (`required_scope`),
    plant users by their dashboard session; throttled per API client."""

    permission_classes = [HasScope]
    throttle_classes = [ApiClientRateThrottle]
    required_scope: str
