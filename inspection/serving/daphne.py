"""daphne's HTTP parsing (Twisted), made to refuse at the headers and to answer in JSON.

Twisted reads a request's whole body before daphne hands it to the application, so an ASGI
middleware would come too late for an upload that must be refused (serving/gate.py). And
Twisted answers headers over its limits with a bare `400` without body, or, for one header line
longer than 16 KiB, closes the connection with no status at all. `install()`, called by
config/asgi.py before daphne builds its server, swaps in a request that checks uploads once
their headers are in, and a channel whose header limits answer 431 in the API's error shape.
"""

import io
import json
import logging
from typing import Any

import daphne.http_protocol
import daphne.server
from django.conf import settings
from rest_framework import exceptions
from twisted.web import http

from inspection.errors import ApiError, error_body, error_code
from inspection.ingest.authentication import AUTHENTICATE_HEADER
from inspection.serving import gate

logger = logging.getLogger(__name__)


def _answer(channel: Any, error: exceptions.APIException) -> None:
    """Write the refusal and close: the body that follows is never read."""
    content = json.dumps(error_body(error)).encode()
    reason = http.RESPONSES.get(error.status_code, b"Error")
    head = [
        b"HTTP/1.1 %d %s" % (error.status_code, reason),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(content),
        b"Connection: close",
    ]
    if error.status_code == 401:
        head.append(b"WWW-Authenticate: " + AUTHENTICATE_HEADER.encode())
    channel.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + content)
    # Nothing more is parsed on this connection; what the client still sends is dropped.
    channel.dataReceived = lambda data: None
    channel.transport.loseConnection()


class GatedRequest(daphne.http_protocol.WebRequest):
    """daphne's request, refused at its headers when it is an upload that cannot be accepted."""

    refused = False

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        channel = self.channel
        method, path = getattr(channel, "_command", b""), getattr(channel, "_path", b"")
        if not gate.is_upload(method, path.split(b"?", 1)[0]):
            return
        authorization = self.requestHeaders.getRawHeaders(b"authorization", [b""])[0]
        host = self.requestHeaders.getRawHeaders(b"host", [b""])[0]
        error = gate.upload_refusal(
            host=host,
            authorization=authorization,
            content_length=length,
            max_image_bytes=settings.KENSA_MAX_IMAGE_BYTES,
        )
        if error is not None:
            self.refused = True
            self.content = io.BytesIO()  # the body is never stored
            logger.info("Upload refused at its headers: %s", error_code(error))
            _answer(channel, error)

    def handleContentChunk(self, data: bytes) -> None:
        if not self.refused:
            super().handleContentChunk(data)

    def process(self) -> Any:
        if not self.refused:
            return super().process()
        return None


class GatedHTTPFactory(daphne.http_protocol.HTTPFactory):
    """daphne's factory, with the request above and header limits that answer 431 in JSON."""

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = GatedRequest
        channel = getattr(protocol, "_channel", protocol)  # Twisted wraps it for HTTP/2 negotiation
        limit = settings.KENSA_MAX_HEADER_BYTES
        channel.MAX_LENGTH = limit
        channel.totalHeadersSize = limit
        too_large = gate.headers_too_large(limit)
        channel.lineLengthExceeded = lambda line: _answer(channel, too_large)
        channel._respondToBadRequestAndDisconnect = lambda: _bad_request(channel, too_large, limit)
        return protocol


def _bad_request(channel: Any, too_large: exceptions.APIException, limit: int) -> None:
    """Twisted's answer to every malformed head: ours names which it was, in JSON."""
    if getattr(channel, "_receivedHeaderSize", 0) > limit:
        _answer(channel, too_large)
    else:
        _answer(channel, ApiError("bad_request", "The request's head is malformed."))


def install() -> None:
    """Make daphne (when it is the server of this process) build GatedHTTPFactory."""
    daphne.server.HTTPFactory = GatedHTTPFactory
