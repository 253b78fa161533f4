"""What both servers answer before a view runs (inspection/serving/), through the real processes:
uploads refused at their headers, oversized headers, foreign hosts, WebSocket paths with no
route, who may read /metrics and /ready, and CORS."""

import json
import socket
import time
from collections.abc import Iterator

import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import Process, process_env, start_daphne, start_gunicorn_ingest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-secret-for-tests"
ORIGIN = "https://station.example"
EDGE_ENV = {
    "KENSA_METRICS_TOKEN": TOKEN,
    "KENSA_METRICS_ALLOWED_NETWORKS": "none",
    "KENSA_CORS_ALLOWED_ORIGINS": ORIGIN,
}


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    process = start_daphne(process_env(**EDGE_ENV), process_logs, name="daphne-edges")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def ingest(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    process = start_gunicorn_ingest(process_env(**EDGE_ENV, WEB_CONCURRENCY="1"), process_logs)
    yield process
    process.stop()


@pytest.fixture(params=["daphne", "ingest"])
def server(request) -> Process:
    return request.getfixturevalue(request.param)


def exchange(server: Process, head: bytes, body: bytes = b"", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send a raw request (its head, then `body`) and read the answer until the server closes or
    its body is complete; (0, {}, b"") when the connection closed with no answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head + body)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                headers = _headers(data[:head_end])
                if len(data) - head_end - 4 >= int(headers.get("content-length", "-1")) >= 0:
                    break
                if headers.get("transfer-encoding") == "chunked" and data.endswith(b"0\r\n\r\n"):
                    break
    if not data:
        return 0, {}, b""
    head_part, _, content = data.partition(b"\r\n\r\n")
    headers = _headers(head_part)
    if headers.get("transfer-encoding") == "chunked":
        content = _dechunk(content)
    return int(head_part.split(b" ", 2)[1]), headers, content


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def code_of(content: bytes) -> str:
    return json.loads(content)["error"]["code"]


def test_an_anonymous_upload_is_refused_at_its_headers_without_its_body(server):
    """A 1 GB Content-Length with a short body used to hold daphne's connection unanswered, and a
    300 MB body was read whole before the 401: now the answer comes before the body is sent."""
    for path in ("/api/v1/inspections/", "/api/v1/uploads/"):
        head = request_head("POST", path, {"Content-Type": "image/jpeg", "Content-Length": str(1 << 30)})
        started = time.monotonic()
        status, headers, content = exchange(server, head, b"x" * 1000)
        assert (status, code_of(content)) == (401, "missing_api_key"), (path, content)
        assert headers["www-authenticate"] == 'Bearer realm="kensa"'
        assert time.monotonic() - started < 5


def test_an_upload_declaring_too_many_bytes_is_refused_at_its_headers(server):
    _, key = make_station(make_line(code=f"edges-size-{server.name}"))
    head = request_head(
        "POST",
        "/api/v1/inspections/",
        {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg", "Content-Length": str(300 << 20)},
    )
    status, _, content = exchange(server, head)  # not one byte of the body is sent
    assert (status, code_of(content)) == (413, "image_too_large")


def test_a_wrong_key_on_daphne_is_still_refused_after_the_body(daphne):
    """A key this process has not looked up is checked by the view (no database from the
    reactor); the body it may send first is bounded by the size limit."""
    image = jpeg_bytes()
    head = request_head(
        "POST",
        "/api/v1/inspections/?serial=X",
        {"Authorization": "Bearer not-a-key", "Content-Type": "image/jpeg", "Content-Length": str(len(image))},
    )
    status, _, content = exchange(daphne, head, image)
    assert (status, code_of(content)) == (401, "invalid_api_key")


def test_oversized_headers_are_answered_431_in_json(server):
    # 64 KB on daphne used to drop the connection with no status; 8 MB was accepted by the
    # ingest server. One big line and many small ones are both over the limit.
    for headers in ({"X-Big": "a" * (64 * 1024)}, {f"X-Many-{i}": "b" * 100 for i in range(300)}):
        status, _, content = exchange(server, request_head("GET", "/health", headers))
        assert (status, code_of(content)) == (431, "headers_too_large")
    assert exchange(server, request_head("GET", "/health", {"X-Small": "c" * 1000}))[0] == 200


def test_a_host_outside_allowed_hosts_is_400_host_invalid_in_json(server):
    for method, path in (("GET", "/health"), ("GET", "/api/v1/inspections/x/"), ("POST", "/api/v1/uploads/")):
        head = f"{method} {path} HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n\r\n".encode()
        status, headers, content = exchange(server, head)
        assert (status, headers["content-type"], code_of(content)) == (400, "application/json", "host_invalid")


def test_a_websocket_path_with_no_route_is_denied_without_a_traceback(daphne):
    logged_before = len(daphne.log.read_text(errors="replace"))
    for path in ("/ws/lines/A_B/", "/ws/nothing/"):
        with pytest.raises(InvalidStatus) as refused:
            websockets.sync.client.connect(f"ws://127.0.0.1:{daphne.port}{path}", open_timeout=10)
        assert refused.value.response.status_code == 403
    logged = daphne.log.read_text(errors="replace")[logged_before:]
    assert "WSREJECT /ws/lines/A_B/" in logged
    assert "Traceback" not in logged and "No route found" not in logged


def test_metrics_and_ready_need_the_token_health_does_not(server):
    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        status, _, content = exchange(server, request_head("GET", path, headers))
        return status, content

    for path in ("/metrics", "/ready"):
        status, content = get(path, {})
        assert (status, code_of(content)) == (403, "metrics_forbidden")
        assert get(path, {"Authorization": "Bearer wrong"})[0] == 403
        status, content = get(path, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, content
    assert b"# TYPE django_http_requests" in get("/metrics", {"Authorization": f"Bearer {TOKEN}"})[1]
    assert get("/health", {}) == (200, b'{"status": "ok"}')


def test_cors_preflight_and_answers_name_the_allowed_origin_only(server):
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "upload-offset, tus-resumable, content-type, authorization",
    }
    status, headers, _ = exchange(server, request_head("OPTIONS", "/api/v1/uploads/", preflight))
    assert status in (200, 204)
    assert headers["access-control-allow-origin"] == ORIGIN
    assert {"upload-offset", "tus-resumable", "authorization"} <= set(
        headers["access-control-allow-headers"].split(", ")
    )
    assert "PATCH" in headers["access-control-allow-methods"]

    status, headers, _ = exchange(
        server, request_head("OPTIONS", "/api/v1/uploads/", {**preflight, "Origin": "https://evil.example"})
    )
    assert not any(name.startswith("access-control-") for name in headers)

    # The answer to the upload itself (the door, on the ingest server) lets the page read its id.
    _, key = make_station(make_line(code=f"edges-cors-{server.name}"))
    image = jpeg_bytes()
    head = request_head(
        "POST",
        "/api/v1/inspections/?serial=CORS-1",
        {
            "Authorization": f"Bearer {key}",
            "Content-Type": "image/jpeg",
            "Content-Length": str(len(image)),
            "Origin": ORIGIN,
        },
    )
    status, headers, content = exchange(server, head, image)
    assert status == 202, content
    assert headers["access-control-allow-origin"] == ORIGIN
    assert "Location" in headers["access-control-expose-headers"]
