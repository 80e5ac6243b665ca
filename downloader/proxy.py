"""Which proxy a request goes through: `--proxy` and `--no-proxy`, else the environment.

adl decides this itself, per request and per redirect hop (a redirect may name a host that
no_proxy sends direct), instead of aiohttp's `trust_env`: that also reads ~/.netrc on its own
and adds credentials behind request.py's back, and costs two thread hops per request.

The rules are curl's:
- `--proxy URL` for every request; `--proxy ''` for none, the variables ignored. Without it:
  https_proxy for https URLs, http_proxy for http ones, else all_proxy. The variables are
  read by urllib's `getproxies_environment`: lower case wins over upper case, an empty one
  counts as unset, HTTP_PROXY is ignored under CGI (REQUEST_METHOD set; CVE-2016-1000110).
- `--no-proxy HOSTS`, else no_proxy: a comma list. `*` for every host; `example.com` (or
  `.example.com`, `*.example.com`) for it and its subdomains; IP addresses and CIDR ranges
  (`10.0.0.0/8`, `::1`) matched as addresses; `HOST:PORT` for one port. It applies to
  `--proxy` too. Not urllib's `proxy_bypass_environment`: it matches IP addresses as name
  suffixes (`0.0.1` bypasses 127.0.0.1), splits `::1` as host `:` port `1`, knows no CIDR,
  and reads os.environ itself. Entries that are neither names nor addresses match nothing,
  as in curl: no_proxy variables hold all sorts, and must not stop a batch.
- `user:pass@` in a proxy URL becomes a Proxy-Authorization header for that proxy only: on
  the CONNECT request for https URLs (the origin never sees it, the tunnel is TLS), on the
  request itself for http ones (a proxy removes it before forwarding).
- A malformed proxy URL (no scheme, a scheme other than http/https, no host, a bad port) is
  an OptionsError before any download; the variables are checked only where they are used.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import aiohttp
from yarl import URL

from .errors import OptionsError
from .redact import mask_url

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class Route(NamedTuple):
    """How one request goes out: direct (`proxy` None) or through a proxy, with the
    Proxy-Authorization for it — as aiohttp's `proxy_headers` for CONNECT (https), in the
    request's own headers for plain http (aiohttp sends proxy_headers on CONNECT only)."""

    proxy: URL | None = None
    connect_headers: Mapping[str, str] | None = None
    request_headers: Mapping[str, str] | None = None


DIRECT = Route()


@dataclass(frozen=True, slots=True)
class Bypass:
    """A parsed no_proxy list."""

    everything: bool = False
    names: tuple[tuple[str, int | None], ...] = ()
    networks: tuple[tuple[_Network, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Bypass:
        names: list[tuple[str, int | None]] = []
        networks: list[tuple[_Network, int | None]] = []
        for entry in (text or "").split(","):
            entry = entry.strip().lower()
            if entry == "*":
                return cls(everything=True)
            host, port = _host_and_port(entry)
            network = _network(host)
            if network is not None:
                networks.append((network, port))
            elif host.lstrip("*.").rstrip("."):
                names.append((host.lstrip("*.").rstrip("."), port))
        return cls(names=tuple(names), networks=tuple(networks))

    def matches(self, host: str, port: int | None) -> bool:
        if self.everything:
            return True
        host = host.lower().rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(
                (host == name or host.endswith("." + name)) and wanted in (None, port)
                for name, wanted in self.names
            )
        return any(
            address in network and wanted in (None, port) for network, wanted in self.networks
        )


@dataclass(frozen=True, slots=True)
class Proxies:
    """The proxy decision of a batch, made once: a Route for each URL."""

    http: Route = DIRECT
    https: Route = DIRECT
    bypass: Bypass = Bypass()

    @classmethod
    def from_settings(
        cls, proxy: str | None, no_proxy: str | None, variables: Mapping[str, str]
    ) -> Proxies:
        """`proxy`/`no_proxy` as the options give them, `variables` as urllib's
        getproxies_environment() reads the environment ({"https": ..., "no": ...})."""
        bypass = Bypass.parse(no_proxy if no_proxy is not None else variables.get("no"))
        if proxy is not None:
            http = https = parse_proxy(proxy, "proxy")
        else:
            http, https = (_variable(variables, scheme) for scheme in ("http", "https"))
        return cls(
            http=http._replace(connect_headers=None),  # plain http: no CONNECT
            https=https._replace(request_headers=None),  # https: inside the tunnel, the origin's
            bypass=bypass,
        )

    def route(self, url: URL) -> Route:
        """How a request to `url` goes out."""
        chosen = self.https if url.scheme == "https" else self.http
        if chosen.proxy is None or self.bypass.matches(url.host or "", url.port):
            return DIRECT
        return chosen


NO_PROXIES = Proxies()


def proxies_from(proxy: str | None, no_proxy: str | None) -> Proxies:
    """The batch's Proxies, from the options and this process's environment."""
    return Proxies.from_settings(proxy, no_proxy, urllib.request.getproxies_environment())


def parse_proxy(text: str, where: str) -> Route:
    """A proxy URL checked (http:// or https://, a host, a valid port), without its userinfo,
    which becomes its Proxy-Authorization. An empty one is no proxy. `where` names the source
    in messages ("proxy", "https_proxy variable")."""
    if text == "":
        return DIRECT
    shown = mask_url(text)
    if _SPACE_OR_CONTROL.search(text):
        raise OptionsError(f"{where} {shown!r} contains a space or control character")
    if "://" not in text:
        raise OptionsError(f"{where} {shown!r} has no scheme: write http://{shown}")
    scheme = text.partition("://")[0].lower()
    if scheme.startswith("socks"):
        raise OptionsError(
            f"{where} {shown!r}: SOCKS proxies are not supported, only http:// and https://"
        )
    if scheme not in ("http", "https"):
        raise OptionsError(f"{where} {shown!r}: the scheme must be http:// or https://")
    try:
        url = URL(text)
        port = url.port
    except ValueError as exc:
        reason = "no host" if "host is required" in str(exc) else str(exc)
        raise OptionsError(f"{where} {shown!r} is not a valid proxy URL: {reason}") from None
    if not url.host:
        raise OptionsError(f"{where} {shown!r} is not a valid proxy URL: no host")
    if not port:
        raise OptionsError(f"{where} {shown!r} is not a valid proxy URL: port 0")
    if url.user is None:
        return Route(url.origin())
    auth = {"Proxy-Authorization": aiohttp.encode_basic_auth(url.user, url.password or "")}
    return Route(url.origin(), auth, auth)


def _variable(variables: Mapping[str, str], scheme: str) -> Route:
    """The route the variables give URLs of `scheme`: {scheme}_proxy, else all_proxy."""
    name = scheme if scheme in variables else "all"
    text = variables.get(name)
    try:
        return parse_proxy(text, f"{name}_proxy variable") if text else DIRECT
    except OptionsError as exc:
        raise OptionsError(f"{exc} (a proxy of '' ignores the variables: --proxy '')") from None


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `[v6]`, `v6` (two colons or more: no port) -> host, port.
    A port that is not a number leaves an entry that matches no host."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if not rest:
            return host, None
        port = rest[1:] if rest.startswith(":") else "?"
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        return entry, None
    return (host, int(port)) if port.isdigit() else (entry, None)


def _network(host: str) -> _Network | None:
    try:
        return ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None
