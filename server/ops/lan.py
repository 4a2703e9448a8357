"""The address phones on the local network reach this machine at (``lookalike up --lan``)."""

from __future__ import annotations

import ipaddress
import socket

from server.settings import PREFIX, Settings

ALL_INTERFACES = "0.0.0.0"
# Connecting a UDP socket sends nothing: it only asks the kernel which local address
# the route to these (private, never contacted) destinations leaves from.
_PROBES = ("10.255.255.254", "192.168.255.254", "172.31.255.254")


class NoLanAddress(RuntimeError):
    """No network interface with a non-loopback IPv4 address; the message says what to set."""


def lan_address(override: str = "") -> str:
    """This machine's IPv4 address on the local network (``override`` if set).

    Raises:
        NoLanAddress: no route leaves this machine (no network), and no override.
    """
    if override:
        return override
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))
            except OSError:
                continue
            address: str = sock.getsockname()[0]
        if not ipaddress.ip_address(address).is_loopback:
            return address
    raise NoLanAddress(
        f"no local network address found: connect to the booth's network, or set "
        f"{PREFIX}LAN_ADDRESS (or {PREFIX}PUBLIC_URL)"
    )


def on_lan(settings: Settings, *, host_given: bool = False) -> Settings:
    """``settings`` for phones on the local network: listening on every interface (unless
    a host was given) and, unless ``public_url`` is set, a public URL with the LAN address.

    Raises:
        NoLanAddress: see :func:`lan_address`.
    """
    host = settings.host if host_given else ALL_INTERFACES
    public_url = settings.public_url
    if not public_url:
        public_url = f"http://{lan_address(settings.lan_address)}:{settings.port}"
    return settings.model_copy(update={"host": host, "public_url": public_url})
