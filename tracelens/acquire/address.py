"""HOST:PORT addresses of the daemon protocol: parsing, and whether a host is loopback."""

from __future__ import annotations

import ipaddress

from tracelens.errors import SourceUnavailable


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6); port 0 is allowed (bind: a free port).

    Args:
        text: The address.

    Returns:
        (host, port).

    Raises:
        SourceUnavailable: The text is not HOST:PORT with a port in 0-65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SourceUnavailable(f"{text!r} is not HOST:PORT (for example 127.0.0.1:2000)")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """Say whether ``host`` is a loopback address (or ``localhost``).

    Args:
        host: An IP address or host name.

    Returns:
        True for 127.0.0.0/8, ::1 and ``localhost``.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["is_loopback", "parse_host_port"]
