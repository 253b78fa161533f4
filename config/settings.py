"""Kensa settings: one module, driven by environment variables, parsed strictly.

Defaults run on a laptop (SQLite, images on the local filesystem, Redis on localhost);
`DATABASE_URL` switches to PostgreSQL and the other variables tune production. See README.
"""

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue
from rest_framework.serializers import ModelSerializer

from config.env import env_bool, env_float, env_int, env_list, env_optional_str, env_str
from inspection.queues import ALL_QUEUES, DEFAULT_QUEUE, NOTIFY_QUEUE

# Lets admin and DRF classes be subscripted with their model at run time, as the type stubs want.
django_stubs_ext.monkeypatch(extra_classes=[ModelSerializer])

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
_secret_key = env_optional_str("SECRET_KEY")
if _secret_key is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off.")
    _secret_key = "kensa-insecure-debug-only-key"
SECRET_KEY = _secret_key

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Where the embedded defaults keep their state: the SQLite file and the stored images.
KENSA_DATA_DIR = Path(env_str("KENSA_DATA_DIR", str(BASE_DIR / "var"))).resolve()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served by Kensa: plants are often offline
    "channels",
    "corsheaders",
    "django_prometheus",
    "axes",  # failed sign-ins counted and locked out (results/accounts.py)
    "lines",
    "inspection",
    "inspection.demo",
    "results",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"

# `all` serves everything (daphne, the demo). `ingest` is the upload API alone, on its own
# server (config/gunicorn.py, config/ingest.py): stations authenticate by key, so sessions,
# CSRF, messages and the admin's middleware are cost without use on that path, and are left out.
KENSA_ROLE = env_str("KENSA_ROLE", "all")
if KENSA_ROLE not in {"all", "ingest"}:
    raise ImproperlyConfigured(f"KENSA_ROLE={KENSA_ROLE!r}: use all or ingest.")
if KENSA_ROLE == "ingest":
    ROOT_URLCONF = "config.urls_ingest"
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "corsheaders.middleware.CorsMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    # The admin is installed (its models and migrations are shared) but not routed here, and
    # nobody signs in here (so no sign-in lockout middleware).
    SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "axes.W002"]
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_database_url = f"sqlite:///{KENSA_DATA_DIR / 'kensa.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_database_url),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Daphne, the worker and beat write to the demo's SQLite file at once: wait for the lock
    # instead of failing at once, and let readers run beside the writer (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# Seconds a station's key lookup is cached by each upload process: a disabled station or a
# rotated key is refused everywhere within this time (at once in the process that changed it).
KENSA_STATION_CACHE_SECONDS = env_float("KENSA_STATION_CACHE_SECONDS", 5.0, minimum=0.0)

if KENSA_ROLE == "ingest":
    # No `SELECT 1` before every upload: after a database restart the first request on each
    # connection fails with 503 database_unavailable (the station retries) and the broken
    # connection is dropped, instead of every upload paying a round trip.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

# Connections to PostgreSQL per process: a bounded pool (Django's, psycopg_pool), so that no
# number of dashboards, API clients or uploads can take more than this many from the database.
# Without it daphne kept one per request thread and per consumer thread: 50 dashboards and
# uploads held 50-82 and reached PostgreSQL's max_connections (issue 22). Size it per process,
# so that the sum over every process stays under max_connections (100 by default):
#   daphne (web)                  KENSA_DB_POOL_SIZE=20: requests and consumers borrow one per
#                                 query batch and give it back; the rest wait up to the timeout
#   ingest, per gunicorn worker   8: the door's group-commit thread, key and backlog lookups
#   celery worker                 the worker's --concurrency plus 2: each task thread holds one
#                                 while it claims and records (76 threads: 78)
#   celery beat                   2
# docker/compose.yaml sets these. 0 turns the pool off: one connection per thread, kept for
# DATABASE_CONN_MAX_AGE seconds (bounded by the threads, not by the clients).
KENSA_DB_POOL_SIZE = env_int("KENSA_DB_POOL_SIZE", 10, minimum=0)
# Seconds a request waits for a pooled connection before it is answered 503
# database_unavailable with Retry-After (rather than hanging while the pool is exhausted).
KENSA_DB_POOL_TIMEOUT = env_float("KENSA_DB_POOL_TIMEOUT", 10.0, minimum=0.1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and KENSA_DB_POOL_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django returns the connection to the pool instead
    # CONN_HEALTH_CHECKS (on, except for the ingest role) makes the pool check a connection when
    # it lends it: one the server closed while it waited (a restart, a failover,
    # pg_terminate_backend) is replaced then, not found broken by the request that uses it.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, KENSA_DB_POOL_SIZE),
        "max_size": KENSA_DB_POOL_SIZE,
        "timeout": KENSA_DB_POOL_TIMEOUT,
    }


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Kensa's own sign-in page (results/accounts.py), for operators who are not staff; the admin
# keeps its own for staff.
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# Guessing passwords at /login/ or the admin's sign-in (django-axes): after
# KENSA_SIGNIN_FAILURE_LIMIT failures for one user name from one address, that pair is refused
# (429, Retry-After) for KENSA_SIGNIN_LOCKOUT_MINUTES; a success clears the count. By the pair,
# so that a guesser cannot lock an operator out from another terminal; by the socket's address
# only, as a client can write any X-Forwarded-For. Plant admins unlock early in the admin
# (Axes, Access attempts). Station keys and API client tokens are not passwords: not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("KENSA_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("KENSA_SIGNIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "results.accounts.signin_address"
AXES_LOCKOUT_CALLABLE = "results.accounts.signin_locked"
AXES_ENABLE_ADMIN = False  # Kensa registers the attempts and the log itself (results/admin.py)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = KENSA_DATA_DIR / "static"

