"""docker/ cannot be run here (no Docker engine); these checks keep it honest by review tools
that do run: promtool for Prometheus, and the compose file's references to the project."""

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from inspection.queues import NOTIFY_QUEUE, WORKER_QUEUES
from tests.processes import MOSQUITTO, free_port, port_open

DOCKER = Path(__file__).resolve().parents[2] / "docker"
promtool = shutil.which("promtool")


@pytest.mark.skipif(promtool is None, reason="promtool is not installed (Debian package: prometheus)")
@pytest.mark.parametrize(
    "command",
    [["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]],
)
def test_prometheus_files(command, tmp_path):
    """promtool checks that the metrics token's file exists: the compose file mounts it at
    /run/secrets/metrics_token; here a copy of the folder points at a file of the test's."""
    assert promtool is not None
    folder = tmp_path / "prometheus"
    shutil.copytree(DOCKER / "prometheus", folder)
    token = tmp_path / "metrics_token"
    token.write_text("test-token\n")
    config = folder / "prometheus.yml"
    assert "/run/secrets/metrics_token" in config.read_text()
    config.write_text(config.read_text().replace("/run/secrets/metrics_token", str(token)))
    result = subprocess.run([promtool, *command], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_documented_entry_points():
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    assert services["web"]["command"][:1] == ["daphne"] and "config.asgi:application" in services["web"]["command"]
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "config", "worker"]
    assert tuple(worker[worker.index("-Q") + 1].split(",")) == WORKER_QUEUES
    # Webhooks go out from a worker of their own: never from a thread an inspection needs.
    notify = services["notify"]["command"]
    assert notify[:4] == ["celery", "-A", "config", "worker"]
    assert notify[notify.index("-Q") + 1] == NOTIFY_QUEUE
    # The batcher gathers inspections across the threads of one process (inspection/inference/batching.py).
    assert worker[worker.index("--pool") + 1] == "threads"
    batch_size = int(services["worker"]["environment"]["KENSA_BATCH_SIZE"])
    assert int(worker[worker.index("--concurrency") + 1]) >= 2 * batch_size
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name in ("web", "worker", "notify", "beat"):
        assert services[name]["environment"]["KENSA_DATA_DIR"] == "/data"


def test_compose_serves_uploads_with_the_ingest_role_under_gunicorn():
    ingest = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["ingest"]
    assert ingest["command"] == ["gunicorn", "-c", "config/gunicorn.py", "config.ingest:application"]
    assert ingest["environment"]["KENSA_ROLE"] == "ingest"


def compose_worker_metrics_port() -> int:
    worker = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["worker"]
    return int(worker["environment"]["KENSA_WORKER_METRICS_PORT"])


def test_prometheus_scrapes_the_upload_api_as_an_allowed_host():
    scrape = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert targets == {"kensa-web": ["web:8000"], "kensa-ingest": ["ingest:8001"], "kensa-worker": ["worker:9100"]}
    assert compose_worker_metrics_port() == 9100
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    allowed = compose["ingest"]["environment"]["ALLOWED_HOSTS"].split(",")
    assert {"web", "ingest"} <= set(allowed)
    assert compose["ingest"]["ports"] == ["8001:8001"]


def test_prometheus_sends_the_metrics_token_that_kensa_reads():
    """/metrics answers only the token (inspection/serving/private.py): Prometheus must send the
    same secret that every Kensa service reads."""
    scrape = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    for job in scrape:
        assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert "metrics_token" in services["prometheus"]["secrets"] and "metrics_token" in compose["secrets"]
    for name in ("web", "ingest", "worker", "notify", "beat", "mqtt"):
        assert services[name]["environment"]["KENSA_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
        assert "metrics_token" in services[name]["secrets"]


def test_the_database_pools_of_every_service_fit_postgres():
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    pools = {
        name: int(services[name]["environment"]["KENSA_DB_POOL_SIZE"])
        for name in ("web", "ingest", "worker", "notify", "beat", "mqtt")
    }
    worker = services["worker"]["command"]
    assert pools["worker"] >= int(worker[worker.index("--concurrency") + 1]), "a task thread would wait on the pool"
    notify = services["notify"]["command"]
    assert pools["notify"] >= int(notify[notify.index("--concurrency") + 1]), "a task thread would wait on the pool"
    ingest_workers = 2  # config/gunicorn.py's WEB_CONCURRENCY default
    total = (
        pools["web"]
        + ingest_workers * pools["ingest"]
        + pools["worker"]
        + pools["notify"]
        + pools["beat"]
        + pools["mqtt"]
    )
    command = services["postgres"]["command"]
    max_connections = int(command[command.index("-c") + 1].split("=")[1])
    assert total + 10 <= max_connections  # room for migrate, psql and the superuser's reserve


def test_compose_runs_the_mqtt_publisher_against_its_broker():
    """One publisher (its cursor is per name), on the compose file's Mosquitto unless the
    plant names its own broker."""
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    assert services["mqtt"]["command"] == ["python", "manage.py", "publish_mqtt", "--name", "kensa"]
    assert services["mqtt"]["environment"]["KENSA_MQTT_URL"] == "${KENSA_MQTT_URL:-mqtt://mosquitto:1883}"
    assert services["mqtt"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "mosquitto" in services["mqtt"]["depends_on"]
    mounted = [volume.split(":")[0] for volume in services["mosquitto"]["volumes"]]
    assert (DOCKER / mounted[0]).is_file()
    # Anonymous on the compose network: published on the host's loopback only.
    assert services["mosquitto"]["ports"] == ["127.0.0.1:1883:1883"]


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed (Debian package: mosquitto)")
def test_the_mosquitto_configuration_starts_a_broker(tmp_path):
    """The compose file's broker configuration, run by a real Mosquitto (on a free port, its
    data in a temporary folder): a typo in it stops the broker at start."""
    port = free_port()
    config = (DOCKER / "mosquitto" / "mosquitto.conf").read_text()
    assert "listener 1883\n" in config and "persistence_location /mosquitto/data/\n" in config
    config = config.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    config = config.replace("/mosquitto/data/", f"{tmp_path}/")
    config += f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
    (tmp_path / "mosquitto.conf").write_text(config)
    broker = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            assert broker.poll() is None, broker.communicate()[1].decode()
            assert time.monotonic() < deadline, "mosquitto did not open its port"
            time.sleep(0.1)
    finally:
        broker.terminate()
        broker.wait(10)
