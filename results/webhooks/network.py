"""Where webhooks may go: only to addresses inside KENSA_WEBHOOK_ALLOWED_NETWORKS.

A receiver's host is resolved once per request, every address it resolves to must be allowed,
and the request is then sent to those checked addresses, the next one when a connection fails
(the Host header and, for https, the TLS server name and certificate check keep the host's name).
Resolving again inside the HTTP client would let a name that changes its answer between the
check and the connection (DNS rebinding) reach an address that was never checked.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class NetworkRefused(Exception):
    """The receiver's address is not allowed, or its URL cannot be used."""


@dataclass(frozen=True)
class Target:
    """A receiver's URL with the checked addresses it may be sent to, in the resolver's order."""

    url: str
    host: str
    addresses: tuple[Address, ...]


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.KENSA_WEBHOOK_ALLOWED_NETWORKS]


def resolve_target(url: str) -> Target:
    """The address to send `url`'s requests to, once every address its host has is allowed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise NetworkRefused("the address cannot be read") from None
    if parts.scheme not in ("http", "https") or not host:
        raise NetworkRefused("only http and https addresses with a host are sent to")
    if parts.username or parts.password:
        raise NetworkRefused("addresses with credentials in them are not sent to")
    networks = allowed_networks()
    if not networks:
        raise NetworkRefused("no network is allowed for webhooks (KENSA_WEBHOOK_ALLOWED_NETWORKS is empty)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise NetworkRefused("the address has an invalid port") from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise NetworkRefused(f"{host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
    refused = [str(address) for address in addresses if not any(address in network for network in networks)]
    if refused or not addresses:
        raise NetworkRefused(f"{host} resolves to {', '.join(refused) or 'nothing'}, outside the allowed networks")
    return Target(url=url, host=host, addresses=tuple(addresses))
