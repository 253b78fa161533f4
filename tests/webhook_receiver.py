"""A real webhook receiver for tests: an http.server that verifies every request with the
standardwebhooks package, records it, and answers what the test tells it to.

In a thread (`Receiver`, for the webhook tests) or as a process of its own (`python -m
tests.webhook_receiver`, for the chaos test, which restarts it): there it fails about a third of
its requests, chosen by a seeded hash of the message id and how often that id came, and appends
one JSON line per accepted message to its log before it answers 204.
"""

import argparse
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_by: list[int]  # indexes of the receiver's secrets that verify it

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# What to answer: a status, and headers (a redirect's Location).
Answer = tuple[int, dict[str, str]]


@dataclass
class Receiver:
    """Records every request; `answer` chooses the reply from what came (200 by default)."""

    secrets: list[str]
    answer: Callable[[Received, list[Received]], Answer] = lambda _r, _all: (200, {})
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                record = Received(headers, body, receiver.verify(body, headers))
                with receiver.lock:
                    receiver.received.append(record)
                    status, extra = receiver.answer(record, receiver.received)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/kensa"

    def verify(self, body: bytes, headers: dict[str, str]) -> list[int]:
        verified = []
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(index)
        return verified

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def ids_of_results(self) -> list[str]:
        """The inspection id of every request, in arrival order."""
        with self.lock:
            return [record.json["data"]["id"] for record in self.received]


def fails(seed: int, webhook_id: str, seen: int, ratio: float) -> bool:
    """Whether the `seen`-th request of this message fails: the same answer on every run."""
    digest = hashlib.sha256(f"{seed}:{webhook_id}:{seen}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-ratio", type=float, default=1 / 3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    webhook = Webhook(args.secret)
    seen: dict[str, int] = {}
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1)  # noqa: SIM115  (open for the process's life)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload = webhook.verify(body, headers)
            except WebhookVerificationError:
                status = 401
            else:
                webhook_id = headers["webhook-id"]
                with lock:
                    count = seen[webhook_id] = seen.get(webhook_id, 0) + 1
                    status = 500 if fails(args.seed, webhook_id, count, args.fail_ratio) else 204
                    if status == 204:  # recorded before the answer: a kill after it only repeats one
                        log.write(json.dumps({"webhook_id": webhook_id, "inspection": payload["data"]["id"]}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
