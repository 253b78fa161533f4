"""A station simulator: uploads synthetic part images over HTTP, as a camera PC would."""

import http.client
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from inspection.demo.synthetic import make_part


def multipart_body(fields: dict[str, str], *, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    lines: list[bytes] = []
    for name, value in fields.items():
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="{name}"'.encode(),
            b"",
            value.encode(),
        ]
    lines += [
        f"--{boundary}".encode(),
        f'Content-Disposition: form-data; name="image"; filename="{filename}"'.encode(),
        f"Content-Type: {content_type}".encode(),
        b"",
        content,
        f"--{boundary}--".encode(),
        b"",
    ]
    return b"\r\n".join(lines), f"multipart/form-data; boundary={boundary}"


def upload(base_url: str, key: str, *, jpeg: bytes, serial: str, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(base_url)
    body, content_type = multipart_body(
        {"serial": serial}, filename="part.jpg", content=jpeg, content_type="image/jpeg"
    )
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request(
            "POST",
            "/api/v1/inspections/",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
        )
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        data = json.loads(payload)
    except ValueError:
        data = {"raw": payload[:200].decode(errors="replace")}
    return response.status, data


def feed(
    base_url: str,
    key: str,
    *,
    interval: float,
    count: int | None,
    seed: int,
    report: Callable[[str], None],
) -> int:
    """Upload parts every `interval` seconds (forever when `count` is None); returns how many."""
    rng = random.Random(seed)
    sent = 0
    while count is None or sent < count:
        part = make_part(rng, size=(640, 512))
        serial = f"SN-{seed:03d}-{sent + 1:06d}"
        try:
            status, data = upload(base_url, key, jpeg=part.jpeg(), serial=serial)
            report(f"{serial} ({part.label} {part.surface}) -> {status} {data.get('id') or data}")
        except OSError as exc:
            report(f"{serial}: upload failed: {exc}")
        sent += 1
        time.sleep(interval)
    return sent
