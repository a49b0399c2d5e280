"""Where the poller may connect: untrusted content (a feed entry's link, a
redirect) must never make the service fetch from its own network.

Every connection the polite client opens goes through ``guarded_connection``:
the host is resolved once, each address is checked, and the socket connects
to the address that passed, so a DNS answer that changes between the check
and the connection (rebinding), a redirect, or a decimal, hex or IPv4-mapped
spelling of an internal address cannot get round it. Only public unicast
addresses pass unless the caller allows private ones (an operator's own feed
that a setting marks as private).
"""

from __future__ import annotations

import ipaddress
import socket


class BlockedAddress(OSError):
    """A host that resolves only to addresses the fetch may not reach."""


def is_public(address: str) -> bool:
    """Whether ``address`` is a public unicast address (IPv4-mapped IPv6 is
    judged as the IPv4 address it carries)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def guarded_connection(
    address: tuple[str, int], timeout: float | None = None,
    source_address: tuple[str, int] | None = None, *, allow_private: bool = False,
) -> socket.socket:
    """``socket.create_connection`` that connects only to permitted addresses."""
    host, port = address
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None
    refused: list[str] = []
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in found:
        ip = str(sockaddr[0])
        if not allow_private and not is_public(ip):
            refused.append(ip)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    if error is not None:
        raise error
    raise BlockedAddress(f"{host} resolves to {', '.join(sorted(set(refused)))}, not a public "
                         "address: refused")
