"""Webhook delivery and the address policy that keeps it from reaching inside the network.

A manager who defines a webhook step chooses the URL the workers POST to; without a policy
that is a server-side request forgery: the workers would call ``127.0.0.1``, the cloud
metadata service at ``169.254.169.254`` or any host of the private network, and the
different errors (refused, timed out, HTTP 404) would map its open ports.

So, for IPv4 and IPv6 alike (an IPv4 address inside an IPv6 one, such as
``::ffff:127.0.0.1`` or a 6to4 address, counts as that IPv4 address), loopback, private,
shared (carrier-grade NAT), link-local, multicast, reserved and unspecified addresses are
refused unless the operator allows them (``WEBHOOK_ALLOWED_HOSTS``: host names, exactly as
in the URL; ``WEBHOOK_ALLOWED_NETWORKS``: networks such as ``10.20.0.0/16``):

- **when the step is saved**, from the URL's text (``url_address_problem``): an address
  literal in any form the resolver accepts (``2130706433``, ``0177.0.0.1``, ``[::1]``)
  and ``localhost`` names. Host names are not looked up then: what a name resolves to
  can change before the webhook is sent.
- **when the webhook is sent**, against the addresses the name resolves to
  (``resolve_checked``): the name is resolved once, every address it gave is checked, and
  the connection goes to a checked address with the URL's host name in the ``Host``
  header and TLS's server name, so a second lookup (DNS rebinding) cannot send it
  elsewhere. Redirects are not followed.

A delivery that gets no HTTP answer fails with one text (``NO_ANSWER``) whatever the
cause (refused address, unknown name, connection refused, timeout, TLS error, a reply
that is not HTTP): managers see whether the receiver answered and with which status, not
what the network looks like. The cause goes to the server log. Each delivery is bounded in
time (the step's ``timeout_seconds`` for the whole exchange, name lookup included) and in
what it reads of the answer (``MAX_RESPONSE_BYTES``).
"""

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The one text of every delivery that got no HTTP answer (see the module docstring).
NO_ANSWER = "no answer from the receiver"
# The most of an answer's body that is read; the rest is left unread (the status decides).
MAX_RESPONSE_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The characters of an IPv4 literal in the forms inet_aton accepts (decimal, octal, hex,
# fewer than four parts).
_IPV4_LITERAL_CHARS = frozenset("0123456789abcdefx.")


class AddressRefused(Exception):
    """The webhook's host is, or resolves to, an address the policy refuses."""


@dataclass
class WebhookResult:
    ok: bool
    retryable: bool
    detail: str


# --- the address policy ---------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, Teredo's client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a global unicast address, and so may be called without being
    allowed explicitly."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and not address_is_public(inner):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _allowed_hosts() -> set[str]:
    return {h.strip().lower().rstrip(".") for h in settings.WEBHOOK_ALLOWED_HOSTS if h.strip()}


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.WEBHOOK_ALLOWED_NETWORKS
    ]


def address_allowed(address: IPAddress, host: str) -> bool:
    """Whether a webhook for ``host`` may connect to ``address``."""
    if host in _allowed_hosts():
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in _allowed_networks()):
        return True
    return address_is_public(address)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` names literally, in any form the system resolver accepts
    (``127.0.0.1``, ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``::1``), else None."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and set(host) <= _IPV4_LITERAL_CHARS and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def url_address_problem(url: str) -> str | None:
    """Why a webhook URL may not be saved (its host is a refused address literal or a
    ``localhost`` name), or None. Host names are checked when the webhook is sent."""
    parts = urlsplit(url)
    host = _host_of(url)
    if not host:
        return "the URL has no host."
    try:
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "the URL's port is not valid."
    refused = (
        f"{host} is not allowed: loopback, private, link-local, multicast and reserved "
        "addresses are refused for webhooks (an operator can allow internal receivers "
        "with WEBHOOK_ALLOWED_HOSTS or WEBHOOK_ALLOWED_NETWORKS)."
    )
    if host in _allowed_hosts():
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return refused
    address = literal_address(host)
    if address is not None and not address_allowed(address, host):
        return refused
    return None


def resolve_checked(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """The addresses ``host`` resolves to, resolved once within ``timeout`` seconds; raise
    AddressRefused when any of them is refused (or none came back)."""
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True, name="webhook-resolve")
    thread.start()
    thread.join(timeout)
    if "infos" not in outcome:
        raise AddressRefused(f"{host}: {outcome.get('error', 'name lookup timed out')}")
    addresses: list[IPAddress] = []
    for info in outcome["infos"]:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    refused = [a for a in addresses if not address_allowed(a, host)]
    if refused or not addresses:
        raise AddressRefused(f"{host} resolves to refused address(es) {refused}")
    return addresses


# --- delivery -------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, not to what ``host`` resolves
    to now; ``host`` still goes in the Host header."""

    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """The same over TLS: the certificate is checked against ``host``, sent as the server
    name (SNI)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, address=address, timeout=timeout)
        self.context = ssl.create_default_context(cafile=settings.WEBHOOK_CA_FILE or None)

    def connect(self) -> None:
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


def _abort(connection: http.client.HTTPConnection) -> None:
    """End the exchange from the deadline timer: a blocked read returns at once."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _exchange(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str]:
    """POST ``body`` within ``timeout`` seconds in all; the HTTP status (None without an
    answer) and, without one, the cause for the log."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    host = _host_of(url)
    if parts.scheme not in _DEFAULT_PORTS:
        return None, f"unsupported scheme {parts.scheme!r}"
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    try:
        addresses = resolve_checked(host, port, timeout=timeout)
    except AddressRefused as exc:
        return None, str(exc)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    cause = "no address to connect to"
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, f"{cause}; then out of time"
        connection = connection_class(host, port, address=address, timeout=remaining)
        timer = threading.Timer(remaining, _abort, args=(connection,))
        timer.daemon = True
        timer.start()
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            # Bounded, and only to end the exchange cleanly: the status decides the outcome.
            with contextlib.suppress(OSError, http.client.HTTPException):
                response.read(MAX_RESPONSE_BYTES)
            return status, ""
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            cause = f"{address}: {type(exc).__name__}: {exc}"
        finally:
            timer.cancel()
            connection.close()
    return None, cause


def deliver(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> WebhookResult:
    """POST ``body`` to ``url`` under the address policy. 2xx: ok. 5xx and no answer at
    all: retryable. Anything else (4xx, redirects): failed for good."""
    status, cause = _exchange(url, body, headers, timeout)
    if status is None:
        logger.warning("webhook POST to %s got no answer: %s", url, cause)
        return WebhookResult(ok=False, retryable=True, detail=NO_ANSWER)
    if 200 <= status < 300:
        return WebhookResult(ok=True, retryable=False, detail=f"HTTP {status}")
    if status >= 500:
        return WebhookResult(ok=False, retryable=True, detail=f"HTTP {status}")
    return WebhookResult(ok=False, retryable=False, detail=f"HTTP {status}")
