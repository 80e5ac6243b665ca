"""What is sent and to whom: the request policy of a batch, and redirects followed by hand.

The rules that keep secrets where they belong (aria2c resends `--header` and `--http-user`
to every host a redirect names; aria2/aria2#1176 leaked a Bearer token to S3):

- Credentials — from the URL's userinfo, else `--user`, else netrc for the URL's host — and
  the secret headers given with `-H` (Authorization, Cookie, Proxy-Authorization) go only to
  the origin (scheme, host, port) of the URL as listed. A redirect to another origin, https
  to http included (the scheme differs), drops them; the other `-H` headers follow it, as in
  curl. `--location-trusted` sends them anyway.
- adl owns Accept-Encoding (identity: the bytes on disk are the bytes served), Range and
  If-Range (resume); `-H` may not set them.

Everything that reads files or checks values runs once, in `RequestPolicy.from_options`,
before any download: a bad value is an OptionsError (exit 2), never a failed file. That
includes the TLS context (tls.py) and the proxy routes (proxy.py), which the Requester gives
to each request and redirect hop — also through a session the caller brings.
"""

from __future__ import annotations

import dataclasses
import netrc
import os
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from . import aiohttp_fixes
from ._version import __version__
from .buffers import READ_BUFSIZE
from .cookies import CookieFiles
from .errors import OptionsError, RedirectError
from .items import Item
from .options import Options
from .proxy import NO_PROXIES, Proxies, Route, proxies_from
from .tls import tls_context

USER_AGENT = f"adl/{__version__}"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_OWNED_HEADERS = {
    "accept-encoding": "adl asks for identity, so the bytes saved are the bytes served",
    "range": "adl sets it to resume partial files",
    "if-range": "adl sets it to resume partial files",
}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field name
_BREAKS = re.compile(r"[\r\n\0]")

Header = tuple[str, str]


def parse_header(text: str) -> Header:
    """`Name: value` as given to -H; a malformed one is an OptionsError naming it."""
    name, colon, value = text.partition(":")
    if _BREAKS.search(text):
        raise OptionsError(f"header {name.strip()!r} contains a line break or NUL")
    if not colon:
        raise OptionsError(f"header {text!r} has no colon: write it as 'Name: value'")
    if not _TOKEN.fullmatch(name):
        raise OptionsError(f"header name {name!r} is not a valid HTTP field name")
    why = _OWNED_HEADERS.get(name.lower())
    if why is not None:
        raise OptionsError(f"header {name!r} cannot be set with -H: {why}")
    return name, value.strip()


def same_origin(a: URL, b: URL) -> bool:
    """Same scheme, host and port (default ports filled in)."""
    return a.scheme == b.scheme and a.host == b.host and a.port == b.port


