"""One webhook request: the body, its Standard Webhooks signature and headers, the POST, and what
came of it. No database here: the sender's threads only talk to receivers.

Kensa signs with the `standardwebhooks` package (the specification's reference implementation)
rather than its own HMAC code, so receivers can verify with the same library in any language.
"""

import json
import os
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings
from standardwebhooks import Webhook

from inspection.payloads import InspectionPayload
from results.webhooks.constants import ANSWER_BYTES, ERROR_TEXT_CHARS
from results.webhooks.network import NetworkRefused, Target, resolve_target


class Result:
    DELIVERED = "delivered"
    GONE = "gone"  # 410: the receiver wants no more
    FAILED = "failed"  # anything else: try again later


@dataclass(frozen=True)
class Outcome:
    result: str
    status_code: int | None
    error: str
    duration_ms: int
    sent: bool  # False when refused before any request left Kensa


@dataclass(frozen=True)
class Message:
    """What to send to one receiver."""

    url: str
    message_id: str
    body: bytes
    secrets: tuple[str, ...]


def envelope(event: str, data: InspectionPayload, *, occurred_at: str | None) -> bytes:
    """The body: `{type, timestamp, data}` as the Standard Webhooks specification suggests;
    `timestamp` is when the event happened (the result's finish), `data` the inspection as the
    API shows it (no image bytes: `image_url` links to them)."""
    body = {"type": event, "timestamp": occurred_at, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(message: Message, *, now: datetime | None = None) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature, one `v1,…` per secret (space
    separated: during a rotation the receiver verifies with either)."""
    now = now or datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(message.message_id, now, message.body) for secret in message.secrets)
    return {
        "webhook-id": message.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "Kensa-Webhooks/1",
    }


def new_client(*, timeout: float, concurrency: int) -> httpx.Client:
    """Redirects never followed (a receiver inside the allowed networks could otherwise point
    Kensa anywhere), the system's trust store (a plant's own CA included), time-outs on every
    phase, and no proxy from the environment (the address is checked, not a proxy's)."""
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        verify=ssl.create_default_context(),
        trust_env=False,
        limits=httpx.Limits(max_connections=concurrency * 2),
    )


# One client per process and settings, kept between rounds: its connections to receivers stay
# open (keep-alive), and the trust store is loaded once (50 ms a time).
_clients: dict[tuple[int, float, int], httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client() -> httpx.Client:
    key = (os.getpid(), settings.KENSA_WEBHOOK_TIMEOUT_SECONDS, settings.KENSA_WEBHOOK_CONCURRENCY)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = new_client(timeout=key[1], concurrency=key[2])
        return client


def send(client: httpx.Client, message: Message) -> Outcome:
    """POST the message to its receiver's checked addresses; never raises for the receiver's sake."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve_target(message.url)
    except NetworkRefused as exc:
        return Outcome(Result.FAILED, None, f"refused: {exc}"[:ERROR_TEXT_CHARS], elapsed(), sent=False)
    url = httpx.URL(target.url)
    headers = {**signed_headers(message), "host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    try:
        response = _post(client, url, target, message.body, headers, extensions)
    except httpx.TimeoutException as exc:
        return Outcome(Result.FAILED, None, f"timed out: {exc!r}"[:ERROR_TEXT_CHARS], elapsed(), sent=True)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return Outcome(Result.FAILED, None, f"request failed: {exc!r}"[:ERROR_TEXT_CHARS], elapsed(), sent=True)
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(Result.DELIVERED, code, "", elapsed(), sent=True)
    if code == 410:
        return Outcome(Result.GONE, code, "receiver answered 410 Gone", elapsed(), sent=True)
    error = f"HTTP {code} {response.reason_phrase}"
    if response.is_redirect:
        error += f"; redirect to {response.headers.get('location', '?')} not followed"
    return Outcome(Result.FAILED, code, error[:ERROR_TEXT_CHARS], elapsed(), sent=True)


def _post(
    client: httpx.Client,
    url: httpx.URL,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    extensions: dict[str, Any],
) -> httpx.Response:
    """The POST to the first checked address that takes the connection (a name with an IPv6 and
    an IPv4 address may listen on one only). Of the answer's body at most ANSWER_BYTES are
    read (it could be of any size): an answer read to its end lets the connection be used
    again, one left unread closes it."""
    for index, address in enumerate(target.addresses):
        request = client.build_request(
            "POST", url.copy_with(host=str(address)), content=body, headers=headers, extensions=extensions
        )
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError:
            if index == len(target.addresses) - 1:
                raise
            continue
        try:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > ANSWER_BYTES:
                    break
        finally:
            response.close()
        return response
    raise httpx.ConnectError("no address to connect to")
