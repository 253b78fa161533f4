from django.urls import re_path

from results.consumers import LineFeedConsumer

websocket_urlpatterns = [
    re_path(r"^ws/lines/(?P<line_code>[a-z0-9][a-z0-9-]{0,47})/$", LineFeedConsumer.as_asgi()),
]
