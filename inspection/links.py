"""Links to an inspection and its image, as integrations receive them: absolute, and for the
image short-lived and signed, so that an MES can hand the link to a viewer that holds no token.

A signed image link is `…/inspections/<id>/image?expires=<unix seconds>&signature=<hex>`, where
the signature is an HMAC-SHA256 of the id and the expiry under a key derived from SECRET_KEY.
Django's `signing` module would do the same with a base64 payload and a salted key derivation
on every call; the feed signs every row of every page, so the key is derived once and the
message is the two values as text. Rotating SECRET_KEY invalidates every link given out.

The base of absolute links is KENSA_PUBLIC_URL (how the plant reaches Kensa) or, on an API
request without it, the request's own scheme and host. Pushes (webhooks, MQTT) have no request:
without KENSA_PUBLIC_URL their links stay relative to Kensa's root.
"""

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, reverse

from inspection.parsing import ascii_int

_SIGNATURE_BYTES = 32


@cache
def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"kensa.image-link:" + secret_key.encode()).digest()


def image_signature(inspection_id: uuid.UUID | str, expires: int) -> str:
    message = f"{inspection_id}:{expires}".encode()
    return hmac.new(_key(settings.SECRET_KEY), message, hashlib.sha256).hexdigest()


def image_link_problem(inspection_id: uuid.UUID, expires: str | None, signature: str | None) -> str | None:
    """Why a signed image link does not open the image (an error code), or None if it does."""
    expires_at = ascii_int(expires or "")
    if expires_at is None or signature is None or len(signature) != 2 * _SIGNATURE_BYTES:
        return "image_link_invalid"
    if not hmac.compare_digest(image_signature(inspection_id, expires_at), signature.lower()):
        return "image_link_invalid"
    if expires_at < time.time():
        return "image_link_expired"
    return None


@dataclass(frozen=True)
class Links:
    """How one response (or one push) writes its links: the absolute base, and the expiry that
    every image link of it shares. The id may be given as text, as a page writes it once."""

    base: str
    expires: int

    def detail(self, inspection_id: uuid.UUID | str) -> str:
        return self.base + relative_path("inspection-detail", inspection_id)

    def image(self, inspection_id: uuid.UUID | str) -> str:
        path = relative_path("inspection-image", inspection_id)
        return f"{self.base}{path}?expires={self.expires}&signature={image_signature(inspection_id, self.expires)}"


def links_for(request: HttpRequest | None = None) -> Links:
    """Links for a response to `request`, or for a push when there is none."""
    base = str(settings.KENSA_PUBLIC_URL).rstrip("/")
    if not base and request is not None:
        base = f"{request.scheme}://{request.get_host()}"
    return Links(base=base, expires=int(time.time()) + int(settings.KENSA_IMAGE_LINK_SECONDS))


# The links differ only by the id: each is reversed once per script prefix (a deployment
# under a path), then filled in.
_ID_MARK = uuid.UUID(int=0)


def relative_path(name: str, inspection_id: uuid.UUID | str) -> str:
    """The path of an inspection's page (`inspection-detail`, `inspection-image`) under this
    deployment's script prefix, without a signature (for signed-in users' browsers)."""
    return _path_pattern(name, get_script_prefix()).format(inspection_id)


@cache
def _path_pattern(name: str, _script_prefix: str) -> str:
    return reverse(name, args=[_ID_MARK]).replace("{", "{{").replace("}", "}}").replace(str(_ID_MARK), "{}")
