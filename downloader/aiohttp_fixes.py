"""Workarounds for aiohttp bugs that would hang or mislead a download, one function each.

Each says which aiohttp showed the bug and how to tell it is fixed, so it can go then.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from .errors import from_exception

# `closed` futures we looked at: each gets one callback that retrieves its exception, so
# asyncio never logs "Future exception was never retrieved" for a future only we created.
_watched: weakref.WeakSet[asyncio.Future[None]] = weakref.WeakSet()


def body_parse_errors_raised(response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
    """The response, set up so that a parser error in its body reaches the body's reader.

    aiohttp 3.14.5's C parser drops a body that turns malformed mid-stream (an invalid
    chunk size after the first chunks) without telling the body's reader, and stops the
    read timeout: the read waits forever (with the pure-Python parser the reader gets a
    TransferEncodingError). The connection is closed on such an error, so when it closes
    while the body is neither ended nor failed, we give the reader the parser's error.
    Can go when tests/test_malformed.py passes without it."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return response  # the body is in already, and the connection released
    content = response.content

    def on_closed(_: object = None) -> None:
        error = protocol.exception()
        waiting = not content.is_eof() and content.exception() is None
        if waiting and isinstance(error, HttpProcessingError):
            content.set_exception(from_exception(error))

    maybe_closed = protocol.closed
    if maybe_closed is None:  # closed already, before we looked
        on_closed()
        return response
    closed = maybe_closed
    if closed not in _watched:
        _watched.add(closed)
        closed.add_done_callback(_retrieve)
    closed.add_done_callback(on_closed)

    def forget() -> None:  # a kept-alive connection serves many files: one callback at a time
        closed.remove_done_callback(on_closed)

    content.on_eof(forget)
    return response


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
