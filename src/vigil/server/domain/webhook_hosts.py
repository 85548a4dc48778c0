"""Entries of ``VIGIL_WEBHOOK_ALLOWED_HOSTS``: the non-public webhook destinations an
administrator allows (read by the settings, applied by the webhook target policy)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["AllowedHost", "IPAddress", "IPNetwork"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AllowedHost:
    """One entry of ``VIGIL_WEBHOOK_ALLOWED_HOSTS``: a host name, a name pattern
    (``*.corp.example``), an address or a network (``10.1.0.0/16``), each with an
    optional port (``hooks.corp.example:8443``, ``127.0.0.1:9000``, ``[::1]:9000``,
    ``[fd00::/8]:443``)."""

    text: str
    name: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedHost:
        """Read one entry.

        Raises
        ------
        ValueError
            The entry is neither a name, an address nor a network, or its port is bad.
        """
        entry = text.strip()
        host, port = entry, None
        if entry.startswith("["):
            host, sep, rest = entry[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"{text!r}: an IPv6 entry is written [address] or [address]:port")
            port = _port(rest[1:], text) if rest else None
        elif entry.count(":") == 1:
            host, _, raw = entry.partition(":")
            port = _port(raw, text)
        if not host:
            raise ValueError(f"{text!r} names no host")
        try:
            return cls(entry, network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            pass
        name = host.lower().rstrip(".")
        label = name.removeprefix("*.")
        if not label or not all(part and _is_label(part) for part in label.split(".")):
            raise ValueError(f"{text!r} is not a host name, an address or a network")
        return cls(entry, name=name, port=port)

    def matches(self, name: str, address: IPAddress, port: int) -> bool:
        """Whether a connection to *address* on *port*, for host *name*, is allowed."""
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address.version == self.network.version and address in self.network
        assert self.name is not None
        return fnmatchcase(name, self.name)


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(raw)


def _is_label(part: str) -> bool:
    return part.replace("-", "").replace("_", "").isalnum() and part.isascii()
