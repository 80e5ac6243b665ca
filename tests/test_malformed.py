"""Responses that are not valid HTTP/1.1: reported on one line as "malformed response from
server: ...", with no HTTP status (the server sent none), and not retried.

A raw asyncio socket server on 127.0.0.1 sends exactly the bytes of each case: aiohttp's
own server would never send them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from downloader.api import run_batch
from downloader.errors import parser_reason
from downloader.events import Event, FileRetrying
from downloader.inputs import entries_from_urls
from downloader.options import Options
from downloader.results import Result, State

from .conftest import FakeSleep

HEAD = b"HTTP/1.1 200 OK\r\n"


class RawServer:
    """Answers every request with the same byte pieces, a short pause between them (so a
    later piece reaches the client in a read of its own), then closes the connection."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = pieces
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/file.bin"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            for piece in self.pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def fetch_one(url: str, dest: Path, events: list[Event]) -> Result:
    batch = run_batch(
        entries_from_urls([url]), dest, Options(timeout=5), events.append, sleep=FakeSleep()
    )
    [result] = [r async for r in batch]
    return result


CASES = {
    "two different Content-Length headers": (
        [HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"],
        "malformed response from server: Duplicate Content-Length",
    ),
    "a status line that is not HTTP": (
        [b"hello there\r\n\r\n"],
        "malformed response from server: Bad status line",
    ),
    "a status code that is not a number": (
        [b"HTTP/1.1 abc OK\r\nContent-Length: 5\r\n\r\nhello"],
        "malformed response from server: Bad status line",
    ),
    "a header line without a colon": (
        [HEAD + b"Content-Length: 5\r\nBad Header\r\n\r\nhello"],
        "malformed response from server: Invalid header token",
    ),
    "an invalid chunk size with the headers": (
        [HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"],
        "malformed response from server: Invalid character in chunk size",
    ),
    # aiohttp's C parser used to leave the reader waiting forever here (see aiohttp_fixes).
    "an invalid chunk size after the first chunk": (
        [HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"zz\r\n0\r\n\r\n"],
        "malformed response from server: Invalid character in chunk size",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_malformed_response_is_one_clean_line_without_status_or_retry(tmp_path, case):
    pieces, reason = CASES[case]
    events: list[Event] = []

    async with RawServer(*pieces) as server:
        # A hang is the bug this guards against: fail the test instead of waiting forever.
        result = await asyncio.wait_for(fetch_one(server.url, tmp_path, events), 10)

    assert result.state is State.FAILED
    assert result.error is not None and result.error.startswith(reason), result.error
    assert "\n" not in result.error and "^" not in result.error
    assert result.status is None  # the server never sent a 400
    assert result.attempts == 1 and server.requests == 1
    assert not [e for e in events if isinstance(e, FileRetrying)]
    assert not (tmp_path / "file.bin").exists()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "Duplicate Content-Length:\n\n  b'Content-Length: 6'\n       ^",
            "Duplicate Content-Length",
        ),
        (
            "Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 abc OK'\n   ^",
            "Bad status line: Invalid status code",
        ),
        ("Bad status line 'HTTP/1.1 abc OK'", "Bad status line 'HTTP/1.1 abc OK'"),
        ("zz\r", "zz"),
        ("", ""),
    ],
)
def test_parser_reason_keeps_the_reason_and_drops_the_dump(message, reason):
    assert parser_reason(message) == reason


SCRIPT = """
import asyncio, sys
from downloader import download_all
[result] = asyncio.run(download_all([sys.argv[1]], sys.argv[2], retries=2, timeout=5))
print(result.status, result.attempts, repr(result.error))
"""


async def test_pure_python_parser_gives_the_same_clean_line(tmp_path):
    """aiohttp without its C extensions (PyPy, AIOHTTP_NO_EXTENSIONS) raises other
    exceptions with other texts for the same bytes."""
    pieces, _ = CASES["an invalid chunk size after the first chunk"]
    env = {**os.environ, "AIOHTTP_NO_EXTENSIONS": "1"}
    async with RawServer(*pieces) as server:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SCRIPT,
            server.url,
            str(tmp_path),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(child.communicate(), 30)

    assert child.returncode == 0, err.decode()
    assert out.decode().strip() == (
        "None 1 'malformed response from server: invalid chunked body: zz'"
    )
