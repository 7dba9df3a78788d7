"""Where a webhook may send: public addresses only, unless the operator allows private ones.

A URL is checked when its webhook is made, and each delivery connects only to an address
checked on the way: the HTTP client resolves the host once, refuses it when any of its
addresses is not public, and connects to one of the addresses it checked.  There is no second
lookup between check and connection that a rebinding DNS server could answer differently."""

import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052): the well-known prefix carries an IPv4 address in its last 32 bits; the
# local-use prefix (RFC 8215) is translated by a network's own gateway, to its own addresses.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


class DestinationRefused(Exception):
    """A delivery's host is, or resolves to, an address inside a network."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for, where a translator, a tunnel or a dual
    stack would deliver it: IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # the relay server and the client behind its NAT
    return found


def refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not connect to `ip`, or None: it is not a public unicast address,
    or it is an IPv6 address that leads to one that is not."""
    if not ip.is_global or ip.is_multicast:
        return f"{ip}, an address inside a network"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in LOCAL_NAT64:
            return f"{ip}, a NAT64 address of a local network"
        for v4 in embedded_ipv4(ip):
            if not v4.is_global or v4.is_multicast:
                return f"{ip}, which leads to {v4}, an address inside a network"
    return None


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address `host` resolves to (itself when it is an address), in the resolver's
    order of preference; DestinationRefused when it does not resolve or when any of them is
    refused (a name with one private address among public ones is refused as a whole)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DestinationRefused(f"the host {host!r} does not resolve") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos))
    for ip in addresses:
        why = refusal(ip)
        if why is not None:
            raise DestinationRefused(
                f"not a public address: {why}" if _is_address(host) else f"{host} resolves to {why}"
            )
    return addresses


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def destination_refused(url: str) -> str | None:
    """Why a webhook may not call this URL, or None: every address its host resolves to must
    be a public one (not loopback, private, link-local, multicast or reserved, nor an IPv6
    form of one), or key holders could reach the service's own network."""
    host = urlsplit(url).hostname
    if not host:
        return "the address has no host"
    try:
        resolve(host)
    except DestinationRefused as refused:
        return str(refused)
    return None


class PublicOnly(httpcore.NetworkBackend):
    """Opens connections to checked public addresses only: the host is resolved here, once,
    and the connection goes to one of the addresses checked (TLS still verifies the URL's
    host name, which httpcore gives the handshake, not the address)."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for ip in resolve(host, port):
            try:
                return self._backend.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc  # the next checked address, as a resolver's client would
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("a webhook does not call a local socket")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def http_client(*, timeout: float, allow_private: bool = False) -> httpx.Client:
    """The client deliveries are sent with: redirects not followed and, unless private
    addresses are allowed, connections to checked public addresses only (then straight to
    them: a proxy named by the environment would resolve the name itself)."""
    if allow_private:
        return httpx.Client(timeout=timeout, follow_redirects=False)
    transport = httpx.HTTPTransport()
    # httpx takes no network backend of its own: its transport's pool is replaced by one
    # that connects through PublicOnly (the rebinding test fails should httpx change this).
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("this httpx keeps its connection pool elsewhere")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,  # httpx's own limits
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=PublicOnly(),
    )
    return httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