# Images live in object storage under keys the server chooses. Filesystem by default;
# an S3-compatible bucket comes with the ingest issue (django-storages).
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(KENSA_DATA_DIR / "storage")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# S3-compatible storage (AWS S3, MinIO, Ceph) when a bucket is named. Keys are chosen by the
# server and never reused, so nothing is checked for overwrites (one request less per upload).
# Images are served through links signed for KENSA_S3_URL_SECONDS; the bucket stays private.
KENSA_S3_BUCKET = env_optional_str("KENSA_S3_BUCKET")
KENSA_S3_URL_SECONDS = env_int("KENSA_S3_URL_SECONDS", 300, minimum=10)
if KENSA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": KENSA_S3_BUCKET,
            "endpoint_url": env_optional_str("KENSA_S3_ENDPOINT_URL"),
            "region_name": env_optional_str("KENSA_S3_REGION"),
            "access_key": env_optional_str("KENSA_S3_ACCESS_KEY_ID"),
            "secret_key": env_optional_str("KENSA_S3_SECRET_ACCESS_KEY"),
            "location": env_str("KENSA_S3_PREFIX", ""),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": KENSA_S3_URL_SECONDS,
            "file_overwrite": True,
            "signature_version": "s3v4",
        },
    }
# Uploads above this go to a temporary file instead of memory while the request is parsed.
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that
            # channels-redis blocks in BZPOPMIN: every idle WebSocket would be torn down.
            # A longer read timeout keeps them, and still notices a dead Redis.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            "prefix": "kensa",
        },
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "results.mes.authentication.ApiClientAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "inspection.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Browser clients on other origins (a station's web page with tus-js-client, an MES front end):
# the origins allowed, as scheme://host[:port], comma-separated; none by default. Only the API
# answers CORS; the tus headers may be sent and read back, and credentials are never included
# (stations and API clients send their key in Authorization).
CORS_ALLOWED_ORIGINS = env_list("KENSA_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "tus-resumable",
    "upload-checksum",
    "upload-concat",
    "upload-defer-length",
    "upload-length",
    "upload-metadata",
    "upload-offset",
    "x-http-method-override",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Max-Size",
    "Tus-Extension",
    "Kensa-Inspection-Id",
    "Idempotent-Replayed",
    "Retry-After",
)
CORS_PREFLIGHT_MAX_AGE = 3600

# --- MES API clients ----------------------------------------------------------------------------
# Requests per API client, as DRF writes rates (`<n>/<s|min|hour|day>`), counted in Redis so that
# all web processes share one count; 429 `throttled` with Retry-After above it.
KENSA_API_CLIENT_RATE = env_str("KENSA_API_CLIENT_RATE", "1200/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", KENSA_API_CLIENT_RATE):
    raise ImproperlyConfigured(f"KENSA_API_CLIENT_RATE={KENSA_API_CLIENT_RATE!r}: use e.g. 1200/min.")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kensa",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
}