def redirect_target(current: URL, location: str) -> URL:
    """Where a redirect leads: http or https only, never with userinfo of its own (the
    credentials sent are decided by the policy, for the origin of the URL as listed)."""
    target = current.join(URL(location))
    if target.scheme not in ("http", "https") or not target.host:
        raise RedirectError(f"redirect to unsupported URL {location!r}")
    return target.with_user(None) if target.user is not None else target


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """What a batch sends besides the URL, decided once."""

    everywhere: tuple[Header, ...] = ()  # -H (not secret), -U, --referer: follow redirects
    origin_only: tuple[Header, ...] = ()  # secret -H headers: the listed URL's origin only
    proxy_authorization: str | None = None  # -H Proxy-Authorization: for the proxy only
    user: str | None = None  # --user, as an Authorization value
    netrc: netrc.netrc | None = None
    # --load-cookies read and --save-cookies checked; kept_in() applies them to a jar
    cookies: CookieFiles = field(default_factory=CookieFiles)
    location_trusted: bool = False
    tls: ssl.SSLContext | None = None  # tls.py: None for aiohttp's default
    proxies: Proxies = NO_PROXIES  # proxy.py: the route of each request and redirect hop

    referer_is_url: bool = False  # an item's referer=*: each request's own URL (aria2c)

    @classmethod
    def from_options(cls, options: Options) -> RequestPolicy:
        everywhere, origin_only, proxy_auth = _sorted_headers(
            options.headers, options.user_agent, options.referer
        )
        return cls(
            everywhere=everywhere,
            origin_only=origin_only,
            proxy_authorization=proxy_auth,
            user=_basic_auth(options.user),
            netrc=_load_netrc(options) if options.netrc else None,
            cookies=CookieFiles.from_options(options.load_cookies, options.save_cookies),
            location_trusted=options.location_trusted,
            tls=tls_context(options),
            proxies=proxies_from(options.proxy, options.no_proxy),
        )

    def for_item(self, item: Item | None) -> RequestPolicy:
        """This policy with an item's own options (an aria2c list's header=, referer=,
        user-agent=, http-user=): its headers are added, replacing same-named ones of the
        batch; its credentials replace --user. Itself for an item without any, so plain
        items cost nothing. Raises OptionsError for a bad value (listformat.py and
        inputs.item_problem check them before)."""
        if item is None or not (item.headers or item.referer or item.user_agent or item.user):
            return self
        referer = None if item.referer == "*" else item.referer
        everywhere, origin_only, proxy_auth = _sorted_headers(
            item.headers, item.user_agent, referer
        )
        names = {name.lower() for name, _ in everywhere + origin_only}
        if item.referer == "*":
            names.add("referer")
        return dataclasses.replace(
            self,
            everywhere=_without(self.everywhere, names) + everywhere,
            origin_only=_without(self.origin_only, names) + origin_only,
            proxy_authorization=proxy_auth or self.proxy_authorization,
            user=_basic_auth(item.user) if item.user is not None else self.user,
            referer_is_url=item.referer == "*" or (self.referer_is_url and referer is None),
        )

    @property
    def plain(self) -> bool:
        """Nothing to add to any request (the common case costs nothing per request)."""
        return not (self.everywhere or self.origin_only or self.user or self.netrc)

    def credentials(self, listed: URL) -> str | None:
        """The Authorization value (Basic) for the URL as listed: from its userinfo, else
        --user, else netrc for its host."""
        if listed.user is not None:
            return aiohttp.encode_basic_auth(listed.user, listed.password or "")
        if self.user is not None:
            return self.user
        if self.netrc is not None and listed.host:
            found = self.netrc.authenticators(listed.host)
            if found is not None:
                login, _account, password = found
                return aiohttp.encode_basic_auth(login, password or "")
        return None

    def headers(
        self, base: Mapping[str, str], *, trusted: bool, auth: str | None
    ) -> Mapping[str, str] | None:
        """The headers of one request: `base` (the transfer's own) plus the policy's; with
        `trusted` (the listed URL's origin, or --location-trusted) the secrets too."""
        if self.plain and auth is None:
            return base or None
        merged = dict(base)
        merged.update(self.everywhere)
        if trusted:
            if auth is not None:
                merged["Authorization"] = auth
            merged.update(self.origin_only)  # an explicit -H Authorization wins
        return merged


