"""WSGI entry point, for WSGI servers and tools that look for one (Django's `WSGI_APPLICATION`).

Kensa's own servers are ASGI: daphne for the pages, API and WebSockets (config/asgi.py) and
gunicorn with uvicorn workers for the upload API (config/ingest.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