# The API's OpenAPI 3 schema (/api/schema/), Swagger UI (/api/docs/) and Redoc (/api/redoc/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Kensa API",
    "DESCRIPTION": "Uploads from stations, inspections and results for the MES. Every error has the shape "
    '{"error": {"code", "message"}} with a stable code (README, Error codes).',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The contract is public inside the plant's network: integrators read it before they hold a token.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI's default validatorUrl makes the browser fetch a badge from validator.swagger.io
    # (sending it the schema's URL): plants are offline. Redoc's page is overridden for its
    # Google Fonts (templates/drf_spectacular/redoc.html).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inspection.ingest.openapi.add_upload_api",
    ],
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# kombu's Redis transport, with a channel that turns a crash after a broker restart into a
# reconnect (inspection/broker.py). The broker is Redis only: inspection/ingest/dispatch.py
# pushes task messages to its lists itself.
CELERY_BROKER_TRANSPORT = "inspection.broker:RedisTransport"
CELERY_TASK_QUEUES = [Queue(name) for name in ALL_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Take queues in the order the worker lists them (inspection/queues.py), never round robin.
    "queue_order_strategy": "priority",
    # A message not acknowledged within this many seconds goes to another worker. It must
    # exceed the longest inspection batch, or a slow batch would be delivered twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=10),
    # A worker reconnecting to a broker host that vanished without a reset (a node or pod
    # gone) gives up on the attempt after this, and tries again, instead of waiting on the
    # operating system's connect timeout (minutes).
    "socket_connect_timeout": 5.0,
    # Message places of the worker's prefetch window that each priority leaves free for those
    # above it (inspection/broker.py, docs/priority.md). Read by the channel, not by kombu.
    "kensa_priority_reserve": env_int("KENSA_PRIORITY_RESERVE", 4, minimum=0),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker outlives a Redis restart, however long
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results live in the database, not in a result backend
# Inspection tasks are idempotent (claims are conditional updates): a message is acknowledged
# only after its results are written, so a killed worker's messages are delivered again.
#
# How soon a killed worker's inspection runs again: its row is claimed (running) and its
# message unacknowledged. The beat sweeper re-sends the row once the claim lease has passed
# (KENSA_CLAIM_LEASE_SECONDS + at most KENSA_SWEEP_INTERVAL_SECONDS: about 2.5 minutes by
# default); Redis would redeliver the message itself after the visibility timeout above.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With the connection to Redis lost, unacknowledged messages go back to the queue; stop the
# tasks that hold them rather than run them twice for nothing. The threads pool cannot stop a
# running task (Celery logs "does not implement kill_job"): there the task finishes, its ack
# fails, and its message, back after the visibility timeout, finds the row done (claims are
# conditional), so nothing is written twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Kensa ------------------------------------------------------------------------------------
KENSA_MAX_IMAGE_BYTES = env_int("KENSA_MAX_IMAGE_BYTES", 25 * 1024 * 1024, minimum=1024)
KENSA_MAX_IMAGE_PIXELS = env_int("KENSA_MAX_IMAGE_PIXELS", 40_000_000, minimum=1)
# Bytes of a request's line and headers together, on both servers: more is answered 431
# headers_too_large. 16 KiB is Twisted's own limit under daphne (a camera sends under 1 KiB).
KENSA_MAX_HEADER_BYTES = env_int("KENSA_MAX_HEADER_BYTES", 16 * 1024, minimum=4096)
# The window a station's `captured_at` must fall in, around the server's now: a year back (a
# station that uploads a backlog after an outage) and a day ahead (a station's clock running
# fast). Outside it a time is a mistake, and at the far ends (year 1 or 9999 with an offset)
# not even readable back from PostgreSQL.
KENSA_CAPTURED_AT_MAX_AGE_DAYS = env_int("KENSA_CAPTURED_AT_MAX_AGE_DAYS", 365, minimum=1)
KENSA_CAPTURED_AT_MAX_AHEAD_HOURS = env_int("KENSA_CAPTURED_AT_MAX_AHEAD_HOURS", 24, minimum=0)
if KENSA_CAPTURED_AT_MAX_AGE_DAYS > 36_500 or KENSA_CAPTURED_AT_MAX_AHEAD_HOURS > 8_760:
    raise ImproperlyConfigured("KENSA_CAPTURED_AT_MAX_AGE_DAYS may be at most 36500, ..._MAX_AHEAD_HOURS at most 8760.")
# A worker that claimed an inspection and has not finished it in this time is presumed dead;
# the inspection may then be claimed again (by a redelivered message or the sweeper).
KENSA_CLAIM_LEASE_SECONDS = env_int("KENSA_CLAIM_LEASE_SECONDS", 120, minimum=5)
# The outbox sweeper re-sends inspections that stayed `queued` longer than this.
KENSA_REQUEUE_AFTER_SECONDS = env_int("KENSA_REQUEUE_AFTER_SECONDS", 60, minimum=5)
# Claims of one inspection before it is failed as poison (an image that crashes or kills
# every worker that takes it must not block a queue for ever).
KENSA_MAX_ATTEMPTS = env_int("KENSA_MAX_ATTEMPTS", 5, minimum=1)
KENSA_SWEEP_INTERVAL_SECONDS = env_int("KENSA_SWEEP_INTERVAL_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sweep-inspections": {
        "task": "inspection.tasks.sweep_inspections",
        "schedule": float(KENSA_SWEEP_INTERVAL_SECONDS),
        "options": {"queue": DEFAULT_QUEUE, "expires": float(KENSA_SWEEP_INTERVAL_SECONDS)},
    },
    "expire-uploads": {
        "task": "inspection.tasks.expire_uploads",
        "schedule": 600.0,
        "options": {"queue": DEFAULT_QUEUE, "expires": 600.0},
    },
}

# --- Webhooks (results/webhooks/, docs/webhooks.md) -----------------------------------------------
# The networks (CIDR, comma-separated) that webhook receivers may be in: every address a
# receiver's host resolves to must be inside one, checked when a subscription is saved and again
# before every request. Empty by default: no webhook is sent anywhere until an admin allows the
# plant's networks (an open default would let anyone who can make a subscription reach any
# address Kensa can, its own database and cloud metadata included).
KENSA_WEBHOOK_ALLOWED_NETWORKS = env_list("KENSA_WEBHOOK_ALLOWED_NETWORKS", [])
for _network in KENSA_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"KENSA_WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network (CIDR).") from None
# Seconds each request to a receiver may take to connect, and then between bytes.
KENSA_WEBHOOK_TIMEOUT_SECONDS = env_float("KENSA_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Retries: the n-th failed attempt waits a random time between 0 and min(cap, base x 2^(n-1))
# ("full jitter"), and a delivery is retried until this long after its result finished
# (2 days: a receiver down over a weekend day still gets everything), then marked failed.
KENSA_WEBHOOK_RETRY_BASE_SECONDS = env_float("KENSA_WEBHOOK_RETRY_BASE_SECONDS", 5.0, minimum=0.01)
KENSA_WEBHOOK_RETRY_CAP_SECONDS = env_float("KENSA_WEBHOOK_RETRY_CAP_SECONDS", 3600.0, minimum=0.01)
KENSA_WEBHOOK_RETRY_FOR_SECONDS = env_float("KENSA_WEBHOOK_RETRY_FOR_SECONDS", 2 * 24 * 3600.0, minimum=1.0)
# After a secret is rotated, deliveries are signed with the old secret too for this long, so
# that receivers can switch at their own pace.
KENSA_WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("KENSA_WEBHOOK_SECRET_OVERLAP_SECONDS", 24 * 3600, minimum=0)
# Requests in flight at once per notify task (threads), and how often beat looks for due retries
# (finished results wake the notify worker at once; beat is the backstop).
KENSA_WEBHOOK_CONCURRENCY = env_int("KENSA_WEBHOOK_CONCURRENCY", 8, minimum=1)
KENSA_WEBHOOK_SWEEP_SECONDS = env_float("KENSA_WEBHOOK_SWEEP_SECONDS", 5.0, minimum=0.1)
CELERY_BEAT_SCHEDULE["deliver-webhooks"] = {
    "task": "results.webhooks.tasks.deliver_webhooks",
    "schedule": KENSA_WEBHOOK_SWEEP_SECONDS,
    "options": {"queue": NOTIFY_QUEUE, "expires": KENSA_WEBHOOK_SWEEP_SECONDS},
}

KENSA_RESULTS_PAGE_SIZE = env_int("KENSA_RESULTS_PAGE_SIZE", 100, minimum=1)
KENSA_RESULTS_MAX_PAGE_SIZE = env_int("KENSA_RESULTS_MAX_PAGE_SIZE", 1000, minimum=1)
# How the plant reaches Kensa (scheme, host and port, no path), for the absolute links that
# webhooks and MQTT messages carry; API responses without it use the request's host.
KENSA_PUBLIC_URL = env_str("KENSA_PUBLIC_URL", "").rstrip("/")
if KENSA_PUBLIC_URL and not re.fullmatch(r"https?://[^/?#\s]+", KENSA_PUBLIC_URL):
    raise ImproperlyConfigured("KENSA_PUBLIC_URL is a scheme, host and port (https://kensa.plant.example), no path.")
# How long a signed image link in a result stays valid (inspection/links.py).
KENSA_IMAGE_LINK_SECONDS = env_int("KENSA_IMAGE_LINK_SECONDS", 900, minimum=10)
# An unfinished resumable (tus) upload is kept this long after its last piece arrived.
KENSA_UPLOAD_EXPIRY_SECONDS = env_int("KENSA_UPLOAD_EXPIRY_SECONDS", 24 * 3600, minimum=60)
# Part files of resumable uploads. Web hosts write them and a worker expires them, so they
# share this directory (one volume in docker/compose.yaml).
KENSA_UPLOADS_DIR = Path(env_str("KENSA_UPLOADS_DIR", str(KENSA_DATA_DIR / "uploads"))).resolve()
# A model upload is loaded and tried in a child process killed after this many seconds.
KENSA_MODEL_CHECK_SECONDS = env_float("KENSA_MODEL_CHECK_SECONDS", 120.0, minimum=0.001)
# Per worker process: how many inspections one forward pass (and one database round) takes
# at most, and how long the first of them may wait for the rest. Run the worker with --pool
# threads and a concurrency of about twice the batch size, so that messages of one image still
# fill a batch while another is in the model (KENSA_IMAGES_IN_FLIGHT bounds the work when
# messages carry groups).
KENSA_BATCH_SIZE = env_int("KENSA_BATCH_SIZE", 32, minimum=1)
KENSA_BATCH_WAIT_MS = env_float("KENSA_BATCH_WAIT_MS", 10.0, minimum=0.0)
# Where uploads are accepted: how many inspections accepted together (one commit of the door)
# share one task message. A worker then reserves, acks and claims them as one; a member that
# fails transiently goes back alone (inspection/tasks.py). 1 sends one message per image.
KENSA_TASK_GROUP_SIZE = env_int("KENSA_TASK_GROUP_SIZE", 32, minimum=1)
# Per worker process: the most images claimed and not yet recorded at once, whatever the
# messages' sizes (a group larger than this runs alone). Four batches: one decoding, one in the
# model, one being recorded, one claiming.
KENSA_IMAGES_IN_FLIGHT = env_int("KENSA_IMAGES_IN_FLIGHT", 4 * KENSA_BATCH_SIZE, minimum=1)
# Of those, how many each priority leaves free for the priorities above it: a critical image
# that reaches a worker busy with a low line's flood is claimed at once (docs/priority.md).
# A quarter of a batch per level; KENSA_PRIORITY_RESERVE does the same for reserved messages.
KENSA_PRIORITY_RESERVE_IMAGES = env_int("KENSA_PRIORITY_RESERVE_IMAGES", max(1, KENSA_BATCH_SIZE // 4), minimum=0)
# A worker process serves its own metrics (inspection/inference/metrics.py) on this port; 0: off.
KENSA_WORKER_METRICS_PORT = env_int("KENSA_WORKER_METRICS_PORT", 0, minimum=0)
# Model versions a worker keeps loaded (most recently used); a swap loads the new one first.
KENSA_MODEL_CACHE_SIZE = env_int("KENSA_MODEL_CACHE_SIZE", 3, minimum=1)
# Threads of one forward pass on the CPU (torch's intra-op threads); 0: half the CPUs the worker
# may use, at least one. The other half decodes the next batch meanwhile: more torch threads
# beside the decoding threads made batches slower, not faster (docs/performance.md#inference).
KENSA_TORCH_THREADS = env_int("KENSA_TORCH_THREADS", 0, minimum=0)
# Device for inference: "auto" takes CUDA when present, else the CPU.
KENSA_INFERENCE_DEVICE = env_str("KENSA_INFERENCE_DEVICE", "auto")
if KENSA_INFERENCE_DEVICE not in {"auto", "cpu", "cuda"} and not KENSA_INFERENCE_DEVICE.startswith("cuda:"):
    raise ImproperlyConfigured(f"KENSA_INFERENCE_DEVICE={KENSA_INFERENCE_DEVICE!r}: use auto, cpu, cuda or cuda:N.")

# --- MQTT push of results (results/mqtt/, docs/mqtt.md) -------------------------------------------
# The plant's broker, as mqtt://[user:password@]host[:1883] or mqtts://…[:8883] (TLS, checked
# against the system's CA certificates or KENSA_MQTT_CA_FILE); empty: no MQTT. `manage.py
# publish_mqtt` reads the result feed by cursor and publishes each result to
# <prefix>/<line code>/results at QoS 1. The message never repeats the URL: it holds a password.
KENSA_MQTT_URL = env_str("KENSA_MQTT_URL", "")
if KENSA_MQTT_URL:
    try:
        _mqtt_port = urlsplit(KENSA_MQTT_URL).port  # raises for a port that is no number or out of range
        _mqtt_url_ok = re.fullmatch(r"mqtts?://([^/?#@]*@)?[^/?#@]+/?", KENSA_MQTT_URL) is not None
    except ValueError:
        _mqtt_url_ok = False
    if not _mqtt_url_ok:
        raise ImproperlyConfigured("KENSA_MQTT_URL: use mqtt://[user:password@]host[:port] or mqtts://….")
# A PEM file of CA certificates for an mqtts:// broker whose certificate the plant's own CA signed.
KENSA_MQTT_CA_FILE = env_optional_str("KENSA_MQTT_CA_FILE")
KENSA_MQTT_TOPIC_PREFIX = env_str("KENSA_MQTT_TOPIC_PREFIX", "kensa")
if not re.fullmatch(r"[^+#\x00]+", KENSA_MQTT_TOPIC_PREFIX) or KENSA_MQTT_TOPIC_PREFIX.startswith("$"):
    raise ImproperlyConfigured(f"KENSA_MQTT_TOPIC_PREFIX={KENSA_MQTT_TOPIC_PREFIX!r}: no +, # or NUL, not $….")
# How often the publisher looks for newly finished results when it has caught up.
KENSA_MQTT_POLL_SECONDS = env_float("KENSA_MQTT_POLL_SECONDS", 0.5, minimum=0.05)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every request at INFO: webhook attempts are recorded in the database instead.
    "loggers": {"django.db.backends": {"level": "INFO"}, "httpx": {"level": "WARNING"}},
}

# --- Transport security -------------------------------------------------------------------------
# The demo (`manage.py demo` sets KENSA_DEMO for its processes) and DEBUG run on a laptop over
# plain http: cookies without Secure, no HSTS, /metrics and /ready open to anyone.
KENSA_DEMO = env_bool("KENSA_DEMO", False)
# Production is served over HTTPS (a TLS-terminating proxy in front of daphne and the ingest
# server): cookies are Secure and browsers are told to keep to HTTPS (HSTS). A plant that serves
# plain HTTP on its own network says so with this one setting; start-up logs it as a warning.
KENSA_PLAIN_HTTP = env_bool("KENSA_PLAIN_HTTP", False) or DEBUG or KENSA_DEMO
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not KENSA_PLAIN_HTTP)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not KENSA_PLAIN_HTTP)
# Sent only on HTTPS answers (SecurityMiddleware), so it is harmless behind a plain-HTTP hop.
# A year, as browsers' preload lists ask; 0 turns it off.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if KENSA_PLAIN_HTTP else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# The header a TLS-terminating proxy sets to say the client used HTTPS, as `Header-Name=value`
# (e.g. `X-Forwarded-Proto=https`); unset by default, since trusting it behind no proxy would let
# any client claim HTTPS. Only name it when the proxy always sets or strips that header.
_proxy_ssl_header = env_optional_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header is not None:
    _name, _, _value = _proxy_ssl_header.partition("=")
    if not _name.strip() or not _value.strip():
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={_proxy_ssl_header!r}: use Header-Name=value.")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())

# /metrics and /ready name every line and the state of the database: who may read them
# (inspection/serving/private.py). A request is let in when it carries
# `Authorization: Bearer <KENSA_METRICS_TOKEN>` or comes from one of the networks (CIDR) in
# KENSA_METRICS_ALLOWED_NETWORKS. Loopback by default, so that a container's own health check
# reaches /ready; Prometheus sends the token. Open to all only in the demo and with DEBUG.
# Behind a reverse proxy on the same host every request comes from loopback: set the networks
# to "none" there and use the token.
KENSA_METRICS_TOKEN = env_optional_str("KENSA_METRICS_TOKEN")
_metrics_networks = env_list("KENSA_METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
KENSA_METRICS_ALLOWED_NETWORKS = [] if _metrics_networks == ["none"] else _metrics_networks
for _network in KENSA_METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"KENSA_METRICS_ALLOWED_NETWORKS: {_network!r} is not a network (CIDR).") from None
KENSA_METRICS_PUBLIC = DEBUG or KENSA_DEMO