class Requester:
    """Sends a batch's GETs under its policy, following redirects by hand (aiohttp's own
    following would carry every header to every host)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: RequestPolicy,
        *,
        max_redirects: int,
    ) -> None:
        self._session, self._policy = session, policy
        self._max_redirects = max_redirects
        self._ssl: ssl.SSLContext | bool = True if policy.tls is None else policy.tls
        # identity + no decompression: the bytes on disk are the bytes served, so sizes,
        # Range offsets and checksums agree (a .tar.gz stays compressed). Our own session
        # sends this already; a session the caller brought may not.
        sent = session.headers.get("Accept-Encoding")
        self.identity: dict[str, str] = (
            {} if sent == "identity" else {"Accept-Encoding": "identity"}
        )

    async def get(
        self,
        url: str,
        headers: Mapping[str, str],
        policy: RequestPolicy | None = None,
        *,
        method: str = "GET",
        redirected_to: URL | None = None,
    ) -> aiohttp.ClientResponse:
        """GET `url` (or HEAD it: existing.py) with the batch's policy, or `policy` (an
        item's, `for_item`); `redirected_to`: where an earlier request for `url` ended,
        asked at once, with the headers and credentials it got by following there."""
        policy = policy or self._policy
        listed = URL(url)
        auth = policy.credentials(listed)
        # Credentials travel in our own Authorization header, hop by hop; aiohttp would
        # otherwise take the URL's userinfo as auth for every hop itself.
        target = listed.with_user(None) if listed.user is not None else listed
        if policy.referer_is_url:
            headers = {**headers, "Referer": str(target.with_fragment(None))}
        target = redirected_to or target  # the Referer stays the listed URL, as when following
        for _ in range(self._max_redirects + 1):
            trusted = policy.location_trusted or same_origin(listed, target)
            sent = policy.headers(headers, trusted=trusted, auth=auth)
            route = policy.proxies.route(target)  # per hop: no_proxy may name the new host
            if policy.proxy_authorization is not None:
                route = _proxy_authorized(route, policy.proxy_authorization, target)
            if route.request_headers:
                sent = {**(sent or {}), **route.request_headers}
            response = await self._session.request(
                method,
                target,
                headers=sent,
                allow_redirects=False,
                auto_decompress=False,
                # aiohttp's own default: a larger buffer per connection is memory the
                # batch's buffer budget cannot see, and reads no faster (buffers.py).
                read_bufsize=READ_BUFSIZE,
                ssl=self._ssl,
                proxy=route.proxy,
                proxy_headers=route.connect_headers,
            )
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return aiohttp_fixes.body_parse_errors_raised(response)
            response.release()
            target = redirect_target(target, location)
        raise RedirectError(f"more than {self._max_redirects} redirects")


def _proxy_authorized(route: Route, value: str, target: URL) -> Route:
    """A -H Proxy-Authorization is for the proxy: on the CONNECT of an https URL, in the
    request of a plain http one; never sent without a proxy, never into a tunnel (credentials
    in the proxy URL itself win)."""
    if route.proxy is None or route.connect_headers or route.request_headers:
        return route
    header = {"Proxy-Authorization": value}
    if target.scheme == "https":
        return route._replace(connect_headers=header)
    return route._replace(request_headers=header)


def _sorted_headers(
    texts: Iterable[str], user_agent: str | None, referer: str | None
) -> tuple[tuple[Header, ...], tuple[Header, ...], str | None]:
    """-H style headers with a User-Agent and a Referer, sorted by where they may go: to
    every host, to the listed URL's origin only, and the Proxy-Authorization for the proxy."""
    headers = [parse_header(text) for text in texts]
    if user_agent is not None:
        headers.insert(0, ("User-Agent", _single_line("user agent", user_agent)))
    if referer is not None:
        headers.insert(0, ("Referer", _single_line("referer", referer)))
    proxy_auth = [v for name, v in headers if name.lower() == "proxy-authorization"]
    headers = [h for h in headers if h[0].lower() != "proxy-authorization"]
    return (
        tuple(h for h in headers if h[0].lower() not in SECRET_HEADERS),
        tuple(h for h in headers if h[0].lower() in SECRET_HEADERS),
        proxy_auth[-1] if proxy_auth else None,
    )


def _without(headers: tuple[Header, ...], names: set[str]) -> tuple[Header, ...]:
    return tuple(h for h in headers if h[0].lower() not in names)


def _single_line(what: str, value: str) -> str:
    if _BREAKS.search(value):
        raise OptionsError(f"{what} contains a line break or NUL")
    return value


def _basic_auth(user: str | None) -> str | None:
    """--user USER:PASSWORD as an Authorization value (the CLI has asked for a missing
    password already)."""
    if user is None:
        return None
    login, colon, password = user.partition(":")
    if not colon:
        raise OptionsError(f"user {login!r} needs a password: USER:PASSWORD")
    if _BREAKS.search(user):
        raise OptionsError("user contains a line break or NUL")
    return aiohttp.encode_basic_auth(login, password)


def _load_netrc(options: Options) -> netrc.netrc | None:
    """The netrc file: --netrc-file, else $NETRC, else ~/.netrc. A missing default is no
    netrc; a missing named one, or one that does not parse, is a usage error."""
    named = options.netrc_file or os.environ.get("NETRC")
    path = named or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path)
    except FileNotFoundError:
        if named:
            raise OptionsError(f"netrc file {path!r} does not exist") from None
        return None
    except netrc.NetrcParseError as exc:
        raise OptionsError(
            f"cannot use netrc file {path!r}: {exc.msg} (line {exc.lineno})"
        ) from exc
    except OSError as exc:
        raise OptionsError(f"cannot read netrc file {path!r}: {exc.strerror}") from exc
