"""Where webhooks may go: public addresses only, unless an administrator allows more.

A webhook URL is user data, and the server posts to it: without a check any token could
make the server reach its own loopback, the private network or a cloud metadata
service (server-side request forgery). `resolve_target` resolves the URL's host, checks
every address it resolves to against a `TargetPolicy`, and returns the address to
connect to; the sender then connects to that very address (with the name in the
``Host`` header and TLS SNI), so that a name resolving elsewhere a second later (DNS
rebinding) changes nothing. The check runs when a subscription is created and again
before every delivery.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from ..domain.webhook_hosts import AllowedHost, IPAddress

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "REFUSED_PRIVATE",
    "AllowedHost",
    "ResolvedTarget",
    "TargetPolicy",
    "TargetRefusedError",
    "non_public_kind",
    "resolve_target",
]

REFUSED_PRIVATE = "refused: private address"
"""The reason a refused delivery shows to the subscription's owner."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# What VIGIL_WEBHOOK_ALLOW_PRIVATE=true does not open: the link-local range holds cloud
# metadata services (169.254.169.254), and nobody serves HTTP on the others.
_NEVER_BY_FLAG = ("link-local", "multicast", "unspecified")


class TargetRefusedError(Exception):
    """A webhook URL is not acceptable: its scheme, or the addresses its host resolves to.

    ``str(error)`` says why without naming any address (safe for the URL's owner);
    ``detail`` adds the addresses, for administrators and the server log.
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


def non_public_kind(address: IPAddress) -> str | None:
    """Why *address* is not a public unicast address (``"loopback"``...), or None if it is.

    IPv6 addresses that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::/96``, 6to4, Teredo) are judged by the IPv4 address too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        for inner in embedded:
            kind = non_public_kind(inner)
            if kind is not None:
                return kind
        if address.ipv4_mapped is not None:
            return None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which non-public destinations an administrator allows webhooks to reach."""

    allow_private: bool = False
    allowed: tuple[AllowedHost, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        """The policy of ``VIGIL_WEBHOOK_ALLOW_PRIVATE`` and ``VIGIL_WEBHOOK_ALLOWED_HOSTS``."""
        return cls(
            allow_private=settings.webhook_allow_private,
            allowed=tuple(AllowedHost.parse(e) for e in settings.webhook_allowed_hosts),
        )

    def refusal(self, name: str, address: IPAddress, port: int) -> str | None:
        """Why a connection to *address* is refused (its kind of address), or None."""
        kind = non_public_kind(address)
        if kind is None or any(e.matches(name, address, port) for e in self.allowed):
            return None
        if self.allow_private and kind not in _NEVER_BY_FLAG:
            return None
        return kind


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A checked webhook URL and the address to connect to."""

    url: str
    name: str
    port: int
    address: IPAddress

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with the checked address in place of the name."""
        return httpx.URL(self.url).copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        """The ``Host`` header the URL itself would send."""
        default = _DEFAULT_PORTS[urlsplit(self.url).scheme.lower()]
        host = f"[{self.name}]" if ":" in self.name else self.name
        return host if self.port == default else f"{host}:{self.port}"


Resolver = Callable[[str, int], Iterable[str]]


def system_resolver(name: str, port: int) -> list[str]:
    """Every address the system resolver gives for *name* (an address resolves to itself)."""
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve_target(
    url: str, policy: TargetPolicy, resolver: Resolver | None = None
) -> ResolvedTarget:
    """Check *url* and pick the address to connect to.

    Every address the host resolves to must be allowed (a name with one public and one
    private address is refused); the first one is returned. Decimal, octal and
    hexadecimal spellings of IPv4 addresses (``2130706433``, ``0177.0.0.1``,
    ``0x7f000001``) are resolved to what they mean, and judged as such.

    Raises
    ------
    TargetRefusedError
        Not an http(s) URL with a host, a host that does not resolve, or one that
        resolves to a refused address.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        raw_name = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raw_name, port = None, 0
    if scheme not in _DEFAULT_PORTS or not raw_name:
        raise TargetRefusedError("not an http(s) URL with a host")
    try:
        name = raw_name.rstrip(".").encode("idna").decode("ascii").lower() or raw_name
    except UnicodeError:
        raise TargetRefusedError("not an http(s) URL with a host") from None
    try:
        found = list(dict.fromkeys((resolver or system_resolver)(name, port)))
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefusedError(REFUSED_PRIVATE, f"{name} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefusedError(REFUSED_PRIVATE, f"{name} resolves to no address")
    for address in addresses:
        kind = policy.refusal(name, address, port)
        if kind is not None:
            raise TargetRefusedError(
                REFUSED_PRIVATE,
                f"{name} resolves to {address}, a {kind} address, not allowed by"
                f" VIGIL_WEBHOOK_ALLOWED_HOSTS or VIGIL_WEBHOOK_ALLOW_PRIVATE",
            )
    return ResolvedTarget(url=url, name=name, port=port, address=addresses[0])
