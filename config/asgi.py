"""ASGI entry point: `daphne config.asgi:application` serves HTTP and the dashboards' WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from inspection.serving import daphne  # noqa: E402
from inspection.serving.websocket import RoutedOrDenied  # noqa: E402
from results.routing import websocket_urlpatterns  # noqa: E402

# daphne imports this module before it builds its server: uploads are then refused at their
# headers, and oversized headers answered 431 in JSON (inspection/serving/daphne.py).
daphne.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session only: the consumer finds its user when the feed opens, in the one database
        # call that also checks the line (results/consumers.py).
        "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(RoutedOrDenied(websocket_urlpatterns))),
    }
)
